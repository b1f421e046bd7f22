import Foundation
import Formats
import Pipeline
import Testing
@testable import Stages

/// The JSON Schema (draft 2020-12) keywords schemas/*.schema.json use: type, const, enum,
/// pattern, minimum, required, properties, additionalProperties, propertyNames, items,
/// oneOf and local $ref. Returns the violations, each with its JSON path.
struct MiniSchema {
    var root: JSONValue

    func validate(_ v: JSONValue) -> [String] { check(v, root, "$") }

    func check(_ v: JSONValue, _ s: JSONValue, _ path: String) -> [String] {
        if let ref = s["$ref"]?.stringValue {
            var target = root
            for part in ref.dropFirst(2).split(separator: "/") { target = target[String(part)] ?? .null }
            return check(v, target, path)
        }
        var errors: [String] = []
        if let types = s["type"].map({ $0.arrayValue?.compactMap(\.stringValue) ?? [$0.stringValue ?? ""] }),
           !types.contains(where: { matches(v, $0) }) {
            return ["\(path): expected \(types.joined(separator: " or ")), found \(v.canonical.prefix(60))"]
        }
        if let c = s["const"], c != v { errors.append("\(path): expected \(c.canonical)") }
        if let e = s["enum"]?.arrayValue, !e.contains(v) { errors.append("\(path): not one of \(s["enum"]!.canonical)") }
        if let p = s["pattern"]?.stringValue, let str = v.stringValue, str.range(of: p, options: .regularExpression) == nil {
            errors.append("\(path): '\(str)' does not match \(p)")
        }
        if let m = s["minimum"]?.doubleValue, let d = v.doubleValue, d < m { errors.append("\(path): \(d) < \(m)") }
        if let options = s["oneOf"]?.arrayValue {
            let passing = options.filter { check(v, $0, path).isEmpty }.count
            if passing != 1 { errors.append("\(path): matches \(passing) of oneOf's \(options.count) schemas, not exactly one") }
        }
        if let members = v.objectValue {
            for r in s["required"]?.arrayValue ?? [] where v[r.stringValue!] == nil { errors.append("\(path): missing '\(r.stringValue!)'") }
            let props = s["properties"]
            for (k, value) in members {
                if let names = s["propertyNames"] { errors += check(.string(k), names, "\(path).\(k) (name)") }
                if let p = props?[k] { errors += check(value, p, "\(path).\(k)") }
                else if let extra = s["additionalProperties"] {
                    if extra.boolValue == false { errors.append("\(path): unexpected '\(k)'") }
                    else if extra.objectValue != nil { errors += check(value, extra, "\(path).\(k)") }
                }
            }
        }
        if let items = s["items"], let a = v.arrayValue {
            for (i, x) in a.enumerated() { errors += check(x, items, "\(path)[\(i)]") }
        }
        return errors
    }

    func matches(_ v: JSONValue, _ type: String) -> Bool {
        switch type {
        case "object": v.objectValue != nil
        case "array": v.arrayValue != nil
        case "string": v.stringValue != nil
        case "number": v.doubleValue != nil
        case "integer": v.intValue != nil
        case "boolean": v.boolValue != nil
        case "null": v == .null
        default: false
        }
    }
}

/// A split's metrics as the train stage writes them (accuracy, macro-F1, per-class F1).
func splitMetrics(_ accuracy: Double, _ f1: Double, perClass: [Double]) -> JSONValue {
    .object([("accuracy", .number(accuracy)), ("macro_f1", .number(f1)),
             ("per_class", .object(zip(["happy", "sad", "neutral"], perClass).map { ($0, .object([("precision", .number(0.5)), ("recall", .number(0.5)), ("f1", .number($1)), ("support", .int(10))])) })),
             ("confusion", .array([]))])
}

/// A trained version with train.lr = `lr` and `seconds` of training.
func trainedVersion(_ name: String, lr: Double, seconds: Double, created: String) -> DatasetVersion {
    let id = SHA256.digest(Array(name.utf8))
    let stages = [
        DatasetVersion.StageEntry(name: "dataset", kind: "dataset", version: 1, key: id, inputs: [], parameters: [:], contentID: id, artifacts: [:], rowsIn: nil, rowsOut: nil),
        DatasetVersion.StageEntry(name: "train", kind: "train", version: 1, key: id, inputs: ["dataset"],
                                  parameters: ["lr": .number(lr), "epochs": .int(100)], contentID: id, artifacts: [:], rowsIn: nil, rowsOut: nil,
                                  stats: .object([("seconds", .object([("total", .number(seconds))]))])),
    ]
    return DatasetVersion(id: id, createdAt: created, builtAt: nil, blendsetVersion: "test", pipelineFile: "pipeline.json", stages: stages, outputs: [:])
}

