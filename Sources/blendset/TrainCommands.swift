import Foundation
import Formats
import Learning
import Pipeline
import Stages

// Commands around the `train` stage: metrics, predict and tune.

extension OptionSpec {
    static let save = OptionSpec(name: "--save", valueName: "DIR", help: "write the model, history, metrics and SVGs to DIR")
    static let model = OptionSpec(name: "--model", valueName: "FILE", help: "the trained model (.blsmodel)")
    static let input = OptionSpec(name: "--input", valueName: "FILE.csv", help: "rows of features with a header")
    static let grid = OptionSpec(name: "--grid", valueName: "STAGE.PARAM=V1,V2,...", repeatable: true, help: "a parameter and the values to try")
    static let random = OptionSpec(name: "--random", valueName: "N", help: "try N random combinations instead of all")
    static let seed = OptionSpec(name: "--seed", valueName: "S", help: "seed for --random (default 42)")
}

let metricsCommand = CommandSpec(
    name: "metrics",
    summary: "print the trainer's test and validation metrics for a dataset version",
    usage: "blendset metrics [VERSION] [--json] [--save DIR] [--pipeline FILE] [--cache DIR]",
    details: """
        VERSION defaults to latest (see 'blendset versions' for ids, tags and latest~N).
        --json prints {"test": {"accuracy", "macro_f1", "per_class": {CLASS: {"precision", "recall",
        "f1", "support"}}, "confusion": [[...]]}, "val": {...}, "epochs", "seconds", "normalization"}
        (none, zscore or minmax: what the model applies to the raw features itself); confusion rows are
        the true classes, columns the predicted ones, in class order. With train.seeds, test and val are
        the ensemble's, and "seeds" (each seed's test and val) and "seed_summary" ({"test"|"val":
        {"accuracy"|"macro_f1": {"mean", "std"}, "per_class": {CLASS: {"precision"|"recall"|"f1":
        {"mean", "std"}}}}}) follow; a gbt model adds "feature_importance" ([{"feature", "gain"}],
        largest first). Each split has "by_emotion" ([{"emotion", "predicted": [count per class],
        "rows"}]: rows are the source FER2013 emotions, columns the predicted classes) when the
        dataset keeps the emotion column. "decision" is the model's rule (train.decision): {"rule":
        "argmax"}, or the rule with its "weights" or "class"/"threshold", "objective", and "val":
        {"before" (argmax), "after" (the rule): {"accuracy", "macro_f1", "recall": {CLASS: r}}},
        and "test_argmax"; test and val figures are the rule's, as 'predict' applies it.
        "class_weights" ({CLASS: w}) shows the training weights when train.class_weights is set.
        --save DIR writes the train stage's outputs: model.blsmodel (for 'blendset predict'),
        history.csv, metrics.json, curves.svg, confusion.svg, emotion-confusion.svg (test, source
        emotion × predicted class), and importance.svg for gbt.
        """,
    options: [.pipeline, .cache, .json, .save],
    positionals: 0...1,
    run: { args in
        let layout = args.layout
        let version = try VersionStore(layout: layout).resolve(args.positionals.first ?? "latest")
        let metrics = try TrainResults.metrics(version, layout: layout)
        if let dir = args[.save] {
            var files = [(TrainStage.Artifact.model, "model.blsmodel"), (TrainStage.Artifact.history, "history.csv"),
                         (TrainStage.Artifact.metrics, "metrics.json"), (TrainStage.Artifact.curves, "curves.svg"),
                         (TrainStage.Artifact.confusion, "confusion.svg")]
            let stored = try TrainResults.entry(version).artifacts
            if stored[TrainStage.Artifact.emotionConfusion] != nil { files.append((TrainStage.Artifact.emotionConfusion, "emotion-confusion.svg")) }
            if stored[TrainStage.Artifact.importance] != nil { files.append((TrainStage.Artifact.importance, "importance.svg")) }
            for (artifact, file) in files { try AtomicFile.write(try TrainResults.artifact(artifact, of: version, layout: layout), to: dir + "/" + file) }
            writeError("wrote \(files.map(\.1).joined(separator: ", ")) to \(dir)\n")
        }
        if args.flag(.json) { return printJSON(metrics) }
        print("version \(version.shortID): \(TrainResults.modelDescription(version))")
        print(TrainResults.normalizationText(TrainResults.normalization(try TrainResults.entry(version).parameters["normalize"])))
        let order = TrainResults.classOrder(version, layout: layout)
        if let d = TrainResults.decisionText(metrics, classes: order) { print("\n" + d) }
        for split in ["test", "val"] {
            if let s = metrics[split], s.objectValue != nil {
                print("\n" + TrainResults.text(split: split, s, classes: order))
            }
        }
        if let s = metrics["test"], let e = TrainResults.emotionText(split: "test", s, classes: order) { print("\n" + e) }
        for extra in [TrainResults.seedText(metrics), TrainResults.importanceText(metrics)].compactMap({ $0 }) { print("\n" + extra) }
        var epochs = "?", seconds = "?"
        if let e = metrics["epochs"]?.intValue { epochs = String(e) }
        if let t = metrics["seconds"]?.doubleValue { seconds = String(format: "%.1f s", t) }
        print("\nepochs \(epochs), training time \(seconds)")
    })

