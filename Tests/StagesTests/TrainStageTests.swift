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

    /// A cached train result is found by its key alone, so what train writes may change only
    /// with `TrainStage.version`: `feature_digits` came in under version 5, and caches that
    /// trained before it kept serving models without it (predict on images 0.11 points off).
    @Test("the model header's keys change only with TrainStage.version")
    func modelHeaderMatchesStageVersion() throws {
        let bytes = try artifact(try BuiltPipeline(Self.json), TrainStage.Artifact.model)
        let length = Int(bytes[12]) | Int(bytes[13]) << 8 | Int(bytes[14]) << 16 | Int(bytes[15]) << 24
        let header = try #require(try JSONSerialization.jsonObject(with: Data(bytes[16..<(16 + length)])) as? [String: Any])
        // Changing this list means bumping TrainStage.version with it.
        #expect(TrainStage.version == 6)
        #expect(header.keys.sorted() == ["classes", "feature_digits", "feature_ranges", "features", "format", "input_features",
                                         "input_steps", "layers", "normalization", "tensors"])
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
        #expect(try TrainedModel(decoding: bytes).network?.layers.first == .dense(units: 4, activation: .relu))
        bytes[bytes.count / 2] ^= 1
        #expect(throws: LearningError.self) { try TrainedModel(decoding: bytes) }
        #expect(throws: LearningError.self) { try TrainedModel(decoding: Array(bytes.prefix(40))) }
    }

    /// Rows of one split of the dataset: raw features and labels.
    func split(_ b: BuiltPipeline, _ which: Split) throws -> (x: [Float], y: [Int32]) {
        let t = try b.table("dataset")
        let (x, w) = try t.float32(ColumnName.features)
        let s = try t.int32(ColumnName.split), l = try t.int32(ColumnName.label)
        let rows = (0..<t.rowCount).filter { s[$0] == which.rawValue }
        return (rows.flatMap { x[($0 * w)..<(($0 + 1) * w)] }, rows.map { l[$0] })
    }

    func confusion(_ probabilities: [Float], _ labels: [Int32]) -> [[Int]] {
        var c = [[Int]](repeating: [0, 0, 0], count: 3)
        for (r, y) in labels.enumerated() {
            let p = probabilities[(3 * r)..<(3 * r + 3)]
            c[Int(y)][p.indices.max { p[$0] < p[$1] }! - 3 * r] += 1
        }
        return c
    }

    static let gbt = ["train.model=\"gbt\"", "train.gbt_rounds=15", "train.gbt_min_samples_leaf=5", "train.gbt_feature_fraction=0.7",
                      "train.gbt_max_leaves=6"]

    @Test("gbt: a tree model, feature importance in metrics and as an SVG, the same bytes at any thread count")
    func gbtOutputs() throws {
        let one = try BuiltPipeline(Self.json, overrides: Self.gbt, jobs: 1)
        let two = try BuiltPipeline(Self.json, overrides: Self.gbt, jobs: 2)
        for name in [TrainStage.Artifact.model, TrainStage.Artifact.metrics, TrainStage.Artifact.history, TrainStage.Artifact.importance] {
            #expect(try artifact(one, name) == artifact(two, name), "\(name)")
        }
        let metrics = try JSONParser.parse(try artifact(one, TrainStage.Artifact.metrics))
        #expect(metrics["epochs"]?.intValue == 15)
        let importance = try #require(metrics["feature_importance"]?.arrayValue)
        #expect(Set(importance.compactMap { $0["feature"]?.stringValue }) == ["a", "b", "c"])
        let gains = importance.compactMap { $0["gain"]?.doubleValue }
        #expect(gains == gains.sorted(by: >) && gains[0] > 0)
        let svg = String(decoding: try artifact(one, TrainStage.Artifact.importance), as: UTF8.self)
        #expect(svg.hasPrefix("<?xml") && svg.contains("Feature importance") && svg.hasSuffix("</svg>\n"))
        let model = try TrainedModel(decoding: try artifact(one, TrainStage.Artifact.model))
        guard case let .trees(trees)? = model.members.first else { Issue.record("not a tree model"); return }
        #expect(model.members.count == 1 && trees.rounds == 15 && trees.classes == 3)
        // The metrics are the stored model's own predictions.
        let test = try split(one, .test)
        #expect(confusion(try model.predict(rawFeatures: test.x), test.y) == metrics["test"]?["confusion"]?.arrayValue?.map { $0.arrayValue!.map { $0.intValue! } })
        #expect(try TrainResults.importanceText(JSONParser.parse(try artifact(one, TrainStage.Artifact.metrics)))?.contains("feature importance") == true)
    }

    @Test("seeds: one model per seed with mean ± std; the ensemble is the model and its figures are the top-level ones",
          arguments: [[String](), gbt])
    func seeds(_ extra: [String]) throws {
        let b = try BuiltPipeline(Self.json, overrides: extra + ["train.seeds=[1, 2, 3]"])
        let metrics = try JSONParser.parse(try artifact(b, TrainStage.Artifact.metrics))
        let seeds = try #require(metrics["seeds"]?.arrayValue)
        #expect(seeds.compactMap { $0["seed"]?.intValue } == [1, 2, 3])
        for s in seeds {
            #expect(s["test"]?["per_class"]?["sad"]?["f1"]?.doubleValue != nil && s["val"]?["confusion"]?.arrayValue?.count == 3)
        }
        for split in ["test", "val"] {
            for key in ["accuracy", "macro_f1"] {
                let x = seeds.map { $0[split]![key]!.doubleValue! }
                let mean = x.reduce(0, +) / 3, std = (x.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / 2).squareRoot()
                #expect(abs(metrics["seed_summary"]![split]![key]!["mean"]!.doubleValue! - mean) < 1e-12)
                #expect(abs(metrics["seed_summary"]![split]![key]!["std"]!.doubleValue! - std) < 1e-12)
            }
        }
        let model = try TrainedModel(decoding: try artifact(b, TrainStage.Artifact.model))
        #expect(model.members.count == 3)
        let test = try split(b, .test)
        #expect(confusion(try model.predict(rawFeatures: test.x), test.y) == metrics["test"]?["confusion"]?.arrayValue?.map { $0.arrayValue!.map { $0.intValue! } })
        // Each member is the model that seed alone trains.
        let alone = try TrainedModel(decoding: try artifact(try BuiltPipeline(Self.json, overrides: extra + ["train.seed=2"]), TrainStage.Artifact.model))
        #expect(model.members[1] == alone.members[0])
        let history = String(decoding: try artifact(b, TrainStage.Artifact.history), as: UTF8.self)
        #expect(history.hasPrefix("seed,epoch,loss,"))
        #expect(TrainResults.seedText(metrics)?.contains("mean ± std") == true)
    }

    @Test("without seeds: one model in format 1 and no seed or importance keys, as before")
    func noSeeds() throws {
        let b = try BuiltPipeline(Self.json)
        let metrics = try JSONParser.parse(try artifact(b, TrainStage.Artifact.metrics))
        #expect(Set(metrics.objectValue!.map(\.key)) == ["test", "val", "epochs", "classes", "best_epoch", "decision"])
        #expect(try artifact(b, TrainStage.Artifact.model)[8] == 1)
        #expect(b.stage("train").artifacts[TrainStage.Artifact.importance] == nil)
    }

    @Test("bad gbt and seeds parameters are refused before anything runs", arguments: [
        "train.gbt_max_leaves=1", "train.gbt_learning_rate=0", "train.gbt_max_bins=300", "train.gbt_subsample=0",
        "train.gbt_feature_fraction=1.5", "train.gbt_min_samples_leaf=0", "train.gbt_l2=-1", "train.gbt_rounds=0",
        "train.seeds=[1,1]", "train.seeds=[]", "train.seeds=\"1,2\"", "train.seeds=[1.5]",
    ])
    func badGBTParameters(_ override: String) {
        #expect(throws: PipelineError.self) { try BuiltPipeline(Self.json, overrides: ["train.model=\"gbt\"", override]) }
    }

    @Test("no leaf limit and no depth limit is refused, naming both parameters")
    func unboundedTrees() {
        do {
            _ = try BuiltPipeline(Self.json, overrides: ["train.model=\"gbt\"", "train.gbt_max_leaves=0"])
            Issue.record("expected an error")
        } catch {
            #expect("\(error)".contains("gbt_max_depth"))
        }
    }
}
