import Foundation
import Formats
import Pipeline
import Testing
@testable import Stages
#if canImport(FoundationXML)
import FoundationXML
#endif

/// The default pipeline with a test-only feature stage before balance, as the face
/// stages will sit: truncate then has features to cut (the synthetic features collapse
/// into duplicates when truncated, so truncate only warns).
let featurePipelineJSON = """
{ "version": 1, "stages": [
  { "name": "ingest", "params": { "source": "\(fixtureCSV)" } },
  { "name": "select" }, { "name": "split" },
  { "name": "features", "kind": "synthetic_features" },
  { "name": "balance", "params": { "per_class": 20 } },
  { "name": "truncate", "params": { "on_class_change": "warn" } }, { "name": "onehot" }, { "name": "dataset" } ] }
"""

extension BuiltPipeline {
    var layout: CacheLayout { CacheLayout(root: folder + "/cache") }
    func dataset() throws -> VersionDataset { try VersionDataset(version: report.version, layout: layout) }
}

/// Runs a Python snippet; nil when python3 or the module it imports is missing.
func python(_ script: String, arguments: [String] = []) -> (status: Int32, output: String)? {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["python3", "-c", script] + arguments
    let out = Pipe()
    p.standardOutput = out
    p.standardError = out
    guard (try? p.run()) != nil else { return nil }
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}

func pythonHas(_ module: String) -> Bool { python("import \(module)")?.status == 0 }

@Suite("dataset statistics")
struct DatasetStatisticsTests {
    @Test("ANOVA F matches a hand computation; undefined without within-class variance")
    func anova() {
        // Classes 0: [1, 2, 3], 1: [4, 5, 6]. Grand mean 3.5; SSB = 3·1.5²·2 = 13.5 (df 1);
        // SSW = 2 + 2 = 4 (df 4); F = 13.5 / 1 / (4 / 4) = 13.5.
        let values: [Float] = [1, 2, 3, 4, 5, 6]
        let s = DatasetStatistics.summary(values, width: 1, feature: 0, rows: Array(0..<6), labels: [0, 0, 0, 1, 1, 1], classCount: 2)!
        #expect(s.anovaF == 13.5)
        #expect(s.mean == 3.5 && s.min == 1 && s.max == 6 && s.count == 6)
        #expect(abs(s.std - (17.5 / 6).squareRoot()) < 1e-12)
        let constant = DatasetStatistics.summary([2, 2, 3, 3], width: 1, feature: 0, rows: [0, 1, 2, 3], labels: [0, 0, 1, 1], classCount: 2)!
        #expect(constant.anovaF == nil)
        let oneClass = DatasetStatistics.summary([1, 2], width: 1, feature: 0, rows: [0, 1], labels: [0, 0], classCount: 2)!
        #expect(oneClass.anovaF == nil)
    }

    @Test("Kolmogorov-Smirnov: 0 for equal samples, 1 for disjoint ones, ties handled")
    func ks() {
        #expect(DatasetStatistics.kolmogorovSmirnov([1, 2, 3], [3, 2, 1]) == 0)
        #expect(DatasetStatistics.kolmogorovSmirnov([1, 2], [3, 4]) == 1)
        // F_a steps at 1, 2, 3, 4 by 1/4; F_b at 2 (twice), 3, 5. Largest gap 0.25.
        #expect(DatasetStatistics.kolmogorovSmirnov([1, 2, 3, 4], [2, 2, 3, 5]) == 0.25)
        #expect(abs(DatasetStatistics.kolmogorovSmirnov([0, 0, 0], [0, 0, 1]) - 1.0 / 3) < 1e-12)
    }

    @Test("duplicate rows count repeats of earlier rows only, per the given rows")
    func duplicates() {
        let v: [Float] = [1, 2, 1, 2, 0, -0, 1, 2]
        #expect(DatasetStatistics.duplicateRows(v, width: 2, rows: [0, 1, 2, 3]) == 2)
        #expect(DatasetStatistics.duplicateRows(v, width: 2, rows: [0, 2]) == 0)
        #expect(DatasetStatistics.duplicateRows([0, -0], width: 1, rows: [0, 1]) == 1)
        #expect(DatasetStatistics.duplicateRows(v, width: 2, rows: [1, 3]) == 1)
    }
}

