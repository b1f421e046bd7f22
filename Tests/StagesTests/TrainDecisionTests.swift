import Foundation
import Formats
import Learning
import Pipeline
import Testing
@testable import Stages

/// Issue 12, train side: decision rules stored in the model, class weights from the source
/// or val distribution, metrics by source emotion, and the trained-model diff.
@Suite("train stage: decision rules, class weights, source emotions")
struct TrainDecisionTests {
    static let json = TrainStageTests.json

    func artifact(_ b: BuiltPipeline, _ name: String) throws -> [UInt8] {
        try b.store.read(b.stage("train").artifacts[name]!)
    }

    func metrics(_ b: BuiltPipeline) throws -> JSONValue { try JSONParser.parse(try artifact(b, TrainStage.Artifact.metrics)) }

    /// Raw features, labels and emotions of one split of the built dataset.
    func rows(_ b: BuiltPipeline, split: Split) throws -> (x: [Float], labels: [Int32], emotions: [Int32]) {
        let t = try b.table("dataset")
        let (f, w) = try t.float32(ColumnName.features)
        let s = try t.int32(ColumnName.split), l = try t.int32(ColumnName.label), e = try t.int32(ColumnName.emotion)
        var x: [Float] = [], labels: [Int32] = [], emotions: [Int32] = []
        for r in 0..<t.rowCount where s[r] == split.rawValue {
            x += f[(r * w)..<((r + 1) * w)]
            labels.append(l[r])
            emotions.append(e[r])
        }
        return (x, labels, emotions)
    }

