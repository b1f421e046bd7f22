import Foundation
import Testing

extension CLI {
    /// Checks JSON text against a schema with python's jsonschema; nil when it is not installed.
    static func validate(_ json: String, schema: String) -> Result? {
        let file = folder() + "/out.json"
        try? json.write(toFile: file, atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", """
            import json, sys
            try:
                import jsonschema
            except ImportError:
                sys.exit(3)
            jsonschema.Draft202012Validator(json.load(open(sys.argv[1]))).validate(json.load(open(sys.argv[2])))
            """, schema, file]
        let err = Pipe()
        p.standardError = err
        guard (try? p.run()) != nil else { return nil }
        let data = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return p.terminationStatus == 3 ? nil : Result(status: p.terminationStatus, stdout: "", stderr: String(decoding: data, as: UTF8.self))
    }
}

@Suite("train commands: metrics, predict, tune")
struct TrainCLITests {
    static let quickTrain = ["--set", "train.epochs=3", "--set", "train.units=[6,4]", "--set", "train.normalize=zscore"]

    @Test("a decision rule stored in the model: predict applies it and reproduces the metrics' test figures exactly")
    func decisionRuleThroughPredict() throws {
        let dir = CLI.folder(), cache = dir + "/cache"
        let rule = #"train.decision={"rule": "reject", "class": "neutral", "threshold": 0.7}"#
        let (r, _) = try CLI.buildJSON(cache: cache, Self.quickTrain + ["--set", rule])
        #expect(r.status == 0, "\(r.stderr)")
        let m = try CLI.run(["metrics", "--cache", cache, "--json", "--save", dir + "/out"])
        #expect(m.status == 0, "\(m.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(m.stdout.utf8)) as? [String: Any])
        let decision = try #require(json["decision"] as? [String: Any])
        #expect(decision["rule"] as? String == "reject" && decision["threshold"] as? Double == 0.7)
        let test = try #require(json["test"] as? [String: Any])
        let text = try CLI.run(["metrics", "--cache", cache])
        #expect(text.stdout.contains("decision: reject (neutral unless another class has p ≥ 0.7000)"))
        #expect(text.stdout.contains("test by source emotion"))

        let e = try CLI.run(["export", "--cache", cache, "--format", "csv", "--out", dir + "/csv"])
        #expect(e.status == 0, "\(e.stderr)")
        let p = try CLI.run(["predict", "--model", dir + "/out/model.blsmodel", "--input", dir + "/csv/test.csv", "--json"])
        #expect(p.status == 0, "\(p.stderr)")
        let out = try #require(try JSONSerialization.jsonObject(with: Data(p.stdout.utf8)) as? [String: Any])
        #expect((out["decision"] as? [String: Any])?["rule"] as? String == "reject")
        let predicted = (out["rows"] as? [[String: Any]] ?? []).compactMap { $0["class"] as? String }
        // The true classes, from the exported CSV's label_name column.
        let lines = try String(contentsOfFile: dir + "/csv/test.csv", encoding: .utf8).split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        let column = try #require(lines.first?.firstIndex(of: "label_name"))
        let truth = lines.dropFirst().map { $0[column] }
        #expect(predicted.count == truth.count && !truth.isEmpty)
        let accuracy = Double(zip(predicted, truth).filter { $0 == $1 }.count) / Double(truth.count)
        #expect(accuracy == test["accuracy"] as? Double)
        // The rule changes at least one row against argmax: some row is called neutral although another class is more probable.
        let overruled = (out["rows"] as? [[String: Any]] ?? []).contains { row in
            let probs = row["probabilities"] as? [String: Double] ?? [:]
            return row["class"] as? String == "neutral" && probs.contains { $0.key != "neutral" && $0.value > (probs["neutral"] ?? 0) }
        }
        #expect(overruled)

        let bad = try CLI.run(["build", "--pipeline", CLI.pipeline, "--cache", cache, "--set", "ingest.source=\(CLI.fixture)"] + CLI.fast
                              + Self.quickTrain + ["--set", #"train.decision={"rule": "reject", "class": "unknown", "threshold": 0.5}"#])
        #expect(bad.status == 78, "\(bad.stderr)")
        #expect(bad.stderr.contains("happy, sad, neutral"))
    }

    @Test("metrics --json has the documented shape; --save writes a model that predict uses on raw features")
    func metricsAndPredict() throws {
        let dir = CLI.folder(), cache = dir + "/cache"
        let (r, _) = try CLI.buildJSON(cache: cache, Self.quickTrain)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("Epoch 3/3"))
        let m = try CLI.run(["metrics", "--cache", cache, "--json", "--save", dir + "/out"])
        #expect(m.status == 0, "\(m.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(m.stdout.utf8)) as? [String: Any])
        #expect(Set(json.keys) == ["test", "val", "epochs", "seconds", "normalization", "decision"])
        #expect((json["decision"] as? [String: Any])?["rule"] as? String == "argmax")
        #expect(json["normalization"] as? String == "zscore")
        let test = try #require(json["test"] as? [String: Any])
        #expect(Set(test.keys) == ["accuracy", "macro_f1", "per_class", "confusion", "by_emotion"])
        #expect((test["confusion"] as? [[Int]])?.count == 3)
        #expect(json["epochs"] as? Int == 3)
        for f in ["model.blsmodel", "history.csv", "metrics.json", "curves.svg", "confusion.svg", "emotion-confusion.svg"] {
            #expect(FileManager.default.fileExists(atPath: dir + "/out/" + f), "\(f)")
        }
        let text = try CLI.run(["metrics", "--cache", cache])
        #expect(text.stdout.contains("confusion (rows = true, columns = predicted: happy, sad, neutral)"))

        let e = try CLI.run(["export", "--cache", cache, "--format", "csv", "--out", dir + "/csv"])
        #expect(e.status == 0, "\(e.stderr)")
        let p = try CLI.run(["predict", "--model", dir + "/out/model.blsmodel", "--input", dir + "/csv/test.csv"])
        #expect(p.status == 0, "\(p.stderr)")
        let lines = p.stdout.split(separator: "\n")
        #expect(lines.first == "row,class,p_happy,p_sad,p_neutral")
        let csvRows = try String(contentsOfFile: dir + "/csv/test.csv", encoding: .utf8).split(separator: "\n").count
        #expect(lines.count == csvRows)

        // A file without the model's feature names is refused, not misread.
        try "a,b,c\n1,2,3\n".write(toFile: dir + "/bad.csv", atomically: true, encoding: .utf8)
        let bad = try CLI.run(["predict", "--model", dir + "/out/model.blsmodel", "--input", dir + "/bad.csv"])
        #expect(bad.status == 65)
        #expect(bad.stderr.contains("lacks 33 of the model's 33 features"))
        let missing = try CLI.run(["predict", "--model", dir + "/nope.blsmodel", "--input", dir + "/bad.csv"])
        #expect(missing.status == 66)
        #expect(missing.stderr.contains("blendset: error: cannot read the model file \(dir)/nope.blsmodel"))
        try "not a model".write(toFile: dir + "/junk.blsmodel", atomically: true, encoding: .utf8)
        let junk = try CLI.run(["predict", "--model", dir + "/junk.blsmodel", "--input", dir + "/bad.csv"])
        #expect(junk.status == 65 && junk.stderr.contains("cannot read the model file"))
        let noInput = try CLI.run(["predict", "--model", dir + "/out/model.blsmodel", "--input", dir + "/none.csv"])
        #expect(noInput.status == 66 && noInput.stderr == "blendset: error: cannot read \(dir)/none.csv\n")

        // The project's CSV reader: quoted header fields, CRLF line ends and blank lines are fine;
        // a bad value is reported as file:line.
        let exported = try String(contentsOfFile: dir + "/csv/test.csv", encoding: .utf8).split(separator: "\n").map(String.init)
        let quotedHeader = exported[0].split(separator: ",").map { "\"\($0)\"" }.joined(separator: ",")
        try ([quotedHeader, "", exported[1]].joined(separator: "\r\n") + "\r\n").write(toFile: dir + "/crlf.csv", atomically: true, encoding: .utf8)
        let crlf = try CLI.run(["predict", "--model", dir + "/out/model.blsmodel", "--input", dir + "/crlf.csv"])
        #expect(crlf.status == 0, "\(crlf.stderr)")
        #expect(crlf.stdout.split(separator: "\n").count == 2)
        let needs = try #require(bad.stderr.components(separatedBy: "the model needs: ").last)
        let firstFeature = String(needs.prefix { $0 != "," && $0 != "\n" })
        let column = try #require(exported[0].split(separator: ",").map(String.init).firstIndex(of: firstFeature))
        var row = exported[2].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        row[column] = "x"
        try [exported[0], exported[1], row.joined(separator: ",")].joined(separator: "\n").write(toFile: dir + "/value.csv", atomically: true, encoding: .utf8)
        let value = try CLI.run(["predict", "--model", dir + "/out/model.blsmodel", "--input", dir + "/value.csv"])
        #expect(value.status == 65)
        #expect(value.stderr.contains("\(dir)/value.csv:3: feature '\(firstFeature)' is 'x', not a finite number"), "\(value.stderr)")

        // A deleted object of a recorded version is a damaged cache (70), naming the file (issue 10).
        try FileManager.default.removeItem(atPath: cache + "/objects")
        let gone = try CLI.run(["metrics", "--cache", cache])
        #expect(gone.status == 70 && gone.stderr.contains(cache + "/objects/") && gone.stderr.contains("is missing"), "\(gone.stderr)")
    }

    @Test("tune runs each combination once; a second run finds every trial cached")
    func tune() throws {
        let cache = CLI.folder() + "/cache"
        let args = ["tune", "--pipeline", CLI.pipeline, "--cache", cache, "--set", "ingest.source=\(CLI.fixture)", "--grid", "train.lr=0.001,0.01"]
            + CLI.fast + Self.quickTrain
        let first = try CLI.run(args)
        #expect(first.status == 0, "\(first.stderr)")
        // The same table as 'compare': the grid parameter is the one column that differs from trial 1.
        let header = try #require(first.stdout.split(separator: "\n").first { $0.hasPrefix("trial") })
        #expect(header.contains("train.lr") && header.contains("val acc ▼") && header.contains("test acc"), "\(first.stdout)")
        #expect(first.stdout.contains("#1 ") && first.stdout.contains("#2 ") && first.stdout.contains("* baseline"))
        let second = try CLI.run(args + ["--json"])
        let json = try #require(try JSONSerialization.jsonObject(with: Data(second.stdout.utf8)) as? [String: Any])
        let trials = try #require(json["trials"] as? [[String: Any]])
        #expect(trials.count == 2)
        #expect(trials.allSatisfy { $0["cached"] as? Bool == true })
        let acc = trials.map { $0["val_accuracy"] as? Double ?? -1 }
        #expect(acc == acc.sorted(by: >))

        // gc keeps the versions a stored tune result lists, even when no rule keeps them.
        let gc = try CLI.run(["gc", "--cache", cache, "--keep-last", "0", "--json"])
        #expect(gc.status == 0, "\(gc.stderr)")
        let kept = (try JSONSerialization.jsonObject(with: Data(gc.stdout.utf8)) as? [String: Any])?["kept"] as? [String] ?? []
        #expect(Set(kept) == Set(trials.compactMap { $0["version"] as? String }))
        let third = try CLI.run(args + ["--json"])
        let again = (try JSONSerialization.jsonObject(with: Data(third.stdout.utf8)) as? [String: Any])?["trials"] as? [[String: Any]] ?? []
        #expect(again.count == 2 && again.allSatisfy { $0["cached"] as? Bool == true })
        #expect(try CLI.run(["metrics", "--cache", cache, String(kept.first?.prefix(12) ?? "")]).status == 0)

        // compare: both trained versions, train.lr differs, --json follows the schema, --csv, --sort.
        let compare = try CLI.run(["compare", "--cache", cache, "--sort", "-train.lr"])
        #expect(compare.status == 0, "\(compare.stderr)")
        let rows = compare.stdout.split(separator: "\n")
        #expect(rows[0].contains("train.lr ▼") && rows.count == 5 && rows[2].contains("0.01") && rows[3].contains("0.001"), "\(compare.stdout)")
        let cj = try CLI.run(["compare", "--cache", cache, "--json"])
        let cjson = try #require(try JSONSerialization.jsonObject(with: Data(cj.stdout.utf8)) as? [String: Any])
        #expect(cjson["parameters"] as? [String] == ["train.lr"] && (cjson["rows"] as? [Any])?.count == 2)
        if let r = CLI.validate(cj.stdout, schema: "schemas/compare.schema.json") { #expect(r.status == 0, "\(r.stderr)") }
        let csv = try CLI.run(["compare", "--cache", cache, "--csv", "--baseline", String(kept[0].prefix(8))])
        #expect(csv.status == 0 && csv.stdout.hasPrefix("id,tags,train.lr,test_accuracy,test_accuracy_std,"), "\(csv.stdout)")
        let bad = try CLI.run(["compare", "--cache", cache, "--sort", "nope"])
        #expect(bad.status == 64 && bad.stderr.contains("no column 'nope' to sort by; columns: id, tags, train.lr, test_accuracy"), "\(bad.stderr)")
    }

    @Test("tune checks every grid value before the first trial: a bad last value exits 78 at once")
    func tuneChecksFirst() throws {
        let cache = CLI.folder() + "/cache"
        let r = try CLI.run(["tune", "--pipeline", CLI.pipeline, "--cache", cache, "--set", "ingest.source=\(CLI.fixture)",
                             "--grid", "train.lr=0.001,0.01,fast"] + CLI.fast + Self.quickTrain)
        #expect(r.status == 78, "\(r.stderr)")
        #expect(r.stderr.contains("train") && r.stderr.contains("lr") && r.stderr.contains("fast"), "\(r.stderr)")
        #expect(!r.stderr.contains("trial 1/") && !FileManager.default.fileExists(atPath: cache + "/versions"))
    }

    /// (arguments, fragment of stderr): grid errors are usage errors that point at the help.
    static let tuneUsage: [([String], String)] = [
        (["tune"], "give at least one --grid STAGE.PARAM=V1,V2,..."),
        (["tune", "--grid", "train.lr"], "--grid expects STAGE.PARAM=V1,V2,..., found 'train.lr'"),
        (["tune", "--grid", "train.lr="], "--grid train.lr has no values"),
    ]

    @Test("tune: a bad --grid exits 64 and points at 'blendset help tune'", arguments: tuneUsage.indices)
    func tuneUsageErrors(index: Int) throws {
        let (args, fragment) = Self.tuneUsage[index]
        let r = try CLI.run(args + ["--cache", CLI.folder() + "/cache"])
        #expect(r.status == 64)
        #expect(r.stderr == "blendset: error: \(fragment)\nSee 'blendset help tune'.\n")
    }

    @Test("metrics on a version without a train stage says how to get one")
    func untrained() throws {
        let dir = CLI.folder()
        let r = try CLI.run(["metrics", "--cache", dir + "/cache"])
        #expect(r.status == 66)
        #expect(r.stderr.contains("blendset build"))
    }
}
