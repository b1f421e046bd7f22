import Foundation
import Testing

/// The face model is configured once, on the landmarks stage; old pipelines that still set
/// it on the stages below are refused before anything runs.
@Suite("face model configured once")
struct FaceModelCLITests {
    static let model = URL(fileURLWithPath: "../shared/models/face_landmarker.task").standardizedFileURL.path

    @Test("--set blendshapes.model=X exits 78 naming blendshapes.model and landmarks.model")
    func setOnBlendshapes() throws {
        let dir = CLI.folder()
        let r = try CLI.run(["build", "--pipeline", CLI.pipeline, "--cache", dir + "/cache", "--set", "ingest.source=\(CLI.fixture)",
                             "--set", "blendshapes.model=\(Self.model)"])
        #expect(r.status == 78)
        #expect(r.stderr.contains("blendshapes.model") && r.stderr.contains("landmarks.model"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/cache/runs"), "nothing may run")
    }

    @Test("an old-style pipeline file with augment.model exits 78, pointing at the line and naming the landmarks stage")
    func oldStylePipeline() throws {
        let dir = CLI.folder()
        let file = dir + "/pipeline.json"
        let json = """
            { "version": 1, "stages": [
              { "name": "ingest", "params": { "source": "\(CLI.fixture)" } },
              { "name": "select" }, { "name": "split" },
              { "name": "landmarks", "params": { "model": "\(Self.model)" } },
              { "name": "blendshapes" },
              { "name": "augment", "params": { "model": "\(Self.model)" } },
              { "name": "dataset" } ] }
            """
        try json.write(toFile: file, atomically: true, encoding: .utf8)
        let r = try CLI.run(["build", "--pipeline", file, "--cache", dir + "/cache"])
        #expect(r.status == 78)
        #expect(r.stderr.contains("pipeline.json:6:") && r.stderr.contains("augment.model") && r.stderr.contains("landmarks.model"), "\(r.stderr)")
    }
}