/// Why `predict` cannot start: main.swift maps a missing file to 66, a damaged model to 65.
enum PredictError: Error, CustomStringConvertible {
    case modelMissing(LearningError)
    case modelInvalid(LearningError)
    case inputUnreadable(path: String)

    var description: String {
        switch self {
        case .modelMissing(let e), .modelInvalid(let e): return e.description
        case .inputUnreadable(let path): return "cannot read \(path)"
        }
    }
}

let predictCommand = CommandSpec(
    name: "predict",
    summary: "classify rows of blendshape features with a trained model",
    usage: "blendset predict [VERSION] --input FILE.csv | --model FILE IMAGE_OR_FOLDER... [--model FILE] [--face-model FILE] [--cache DIR] [--pipeline FILE] [--json] [--jobs N]",
    details: """
        The model is the one trained for VERSION (default latest) in the cache, or with --model FILE
        a model written by 'blendset metrics --save DIR' (DIR/model.blsmodel): an LSTM, an MLP,
        gradient-boosted trees, or an ensemble of one per seed (the mean of their probabilities). The CSV needs a
        header; the model's features are found by name (other columns are ignored, order does not
        matter), so a file with missing or renamed features is refused rather than misread. Give the
        RAW features: the model applies the scaling it was trained with itself, and its decision
        rule (train.decision, stored in the model; argmax when it has none), so the class is the
        one 'metrics' counts. A model stores each feature's range over its train split: when more
        than 1% of the rows have a feature outside it by more than 5% of that range (e.g. z-scored
        input to a raw model), a warning goes to stderr. Prints one line per row: row, predicted
        class, and one probability per class (CSV). --json prints one object: {"model", "classes",
        "decision": {"rule", ...}, "warnings": [TEXT], "rows": [{"row", "class", "probabilities":
        {CLASS: p}}]}.
        \(PredictImages.help)
        """,
    options: [.pipeline, .cache, .model, .input, .json, .jobs, .faceModel],
    positionals: 0...1_000_000,
    run: { args in
        if try PredictImages.run(args) { return }  // images, or the CSV of 'blendset extract'
        guard args.positionals.count <= 1 else { throw UsageError(message: "give at most one VERSION", command: "predict") }
        let inputPath = try args.required(.input, "--input FILE.csv is required")
        let model: TrainedModel
        let modelPath: String
        if let path = args[.model] {
            guard args.positionals.isEmpty else { throw UsageError(message: "give either VERSION or --model FILE, not both", command: "predict") }
            modelPath = path
            do throws(LearningError) { model = try TrainedModel.read(path: modelPath) } catch {
                throw FileManager.default.fileExists(atPath: modelPath) ? PredictError.modelInvalid(error) : .modelMissing(error)
            }
        } else {
            let version = try VersionStore(layout: args.layout).resolve(args.positionals.first ?? "latest")
            modelPath = "version \(version.shortID) (\(args.layout.root))"
            do { model = try StageOutputs.trainedModel(of: version, layout: args.layout) } catch let e as LearningError { throw PredictError.modelInvalid(e) }
        }
        guard let bytes = try? readFileBytes(atPath: inputPath) else { throw PredictError.inputUnreadable(path: inputPath) }
        let x = try TrainResults.featureRows(try TableCSV.decode(bytes, source: inputPath), features: model.featureNames, source: inputPath)
        let probs = try model.predict(rawFeatures: x, threads: ProcessInfo.processInfo.activeProcessorCount)
        let warnings = model.rangeWarning(rawFeatures: x).map { [$0] } ?? []
        for w in warnings { writeError("blendset: warning: \(w)\n") }
        let k = model.classes.count, rows = probs.count / max(k, 1)
        let decided = model.decide(probs)
        func best(_ r: Int) -> String { model.classes[Int(decided[r])] }
        if args.flag(.json) {
            printJSON(.object([
                ("model", .string(modelPath)), ("classes", .array(model.classes.map { .string($0) })),
                ("decision", TrainStage.decisionJSON(model.decision, classes: model.classes, testArgmax: nil)),
                ("warnings", .array(warnings.map { .string($0) })),
                ("rows", .array((0..<rows).map { r in
                    let p = Array(probs[(r * k)..<((r + 1) * k)])
                    return .object([("row", .int(r + 1)), ("class", .string(best(r))),
                                    ("probabilities", .object(model.classes.indices.map { (model.classes[$0], .number(Double(p[$0]))) }))])
                })),
            ]))
            return
        }
        print((["row", "class"] + model.classes.map { "p_\($0)" }).joined(separator: ","))
        for r in 0..<rows {
            let p = Array(probs[(r * k)..<((r + 1) * k)])
            print(([String(r + 1), best(r)] + p.map { String(format: "%.6f", $0) }).joined(separator: ","))
        }
    })

