import Foundation
import Testing

/// A cache object whose bytes no longer match its content id is a damaged cache (exit 70,
/// EX_SOFTWARE), not bad input data (65), whichever command reads it.
@Suite("blendset CLI: damaged cache")
struct DamagedCacheCLITests {
    /// The object file holding a stage's table, found through the stage's run record.
    func tableObject(stage: String, cache: String, build: [String: Any], sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let entry = (build["stages"] as? [[String: Any]] ?? []).first { $0["name"] as? String == stage }
        let key = try #require(entry?["key"] as? String, sourceLocation: sourceLocation)
        let record = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: cache + "/runs/\(key).json"))) as? [String: Any]
        let id = try #require((record?["artifacts"] as? [String: String])?["table"], sourceLocation: sourceLocation)
        return cache + "/objects/" + id.prefix(2) + "/" + id.dropFirst(2)
    }

    func flipByte(in path: String) throws {
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes[bytes.count / 2] ^= 0x01
        try bytes.write(to: URL(fileURLWithPath: path))
    }

    @Test("a flipped byte in a cache object: build names it and recovers; export exits 70 naming it")
    func flippedByte() throws {
        let cache = CLI.folder() + "/cache"
        let (r, json) = try CLI.buildJSON(cache: cache)
        #expect(r.status == 0, "\(r.stderr)")

        // split re-runs (its seed is part of its key) and reads select's damaged table.
        let selected = try tableObject(stage: "select", cache: cache, build: json)
        try flipByte(in: selected)
        // The build names it, moves it to quarantine and recomputes it (issue 10).
        let (rebuild, _) = try CLI.buildJSON(cache: cache, ["--set", "split.seed=7"])
        #expect(rebuild.status == 0, "\(rebuild.stderr)")
        #expect(rebuild.stderr.contains(selected) && rebuild.stderr.contains("moved to"))

        // export reads the dataset stage's table.
        let dataset = try tableObject(stage: "dataset", cache: cache, build: json)
        try flipByte(in: dataset)
        let out = CLI.folder() + "/x.npz"
        let export = try CLI.run(["export", "--format", "npz", "--out", out, "--cache", cache, "--pipeline", CLI.pipeline])
        #expect(export.status == 70, "\(export.stderr)")
        #expect(export.stderr.contains(dataset) && export.stderr.contains("is damaged"))
        #expect(!FileManager.default.fileExists(atPath: out))
    }
}
