import Foundation
import Testing
@testable import Learning

@Suite struct DecisionRuleTests {
    static let classes = ["happy", "sad", "unknown"]

    static func model(decision: DecisionRule?) throws -> TrainedModel {
        let net = try Network(input: InputShape(steps: 1, features: 2), layers: [.dense(units: 3, activation: .softmax)])
        return TrainedModel(members: [.network(net, weights: net.initialWeights(seed: 3))], classes: classes,
                            featureNames: ["a", "b"], normalization: Normalization(method: .none, shift: [], scale: []), decision: decision)
    }

    @Test("a model without a rule is written exactly as before (no decision key) and predicts argmax")
    func noRuleNoKey() throws {
        let m = try Self.model(decision: nil)
        let bytes = m.encoded()
        #expect(!String(decoding: bytes, as: UTF8.self).contains("decision"))
        let back = try TrainedModel(decoding: bytes)
        #expect(back == m && back.decision == nil)
        let p: [Float] = [0.5, 0.3, 0.2, 0.1, 0.45, 0.45]
        #expect(back.decide(p) == [0, 1])
    }

    @Test("class weights and reject rules round-trip through the model file, figures included")
    func roundTrip() throws {
        var weights = DecisionRule(rule: .classWeights, weights: [1, 1.6817928305074292, 0.5])
        weights.objective = "recall"
        weights.target_class = "happy"
        weights.target = 0.8
        weights.val_before = .init(ClassificationMetrics(confusion: [[3, 1, 0], [0, 2, 2], [1, 1, 4]]))
        weights.val_after = .init(ClassificationMetrics(confusion: [[4, 0, 0], [0, 3, 1], [1, 1, 4]]))
        for rule in [weights, DecisionRule(rule: .reject, class: "unknown", threshold: 0.62)] {
            let m = try Self.model(decision: rule)
            let back = try TrainedModel(decoding: m.encoded())
            #expect(back.decision == rule)
            #expect(back.encoded() == m.encoded())
        }
    }

    @Test("the rules decide as documented")
    func rules() {
        // Rows: a confident happy, a near tie sad/unknown, a weak happy.
        let p: [Float] = [0.8, 0.1, 0.1, 0.1, 0.44, 0.46, 0.40, 0.25, 0.35]
        #expect(DecisionRule.argmax(p, classes: 3) == [0, 2, 0])
        #expect(DecisionRule(rule: .classWeights, weights: [1, 1.2, 1]).predict(p, classes: Self.classes) == [0, 1, 0])
        #expect(DecisionRule(rule: .classWeights, weights: [0.5, 1, 1]).predict(p, classes: Self.classes) == [0, 2, 2])
        // Reject: unknown unless the best other class reaches the threshold.
        #expect(DecisionRule(rule: .reject, class: "unknown", threshold: 0.45).predict(p, classes: Self.classes) == [0, 2, 2])
        #expect(DecisionRule(rule: .reject, class: "unknown", threshold: 0.4).predict(p, classes: Self.classes) == [0, 1, 0])
    }

    @Test("a stored rule that does not fit the classes is a damaged model")
    func damagedRule() throws {
        for rule in [DecisionRule(rule: .classWeights, weights: [1, 2]), DecisionRule(rule: .reject, class: "angry", threshold: 0.5)] {
            let bytes = try Self.model(decision: rule).encoded()
            #expect(throws: LearningError.self) { try TrainedModel(decoding: bytes) }
        }
    }

    /// Val probabilities where argmax over-predicts class 1 (sad) against class 2 (unknown).
    static func biased() -> (p: [Float], labels: [Int32]) {
        var p: [Float] = [], labels: [Int32] = []
        for i in 0..<300 {
            let y = Int32(i % 3)
            let t = Float(i % 10) / 10
            switch y {
            case 0: p += [0.6 + 0.3 * t, 0.2 - 0.1 * t, 0.2 - 0.2 * t]
            case 1: p += [0.1, 0.5 + 0.2 * t, 0.4 - 0.2 * t]
            default: p += [0.1 + 0.2 * t, 0.48 - 0.1 * t, 0.42 - 0.1 * t]
            }
            labels.append(y)
        }
        return (p, labels)
    }

    @Test("tuning for macro-F1 is deterministic and never worse than argmax on val")
    func tuneMacroF1() {
        let (p, labels) = Self.biased()
        let argmax = ClassificationMetrics(trueLabels: labels, predicted: DecisionRule.argmax(p, classes: 3), classes: 3)
        let a = DecisionTuning.classWeights(probabilities: p, labels: labels, classes: 3)
        let b = DecisionTuning.classWeights(probabilities: p, labels: labels, classes: 3)
        #expect(a.weights == b.weights && a.reached)
        #expect(a.weights.allSatisfy { DecisionTuning.weightGrid.contains($0) || $0 == 1 })
        let tuned = DecisionRule(rule: .classWeights, weights: a.weights).figures(p, labels: labels, classes: Self.classes)
        #expect(tuned.macro_f1 > argmax.macroF1 + 0.1)
    }

    @Test("a recall target is met on val, with the best macro-F1 among the weights that meet it")
    func tuneRecall() {
        let (p, labels) = Self.biased()
        let free = DecisionTuning.classWeights(probabilities: p, labels: labels, classes: 3)
        let freeFigures = DecisionRule(rule: .classWeights, weights: free.weights).figures(p, labels: labels, classes: Self.classes)
        let target = min(1, freeFigures.recall[1] + 0.15)
        let t = DecisionTuning.classWeights(probabilities: p, labels: labels, classes: 3, recallOf: (1, target))
        let figures = DecisionRule(rule: .classWeights, weights: t.weights).figures(p, labels: labels, classes: Self.classes)
        #expect(t.reached && figures.recall[1] >= target)
        #expect(figures.macro_f1 <= freeFigures.macro_f1 + 1e-12)
    }

    @Test("the tuned reject threshold is on the grid and is the best of it on val")
    func tuneReject() {
        let (p, labels) = Self.biased()
        let t = DecisionTuning.rejectThreshold(probabilities: p, labels: labels, classes: 3, reject: 2)
        #expect(DecisionTuning.thresholdGrid.contains(t))
        func f1(_ x: Double) -> Double {
            DecisionRule(rule: .reject, class: "unknown", threshold: x).figures(p, labels: labels, classes: Self.classes).macro_f1
        }
        #expect(DecisionTuning.thresholdGrid.allSatisfy { f1($0) <= f1(t) })
    }
}
