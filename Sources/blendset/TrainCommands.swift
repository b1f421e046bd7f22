import Foundation
import Formats
import Learning
import Pipeline
import Stages

// Commands around the `train` stage: metrics, predict and tune.

/// The newest `train` stage of a version, or why there is none.
func trainEntry(_ version: DatasetVersion) throws -> DatasetVersion.StageEntry {
    guard let e = version.stages.last(where: { $0.kind == TrainStage.kind }) else {
        throw VersionError.unsupported("version \(version.shortID) was not trained: add a 'train' stage after 'dataset' in pipeline.json (see 'blendset help stages') and run 'blendset build'")
    }
    return e
}

/// One artifact of a version's train stage.
func trainArtifact(_ name: String, _ version: DatasetVersion, layout: CacheLayout) throws -> [UInt8] {
    let e = try trainEntry(version)
    guard let id = e.artifacts[name] else { throw VersionError.missingArtifact(version: version.shortID, stage: e.name, artifact: name) }
    guard FileManager.default.fileExists(atPath: layout.root + "/objects") else { throw VersionError.missingArtifact(version: version.shortID, stage: e.name, artifact: name) }
    do { return try ArtifactStore(layout: layout).read(id) } catch {
        throw VersionError.missingArtifact(version: version.shortID, stage: e.name, artifact: name)
    }
}

/// `{"test", "val", "epochs", "seconds"}` for a trained version: the metrics artifact plus
/// the training time from the run's statistics (kept out of the artifact so its bytes
/// do not change from run to run).
func trainedMetrics(_ version: DatasetVersion, layout: CacheLayout) throws -> JSONValue {
    let m = try JSONParser.parse(try trainArtifact(TrainStage.Artifact.metrics, version, layout: layout))
    let stats = (try? trainEntry(version).stats) ?? nil
    return .object([
        ("test", m["test"] ?? .null), ("val", m["val"] ?? .null), ("epochs", m["epochs"] ?? .null),
        ("seconds", stats?["seconds"]?["total"] ?? .null),
    ])
}

let metricsCommand = CommandSpec(
    name: "metrics",
    summary: "print the trainer's test and validation metrics for a dataset version",
    usage: "blendset metrics [VERSION] [--json] [--save DIR] [--pipeline FILE] [--cache DIR]",
    details: """
        VERSION defaults to latest (see 'blendset versions' for ids, tags and latest~N).
        --json prints {"test": {"accuracy", "macro_f1", "per_class": {CLASS: {"precision", "recall",
        "f1", "support"}}, "confusion": [[...]]}, "val": {...}, "epochs", "seconds"}; confusion rows are
        the true classes, columns the predicted ones, in class order.
        --save DIR writes the train stage's outputs: model.blsmodel (for 'blendset predict'),
        history.csv, metrics.json, curves.svg and confusion.svg.
        """,
    options: versionCacheOptions + [jsonOption, OptionSpec(name: "--save", valueName: "DIR", help: "write the model, history, metrics and SVGs to DIR")],
    positionals: 0...1,
    run: versionCommand("metrics") { args in try runMetrics(args) })

let savedTrainFiles: [(artifact: String, file: String)] = [
    (TrainStage.Artifact.model, "model.blsmodel"), (TrainStage.Artifact.history, "history.csv"),
    (TrainStage.Artifact.metrics, "metrics.json"), (TrainStage.Artifact.curves, "curves.svg"),
    (TrainStage.Artifact.confusion, "confusion.svg"),
]

func runMetrics(_ args: ParsedArguments) throws -> Int32 {
    let layout = versionLayout(args)
    let version = try VersionStore(layout: layout).resolve(args.positionals.first ?? "latest")
    let metrics = try trainedMetrics(version, layout: layout)
    if let dir = args.value("--save") {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for entry in savedTrainFiles {
            let bytes = try trainArtifact(entry.artifact, version, layout: layout)
            try AtomicFile.write(bytes, to: dir + "/" + entry.file)
        }
        FileHandle.standardError.write("wrote \(savedTrainFiles.map(\.file).joined(separator: ", ")) to \(dir)\n".data(using: .utf8)!)
    }
    if args.flag("--json") {
        printJSON(metrics)
        return 0
    }
    print("version \(version.shortID): \(describeModel(version))")
    for split in ["test", "val"] {
        if let s = metrics[split], s.objectValue != nil {
            print("")
            print(formatSplitMetrics(split, s, classes: classOrder(version, layout: layout)))
        }
    }
    var epochs = "?", seconds = "?"
    if let e = metrics["epochs"]?.intValue { epochs = String(e) }
    if let t = metrics["seconds"]?.doubleValue { seconds = String(format: "%.1f s", t) }
    print("\nepochs \(epochs), training time \(seconds)")
    return 0
}