@Suite("manifest")
struct ManifestTests {
    @Test("schema, counts per split and class, feature statistics, duplicates, lineage and artifacts")
    func contents() throws {
        let b = try BuiltPipeline(featurePipelineJSON, registry: testStages)
        let data = try b.dataset()
        let m = Manifest(data, layout: b.layout)
        #expect(m.classes == ["happy", "sad", "neutral"])
        #expect(m.featureNames == ["a", "b", "c"])
        #expect(m.counts == [[20, 20, 20], [6, 6, 6], [6, 6, 6]])
        #expect(m.features.count == 3 && m.features.allSatisfy { $0.bySplit.count == 3 })
        // Feature b is constant after truncation to 4 digits: no spread, no F.
        let b0 = m.features[1].bySplit[0]!
        #expect(b0.min == b0.max && b0.std == 0 && b0.anovaF == nil)
        #expect(m.duplicateBasis == "features")
        let (values, width) = data.features!
        #expect(m.duplicates == data.rowsBySplit.map { DatasetStatistics.duplicateRows(values, width: width, rows: $0) })
        #expect(m.lineage.map(\.stage.name) == ["ingest", "select", "split", "features", "balance", "truncate", "onehot", "dataset"])
        #expect(m.lineage.allSatisfy { $0.stage.seconds != nil })
        #expect(m.lineage[4].parameters["per_class"] == .int(20))
        #expect(m.artifacts.map(\.name) == ["table"] && m.artifacts[0].bytes > 0)
        let json = m.json
        #expect(json["manifest_version"] == .int(1))
        #expect(json["rows"]?["train"]?["classes"]?["sad"] == .int(20))
        #expect(json["schema"]?["features"] == .array([.string("a"), .string("b"), .string("c")]))
        // The build wrote nothing yet (the CLI writes the copy); record() does, beside the version.
        try Manifest.record(b.report.version, layout: b.layout)
        let copy = try String(contentsOfFile: VersionStore(layout: b.layout).manifestPath(b.report.version.id), encoding: .utf8)
        #expect(try JSONParser.parse(copy) == json)
    }