let tuneCommand = CommandSpec(
    name: "tune",
    summary: "build and train once per hyper-parameter combination; table sorted by validation accuracy",
    usage: "blendset tune --grid STAGE.PARAM=V1,V2,... [--grid ...] [--random N --seed S] [--pipeline FILE] [--cache DIR] [--set ...] [--jobs N] [--json]",
    details: """
        Each trial is a build with the grid values as --set overrides, so the dataset is built once and a
        trial that was run before comes from the cache. Values are JSON (arrays too: train.units=[33,12],[18,12]).
        --random N runs N combinations drawn without replacement (seeded by --seed, default 42) instead
        of the whole grid. Every value is checked before the first trial trains. The trials are ranked
        by validation accuracy (with train.seeds, the mean over the seeds that the table shows; ties:
        validation macro-F1), printed in the table of 'blendset compare' (against trial 1), and
        stored as cache/tune/<id>.json; 'gc' keeps the versions it lists.
        """,
    options: [.pipeline, .cache, .set, .jobs, .json, .grid, .random, .seed],
    run: { args in
        let axes = try Tuner.axes(args.all(.grid))
        let random = try args.int(.random, in: 1...100_000)
        let seed = try args.int(.seed, in: 0...Int.max) ?? 42
        let tuner = Tuner(pipelineFile: args.pipelineFile, cacheRoot: args[.cache], base: try args.overrides, grid: args.all(.grid),
                          jobs: try args.datasetBuild().jobs)
        let result = try tuner.run(Tuner.combinations(axes, random: random, seed: UInt64(seed)), observer: ProgressPrinter(quiet: true)) { i, n, combo in
            writeError("trial \(i)/\(n): \(combo.map(\.text).joined(separator: " "))\n")
        }
        if args.flag(.json) { return printJSON(result.json) }
        print(result.text)
    })

let trainCommands = [metricsCommand, predictCommand, tuneCommand]