/// Class names in label order (the confusion matrix's row order).
func classOrder(_ version: DatasetVersion, layout: CacheLayout) -> [String] {
    guard let bytes = try? trainArtifact(TrainStage.Artifact.metrics, version, layout: layout), let m = try? JSONParser.parse(bytes) else { return [] }
    return m["classes"]?.arrayValue?.compactMap(\.stringValue) ?? []
}

func describeModel(_ version: DatasetVersion) -> String {
    guard let e = try? trainEntry(version), let s = e.stats else { return "trained" }
    return s["model"]?.stringValue ?? "trained"
}

/// Accuracy, macro-F1, a per-class table and the confusion matrix of one split.
func formatSplitMetrics(_ split: String, _ s: JSONValue, classes order: [String]) -> String {
    var lines: [String] = []
    let acc = s["accuracy"]?.doubleValue ?? .nan, f1 = s["macro_f1"]?.doubleValue ?? .nan
    lines.append("\(split): accuracy \(String(format: "%.4f", acc)), macro-F1 \(String(format: "%.4f", f1))")
    let perClass = s["per_class"]?.objectValue ?? []
    // JSON objects come back with sorted keys; the class order (label order) is stored apart.
    let classes = order.isEmpty ? perClass : order.compactMap { name in perClass.first { $0.key == name } }
    let width = max(7, classes.map(\.key.count).max() ?? 0)
    func pad(_ t: String, _ w: Int) -> String { t.count >= w ? t : String(repeating: " ", count: w - t.count) + t }
    lines.append("  " + "class".padding(toLength: width, withPad: " ", startingAt: 0) + pad("precision", 11) + pad("recall", 9) + pad("f1", 9) + pad("support", 9))
    for (name, v) in classes {
        let f = { (k: String) in String(format: "%.4f", v[k]?.doubleValue ?? .nan) }
        lines.append("  " + name.padding(toLength: width, withPad: " ", startingAt: 0) + pad(f("precision"), 11) + pad(f("recall"), 9) + pad(f("f1"), 9) + pad(String(v["support"]?.intValue ?? 0), 9))
    }
    if let rows = s["confusion"]?.arrayValue {
        lines.append("  confusion (rows = true, columns = predicted: \(classes.map(\.key).joined(separator: ", ")))")
        for (i, r) in rows.enumerated() {
            let name = i < classes.count ? classes[i].key : String(i)
            lines.append("  " + name.padding(toLength: width, withPad: " ", startingAt: 0) + (r.arrayValue ?? []).map { pad(String($0.intValue ?? 0), 8) }.joined())
        }
    }
    return lines.joined(separator: "\n")
}

// MARK: predict

/// Why `predict` cannot classify an input file.
struct PredictInputError: Error, CustomStringConvertible {
    var description: String
}

let predictCommand = CommandSpec(
    name: "predict",
    summary: "classify rows of blendshape features with a trained model",
    usage: "blendset predict --model FILE --input FILE.csv [--json]",
    details: """
        FILE is a model written by 'blendset metrics --save DIR' (DIR/model.blsmodel). The CSV needs a
        header; the model's features are found by name (other columns are ignored, order does not
        matter), so a file with missing or renamed features is refused rather than misread. Give the
        RAW features: the model applies the scaling it was trained with itself. Prints one line per
        row: row, predicted class, and one probability per class (CSV); --json prints an array.
        """,
    options: [OptionSpec(name: "--model", valueName: "FILE", help: "the trained model (.blsmodel)"),
              OptionSpec(name: "--input", valueName: "FILE.csv", help: "rows of features with a header"),
              jsonOption],
    run: { args in
        guard let modelPath = args.value("--model") else { throw UsageError(message: "--model FILE is required", command: "predict") }
        guard let inputPath = args.value("--input") else { throw UsageError(message: "--input FILE.csv is required", command: "predict") }
        let model: TrainedModel
        do { model = try TrainedModel.read(path: modelPath) } catch {
            FileHandle.standardError.write("blendset: error: \(error)\n".data(using: .utf8)!)
            return FileManager.default.fileExists(atPath: modelPath) ? ExitCode.dataError : ExitCode.noInput
        }
        guard let text = try? String(contentsOfFile: inputPath, encoding: .utf8) else {
            FileHandle.standardError.write("blendset: error: cannot read \(inputPath)\n".data(using: .utf8)!)
            return ExitCode.noInput
        }
        let x: [Float]
        do { x = try readFeatureCSV(text, features: model.featureNames, path: inputPath) } catch {
            FileHandle.standardError.write("blendset: error: \(error)\n".data(using: .utf8)!)
            return ExitCode.dataError
        }
        let probs = try model.predict(rawFeatures: x, threads: ProcessInfo.processInfo.activeProcessorCount)
        let k = model.classes.count, rows = probs.count / max(k, 1)
        if args.flag("--json") {
            printJSON(.array((0..<rows).map { r in
                let p = Array(probs[(r * k)..<((r + 1) * k)])
                return .object([("row", .int(r + 1)), ("class", .string(model.classes[argmaxIndex(p)])),
                                ("probabilities", .object(model.classes.indices.map { (model.classes[$0], .number(Double(p[$0]))) }))])
            }))
        } else {
            print((["row", "class"] + model.classes.map { "p_\($0)" }).joined(separator: ","))
            for r in 0..<rows {
                let p = Array(probs[(r * k)..<((r + 1) * k)])
                print(([String(r + 1), model.classes[argmaxIndex(p)]] + p.map { String(format: "%.6f", $0) }).joined(separator: ","))
            }
        }
        return 0
    })

