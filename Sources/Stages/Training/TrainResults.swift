import Foundation
import Formats
import Learning
import Pipeline

/// What the `train` stage of a dataset version produced: its artifacts and its metrics.
public enum TrainResults {
    /// The newest `train` stage of a version, or why there is none.
    public static func entry(_ version: DatasetVersion) throws(VersionError) -> DatasetVersion.StageEntry {
        guard let e = version.stages.last(where: { $0.kind == TrainStage.kind }) else {
            throw .unsupported("version \(version.shortID) was not trained: add a 'train' stage after 'dataset' in pipeline.json (see 'blendset help stages') and run 'blendset build'")
        }
        return e
    }

    /// One artifact of a version's train stage (`TrainStage.Artifact`). The two SVGs come
    /// back drawn again from the history and metrics with the version id in their title
    /// (the stored ones cannot hold it: the id is a hash of them).
    /// A version that names no such artifact is `VersionError.missingArtifact`; a named one
    /// whose object is gone or damaged is a damaged cache (`PipelineError.cacheCorrupt`).
    public static func artifact(_ name: String, of version: DatasetVersion, layout: CacheLayout) throws -> [UInt8] {
        let e = try entry(version)
        guard let id = e.artifacts[name] else { throw VersionError.missingArtifact(version: version.shortID, stage: e.name, artifact: name) }
        let stored = try ArtifactStore(layout: layout).read(id)
        guard [TrainStage.Artifact.curves, TrainStage.Artifact.confusion, TrainStage.Artifact.emotionConfusion].contains(name) else { return stored }
        let metrics = try JSONParser.parse(try artifact(TrainStage.Artifact.metrics, of: version, layout: layout))
        let heading = TrainingPlots.Heading(subject: "version \(version.shortID)", parameters: TrainingPlots.parameterSummary(e.parameters))
        if name == TrainStage.Artifact.emotionConfusion {
            guard let rows = metrics["test"]?["by_emotion"]?.arrayValue else { return stored }
            let classes = metrics["classes"]?.arrayValue?.compactMap(\.stringValue) ?? []
            return Array(TrainingPlots.emotionConfusion(emotionRows(rows), classes: classes, title: "Test: source emotion × predicted class", heading: heading).utf8)
        }
        if name == TrainStage.Artifact.confusion {
            guard let rows = metrics["test"]?["confusion"]?.arrayValue else { return stored }
            let confusion = rows.map { ($0.arrayValue ?? []).map { $0.intValue ?? 0 } }
            let classes = metrics["classes"]?.arrayValue?.compactMap(\.stringValue) ?? []
            return Array(TrainingPlots.confusionMatrix(ClassificationMetrics(confusion: confusion), classes: classes,
                                                       title: "Test confusion matrix", heading: heading).utf8)
        }
        let history = try Self.history(try artifact(TrainStage.Artifact.history, of: version, layout: layout), source: "history of version \(version.shortID)")
        let patience = e.parameters["early_stopping_patience"]?.intValue ?? 0
        return Array(TrainingPlots.learningCurves(history, keptEpoch: metrics["best_epoch"]?.intValue ?? history.count,
                                                  earlyStopping: patience > 0, heading: heading).utf8)
    }

    static func emotionRows(_ rows: [JSONValue]) -> [(name: String, counts: [Int])] {
        rows.map { ($0["emotion"]?.stringValue ?? "?", ($0["predicted"]?.arrayValue ?? []).map { $0.intValue ?? 0 }) }
    }

    /// The epochs of a `history.csv` artifact (`TrainStage.historyCSV`). A seeded run's history
    /// (`TrainStage.seedHistoryCSV`) leads with a `seed` column: the curves are the first seed's,
    /// as the stage draws them, and `best_epoch` in the metrics is that seed's too.
    static func history(_ bytes: [UInt8], source: String) throws(FormatError) -> [TrainingPlots.Epoch] {
        var out: [TrainingPlots.Epoch] = []
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n")
        let seeded = lines.first?.hasPrefix("seed,") == true
        var firstSeed: Substring?
        for (i, line) in lines.enumerated().dropFirst() {
            var fields = line.split(separator: ",", omittingEmptySubsequences: false)
            if seeded {
                guard let seed = fields.first else { continue }
                if firstSeed == nil { firstSeed = seed }
                guard seed == firstSeed else { break }
                fields.removeFirst()
            }
            let f = fields.map { Double($0) }
            guard f.count == 7, let loss = f[1], let accuracy = f[2], let macroF1 = f[3] else {
                throw FormatError(file: source, line: i + 1, message: "expected 7 comma-separated figures (epoch,loss,accuracy,macro_f1,val_loss,val_accuracy,val_macro_f1), found '\(line)'")
            }
            out.append(TrainingPlots.Epoch(loss: loss, accuracy: accuracy, macroF1: macroF1, valLoss: f[4], valAccuracy: f[5], valMacroF1: f[6]))
        }
        return out
    }

