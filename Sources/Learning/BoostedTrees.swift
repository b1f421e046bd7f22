import Basics
import Foundation

/// A trained gradient-boosted tree classifier (multi-class softmax): one regression tree
/// per class per round. The raw score of class k is `baseScores[k]` plus the leaf values
/// of every tree of class k, added round by round in Double; probabilities are the
/// softmax of the raw scores. Trainer and `predict` share this arithmetic, so a model
/// predicts exactly the scores it was early-stopped on.
public struct BoostedTrees: Sendable, Equatable {
    /// A split (`feature ≥ 0`: rows with `x[feature] <= threshold` go to `left`) or a leaf
    /// (`feature == -1`: adds `value`). Children are indices within the node's tree and
    /// always greater than the node's own, so a walk always ends.
    public struct Node: Sendable, Equatable {
        public var feature: Int32
        public var threshold: Float
        public var left: Int32
        public var right: Int32
        public var value: Float

        public init(feature: Int32, threshold: Float, left: Int32, right: Int32, value: Float) {
            self.feature = feature
            self.threshold = threshold
            self.left = left
            self.right = right
            self.value = value
        }

        public static func leaf(_ value: Float) -> Node { Node(feature: -1, threshold: 0, left: 0, right: 0, value: value) }
    }

    public var features: Int
    public var classes: Int
    public var baseScores: [Float]
    /// Tree t (round t / classes, class t % classes) is `nodes[treeStarts[t] ..< treeStarts[t + 1]]`.
    public var treeStarts: [Int]
    public var nodes: [Node]

    public init(features: Int, classes: Int, baseScores: [Float], treeStarts: [Int], nodes: [Node]) {
        self.features = features
        self.classes = classes
        self.baseScores = baseScores
        self.treeStarts = treeStarts
        self.nodes = nodes
    }

    public var treeCount: Int { treeStarts.count - 1 }
    public var rounds: Int { classes == 0 ? 0 : treeCount / classes }

    /// Why a decoded model cannot be used, or nil.
    public func problem() -> String? {
        guard classes >= 2, features >= 1 else { return "a tree model needs at least 2 classes and 1 feature, found \(classes) and \(features)" }
        guard baseScores.count == classes else { return "\(baseScores.count) base scores for \(classes) classes" }
        guard treeStarts.first == 0, treeStarts.last == nodes.count, treeCount % classes == 0 else {
            return "the tree offsets do not cover the \(nodes.count) nodes in whole rounds of \(classes) trees"
        }
        for t in 0..<treeCount {
            let start = treeStarts[t], count = treeStarts[t + 1] - start
            guard count >= 1 else { return "tree \(t) has no nodes" }
            for i in 0..<count {
                let n = nodes[start + i]
                if n.feature == -1 { continue }
                guard n.feature >= 0, Int(n.feature) < features else { return "tree \(t) node \(i) splits on feature \(n.feature) of \(features)" }
                guard Int(n.left) > i, Int(n.left) < count, Int(n.right) > i, Int(n.right) < count else {
                    return "tree \(t) node \(i) has children \(n.left), \(n.right) outside \(i + 1)..<\(count)"
                }
            }
        }
        return nil
    }

    /// Adds tree `t`'s leaf value for one row of raw features.
    @inline(__always)
    func leafValue(tree t: Int, row x: UnsafePointer<Float>, nodes p: UnsafePointer<Node>) -> Float {
        let start = treeStarts[t]
        var i = start
        while true {
            let n = p[i]
            if n.feature < 0 { return n.value }
            i = start + Int(x[Int(n.feature)] <= n.threshold ? n.left : n.right)
        }
    }

    /// Raw scores of `rows` rows into `raw` ([rows][classes]), starting from the base scores
    /// and adding trees `0..<trees` in order.
    func addRawScores(features x: UnsafePointer<Float>, rows: Int, trees: Range<Int>, into raw: UnsafeMutablePointer<Double>) {
        nodes.withUnsafeBufferPointer { p in
            for r in 0..<rows {
                let row = x + r * features, out = raw + r * classes
                for t in trees { out[t % classes] += Double(leafValue(tree: t, row: row, nodes: p.baseAddress!)) }
            }
        }
    }

    /// Class probabilities [rows][classes] for row-major features.
    public func predict(features x: [Float], threads: Int = 1) -> [Float] {
        let rows = x.count / max(features, 1), k = classes
        var out = [Float](repeating: 0, count: rows * k)
        let chunk = 256, chunks = (rows + chunk - 1) / chunk
        x.withUnsafeBufferPointer { xp in
            out.withUnsafeMutableBufferPointer { op in
                let base = xp.baseAddress!, o = op.baseAddress!
                // Every row is computed on its own, so the split among workers changes nothing.
                ParallelLoop.run(count: chunks, jobs: threads) { c in
                    let lo = c * chunk, n = min(chunk, rows - lo)
                    var raw = [Double](repeating: 0, count: n * k)
                    raw.withUnsafeMutableBufferPointer { rp in
                        for r in 0..<n { for j in 0..<k { rp[r * k + j] = Double(baseScores[j]) } }
                        addRawScores(features: base + lo * features, rows: n, trees: 0..<treeCount, into: rp.baseAddress!)
                        for r in 0..<n { softmax(rp.baseAddress! + r * k, k, into: o + (lo + r) * k) }
                    }
                }
            }
        }
        return out
    }
}

/// Softmax of `k` raw scores, computed in Double.
@inline(__always)
func softmax(_ raw: UnsafePointer<Double>, _ k: Int, into out: UnsafeMutablePointer<Float>) {
    var m = raw[0]
    for j in 1..<k { m = max(m, raw[j]) }
    var s = 0.0
    for j in 0..<k { s += exp(raw[j] - m) }
    for j in 0..<k { out[j] = Float(exp(raw[j] - m) / s) }
}