func argmaxIndex(_ p: [Float]) -> Int { p.indices.max { p[$0] < p[$1] } ?? 0 }

/// Reads the named feature columns of a CSV with a header, in the model's order.
func readFeatureCSV(_ text: String, features: [String], path: String) throws -> [Float] {
    var lines = text.split(omittingEmptySubsequences: true) { $0 == "\n" || $0 == "\r\n" }.map { String($0).trimmingCharacters(in: .whitespaces) }
    lines.removeAll { $0.isEmpty }
    guard let head = lines.first else { throw PredictInputError(description: "\(path) is empty; expected a header naming the features") }
    func fields(_ line: String) -> [String] {
        line.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: CharacterSet(charactersIn: " \"")) }
    }
    let header = fields(head)
    var columns: [Int] = []
    var missing: [String] = []
    for f in features {
        if let i = header.firstIndex(of: f) { columns.append(i) } else { missing.append(f) }
    }
    guard missing.isEmpty else {
        throw PredictInputError(description: "\(path): the header lacks \(missing.count) of the model's \(features.count) features (\(missing.prefix(5).joined(separator: ", "))\(missing.count > 5 ? ", …" : "")); the model needs: \(features.joined(separator: ","))")
    }
    var out: [Float] = []
    out.reserveCapacity((lines.count - 1) * features.count)
    for (n, line) in lines.dropFirst().enumerated() {
        let v = fields(line)
        for (j, c) in columns.enumerated() {
            guard c < v.count, let x = Float(v[c]), x.isFinite else {
                throw PredictInputError(description: "\(path) line \(n + 2): feature '\(features[j])' is '\(c < v.count ? v[c] : "")', not a finite number")
            }
            out.append(x)
        }
    }
    return out
}

// MARK: tune

/// Splits `a,b,[1,2],c` at top-level commas (not inside brackets, braces or quotes).
func splitGridValues(_ s: String) -> [String] {
    var out: [String] = [], cur = "", depth = 0, quoted = false
    for ch in s {
        if ch == "\"" { quoted.toggle() }
        if !quoted { if "[{".contains(ch) { depth += 1 } else if "]}".contains(ch) { depth -= 1 } }
        if ch == ",", depth == 0, !quoted { out.append(cur); cur = "" } else { cur.append(ch) }
    }
    out.append(cur)
    return out.filter { !$0.isEmpty }
}