@Suite("experiment table (compare)")
struct ExperimentTableTests {
    /// Version b has three seeds: test accuracy 0.70, 0.72, 0.74 (mean 0.72, sample std 0.02).
    static func table() throws -> ExperimentTable {
        let a = trainedVersion("a", lr: 0.001, seconds: 30, created: "2026-01-01T00:00:00Z")
        let b = trainedVersion("b", lr: 0.01, seconds: 12.5, created: "2026-01-02T00:00:00Z")
        let plain = JSONValue.object([("classes", .array(["happy", "sad", "neutral"].map { .string($0) })),
                                      ("test", splitMetrics(0.71, 0.70, perClass: [0.9, 0.5, 0.7])), ("val", splitMetrics(0.69, 0.68, perClass: [0.9, 0.5, 0.6]))])
        let seeds = (0..<3).map { i -> JSONValue in
            let acc = 0.70 + 0.02 * Double(i)
            return .object([("seed", .int(i + 1)), ("test", splitMetrics(acc, acc - 0.01, perClass: [0.9, 0.5 + 0.01 * Double(i), 0.7])),
                            ("val", splitMetrics(0.7, 0.69, perClass: [0.9, 0.5, 0.6]))])
        }
        // The top level is the ensemble's; with seeds the table summarises the seeds.
        let seeded = JSONValue.object([("classes", .array(["happy", "sad", "neutral"].map { .string($0) })),
                                       ("test", splitMetrics(0.99, 0.99, perClass: [1, 1, 1])), ("val", splitMetrics(0.99, 0.99, perClass: [1, 1, 1])),
                                       ("seeds", .array(seeds))])
        return try ExperimentTable(entries: [.init(version: a, metrics: plain, tags: ["baseline"]), .init(version: b, metrics: seeded)])
    }

    @Test("mean ± sample std over the seeds; one value and no std without seeds")
    func seeds() throws {
        let t = try Self.table()
        let b = t.rows[1].metrics
        #expect(abs(b["test_accuracy"]!.mean - 0.72) < 1e-12 && abs(b["test_accuracy"]!.std! - 0.02) < 1e-12)
        #expect(abs(b["test_f1_sad"]!.mean - 0.51) < 1e-12 && abs(b["test_f1_sad"]!.std! - 0.01) < 1e-12)
        #expect(b["val_accuracy"]!.std! < 1e-12 && b["val_accuracy"]!.n == 3 && t.rows[1].seeds == 3)
        #expect(t.rows[0].metrics["test_accuracy"] == .init(mean: 0.71, std: nil, n: 1) && t.rows[0].seeds == 0)
        #expect(t.text.contains("0.7200 ± 0.0200") && t.text.contains("0.7100"))
        #expect(t.rows[0].seconds == 30 && t.rows[1].seconds == 12.5)
    }

    @Test("only the parameters that differ from the baseline are columns; the baseline is marked")
    func parameters() throws {
        var t = try Self.table()
        #expect(t.parameterColumns == ["train.lr"])
        #expect(t.text.contains(t.rows[0].version.shortID + "*"))
        let lines = t.text.split(separator: "\n")
        #expect(lines[0].contains("train.lr") && lines[0].contains("test acc") && lines[0].contains("F1 sad") && lines[0].contains("seconds"))
        #expect(t.classes == ["happy", "sad", "neutral"])
        t = try ExperimentTable(entries: t.rows.map { .init(version: $0.version, metrics: .object([("test", splitMetrics(0.5, 0.5, perClass: [0.5, 0.5, 0.5]))])) },
                                baseline: t.rows[1].version)
        #expect(t.baseline.id == t.rows[1].version.id && t.parameterColumns == ["train.lr"])
        // A long value is cut in the text table only.
        let long = JSONValue.array((0..<20).map { .string("feature\($0)") })
        var row = t.rows[0]
        row.parameters["train.lr"] = long
        t.rows[0] = row
        #expect(t.cell(row, "train.lr") == String(long.canonical.prefix(39)) + "…")
        #expect(t.csv.contains("feature19"))
    }

    @Test("a relative path is compared as resolved from its pipeline file's folder")
    func relativePaths() throws {
        func version(_ name: String, file: String, source: String) -> DatasetVersion {
            var v = trainedVersion(name, lr: 0.01, seconds: 1, created: "2026-01-01T00:00:00Z")
            v.pipelineFile = file
            v.stages[0].parameters = ["source": .string(source)]
            return v
        }
        let metrics = JSONValue.object([("test", splitMetrics(0.5, 0.5, perClass: [0.5, 0.5, 0.5]))])
        let root = version("root", file: "pipeline.json", source: "../shared/data/fer2013.csv.zst")
        let best = version("best", file: "pipelines/best.json", source: "../../shared/data/fer2013.csv.zst")
        let other = version("other", file: "pipelines/x.json", source: "./../../shared/data/other.csv")
        var t = try ExperimentTable(entries: [.init(version: root, metrics: metrics), .init(version: best, metrics: metrics)])
        #expect(t.parameterColumns == [])
        t = try ExperimentTable(entries: [root, best, other].map { .init(version: $0, metrics: metrics) })
        #expect(t.parameterColumns == ["dataset.source"])
        #expect(t.rows.map { t.cell($0, "dataset.source") } == ["\"../shared/data/fer2013.csv.zst\"", "\"../shared/data/fer2013.csv.zst\"", "\"../shared/data/other.csv\""])
        #expect(ExperimentTable.lexicallyNormalized("/a/./b/../c") == "/a/c" && ExperimentTable.lexicallyNormalized("x/../../y") == "../y")
    }