    @Test("face validity and augmentation figures are read from the stages' stats when present")
    func validityFromStats() throws {
        var v = try BuiltPipeline(featurePipelineJSON, registry: testStages).report.version
        v.stages[3].stats = try JSONParser.parse(#"{"validity":{"train":{"happy":{"images":10,"faces":9,"rate":0.9}},"test":{"sad":{"images":4,"faces":1}}}}"#)
        v.stages.insert(v.stages[3], at: 4)
        v.stages[4].name = "augment"; v.stages[4].kind = "augment"; v.stages[4].stats = try JSONParser.parse(#"{"augmented":{"happy":5}}"#)
        let validity = Manifest.validity(in: v)!
        #expect(validity.stage == "features")
        // Keys in sorted order, as version records have always held them (canonical JSON).
        #expect(validity.rows.map { "\($0.split)/\($0.className)/\($0.faces)/\($0.images)" } == ["test/sad/1/4", "train/happy/9/10"])
    }

    @Test("the manifest JSON validates against schemas/manifest.schema.json", .enabled(if: pythonHas("jsonschema")))
    func validatesAgainstSchema() throws {
        let b = try BuiltPipeline(featurePipelineJSON, registry: testStages)
        let m = Manifest(try b.dataset(), layout: b.layout)
        // Also a version without features (images kept, duplicates on image hashes).
        let plain = try BuiltPipeline(defaultPipelineJSON(source: fixtureCSV), overrides: ["balance.per_class=10"])
        let mp = Manifest(try plain.dataset(), layout: plain.layout)
        #expect(mp.duplicateBasis == "image_hash")
        for (i, manifest) in [m, mp].enumerated() {
            let file = b.folder + "/manifest\(i).json"
            try manifest.json.pretty().write(toFile: file, atomically: true, encoding: .utf8)
            let r = python(Self.validator, arguments: ["schemas/manifest.schema.json", file])
            #expect(r?.status == 0, "\(r?.output ?? "python3 did not run")")
        }
    }

    static let validator = """
    import json, sys, jsonschema
    schema = json.load(open(sys.argv[1]))
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(json.load(open(sys.argv[2])))
    """

    @Test("plots: class counts and per-feature small multiples are well-formed SVG")
    func plots() throws {
        let b = try BuiltPipeline(featurePipelineJSON, registry: testStages)
        let data = try b.dataset()
        let files = ManifestPlots.render(data, manifest: Manifest(data, layout: b.layout))
        #expect(files.map(\.name) == ["class-counts.svg", "feature-distributions.svg"])
        for (name, svg) in files {
            #expect(svg.hasPrefix("<?xml") && svg.hasSuffix("</svg>\n"), "\(name)")
            #if canImport(FoundationXML) || canImport(Darwin)
            #expect(XMLParser(data: Data(svg.utf8)).parse(), "\(name) is not well-formed XML")
            #endif
        }
        #expect(files[1].svg.contains(">a</text>") && files[1].svg.contains("F = "))
    }
}

@Suite("diff")
struct DiffTests {
    @Test("truncate.digits 4 → 2: the param, keys from truncate down, more duplicates, a feature shift")
    func truncation() throws {
        let folder = temporaryFolder()
        let a = try BuiltPipeline(featurePipelineJSON, folder: folder, registry: testStages)
        let b = try BuiltPipeline(featurePipelineJSON, overrides: ["truncate.digits=2"], folder: folder, registry: testStages)
        let d = DatasetDiff(try a.dataset(), try b.dataset())
        #expect(d.parameters == [.init(stage: "truncate", parameter: "digits", old: "4", new: "2")])
        #expect(d.stages.map(\.stage) == ["truncate", "onehot", "dataset"])
        #expect(d.stages.allSatisfy { $0.change == .key && $0.outputChanged })
        #expect(d.counts.allSatisfy { $0.old == $0.new })
        // Same rows, all matched; at 2 digits feature a loses its spread, so values change.
        #expect(d.items.added == 0 && d.items.removed == 0 && d.items.labelChanged == 0 && d.items.splitChanged == 0)
        #expect(d.items.featuresChanged > 0 && d.items.changed == d.items.featuresChanged)
        let train = d.duplicates.first { $0.split == "train" }!
        #expect(train.new > train.old)
        let reported = d.stageDuplicates.first { $0.stage == "truncate" && $0.column == "features" }!
        #expect(reported.old!.after < reported.new!.after)
        let shiftA = d.shifts.first { $0.feature == "a" && $0.split == "train" }!
        #expect(shiftA.ks > 0.5 && shiftA.new!.std == 0 && shiftA.old!.std > 0)
        let json = d.json
        #expect(json["params"]?.arrayValue?.first?["b"] == .int(2))
        #expect(json["features"]?["shift"]?.arrayValue?.count == 9)
    }

    @Test("balance.per_class 20 → 10: per-class deltas and rows removed, matched by provenance")
    func balance() throws {
        let folder = temporaryFolder()
        let a = try BuiltPipeline(featurePipelineJSON, folder: folder, registry: testStages)
        let b = try BuiltPipeline(featurePipelineJSON, overrides: ["balance.per_class=10"], folder: folder, registry: testStages)
        let d = DatasetDiff(try a.dataset(), try b.dataset())
        #expect(d.parameters.map { "\($0.stage).\($0.parameter!): \($0.old!) → \($0.new!)" } == ["balance.per_class: 20 → 10"])
        #expect(d.stages.map(\.stage) == ["balance", "truncate", "onehot", "dataset"])
        let train = d.counts.filter { $0.split == "train" }
        #expect(train.map(\.className) == ["happy", "sad", "neutral"])
        #expect(train.allSatisfy { $0.old == 20 && $0.new == 10 })
        #expect(d.counts.filter { $0.split != "train" }.allSatisfy { $0.old == $0.new })
        #expect(d.items.matchedBy == ["item_id", "balance_copy"])
        #expect(d.items.removed == 30 && d.items.added == 0 && d.items.changed == 0 && d.items.unchanged == 66)
        // The balance stage's own per-class figures, read generically from its stats.
        let received = d.stageStats.filter { $0.stage == "balance" && $0.path.hasSuffix(".received") }
        // Per class, and per source emotion within the class.
        #expect(received.map(\.path) == ["classes.happy.by_emotion.happy.received", "classes.happy.received",
                                          "classes.neutral.by_emotion.neutral.received", "classes.neutral.received",
                                          "classes.sad.by_emotion.sad.received", "classes.sad.received"])
        #expect(received.allSatisfy { $0.old == 20 && $0.new == 10 })
    }