let tuneCommand = CommandSpec(
    name: "tune",
    summary: "build and train once per hyper-parameter combination; table sorted by validation accuracy",
    usage: "blendset tune --grid STAGE.PARAM=V1,V2,... [--grid ...] [--random N --seed S] [--pipeline FILE] [--cache DIR] [--set ...] [--jobs N] [--json]",
    details: """
        Each trial is a build with the grid values as --set overrides, so the dataset is built once and a
        trial that was run before comes from the cache. Values are JSON (arrays too: train.units=[33,12],[18,12]).
        --random N runs N combinations drawn without replacement (seeded by --seed, default 42) instead
        of the whole grid. The summary is sorted by validation accuracy (ties: validation macro-F1),
        printed, and stored as cache/tune/<id>.json.
        """,
    options: [pipelineOption, cacheOption, setOption, jobsOption, jsonOption,
              OptionSpec(name: "--grid", valueName: "STAGE.PARAM=V1,V2,...", repeatable: true, help: "a parameter and the values to try"),
              OptionSpec(name: "--random", valueName: "N", help: "try N random combinations instead of all"),
              OptionSpec(name: "--seed", valueName: "S", help: "seed for --random (default 42)")],
    run: { args in
        let grids = args.all("--grid")
        guard !grids.isEmpty else { throw UsageError(message: "give at least one --grid STAGE.PARAM=V1,V2,...", command: "tune") }
        var axes: [(name: String, values: [ParameterOverride])] = []
        for g in grids {
            guard let eq = g.firstIndex(of: "=") else { throw UsageError(message: "--grid expects STAGE.PARAM=V1,V2,..., found '\(g)'", command: "tune") }
            let name = String(g[..<eq])
            let values = splitGridValues(String(g[g.index(after: eq)...]))
            guard !values.isEmpty else { throw UsageError(message: "--grid \(name) has no values", command: "tune") }
            axes.append((name, try values.map { v throws(PipelineError) in try ParameterOverride(parsing: name + "=" + v) }))
        }
        var combos: [[ParameterOverride]] = [[]]
        for axis in axes { combos = combos.flatMap { c in axis.values.map { c + [$0] } } }
        if let n = try args.int("--random", in: 1...100_000, command: "tune") {
            let seed = try args.int("--seed", in: 0...Int.max, command: "tune") ?? 42
            var rng = SeededGenerator(seed: UInt64(seed))
            combos.shuffle(using: &rng)
            combos = Array(combos.prefix(n))
        }
        let file = args.value("--pipeline") ?? "pipeline.json"
        let base = try args.all("--set").map { t throws(PipelineError) in try ParameterOverride(parsing: t) }
        let ws = try Workspace(args, command: "tune")
        var rows: [(trial: Int, overrides: [ParameterOverride], version: DatasetVersion, metrics: JSONValue, ran: Bool)] = []
        for (i, combo) in combos.enumerated() {
            let label = combo.map(\.text).joined(separator: " ")
            FileHandle.standardError.write("trial \(i + 1)/\(combos.count): \(label)\n".data(using: .utf8)!)
            let plan = try BuildPlan.load(file: file, registry: standardStages, overrides: base + combo)
            let builder = Builder(plan: plan, cacheRoot: ws.cacheRoot, jobs: ws.jobs)
            let report = try builder.build(observer: ProgressPrinter(quiet: true), wait: true)
            try Manifest.record(report.version, layout: builder.layout)
            let ran = report.stages.contains { $0.kind == TrainStage.kind && $0.status == .ran }
            rows.append((i + 1, combo, report.version, try trainedMetrics(report.version, layout: builder.layout), ran))
        }
        func score(_ m: JSONValue, _ split: String, _ key: String) -> Double { m[split]?[key]?.doubleValue ?? -1 }
        rows.sort { a, b in
            let x = (score(a.metrics, "val", "accuracy"), score(a.metrics, "val", "macro_f1")), y = (score(b.metrics, "val", "accuracy"), score(b.metrics, "val", "macro_f1"))
            return x != y ? x > y : a.trial < b.trial
        }
        let summary = JSONValue.object([
            ("grid", .array(grids.map { .string($0) })), ("base", .array(base.map { .string($0.text) })),
            ("objective", .string("val accuracy")),
            ("trials", .array(rows.map { r in
                .object([("trial", .int(r.trial)), ("overrides", .object(r.overrides.map { ("\($0.stage).\($0.parameter)", $0.value) })),
                         ("version", .string(r.version.id.hex)), ("cached", .bool(!r.ran)),
                         ("val_accuracy", .number(score(r.metrics, "val", "accuracy"))), ("val_macro_f1", .number(score(r.metrics, "val", "macro_f1"))),
                         ("test_accuracy", .number(score(r.metrics, "test", "accuracy"))), ("test_macro_f1", .number(score(r.metrics, "test", "macro_f1"))),
                         ("epochs", r.metrics["epochs"] ?? .null), ("seconds", r.metrics["seconds"] ?? .null)])
            })),
        ])
        let id = SHA256.digest(summary.canonical).hex.prefix(12)
        let path = ws.cacheRoot + "/tune/\(id).json"
        try FileManager.default.createDirectory(atPath: ws.cacheRoot + "/tune", withIntermediateDirectories: true)
        try AtomicFile.write(Array((summary.pretty() + "\n").utf8), to: path)
        if args.flag("--json") {
            printJSON(summary)
            return 0
        }
        print("Results summary")
        print("Objective: val accuracy (descending); stored in \(path)")
        for (rank, r) in rows.enumerated() {
            print("")
            print("Trial #\(r.trial) summary (rank \(rank + 1)\(r.ran ? "" : ", cached")) — version \(r.version.shortID)")
            print("Hyperparameters:")
            for o in r.overrides { print("  \(o.stage).\(o.parameter): \(o.value.canonical)") }
            print(String(format: "Score: val accuracy %.4f, val macro-F1 %.4f, test accuracy %.4f, test macro-F1 %.4f",
                         score(r.metrics, "val", "accuracy"), score(r.metrics, "val", "macro_f1"),
                         score(r.metrics, "test", "accuracy"), score(r.metrics, "test", "macro_f1")))
        }
        return 0
    })

let trainCommands = [metricsCommand, predictCommand, tuneCommand]