    /// `{"test", "val", "epochs", "seconds", "normalization", "decision"}`: the metrics artifact
    /// plus the training time from the run's statistics, the normalisation method (none, zscore,
    /// minmax) and the decision rule (kept out of the artifact so its bytes do not change from
    /// run to run). With `train.seeds`, also `"seeds"` (each seed's `{"seed", "test", "val",
    /// "epochs", "best_epoch"}`) and `"seed_summary"` (`{"test"|"val": {"accuracy"|"macro_f1":
    /// {"mean", "std"}}}`, sample std); for gbt, `"feature_importance"` (`[{"feature", "gain"}]`,
    /// largest first); with class weights, `"class_weights"` ({CLASS: w}). `test` and `val` are
    /// always the model's own figures (the ensemble's, under its decision rule); each split has
    /// `"by_emotion"` ([{"emotion", "predicted": [count per class], "rows"}]) when the dataset
    /// keeps the source emotion.
    public static func metrics(_ version: DatasetVersion, layout: CacheLayout) throws -> JSONValue {
        let m = try JSONParser.parse(try artifact(TrainStage.Artifact.metrics, of: version, layout: layout))
        let stats = (try? entry(version).stats) ?? nil
        var out: [(String, JSONValue)] = [
            ("test", m["test"] ?? .null), ("val", m["val"] ?? .null), ("epochs", m["epochs"] ?? .null),
            ("seconds", stats?["seconds"]?["total"] ?? .null),
            ("normalization", .string(normalization(try entry(version).parameters["normalize"]).rawValue)),
        ]
        out.append(("decision", m["decision"] ?? .object([("rule", .string("argmax"))])))
        for key in ["class_weights", "seeds", "seed_summary", "feature_importance"] { if let v = m[key] { out.append((key, v)) } }
        return .object(out)
    }

    /// Each seed's test and validation accuracy and macro-F1, then mean ± std; nil without seeds.
    public static func seedText(_ metrics: JSONValue) -> String? {
        guard let seeds = metrics["seeds"]?.arrayValue, let summary = metrics["seed_summary"] else { return nil }
        func f(_ v: JSONValue?) -> String { String(format: "%.4f", v?.doubleValue ?? .nan) }
        var lines = ["seeds (the model is their ensemble: the mean of their probabilities):",
                     "  seed      test acc  test F1   val acc   val F1"]
        for s in seeds {
            let seed = String(s["seed"]?.intValue ?? 0)
            lines.append("  " + seed.padding(toLength: 8, withPad: " ", startingAt: 0)
                         + [f(s["test"]?["accuracy"]), f(s["test"]?["macro_f1"]), f(s["val"]?["accuracy"]), f(s["val"]?["macro_f1"])].map { "  " + $0 }.joined())
        }
        func pm(_ split: String, _ key: String) -> String { "\(f(summary[split]?[key]?["mean"])) ± \(f(summary[split]?[key]?["std"]))" }
        lines.append("  mean ± std (n − 1): test accuracy \(pm("test", "accuracy")), test macro-F1 \(pm("test", "macro_f1")), val accuracy \(pm("val", "accuracy")), val macro-F1 \(pm("val", "macro_f1"))")
        return lines.joined(separator: "\n")
    }

    /// The decision rule, its parameters and its val figures before → after; nil for argmax.
    public static func decisionText(_ metrics: JSONValue, classes: [String]) -> String? {
        guard let d = metrics["decision"], let rule = d["rule"]?.stringValue, rule != "argmax" else { return nil }
        func f(_ v: JSONValue?) -> String { String(format: "%.4f", v?.doubleValue ?? .nan) }
        var what = rule
        if let w = d["weights"] { what += " (" + classes.map { "\($0) × \(f(w[$0]))" }.joined(separator: ", ") + ")" }
        if let c = d["class"]?.stringValue, let t = d["threshold"] { what += " (\(c) unless another class has p ≥ \(f(t)))" }
        if let o = d["objective"]?.stringValue {
            what += ", objective \(o)"
            if let t = d["target"], let c = t["class"]?.stringValue { what += " (\(c) recall ≥ \(f(t["recall"])))" }
        }
        var lines = ["decision: \(what)"]
        if let v = d["val"] {
            func fig(_ x: JSONValue?) -> String {
                "accuracy \(f(x?["accuracy"])), macro-F1 \(f(x?["macro_f1"])), recall " + classes.map { "\($0) \(f(x?["recall"]?[$0]))" }.joined(separator: " ")
            }
            lines.append("  val argmax:  " + fig(v["before"]))
            lines.append("  val rule:    " + fig(v["after"]))
        }
        if let t = d["test_argmax"] { lines.append("  test argmax: accuracy \(f(t["accuracy"])), macro-F1 \(f(t["macro_f1"])) (the test figures above use the rule)") }
        return lines.joined(separator: "\n")
    }