    @Test("tune ranks by the val accuracy the table shows: the mean over the seeds, not the ensemble's")
    func tuneRanking() throws {
        // b's seeds average 0.70 on val but its ensemble (the top level) has 0.99; c has no seeds, val 0.71.
        let t = try Self.table()
        let c = trainedVersion("c", lr: 0.1, seconds: 5, created: "2026-01-03T00:00:00Z")
        let plain = JSONValue.object([("test", splitMetrics(0.6, 0.6, perClass: [0.6, 0.6, 0.6])), ("val", splitMetrics(0.71, 0.70, perClass: [0.7, 0.7, 0.7]))])
        var table = t
        table.rows.append(try ExperimentTable(entries: [.init(version: c, metrics: plain)]).rows[0])
        #expect(Tuner.ranking(table) == [2, 1, 0])   // c 0.71, b 0.70 ± 0, a 0.69
        // Ties on val accuracy fall to val macro-F1, then to row order.
        for i in [1, 2] { table.rows[i].metrics["val_accuracy"] = .init(mean: 0.70, std: nil, n: 1) }
        table.rows[1].metrics["val_macro_f1"] = .init(mean: 0.69, std: nil, n: 1)
        #expect(Tuner.ranking(table) == [2, 1, 0])   // c's val F1 0.70 > b's 0.69
        table.rows[2].metrics["val_macro_f1"] = .init(mean: 0.69, std: nil, n: 1)
        #expect(Tuner.ranking(table) == [1, 2, 0])
    }

    @Test("sorts by any column, ascending or descending; an unknown column lists the columns")
    func sorting() throws {
        let t = try Self.table()
        #expect(try t.sorted(by: "test_accuracy").rows.map(\.version.shortID) == [t.rows[0].version.shortID, t.rows[1].version.shortID])
        #expect(try t.sorted(by: "-test_accuracy").rows.first?.version.id == t.rows[1].version.id)
        #expect(try t.sorted(by: "seconds").rows.first?.version.id == t.rows[1].version.id)
        #expect(try t.sorted(by: "train.lr", descending: true).rows.first?.version.id == t.rows[1].version.id)
        #expect(try t.sorted(by: "tags").rows.first?.tags == ["baseline"])   // rows without tags go last
        #expect(try t.sorted(by: "-seconds").text.split(separator: "\n")[0].contains("seconds ▼"))
        #expect { try t.sorted(by: "accuracy") } throws: { "\($0)".contains("no column 'accuracy' to sort by; columns: id, tags, train.lr, test_accuracy") }
    }

    @Test("--json follows schemas/compare.schema.json; --csv has a _std column beside each metric")
    func jsonAndCSV() throws {
        let t = try Self.table().sorted(by: "-val_accuracy")
        let schema = try JSONParser.parse(try readFileBytes(atPath: "schemas/compare.schema.json"))
        #expect(MiniSchema(root: schema).validate(t.json) == [])
        // The validator does catch a wrong shape.
        #expect(!MiniSchema(root: schema).validate(.object([("compare_version", .int(2))])).isEmpty)
        let rows = try #require(t.json["rows"]?.arrayValue)
        let std = try #require(rows[0]["metrics"]?["test_accuracy"]?["std"])
        #expect(abs((std.doubleValue ?? 0) - 0.02) < 1e-12)
        let csv = t.csv.split(separator: "\n")
        #expect(csv[0].hasPrefix("id,tags,train.lr,test_accuracy,test_accuracy_std,test_macro_f1,test_macro_f1_std,"))
        #expect(csv.count == 3 && csv[1].hasPrefix(t.rows[0].version.id.hex + ",,0.01,0.72"))
        #expect(csv.allSatisfy { $0.split(separator: ",", omittingEmptySubsequences: false).count == csv[0].split(separator: ",").count })
    }

    @Test("the compare JSON validates with python jsonschema too", .enabled(if: pythonHas("jsonschema")))
    func pythonSchema() throws {
        let file = temporaryFolder() + "/compare.json"
        try (try Self.table().json.pretty()).write(toFile: file, atomically: true, encoding: .utf8)
        let r = python(ManifestTests.validator, arguments: ["schemas/compare.schema.json", file])
        #expect(r?.status == 0, "\(r?.output ?? "")")
    }
}