    @Test("identical versions differ in nothing; a relabelled class is counted")
    func identicalAndLabels() throws {
        let folder = temporaryFolder()
        let a = try BuiltPipeline(featurePipelineJSON, folder: folder, registry: testStages)
        let same = DatasetDiff(try a.dataset(), try a.dataset())
        #expect(same.identical && same.parameters.isEmpty && same.stages.isEmpty && same.items.changed == 0)
        #expect(same.shifts.allSatisfy { $0.ks == 0 })
        let swapped = #"select.classes=[{"name":"happy","emotions":[4]},{"name":"sad","emotions":[3]},{"name":"neutral","emotions":[6]}]"#
        let b = try BuiltPipeline(featurePipelineJSON, overrides: [swapped], folder: folder, registry: testStages)
        let d = DatasetDiff(try a.dataset(), try b.dataset())
        #expect(d.items.labelChanged > 0)
        #expect(d.json["labels"]?["rows_relabelled"] == .int(d.items.labelChanged))
    }

    @Test("the diff JSON validates against schemas/diff.schema.json", .enabled(if: pythonHas("jsonschema")))
    func validatesAgainstSchema() throws {
        let folder = temporaryFolder()
        let a = try BuiltPipeline(featurePipelineJSON, folder: folder, registry: testStages)
        let b = try BuiltPipeline(featurePipelineJSON, overrides: ["truncate.digits=2"], folder: folder, registry: testStages)
        let file = folder + "/diff.json"
        try DatasetDiff(try a.dataset(), try b.dataset()).json.pretty().write(toFile: file, atomically: true, encoding: .utf8)
        let r = python(ManifestTests.validator, arguments: ["schemas/diff.schema.json", file])
        #expect(r?.status == 0, "\(r?.output ?? "python3 did not run")")
    }
}

