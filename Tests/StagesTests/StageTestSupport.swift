import Foundation
import Formats
import Pipeline
@testable import Stages

/// Absolute, because pipeline files in temporary folders resolve relative paths there.
let fixtureCSV = URL(fileURLWithPath: "../shared/fixtures/fer2013-mini.csv").standardizedFileURL.path

/// A fresh folder under the system temp directory.
func temporaryFolder(_ label: String = #function) -> String {
    let name = label.filter { $0.isLetter || $0.isNumber }
    let path = NSTemporaryDirectory() + "blendset-stage-tests/\(name)-\(UUID().uuidString.prefix(8))"
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// The default pipeline's stage list with a source, as JSON.
func defaultPipelineJSON(source: String, upTo last: String = "dataset") -> String {
    let stages: [(String, String)] = [
        ("ingest", #"{ "name": "ingest", "params": { "source": "\#(source)" } }"#),
        ("select", #"{ "name": "select" }"#),
        ("split", #"{ "name": "split" }"#),
        ("balance", #"{ "name": "balance" }"#),
        ("truncate", #"{ "name": "truncate" }"#),
        ("onehot", #"{ "name": "onehot" }"#),
        ("dataset", #"{ "name": "dataset" }"#),
    ]
    let upTo = stages.firstIndex { $0.0 == last }!
    return #"{ "version": 1, "stages": [ "# + stages[...upTo].map(\.1).joined(separator: ", ") + " ] }"
}

/// A built pipeline in a temporary folder, with access to each stage's output.
struct BuiltPipeline {
    var folder: String
    var report: BuildReport
    var store: ArtifactStore

    init(_ json: String, overrides: [String] = [], folder: String = temporaryFolder(), jobs: Int = 2,
         registry: StageRegistry = testStages) throws {
        self.folder = folder
        let file = folder + "/pipeline.json"
        try json.write(toFile: file, atomically: true, encoding: .utf8)
        let plan = try BuildPlan.load(file: file, registry: registry,
                                      overrides: try overrides.map { t throws(PipelineError) in try ParameterOverride(parsing: t) },
                                      workingDirectory: FileManager.default.currentDirectoryPath)
        report = try Builder(plan: plan, cacheRoot: folder + "/cache", jobs: jobs).build()
        store = ArtifactStore(layout: CacheLayout(root: folder + "/cache"))
    }

    func stage(_ name: String) -> StageReport { report.stages.first { $0.name == name }! }

    func table(_ name: String) throws -> Table {
        try TableFile.decode(try store.read(stage(name).artifacts[tableArtifact]!), source: name)
    }

    func images(_ name: String) throws -> ImageSet {
        let t = try TableFile.decode(try store.read(stage(name).artifacts[imagesArtifact]!), source: name)
        let (o, b) = try t.rowBytes(ColumnName.image)
        return ImageSet(offsets: o, bytes: b)
    }

    func stats(_ name: String) -> JSONValue { stage(name).stats }
}

/// Adds a deterministic `features` column (3 floats per row), so the float stages can be
/// tested before any real feature extractor runs.
struct SyntheticFeatures: Stage {
    static let kind = "synthetic_features"
    static let version = 1
    static let summary = "test-only: add features"
    static let inputCount = 1...1
    static let parameters: [ParameterSpec] = []
    init(parameters: StageParameters) throws(PipelineError) {}

    static func values(row i: Int) -> [Float] {
        [0.5 + Float(i % 5) * 0.00123, -0.987654 + Float(i % 3) * 0.0000001, Float(i) * 0.00001]
    }

    func run(_ context: StageContext) throws -> StageResult {
        let t = try TableFile.decode(try context.input.bytes(tableArtifact), source: "test")
        var v: [Float] = []
        for i in 0..<t.rowCount { v += Self.values(row: i) }
        var out = try t.setting(Column(name: ColumnName.features, data: .float32(values: v, width: 3)))
        out.metadata[MetadataKey.features] = jsonNames(["a", "b", "c"])
        return StageResult(artifacts: [tableArtifact: out.encoded()], forwarded: context.forwardedImages, rowsIn: t.rowCount, rowsOut: t.rowCount)
    }
}

let testStages = StageRegistry(Array(standardStages.kinds.values) + [SyntheticFeatures.self])

func occurrences(_ values: [Int32], _ v: Int32) -> Int { values.filter { $0 == v }.count }

/// The fixture CSV ingested through a `StageHarness`: in memory, no pipeline file or cache folder.
func ingestedFixture(_ harness: StageHarness) throws -> StageRun {
    try harness.run(IngestStage.self, parameters: ["source": .string(fixtureCSV)])
}

extension StageRun {
    /// The stage's output table.
    func table() throws -> Table { try TableFile.decode(try bytes(tableArtifact), source: output.stage) }
}
