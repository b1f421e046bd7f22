import Foundation
import Formats
import Learning
import Pipeline
import Testing
@testable import Stages

@Suite("train stage")
struct TrainStageTests {
    static let json = """
    { "version": 1, "stages": [
      { "name": "ingest", "params": { "source": "\(fixtureCSV)" } },
      { "name": "select" }, { "name": "split" },
      { "name": "features", "kind": "synthetic_features" },
      { "name": "truncate", "params": { "on_class_change": "warn" } }, { "name": "onehot" }, { "name": "dataset" },
      { "name": "train", "params": { "epochs": 3, "units": [4, 3] } } ] }
    """

    func artifact(_ b: BuiltPipeline, _ name: String) throws -> [UInt8] {
        try b.store.read(b.stage("train").artifacts[name]!)
    }

    @Test("outputs: model, history, metrics JSON of the documented shape, two SVGs")
    func outputs() throws {
        let b = try BuiltPipeline(Self.json, overrides: ["train.normalize=zscore"])
        let metrics = try JSONParser.parse(try artifact(b, TrainStage.Artifact.metrics))
        #expect(metrics["classes"]?.arrayValue?.compactMap(\.stringValue) == ["happy", "sad", "neutral"])
        #expect(metrics["epochs"]?.intValue == 3)
        let test = try #require(metrics["test"])
        #expect(test["accuracy"]?.doubleValue != nil && test["macro_f1"]?.doubleValue != nil)
        #expect(test["confusion"]?.arrayValue?.count == 3)
        #expect(test["per_class"]?["sad"]?["recall"]?.doubleValue != nil)
        let support = test["confusion"]!.arrayValue!.map { $0.arrayValue!.reduce(0) { $0 + $1.intValue! } }
        #expect(support.reduce(0, +) == b.stage("train").rowsOut)
        let history = String(decoding: try artifact(b, TrainStage.Artifact.history), as: UTF8.self).split(separator: "\n")
        #expect(history.first == "epoch,loss,accuracy,macro_f1,val_loss,val_accuracy,val_macro_f1")
        #expect(history.count == 4)
        for name in [TrainStage.Artifact.curves, TrainStage.Artifact.confusion] {
            let svg = String(decoding: try artifact(b, name), as: UTF8.self)
            #expect(svg.hasPrefix("<?xml") && svg.hasSuffix("</svg>\n"))
        }
        let model = try TrainedModel(decoding: try artifact(b, TrainStage.Artifact.model))
        #expect(model.classes == ["happy", "sad", "neutral"])
        #expect(model.featureNames == ["a", "b", "c"])
        #expect(model.normalization.method == .zscore && model.normalization.shift.count == 3)
        // The stored scaling is the train split's.
        let t = try b.table("dataset")
        let (x, _) = try t.float32(ColumnName.features)
        let split = try t.int32(ColumnName.split)
        let train = (0..<t.rowCount).filter { split[$0] == 0 }
        let mean = train.reduce(0.0) { $0 + Double(x[$1 * 3]) } / Double(train.count)
        #expect(abs(Double(model.normalization.shift[0]) - mean) < 1e-5)
    }

    @Test("same data, parameters and seed: the same model bytes at any thread count")
    func deterministic() throws {
        let one = try BuiltPipeline(Self.json, jobs: 1)
        let two = try BuiltPipeline(Self.json, jobs: 2)
        #expect(try artifact(one, TrainStage.Artifact.model) == artifact(two, TrainStage.Artifact.model))
        #expect(try artifact(one, TrainStage.Artifact.metrics) == artifact(two, TrainStage.Artifact.metrics))
        let other = try BuiltPipeline(Self.json, overrides: ["train.seed=7"])
        #expect(try artifact(one, TrainStage.Artifact.model) != artifact(other, TrainStage.Artifact.model))
    }

    @Test("bad parameters are refused before anything runs", arguments: [
        "train.normalize=\"l2\"", "train.units=0", "train.model=\"cnn\"", "train.class_weights=\"often\"", "train.dropout=1.5",
    ])
    func badParameters(_ override: String) {
        #expect(throws: PipelineError.self) { try BuiltPipeline(Self.json, overrides: [override]) }
    }

    @Test("a damaged model file is refused")
    func damagedModel() throws {
        let b = try BuiltPipeline(Self.json, overrides: ["train.model=mlp", "train.normalize=minmax", "train.class_weights=\"balanced\""])
        var bytes = try artifact(b, TrainStage.Artifact.model)
        #expect(try TrainedModel(decoding: bytes).network.layers.first == .dense(units: 4, activation: .relu))
        bytes[bytes.count / 2] ^= 1
        #expect(throws: LearningError.self) { try TrainedModel(decoding: bytes) }
        #expect(throws: LearningError.self) { try TrainedModel(decoding: Array(bytes.prefix(40))) }
    }
}