@Suite("export")
struct ExportTests {
    @Test("npz: X/y per split, feature and label names, read back by an independent reader")
    func npz() throws {
        let b = try BuiltPipeline(featurePipelineJSON, registry: testStages)
        let data = try b.dataset()
        let arrays = try NPZReader.read(try DatasetExport.npz(data, layout: b.layout, order: .source))
        #expect(arrays.map(\.name) == ["X_train", "y_train", "emotion_train", "X_val", "y_val", "emotion_val", "X_test", "y_test", "emotion_test",
                                        "feature_names", "label_names", "emotion_names",
                                        "order", "seed", "index_train", "index_val", "index_test"])
        let byName = Dictionary(uniqueKeysWithValues: arrays.map { ($0.name, $0.array) })
        #expect(byName["X_train"]!.descr == "<f4" && byName["X_train"]!.shape == [60, 3])
        #expect(byName["y_train"]!.descr == "<f4" && byName["y_train"]!.shape == [60, 3])
        #expect(byName["X_test"]!.shape == [18, 3] && byName["y_val"]!.shape == [18, 3])
        #expect(byName["feature_names"]!.strings == ["a", "b", "c"])
        #expect(byName["label_names"]!.strings == ["happy", "sad", "neutral"])
        let (values, width) = data.features!
        let testRows = data.rowsBySplit[2]
        #expect(byName["X_test"]!.floats == testRows.flatMap { values[($0 * width)..<(($0 + 1) * width)] })
        let y = byName["y_test"]!.floats
        for (i, r) in testRows.enumerated() {
            #expect(Array(y[(i * 3)..<(i * 3 + 3)]) == (0..<3).map { $0 == Int(data.labels[r]) ? 1 : 0 })
        }
    }

    @Test("npz loads in NumPy without allow_pickle, with the expected shapes and dtypes", .enabled(if: pythonHas("numpy")))
    func numpyLoads() throws {
        let b = try BuiltPipeline(featurePipelineJSON, registry: testStages)
        let file = b.folder + "/d.npz"
        try AtomicFile.write(try DatasetExport.npz(try b.dataset(), layout: b.layout), to: file)
        let script = """
        import sys, numpy as np
        d = np.load(sys.argv[1])
        got = {k: (d[k].shape, str(d[k].dtype)) for k in d.files}
        want = {"X_train": ((60, 3), "float32"), "y_train": ((60, 3), "float32"), "X_val": ((18, 3), "float32"),
                "y_val": ((18, 3), "float32"), "X_test": ((18, 3), "float32"), "y_test": ((18, 3), "float32"),
                "feature_names": ((3,), "<U1"), "label_names": ((3,), "<U7"), "emotion_names": ((7,), "<U8"),
                "emotion_train": ((60,), "int32"), "emotion_val": ((18,), "int32"), "emotion_test": ((18,), "int32"),
                "order": ((1,), "<U8"), "seed": ((1,), "int64"),
                "index_train": ((60,), "int64"), "index_val": ((18,), "int64"), "index_test": ((18,), "int64")}
        assert got == want, got
        assert list(d["label_names"]) == ["happy", "sad", "neutral"]
        assert (d["y_train"].sum(axis=1) == 1).all()
        assert list(d["order"]) == ["shuffled"] and list(d["seed"]) == [42]
        # Keras' validation_split=0.25 takes the last 15 train rows: more than one class.
        assert len(set(d["y_train"][-15:].argmax(axis=1))) > 1
        """
        let r = python(script, arguments: [file])
        #expect(r?.status == 0, "\(r?.output ?? "python3 did not run")")
    }

    @Test("npz order: shuffled by default and seeded; index_<split> and --order source give the stored order back")
    func npzOrder() throws {
        let b = try BuiltPipeline(featurePipelineJSON, registry: testStages)
        let data = try b.dataset()
        func read(_ order: DatasetExport.Order) throws -> [String: NPZReader.Array] {
            Dictionary(uniqueKeysWithValues: try NPZReader.read(try DatasetExport.npz(data, layout: b.layout, order: order)).map { ($0.name, $0.array) })
        }
        func labels(_ y: NPZReader.Array) -> [Int] {
            let v = y.floats
            return (0..<(v.count / 3)).map { i in (0..<3).first { v[i * 3 + $0] == 1 }! }
        }
        let source = try read(.source), shuffled = try read(.default)
        // The stored order is grouped by class: the first 20 train rows are all happy.
        #expect(Set(labels(source["y_train"]!).prefix(20)) == [0])
        #expect(Set(labels(shuffled["y_train"]!).prefix(20)).count == 3)
        #expect(Set(labels(shuffled["y_train"]!).suffix(6)).count > 1)
        #expect(source["order"]!.strings == ["source"] && source["seed"]!.shape == [0])
        #expect(shuffled["order"]!.strings == ["shuffled"] && shuffled["seed"]!.int64s == [42])
        #expect(source["index_train"]!.int64s == (0..<60).map(Int64.init))
        // Row i of the shuffled export is row index_train[i] of the stored order, features and label alike.
        let index = shuffled["index_train"]!.int64s.map(Int.init)
        #expect(index.sorted() == Array(0..<60) && index != Array(0..<60))
        let (xs, xh) = (source["X_train"]!.floats, shuffled["X_train"]!.floats)
        #expect((0..<60).allSatisfy { i in Array(xh[(i * 3)..<(i * 3 + 3)]) == Array(xs[(index[i] * 3)..<(index[i] * 3 + 3)]) })
        #expect((0..<60).allSatisfy { labels(shuffled["y_train"]!)[$0] == labels(source["y_train"]!)[index[$0]] })
        // Each split is shuffled; the same seed gives the same bytes, another seed another order.
        #expect(shuffled["index_test"]!.int64s != (0..<18).map(Int64.init))
        #expect(try DatasetExport.npz(data, layout: b.layout) == DatasetExport.npz(data, layout: b.layout, order: .shuffled(seed: 42)))
        #expect(try read(.shuffled(seed: 7))["index_train"]!.int64s != shuffled["index_train"]!.int64s)
    }

    @Test("npz without features holds the images as uint8 (rows, 48, 48)")
    func npzImages() throws {
        let b = try BuiltPipeline(defaultPipelineJSON(source: fixtureCSV), overrides: ["balance.per_class=10"])
        let arrays = try NPZReader.read(try DatasetExport.npz(try b.dataset(), layout: b.layout))
        let x = arrays.first { $0.name == "X_train" }!.array
        #expect(x.descr == "|u1" && x.shape == [30, 48, 48])
        #expect(arrays.first { $0.name == "feature_names" }!.array.shape == [0])
    }

    @Test("csv: one file per split with a header naming every feature and one-hot column")
    func csv() throws {
        let b = try BuiltPipeline(featurePipelineJSON, registry: testStages)
        let files = try DatasetExport.csv(try b.dataset(), layout: b.layout)
        #expect(files.map(\.split) == ["train", "val", "test"])
        let lines = String(decoding: files[1].bytes, as: UTF8.self).split(separator: "\n")
        #expect(lines[0] == "item_id,source_row,balance_copy,image_hash,label,label_name,emotion,emotion_name,a,b,c,onehot_happy,onehot_sad,onehot_neutral")
        #expect(lines.count == 19)
    }

    @Test("csv order: shuffled rows are the stored rows permuted; --order source keeps them grouped by class")
    func csvOrder() throws {
        let b = try BuiltPipeline(featurePipelineJSON, registry: testStages)
        let data = try b.dataset()
        func trainRows(_ order: DatasetExport.Order) throws -> [Substring] {
            String(decoding: try DatasetExport.csv(data, layout: b.layout, order: order)[0].bytes, as: UTF8.self).split(separator: "\n").dropFirst().map { $0 }
        }
        let source = try trainRows(.source), shuffled = try trainRows(.default)
        let labelName = { (row: Substring) in row.split(separator: ",", omittingEmptySubsequences: false)[5] }
        #expect(Set(source.prefix(20).map(labelName)) == ["happy"])
        #expect(Set(shuffled.prefix(20).map(labelName)).count == 3)
        #expect(shuffled.sorted() == source.sorted() && shuffled != source)
        let record = DatasetExport.record(version: data.version, format: "csv", order: .default, rows: [("train", 60)])
        #expect(record["order"] == .string("shuffled") && record["seed"] == .int(42) && record["rows"]?["train"] == .int(60))
        #expect(DatasetExport.record(version: data.version, format: "csv", order: .source, rows: [])["seed"] == .null)
    }

    @Test("png: a stage's images as decodable PNG files with an index")
    func png() throws {
        let b = try BuiltPipeline(defaultPipelineJSON(source: fixtureCSV), overrides: ["balance.per_class=10"])
        let v = b.report.version
        let files = try DatasetExport.png(stage: v.stage("balance")!, of: v, layout: b.layout, rows: 4, order: .source)
        #expect(files.count == 5 && files.last!.name == "index.csv")
        // Shuffled (the default), --rows picks a seeded sample of the rows instead of the first ones.
        let sample = try DatasetExport.png(stage: v.stage("balance")!, of: v, layout: b.layout, rows: 4)
        #expect(sample.map(\.name) != files.map(\.name) && sample.last!.name == "index.csv")
        #expect(try DatasetExport.png(stage: v.stage("balance")!, of: v, layout: b.layout, rows: 4).map(\.name) == sample.map(\.name))
        let image = try PNGCodec.decode(files[0].bytes, source: files[0].name)
        #expect(image.width == 48 && image.height == 48 && image.channels == 1)
        let table = try b.table("balance")
        let index = Int(try table.int32(ColumnName.imageIndex)[0])
        #expect(image.pixels == Array(try b.images("balance").pixels(index)))
        #expect(files[0].name.hasPrefix("0-happy-") || files[0].name.hasPrefix("00-happy-"))
        // No augment stage: --augmented has nothing to pick from, and says so.
        #expect(throws: VersionError.self) { try DatasetExport.png(stage: v.stage("balance")!, of: v, layout: b.layout, rows: 4, augmentedOnly: true) }
        // With features, the dataset stage drops the images.
        let f = try BuiltPipeline(featurePipelineJSON, registry: testStages).report.version
        #expect(throws: VersionError.self) { try DatasetExport.png(stage: f.stage("dataset")!, of: f, layout: b.layout, rows: 1) }
    }
}