    /// The rows of one split's "by_emotion": source emotion × predicted class, with row shares.
    public static func emotionText(split: String, _ s: JSONValue, classes: [String]) -> String? {
        guard let rows = s["by_emotion"]?.arrayValue, !rows.isEmpty else { return nil }
        let width = max(9, rows.map { ($0["emotion"]?.stringValue ?? "").count }.max() ?? 0)
        let colWidth = max(16, (classes.map(\.count).max() ?? 0) + 2)
        func pad(_ t: String, _ w: Int) -> String { t.count >= w ? t : String(repeating: " ", count: w - t.count) + t }
        var lines = ["\(split) by source emotion (rows = FER2013 emotion, columns = predicted class; count and share of the row):",
                     "  " + "emotion".padding(toLength: width, withPad: " ", startingAt: 0) + classes.map { pad($0, colWidth) }.joined() + pad("rows", 8)]
        for (name, counts) in emotionRows(rows) {
            let total = counts.reduce(0, +)
            lines.append("  " + name.padding(toLength: width, withPad: " ", startingAt: 0)
                         + counts.map { pad(String(format: "%d (%.1f%%)", $0, total > 0 ? 100 * Double($0) / Double(total) : 0), colWidth) }.joined()
                         + pad(String(total), 8))
        }
        return lines.joined(separator: "\n")
    }

    /// The largest `limit` feature importances (total split gain) with their share; nil
    /// for models without them.
    public static func importanceText(_ metrics: JSONValue, limit: Int = 15) -> String? {
        guard let items = metrics["feature_importance"]?.arrayValue, !items.isEmpty else { return nil }
        let total = items.reduce(0.0) { $0 + max(0, $1["gain"]?.doubleValue ?? 0) }
        let width = max(7, items.prefix(limit).map { ($0["feature"]?.stringValue ?? "").count }.max() ?? 0)
        var lines = ["feature importance (total split gain, largest \(min(limit, items.count)) of \(items.count)):"]
        for item in items.prefix(limit) {
            let gain = item["gain"]?.doubleValue ?? 0
            lines.append("  " + (item["feature"]?.stringValue ?? "?").padding(toLength: width, withPad: " ", startingAt: 0)
                         + String(format: "  %12.3f  %5.1f%%", gain, total > 0 ? gain / total * 100 : 0))
        }
        return lines.joined(separator: "\n")
    }

    /// Class names in label order (the confusion matrix's row order).
    public static func classOrder(_ version: DatasetVersion, layout: CacheLayout) -> [String] {
        guard let bytes = try? artifact(TrainStage.Artifact.metrics, of: version, layout: layout), let m = try? JSONParser.parse(bytes) else { return [] }
        return m["classes"]?.arrayValue?.compactMap(\.stringValue) ?? []
    }

    /// The normalisation the model applies to its input, from the train stage's `normalize`
    /// parameter (the model file stores the fitted values; this is the method).
    public static func normalization(_ normalize: JSONValue?) -> Normalization.Method {
        normalize?.stringValue.flatMap(Normalization.Method.init(rawValue:)) ?? .none
    }

    /// One line for people: which normalisation the model applies and what it expects.
    public static func normalizationText(_ method: Normalization.Method) -> String {
        switch method {
        case .none: return "normalisation: none (the model takes raw blendshape features as they are)"
        case .zscore: return "normalisation: zscore, (x − train mean) / train std, stored in the model and applied by it: give raw features"
        case .minmax: return "normalisation: minmax, (x − train min) / (train max − train min), stored in the model and applied by it: give raw features"
        }
    }

    /// The model's one-line description from the run's statistics, or "trained".
    public static func modelDescription(_ version: DatasetVersion) -> String {
        guard let e = try? entry(version), let s = e.stats else { return "trained" }
        return s["model"]?.stringValue ?? "trained"
    }

    /// Accuracy, macro-F1, a per-class table and the confusion matrix of one split of `metrics`.
    public static func text(split: String, _ s: JSONValue, classes order: [String]) -> String {
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

    /// The named feature columns of every row of a CSV, row-major in the model's order: a
    /// file with missing or renamed features is refused rather than misread.
    public static func featureRows(_ csv: TableCSV.Records, features: [String], source path: String) throws(FormatError) -> [Float] {
        guard !csv.header.isEmpty else { throw FormatError(file: path, message: "the file is empty; expected a header naming the features") }
        let columns = features.map { csv.header.firstIndex(of: $0) }
        let missing = zip(features, columns).filter { $0.1 == nil }.map(\.0)
        guard missing.isEmpty else {
            throw FormatError(file: path, message: "the header lacks \(missing.count) of the model's \(features.count) features (\(missing.prefix(5).joined(separator: ", "))\(missing.count > 5 ? ", …" : "")); the model needs: \(features.joined(separator: ","))")
        }
        var out: [Float] = []
        out.reserveCapacity(csv.rows.count * features.count)
        for (line, v) in csv.rows {
            for (j, c) in columns.map({ $0! }).enumerated() {
                guard c < v.count, let x = Float(v[c]), x.isFinite else {
                    throw FormatError(file: path, line: line, message: "feature '\(features[j])' is '\(c < v.count ? v[c] : "")', not a finite number")
                }
                out.append(x)
            }
        }
        return out
    }
}
