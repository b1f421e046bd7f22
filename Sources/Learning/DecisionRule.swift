import Foundation

/// How a model turns class probabilities into one class. Stored in the model file header
/// under the optional key `decision` (absent = argmax), so `predict` applies the rule the
/// model was tuned with, as it applies the stored normalisation.
///
/// - `class_weights`: the class with the largest `weights[c] · p[c]`.
/// - `reject`: `class` (e.g. "unknown") unless the best other class's probability is at
///   least `threshold`; then that class.
///
/// `objective`, `target_class`, `target` and the val figures record how the rule was chosen;
/// they do not change what it predicts.
public struct DecisionRule: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable { case classWeights = "class_weights", reject }

    /// Accuracy, macro-F1 and per-class recall of one split under one rule.
    public struct Figures: Codable, Sendable, Equatable {
        public var accuracy: Double
        public var macro_f1: Double
        public var recall: [Double]

        public init(_ m: ClassificationMetrics) {
            accuracy = m.accuracy
            macro_f1 = m.macroF1
            recall = (0..<m.classes).map { m.recall($0) }
        }
    }

    public var rule: Kind
    /// class_weights: one multiplier per class, in class order.
    public var weights: [Double]?
    /// reject: the class predicted when no other class is sure enough.
    public var `class`: String?
    /// reject: the probability the best other class needs.
    public var threshold: Double?
    /// class_weights: "macro_f1" or "recall".
    public var objective: String?
    /// class_weights with objective "recall": the class and the val recall it had to reach.
    public var target_class: String?
    public var target: Double?
    /// The validation figures under argmax (before) and under this rule (after).
    public var val_before: Figures?
    public var val_after: Figures?

    public init(rule: Kind, weights: [Double]? = nil, class name: String? = nil, threshold: Double? = nil) {
        self.rule = rule
        self.weights = weights
        self.class = name
        self.threshold = threshold
    }

    /// The predicted class of each row of `probabilities` (rows × classes.count).
    public func predict(_ probabilities: [Float], classes: [String]) -> [Int32] {
        let k = classes.count
        switch rule {
        case .classWeights:
            return Self.weighted(probabilities, classes: k, weights: weights ?? [Double](repeating: 1, count: k))
        case .reject:
            let r = self.class.flatMap { classes.firstIndex(of: $0) } ?? 0
            return Self.rejecting(probabilities, classes: k, reject: r, threshold: threshold ?? 0)
        }
    }

    /// The val (or any split's) figures of this rule.
    public func figures(_ probabilities: [Float], labels: [Int32], classes: [String]) -> Figures {
        Figures(ClassificationMetrics(trueLabels: labels, predicted: predict(probabilities, classes: classes), classes: classes.count))
    }

    /// Argmax of each row, as `Trainer.evaluate` picks it (ties: the lower class).
    public static func argmax(_ p: [Float], classes k: Int) -> [Int32] {
        guard k > 0 else { return [] }
        return (0..<(p.count / k)).map { r in Int32(Learning.argmax(p[(r * k)..<((r + 1) * k)])) }
    }

    static func weighted(_ p: [Float], classes k: Int, weights w: [Double]) -> [Int32] {
        guard k > 0 else { return [] }
        return (0..<(p.count / k)).map { r in
            var best = 0, bestScore = Double(p[r * k]) * w[0]
            for c in 1..<k {
                let s = Double(p[r * k + c]) * w[c]
                if s > bestScore { best = c; bestScore = s }
            }
            return Int32(best)
        }
    }

    static func rejecting(_ p: [Float], classes k: Int, reject: Int, threshold: Double) -> [Int32] {
        guard k > 1 else { return [Int32](repeating: 0, count: k == 0 ? 0 : p.count) }
        return (0..<(p.count / k)).map { r in
            var best = -1
            for c in 0..<k where c != reject && (best < 0 || p[r * k + c] > p[r * k + best]) { best = c }
            return Double(p[r * k + best]) >= threshold ? Int32(best) : Int32(reject)
        }
    }
}

/// Deterministic searches for a `DecisionRule` on validation probabilities (no randomness:
/// fixed grids, fixed visiting order, ties keep the earlier candidate).
public enum DecisionTuning {
    /// Class-weight multipliers tried: 2^(i/4) for i in −12...12 (≈ 0.125 to 8).
    public static let weightGrid: [Double] = (-12...12).map { pow(2, Double($0) / 4) }
    /// Reject thresholds tried: 0.00, 0.01, …, 1.00.
    public static let thresholdGrid: [Double] = (0...100).map { Double($0) / 100 }
    static let sweeps = 12

    /// Coordinate ascent over `weightGrid`, one class at a time in class order, from all
    /// ones, until a sweep changes nothing. With `recallOf`, only weights that keep that
    /// class's val recall ≥ `target` are accepted; the start is the smallest grid weight of
    /// that class that reaches it (or, if none does, the one with the highest recall).
    /// Returns the weights and whether the recall target was reached.
    public static func classWeights(probabilities p: [Float], labels: [Int32], classes k: Int,
                                    recallOf target: (class: Int, recall: Double)? = nil) -> (weights: [Double], reached: Bool) {
        var w = [Double](repeating: 1, count: k)
        func metrics(_ w: [Double]) -> ClassificationMetrics {
            ClassificationMetrics(trueLabels: labels, predicted: DecisionRule.weighted(p, classes: k, weights: w), classes: k)
        }
        // The recall every accepted step must keep: the target, or the best reachable one.
        var floor = target?.recall ?? 0
        func feasible(_ m: ClassificationMetrics) -> Bool { target.map { m.recall($0.class) >= floor - 1e-12 } ?? true }
        var reached = true
        if let t = target, !feasible(metrics(w)) {
            var bestRecall = -1.0, bestWeight = 1.0
            reached = false
            for g in weightGrid where g > 1 {
                var trial = w
                trial[t.class] = g
                let r = metrics(trial).recall(t.class)
                if r > bestRecall + 1e-12 { bestRecall = r; bestWeight = g }
                if r >= t.recall - 1e-12 { reached = true; bestWeight = g; break }
            }
            w[t.class] = bestWeight
            if !reached { floor = bestRecall }
        }
        var best = metrics(w).macroF1
        for _ in 0..<sweeps {
            var changed = false
            for c in 0..<k {
                for g in weightGrid where g != w[c] {
                    var trial = w
                    trial[c] = g
                    let m = metrics(trial)
                    guard feasible(m) else { continue }
                    if m.macroF1 > best + 1e-12 { best = m.macroF1; w = trial; changed = true }
                }
            }
            if !changed { break }
        }
        return (w, reached)
    }

    /// The threshold of `thresholdGrid` with the best val macro-F1 (ties: the lower one).
    public static func rejectThreshold(probabilities p: [Float], labels: [Int32], classes k: Int, reject: Int) -> Double {
        var best = -1.0, bestT = 0.0
        for t in thresholdGrid {
            let f = ClassificationMetrics(trueLabels: labels, predicted: DecisionRule.rejecting(p, classes: k, reject: reject, threshold: t), classes: k).macroF1
            if f > best + 1e-12 { best = f; bestT = t }
        }
        return bestT
    }
}