    @Test("a reject rule round-trips through the model file, changes predictions, and the metrics are the rule's")
    func rejectRuleInModel() throws {
        let plain = try BuiltPipeline(Self.json)
        let ruled = try BuiltPipeline(Self.json, overrides: [#"train.decision={"rule": "reject", "class": "neutral", "threshold": 0.9}"#])
        // Argmax: no decision key, so the model bytes are the same as a model trained without the parameter.
        let plainBytes = try artifact(plain, TrainStage.Artifact.model)
        #expect(try TrainedModel(decoding: plainBytes).decision == nil)
        #expect(!String(decoding: plainBytes, as: UTF8.self).contains("\"decision\""))
        let model = try TrainedModel(decoding: try artifact(ruled, TrainStage.Artifact.model))
        #expect(model.decision == DecisionRule(rule: .reject, class: "neutral", threshold: 0.9).withFigures(of: model.decision))
        #expect(try TrainedModel(decoding: model.encoded()) == model)
        let test = try rows(ruled, split: .test)
        let probs = try model.predict(rawFeatures: test.x)
        let decided = model.decide(probs), argmax = DecisionRule.argmax(probs, classes: 3)
        #expect(zip(decided, argmax).contains { $0 != $1 })
        // Neutral unless happy or sad reaches 0.9; then that one.
        for (r, d) in decided.enumerated() {
            let best = probs[r * 3] >= probs[r * 3 + 1] ? 0 : 1
            #expect(d == (probs[r * 3 + best] >= 0.9 ? Int32(best) : 2))
        }
        // The metrics are computed with the rule, exactly as 'predict' applies it.
        let m = ClassificationMetrics(trueLabels: test.labels, predicted: decided, classes: 3)
        let json = try metrics(ruled)
        #expect(json["test"]?["accuracy"]?.doubleValue == m.accuracy)
        #expect(json["test"]?["macro_f1"]?.doubleValue == m.macroF1)
        #expect(json["decision"]?["rule"]?.stringValue == "reject")
        #expect(json["decision"]?["test_argmax"]?["accuracy"]?.doubleValue
                == ClassificationMetrics(trueLabels: test.labels, predicted: argmax, classes: 3).accuracy)
        #expect(try metrics(plain)["decision"]?["rule"]?.stringValue == "argmax")
    }

    @Test("class weights tuned for val macro-F1: never worse on val than argmax, figures before and after")
    func tunedWeights() throws {
        let b = try BuiltPipeline(Self.json, overrides: [#"train.decision={"rule": "class_weights", "objective": "macro_f1"}"#])
        let d = try #require(try metrics(b)["decision"])
        #expect(d["rule"]?.stringValue == "class_weights" && d["objective"]?.stringValue == "macro_f1")
        #expect(d["weights"]?["sad"]?.doubleValue != nil)
        let before = try #require(d["val"]?["before"]?["macro_f1"]?.doubleValue), after = try #require(d["val"]?["after"]?["macro_f1"]?.doubleValue)
        #expect(after >= before)
        #expect(try metrics(b)["val"]?["macro_f1"]?.doubleValue == after)
        let model = try TrainedModel(decoding: try artifact(b, TrainStage.Artifact.model))
        #expect(model.decision?.weights?.count == 3 && model.decision?.val_after?.macro_f1 == after)
    }

    @Test("a recall target for a class is met on val")
    func recallTarget() throws {
        let b = try BuiltPipeline(Self.json, overrides: [#"train.decision={"rule": "class_weights", "objective": "recall", "class": "sad", "target": 0.8}"#])
        let d = try #require(try metrics(b)["decision"])
        #expect(d["target"]?["class"]?.stringValue == "sad" && d["target"]?["recall"]?.doubleValue == 0.8)
        #expect((d["val"]?["after"]?["recall"]?["sad"]?.doubleValue ?? 0) >= 0.8)
    }

    @Test("bad decision settings are configuration errors naming the valid choices", arguments: [
        (#"train.decision="vote""#, "argmax"),
        (#"train.decision={"rule": "median"}"#, "class_weights"),
        (#"train.decision={"rule": "class_weights", "objective": "recall", "class": "sad", "target": 1.5}"#, "(0, 1]"),
        (#"train.decision={"rule": "class_weights", "objective": "recall", "class": "sad"}"#, "target"),
        (#"train.decision={"rule": "reject", "class": "neutral", "threshold": "auto"}"#, "tune"),
        (#"train.decision={"rule": "class_weights", "objective": "accuracy"}"#, "macro_f1"),
    ])
    func badSettings(_ override: String, _ hint: String) {
        do {
            _ = try BuiltPipeline(Self.json, overrides: [override])
            Issue.record("accepted \(override)")
        } catch {
            guard case .invalidParameter = error as? PipelineError else { Issue.record("\(error)"); return }
            #expect("\(error)".contains(hint))
        }
    }

    @Test("a rule naming a class the dataset lacks fails as a configuration error listing the classes")
    func unknownClass() {
        do {
            _ = try BuiltPipeline(Self.json, overrides: [#"train.decision={"rule": "reject", "class": "unknown", "threshold": "tune"}"#])
            Issue.record("accepted a class the dataset lacks")
        } catch let e as PipelineError {
            guard case .stageFailed(_, let underlying) = e, case .invalidParameter = underlying as? PipelineError else { Issue.record("\(e)"); return }
            #expect("\(e)".contains("happy, sad, neutral"))
        } catch { Issue.record("\(error)") }
    }

    @Test("balanced_val: val share / train share per class; balanced_source: n / (k × count) before balancing")
    func classWeights() throws {
        let json = featurePipelineJSON.replacingOccurrences(of: #"{ "name": "dataset" } ] }"#,
            with: #"{ "name": "dataset" }, { "name": "train", "inputs": ["dataset", "split"], "params": { "epochs": 2, "units": [4, 3] } } ] }"#)
        let b = try BuiltPipeline(json, overrides: [#"train.class_weights="balanced_val""#])
        let t = try b.table("dataset")
        let s = try t.int32(ColumnName.split), l = try t.int32(ColumnName.label)
        func counts(_ split: Split) -> [Double] { (0..<3).map { c in Double((0..<t.rowCount).filter { s[$0] == split.rawValue && l[$0] == Int32(c) }.count) } }
        let train = counts(.train), val = counts(.val)
        let w = try metrics(b)["class_weights"]
        for (c, name) in ["happy", "sad", "neutral"].enumerated() {
            let expected = (val[c] / val.reduce(0, +)) / (train[c] / train.reduce(0, +))
            #expect(abs((w?[name]?.doubleValue ?? 0) - expected) < 1e-6)
        }
        // Before balancing (the split stage's train rows) the fixture has 30 rows of each of
        // happy, sad and neutral: the source weights are all 1, and "balanced" is too.
        let source = try BuiltPipeline(json, overrides: [#"train.class_weights="balanced_source""#])
        let split = try source.table("split")
        let ss = try split.int32(ColumnName.split), sl = try split.int32(ColumnName.label)
        let before = (0..<3).map { c in (0..<split.rowCount).filter { ss[$0] == 0 && sl[$0] == Int32(c) }.count }
        let n = Double(before.reduce(0, +))
        let ws = try metrics(source)["class_weights"]
        for (c, name) in ["happy", "sad", "neutral"].enumerated() {
            #expect(abs((ws?[name]?.doubleValue ?? 0) - n / (3 * Double(before[c]))) < 1e-6)
        }
        // Without the second input the stage says how to give it.
        let single = featurePipelineJSON.replacingOccurrences(of: #"{ "name": "dataset" } ] }"#,
            with: #"{ "name": "dataset" }, { "name": "train", "params": { "epochs": 2, "units": [4, 3] } } ] }"#)
        #expect { try BuiltPipeline(single, overrides: [#"train.class_weights="balanced_source""#]) } throws: { error in
            "\(error)".contains("second input") && "\(error)".contains("split")
        }
    }

    @Test("metrics by source emotion: rows are FER2013 emotions, columns predicted classes; an SVG of the test matrix")
    func byEmotion() throws {
        let b = try BuiltPipeline(Self.json)
        let m = try metrics(b)
        let test = try rows(b, split: .test)
        let model = try TrainedModel(decoding: try artifact(b, TrainStage.Artifact.model))
        let predicted = model.decide(try model.predict(rawFeatures: test.x))
        let byEmotion = try #require(m["test"]?["by_emotion"]?.arrayValue)
        #expect(byEmotion.map { $0["emotion"]?.stringValue } == ["happy", "sad", "neutral"])
        for row in byEmotion {
            let id = Int32(Emotion.names.firstIndex(of: row["emotion"]!.stringValue!)!)
            let expected = (0..<3).map { c in zip(predicted, test.emotions).filter { $0.1 == id && $0.0 == Int32(c) }.count }
            #expect(row["predicted"]?.arrayValue?.map { $0.intValue! } == expected)
        }
        #expect(m["val"]?["by_emotion"]?.arrayValue?.count == 3)
        let svg = String(decoding: try artifact(b, TrainStage.Artifact.emotionConfusion), as: UTF8.self)
        #expect(svg.hasPrefix("<?xml") && svg.contains("source emotion") && svg.contains(">neutral<"))
    }

    @Test("diff of two trained versions: per-class precision, recall and F1 side by side")
    func trainedDiff() throws {
        let folder = temporaryFolder()
        let a = try BuiltPipeline(Self.json, folder: folder)
        let b = try BuiltPipeline(Self.json, overrides: [#"train.decision={"rule": "reject", "class": "neutral", "threshold": 0.9}"#], folder: folder)
        let d = DatasetDiff(try a.dataset(), try b.dataset())
        let ma = try metrics(a), mb = try metrics(b)
        let recall = try #require(d.training.first { $0.split == "test" && $0.className == "neutral" && $0.metric == "recall" })
        #expect(recall.old == ma["test"]?["per_class"]?["neutral"]?["recall"]?.doubleValue)
        #expect(recall.new == mb["test"]?["per_class"]?["neutral"]?["recall"]?.doubleValue)
        #expect(Set(d.training.map(\.metric)) == ["accuracy", "macro_f1", "precision", "recall", "f1"])
        let text = d.text(refs: ["A", "B"])
        #expect(text.contains("trained model, test: A → B") && text.contains("precision A"))
        let json = d.json["training"]?.arrayValue ?? []
        #expect(json.count == d.training.count && json.first?["delta"] != nil)
    }
}

extension DecisionRule {
    /// This rule with the val figures of `other` (they depend on the data; the test checks the rest).
    func withFigures(of other: DecisionRule?) -> DecisionRule {
        var r = self
        r.val_before = other?.val_before
        r.val_after = other?.val_after
        return r
    }
}
