/// Classification quality from a confusion matrix (rows = true class, columns = predicted).
public struct ClassificationMetrics: Sendable, Equatable {
    public let confusion: [[Int]]

    public init(confusion: [[Int]]) { self.confusion = confusion }

    public init(trueLabels: [Int32], predicted: [Int32], classes: Int) {
        var c = [[Int]](repeating: [Int](repeating: 0, count: classes), count: classes)
        for (t, p) in zip(trueLabels, predicted) { c[Int(t)][Int(p)] += 1 }
        confusion = c
    }

    public var classes: Int { confusion.count }
    public var total: Int { confusion.reduce(0) { $0 + $1.reduce(0, +) } }
    public var accuracy: Double {
        let n = total
        return n == 0 ? 0 : Double((0..<classes).reduce(0) { $0 + confusion[$1][$1] }) / Double(n)
    }
    /// Of the rows predicted as class c, the share that is c (0 when nothing was predicted c).
    public func precision(_ c: Int) -> Double {
        let predicted = (0..<classes).reduce(0) { $0 + confusion[$1][c] }
        return predicted == 0 ? 0 : Double(confusion[c][c]) / Double(predicted)
    }
    public func recall(_ c: Int) -> Double {
        let actual = confusion[c].reduce(0, +)
        return actual == 0 ? 0 : Double(confusion[c][c]) / Double(actual)
    }
    public func f1(_ c: Int) -> Double {
        let p = precision(c), r = recall(c)
        return p + r == 0 ? 0 : 2 * p * r / (p + r)
    }
    /// Unweighted mean of the per-class F1 scores (scikit-learn's `average="macro"`).
    public var macroF1: Double { classes == 0 ? 0 : (0..<classes).reduce(0.0) { $0 + f1($1) } / Double(classes) }
}
