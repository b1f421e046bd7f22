import Basics
import Foundation

/// The knobs of `TreeBooster` (names as in scikit-learn's HistGradientBoostingClassifier).
public struct BoostingOptions: Sendable, Equatable {
    /// Boosting rounds (the most, with early stopping); each adds one tree per class.
    public var rounds: Int
    public var learningRate: Double
    /// Leaf-wise growth stops at this many leaves; 0 = no limit (then `maxDepth` bounds the tree).
    public var maxLeaves: Int
    /// 0 = no limit.
    public var maxDepth: Int
    public var minSamplesLeaf: Int
    /// L2 regularisation of the leaf values (λ in G² / (H + λ)).
    public var l2: Double
    /// 2...256 bins per feature.
    public var maxBins: Int
    /// Share of the features each node may split on, drawn per node (1 = all).
    public var featureFraction: Double
    /// Share of the train rows each round's trees are grown on, drawn per round (1 = all).
    public var subsample: Double
    public var seed: UInt64
    /// Sample weight per class; nil weighs every class 1.
    public var classWeights: [Float]?
    /// Stop when the validation loss has not improved for this many rounds and keep the
    /// best round's trees; 0 = off.
    public var patience: Int
    /// Worker threads; results do not depend on it.
    public var threads: Int

    public init(rounds: Int = 100, learningRate: Double = 0.1, maxLeaves: Int = 31, maxDepth: Int = 0, minSamplesLeaf: Int = 20,
                l2: Double = 0, maxBins: Int = 255, featureFraction: Double = 1, subsample: Double = 1, seed: UInt64 = 42,
                classWeights: [Float]? = nil, patience: Int = 0, threads: Int = 1) {
        self.rounds = rounds
        self.learningRate = learningRate
        self.maxLeaves = maxLeaves
        self.maxDepth = maxDepth
        self.minSamplesLeaf = minSamplesLeaf
        self.l2 = l2
        self.maxBins = maxBins
        self.featureFraction = featureFraction
        self.subsample = subsample
        self.seed = seed
        self.classWeights = classWeights
        self.patience = patience
        self.threads = threads
    }

    /// Why these options cannot train, or nil.
    public func problem() -> String? {
        if rounds < 1 { return "rounds must be at least 1, found \(rounds)" }
        if !(learningRate > 0 && learningRate <= 10) { return "the learning rate must be in (0, 10], found \(learningRate)" }
        if maxLeaves == 0 && maxDepth == 0 { return "max leaves and max depth are both 0 (no limit): set at least one" }
        if maxLeaves == 1 || maxLeaves < 0 { return "max leaves must be 0 (no limit) or at least 2, found \(maxLeaves)" }
        if maxDepth < 0 { return "max depth must be 0 (no limit) or positive, found \(maxDepth)" }
        if minSamplesLeaf < 1 { return "min samples per leaf must be at least 1, found \(minSamplesLeaf)" }
        if !(l2 >= 0) { return "the L2 regularisation must be ≥ 0, found \(l2)" }
        if !(2...256).contains(maxBins) { return "max bins must be in 2...256, found \(maxBins)" }
        if !(featureFraction > 0 && featureFraction <= 1) { return "the feature fraction must be in (0, 1], found \(featureFraction)" }
        if !(subsample > 0 && subsample <= 1) { return "the subsample must be in (0, 1], found \(subsample)" }
        if patience < 0 { return "the patience must be ≥ 0, found \(patience)" }
        return nil
    }
}

public struct BoostingResult: Sendable {
    public var model: BoostedTrees
    /// One record per round: train and validation loss, accuracy and macro-F1.
    public var history: [EpochRecord]
    /// The round (1-based) whose trees were kept.
    public var bestRound: Int
    public var stoppedEarly: Bool
    /// Total split gain per feature over the kept trees (the loss reduction ½ G²/(H+λ) terms).
    public var importances: [Double]
    public var seconds: Double
}

/// Histogram-based gradient boosting for multi-class softmax, grown leaf-wise as LightGBM
/// and scikit-learn's HistGradientBoosting do.
///
/// Per round: gradients g = p − y and hessians h = p(1 − p) of every class (class-major
/// Float arrays), then one tree per class. Features are binned once into ≤ 256 quantile
/// bins (uint8, column-major). A tree keeps a histogram (Σg, Σh, count per bin) for every
/// leaf that may still split; splitting a leaf builds the histogram of the smaller child
/// only and gets the larger one by subtraction from the parent's. The leaf with the
/// largest gain splits next, until `maxLeaves`.
///
/// Determinism: threads only split the features of one node between them; every
/// feature's histogram and best split is written to its own slot and the best split is
/// then chosen in feature order (ties: lower feature, then lower bin), so results never
/// depend on the thread count.
public enum TreeBooster {
    static let minHessianToSplit = 1e-3

    public static func train(train: LabeledData, validation: LabeledData?, width: Int, classes: Int, options: BoostingOptions,
                             onRound: (EpochRecord) -> Void = { _ in }) throws(LearningError) -> BoostingResult {
        if let p = options.problem() { throw .invalidModel(p) }
        guard width >= 1, classes >= 2 else { throw .invalidModel("gradient-boosted trees need at least 1 feature and 2 classes, found \(width) and \(classes)") }
        try check(train, width: width, classes: classes, "train")
        if let validation { try check(validation, width: width, classes: classes, "validation") }
        guard train.count > 0 else { throw .invalidData("the train split is empty") }
        if let cw = options.classWeights, cw.count != classes { throw .invalidData("class_weights has \(cw.count) values for \(classes) classes") }
        let start = ContinuousClock.now
        let n = train.count, K = classes, F = width
        let bins = FeatureBins.fit(features: train.features, width: F, maxBins: options.maxBins)
        let codes = bins.columns(features: train.features, width: F)
        let sampleWeight = train.labels.map { options.classWeights?[Int($0)] ?? 1 }

        // Base scores: log of the (weighted) class shares, as scikit-learn starts.
        var share = [Double](repeating: 0, count: K)
        for r in 0..<n { share[Int(train.labels[r])] += Double(sampleWeight[r]) }
        let total = share.reduce(0, +)
        let base = share.map { Float(log(max($0 / max(total, 1e-300), 1e-12))) }

        var raw = [Double](repeating: 0, count: n * K)
        for r in 0..<n { for k in 0..<K { raw[r * K + k] = Double(base[k]) } }
        let val = validation.flatMap { $0.count > 0 ? $0 : nil }
        var valRaw = [Double](repeating: 0, count: (val?.count ?? 0) * K)
        for r in 0..<(val?.count ?? 0) { for k in 0..<K { valRaw[r * K + k] = Double(base[k]) } }
        var g = [Float](repeating: 0, count: K * n), h = [Float](repeating: 0, count: K * n)
        var sampled = [Bool](repeating: true, count: n)
        var permutation = Array(0..<n)
        var sample = [Int32](repeating: 0, count: n)

        let grower = TreeGrower(codes: codes, rows: n, bins: bins, options: options)
        var treeStarts = [0], nodes: [BoostedTrees.Node] = [], nodeGains: [Double] = []
        var history: [EpochRecord] = []
        var best: (loss: Double, round: Int)? = nil
        var stoppedEarly = false
        var probs = [Float](repeating: 0, count: max(n, val?.count ?? 0) * K)

        for round in 1...options.rounds {
            let roundStart = ContinuousClock.now
            raw.withUnsafeBufferPointer { rp in
                g.withUnsafeMutableBufferPointer { gp in
                    h.withUnsafeMutableBufferPointer { hp in
                        probs.withUnsafeMutableBufferPointer { pp in
                            for r in 0..<n {
                                let p = pp.baseAddress! + r * K
                                softmax(rp.baseAddress! + r * K, K, into: p)
                                let y = Int(train.labels[r]), w = sampleWeight[r]
                                for k in 0..<K {
                                    let pk = p[k]
                                    gp[k * n + r] = w * (pk - (k == y ? 1 : 0))
                                    hp[k * n + r] = w * max(pk * (1 - pk), 1e-16)
                                }
                            }
                        }
                    }
                }
            }
            var m = n
            if options.subsample < 1 {
                m = max(1, min(n, Int((options.subsample * Double(n)).rounded())))
                for i in 0..<n { permutation[i] = i }
                var rng = SeededRandom(seed: options.seed, stream: 5, index: UInt64(round))
                for i in 0..<m { permutation.swapAt(i, i + rng.below(n - i)) }
                permutation[0..<m].sort()
                for i in 0..<n { sampled[i] = false }
                for i in 0..<m { sample[i] = Int32(permutation[i]); sampled[permutation[i]] = true }
            } else {
                for i in 0..<n { sample[i] = Int32(i) }
            }
            for k in 0..<K {
                let tree = (round - 1) * K + k
                g.withUnsafeBufferPointer { gp in
                    h.withUnsafeBufferPointer { hp in
                        sample.withUnsafeBufferPointer { sp in
                            grower.grow(gradients: gp.baseAddress! + k * n, hessians: hp.baseAddress! + k * n,
                                        sample: sp.baseAddress!, count: m, tree: tree)
                        }
                    }
                }
                nodes += grower.nodes
                nodeGains += grower.gains
                treeStarts.append(nodes.count)
                // Train scores: the grown leaves hold the sampled rows; the others walk the tree on bin codes.
                raw.withUnsafeMutableBufferPointer { rp in
                    for leaf in grower.leaves {
                        let v = Double(grower.nodes[leaf.node].value)
                        for i in leaf.start..<leaf.end { rp[Int(grower.rows[i]) * K + k] += v }
                    }
                    if m < n {
                        codes.withUnsafeBufferPointer { cp in
                            for r in 0..<n where !sampled[r] {
                                rp[r * K + k] += Double(grower.leafValue(codes: cp.baseAddress!, row: r))
                            }
                        }
                    }
                }
                if let val {
                    let one = BoostedTrees(features: F, classes: K, baseScores: base, treeStarts: [0, grower.nodes.count], nodes: grower.nodes)
                    val.features.withUnsafeBufferPointer { xp in
                        valRaw.withUnsafeMutableBufferPointer { vp in
                            one.nodes.withUnsafeBufferPointer { np in
                                for r in 0..<val.count {
                                    vp[r * K + k] += Double(one.leafValue(tree: 0, row: xp.baseAddress! + r * F, nodes: np.baseAddress!))
                                }
                            }
                        }
                    }
                }
            }
            let t = evaluate(raw: raw, labels: train.labels, classes: K, scratch: &probs)
            var record = EpochRecord(epoch: round, loss: t.loss, accuracy: t.metrics.accuracy, macroF1: t.metrics.macroF1, seconds: 0)
            if let val {
                let v = evaluate(raw: valRaw, labels: val.labels, classes: K, scratch: &probs)
                record.valLoss = v.loss
                record.valAccuracy = v.metrics.accuracy
                record.valMacroF1 = v.metrics.macroF1
            }
            guard record.loss.isFinite else { throw .diverged(epoch: round) }
            record.seconds = Trainer.seconds(since: roundStart)
            history.append(record)
            onRound(record)
            if options.patience > 0, let vl = record.valLoss {
                if best == nil || vl < best!.loss {
                    best = (vl, round)
                } else if round - best!.round >= options.patience {
                    stoppedEarly = true
                    break
                }
            }
        }
        let kept = best?.round ?? history.count
        let keptNodes = treeStarts[kept * K]
        var importances = [Double](repeating: 0, count: F)
        for i in 0..<keptNodes where nodes[i].feature >= 0 { importances[Int(nodes[i].feature)] += nodeGains[i] }
        let model = BoostedTrees(features: F, classes: K, baseScores: base, treeStarts: Array(treeStarts[0...(kept * K)]),
                                 nodes: Array(nodes[0..<keptNodes]))
        return BoostingResult(model: model, history: history, bestRound: kept, stoppedEarly: stoppedEarly,
                              importances: importances, seconds: Trainer.seconds(since: start))
    }

    /// Mean cross-entropy (clipped as Keras) and metrics of raw scores.
    static func evaluate(raw: [Double], labels: [Int32], classes k: Int, scratch: inout [Float]) -> (loss: Double, metrics: ClassificationMetrics) {
        let n = labels.count
        var loss = 0.0
        var predicted = [Int32](repeating: 0, count: n)
        raw.withUnsafeBufferPointer { rp in
            scratch.withUnsafeMutableBufferPointer { pp in
                let p = pp.baseAddress!
                for r in 0..<n {
                    softmax(rp.baseAddress! + r * k, k, into: p)
                    let y = Int(labels[r])
                    loss -= log(Double(min(max(p[y], 1e-7), 1 - 1e-7)))
                    var arg = 0
                    for j in 1..<k where p[j] > p[arg] { arg = j }
                    predicted[r] = Int32(arg)
                }
            }
        }
        return (n == 0 ? 0 : loss / Double(n), ClassificationMetrics(trueLabels: labels, predicted: predicted, classes: k))
    }

    static func check(_ d: LabeledData, width: Int, classes: Int, _ name: String) throws(LearningError) {
        guard d.features.count == d.count * width else {
            throw .invalidData("the \(name) split has \(d.features.count) feature values for \(d.count) rows of \(width) features")
        }
        if let bad = d.labels.first(where: { $0 < 0 || Int($0) >= classes }) {
            throw .invalidData("the \(name) split has label \(bad), outside 0..<\(classes)")
        }
        if let i = d.features.firstIndex(where: { !$0.isFinite }) {
            throw .invalidData("the \(name) split has a non-finite feature value (row \(i / width + 1), feature \(i % width + 1))")
        }
    }
}

/// Sums of one histogram bin.
struct HistogramBin {
    var g: Double
    var h: Double
    var count: Int
}

/// A leaf's best split on one feature: rows with bin ≤ `bin` go left. `gain ≤ 0`: none.
struct SplitChoice {
    var gain: Double
    var feature: Int
    var bin: Int
    var g: Double
    var h: Double
    var count: Int

    static let none = SplitChoice(gain: 0, feature: -1, bin: -1, g: 0, h: 0, count: 0)
}

/// A leaf of the tree being grown: its rows are `rows[start..<end]`.
struct GrowingLeaf {
    var node: Int
    var start: Int
    var end: Int
    var depth: Int
    var g: Double
    var h: Double
    /// Histogram slot, or -1 when the leaf can no longer split.
    var slot: Int
    var split: SplitChoice
    var count: Int { end - start }
}

/// Grows one tree at a time on preallocated buffers: no allocation per node once the
/// histogram pool has grown to the largest number of live leaves.
final class TreeGrower {
    let n: Int, F: Int
    let codes: UnsafeMutablePointer<UInt8>
    let binCounts: [Int]
    let edges: FeatureBins
    let options: BoostingOptions
    /// The tree's rows, partitioned leaf by leaf.
    let rows: UnsafeMutablePointer<Int32>
    private let scratch: UnsafeMutablePointer<Int32>
    /// Gradients and hessians gathered in `rows` order for the histogram being built.
    private let og: UnsafeMutablePointer<Float>, oh: UnsafeMutablePointer<Float>
    private var pool: [UnsafeMutablePointer<HistogramBin>] = []
    private var free: [Int] = []
    /// Best split per feature for up to two leaves: [2][F].
    private let best: UnsafeMutablePointer<SplitChoice>
    /// Features a leaf may split on: [2][F].
    private let allowed: UnsafeMutablePointer<Bool>
    private var featureOrder: [Int]
    static let stride = 256

    /// The last grown tree: nodes (tree-local indices), the gain of each split node, its
    /// split bin, and its final leaves.
    private(set) var nodes: [BoostedTrees.Node] = []
    private(set) var gains: [Double] = []
    private(set) var splitBins: [UInt8] = []
    private(set) var leaves: [GrowingLeaf] = []

    init(codes c: [UInt8], rows: Int, bins: FeatureBins, options: BoostingOptions) {
        n = rows
        F = bins.features
        edges = bins
        binCounts = (0..<bins.features).map { bins.binCount($0) }
        self.options = options
        let copy = UnsafeMutablePointer<UInt8>.allocate(capacity: max(c.count, 1))
        c.withUnsafeBufferPointer { copy.initialize(from: $0.baseAddress!, count: c.count) }
        codes = copy
        self.rows = .allocate(capacity: max(n, 1))
        scratch = .allocate(capacity: max(n, 1))
        og = .allocate(capacity: max(n, 1))
        oh = .allocate(capacity: max(n, 1))
        best = .allocate(capacity: 2 * F)
        allowed = .allocate(capacity: 2 * F)
        allowed.initialize(repeating: true, count: 2 * F)
        featureOrder = Array(0..<F)
        let capacity = options.maxLeaves > 0 ? 2 * options.maxLeaves : 64
        nodes.reserveCapacity(capacity); gains.reserveCapacity(capacity); splitBins.reserveCapacity(capacity)
        leaves.reserveCapacity(capacity)
    }

    deinit {
        codes.deallocate(); rows.deallocate(); scratch.deallocate(); og.deallocate(); oh.deallocate()
        best.deallocate(); allowed.deallocate()
        for p in pool { p.deallocate() }
    }

    private func allocateSlot() -> Int {
        if let s = free.popLast() { return s }
        pool.append(.allocate(capacity: F * Self.stride))
        return pool.count - 1
    }

    private func release(_ slot: Int) { if slot >= 0 { free.append(slot) } }

    /// Grows one tree on the rows `sample[0..<count]`; the result is in `nodes`, `gains`,
    /// `splitBins` and `leaves`.
    func grow(gradients g: UnsafePointer<Float>, hessians h: UnsafePointer<Float>, sample: UnsafePointer<Int32>, count m: Int, tree: Int) {
        nodes.removeAll(keepingCapacity: true)
        gains.removeAll(keepingCapacity: true)
        splitBins.removeAll(keepingCapacity: true)
        leaves.removeAll(keepingCapacity: true)
        rows.update(from: sample, count: m)
        var sumG = 0.0, sumH = 0.0
        for i in 0..<m {
            let r = Int(rows[i])
            og[i] = g[r]; oh[i] = h[r]
            sumG += Double(og[i]); sumH += Double(oh[i])
        }
        nodes.append(.leaf(0)); gains.append(0); splitBins.append(0)
        var root = GrowingLeaf(node: 0, start: 0, end: m, depth: 0, g: sumG, h: sumH, slot: -1, split: .none)
        if splittable(root) {
            root.slot = allocateSlot()
            drawFeatures(0, tree: tree, node: 0)
            computeHistograms(build: (0, m, root.slot), derive: nil,
                              first: LeafToEvaluate(slot: root.slot, which: 0, g: root.g, h: root.h, count: root.count), second: nil)
            root.split = pick(0)
            if root.split.gain <= 0 { release(root.slot); root.slot = -1 }
        }
        leaves.append(root)
        let lambda = options.l2
        while options.maxLeaves == 0 || leaves.count < options.maxLeaves {
            var chosen = -1
            for (i, l) in leaves.enumerated() where l.slot >= 0 && l.split.gain > 0 {
                if chosen < 0 || l.split.gain > leaves[chosen].split.gain { chosen = i }
            }
            guard chosen >= 0 else { break }
            let parent = leaves[chosen], s = parent.split
            // Stable partition of the parent's rows: bin ≤ s.bin to the left.
            let column = codes + s.feature * n, bin = UInt8(s.bin)
            var l = parent.start, r = 0
            for i in parent.start..<parent.end {
                let row = rows[i]
                if column[Int(row)] <= bin { rows[l] = row; l += 1 } else { scratch[r] = row; r += 1 }
            }
            (rows + l).update(from: scratch, count: r)
            let left = nodes.count
            nodes[parent.node] = BoostedTrees.Node(feature: Int32(s.feature), threshold: edges.edges[s.feature][s.bin],
                                                   left: Int32(left), right: Int32(left + 1), value: 0)
            gains[parent.node] = s.gain
            splitBins[parent.node] = bin
            nodes.append(.leaf(0)); nodes.append(.leaf(0))
            gains.append(0); gains.append(0); splitBins.append(0); splitBins.append(0)
            var a = GrowingLeaf(node: left, start: parent.start, end: l, depth: parent.depth + 1, g: s.g, h: s.h, slot: -1, split: .none)
            var b = GrowingLeaf(node: left + 1, start: l, end: parent.end, depth: parent.depth + 1,
                                g: parent.g - s.g, h: parent.h - s.h, slot: -1, split: .none)
            let full = options.maxLeaves > 0 && leaves.count + 1 >= options.maxLeaves
            let aSplits = !full && splittable(a), bSplits = !full && splittable(b)
            if aSplits || bSplits {
                // The smaller child gets a new histogram; the larger takes the parent's, minus the smaller's.
                let aSmaller = a.count <= b.count
                let smallSlot = allocateSlot()
                if aSmaller { a.slot = smallSlot; b.slot = parent.slot } else { b.slot = smallSlot; a.slot = parent.slot }
                let small = aSmaller ? a : b, large = aSmaller ? b : a
                let largeSplits = aSmaller ? bSplits : aSplits, smallSplits = aSmaller ? aSplits : bSplits
                for i in small.start..<small.end {
                    let row = Int(rows[i])
                    og[i] = g[row]; oh[i] = h[row]
                }
                if smallSplits { drawFeatures(0, tree: tree, node: small.node) }
                if largeSplits { drawFeatures(1, tree: tree, node: large.node) }
                computeHistograms(build: (small.start, small.end, small.slot), derive: largeSplits ? (large.slot, small.slot) : nil,
                                  first: smallSplits ? LeafToEvaluate(slot: small.slot, which: 0, g: small.g, h: small.h, count: small.count) : nil,
                                  second: largeSplits ? LeafToEvaluate(slot: large.slot, which: 1, g: large.g, h: large.h, count: large.count) : nil)
                var smallResult = small, largeResult = large
                if smallSplits { smallResult.split = pick(0) }
                if largeSplits { largeResult.split = pick(1) }
                for c in [0, 1] {
                    var leaf = c == 0 ? smallResult : largeResult
                    let keeps = (c == 0 ? smallSplits : largeSplits) && leaf.split.gain > 0
                    if !keeps { release(leaf.slot); leaf.slot = -1 }
                    if c == 0 { smallResult = leaf } else { largeResult = leaf }
                }
                a = aSmaller ? smallResult : largeResult
                b = aSmaller ? largeResult : smallResult
            } else {
                release(parent.slot)
            }
            leaves[chosen] = a
            leaves.append(b)
        }
        let lr = options.learningRate
        for i in leaves.indices {
            release(leaves[i].slot)
            leaves[i].slot = -1
            let l = leaves[i]
            nodes[l.node].value = Float(-lr * l.g / (l.h + lambda))
        }
    }

    private func splittable(_ l: GrowingLeaf) -> Bool {
        (options.maxDepth == 0 || l.depth < options.maxDepth) && l.count >= 2 * options.minSamplesLeaf
            && l.h >= 2 * TreeBooster.minHessianToSplit
    }

    /// Draws the features leaf `which` may split on (all when featureFraction is 1).
    private func drawFeatures(_ which: Int, tree: Int, node: Int) {
        let mask = allowed + which * F
        guard options.featureFraction < 1 else { mask.update(repeating: true, count: F); return }
        let c = max(1, min(F, Int((options.featureFraction * Double(F)).rounded())))
        var rng = SeededRandom(seed: SeededRandom.streamSeed(options.seed, 6), stream: UInt64(tree) << 24 | UInt64(node))
        for i in 0..<F { featureOrder[i] = i }
        for i in 0..<c { featureOrder.swapAt(i, i + rng.below(F - i)) }
        mask.update(repeating: false, count: F)
        for i in 0..<c { mask[featureOrder[i]] = true }
    }

    /// The best split of leaf `which` over its allowed features: feature order, strict
    /// improvement, so ties go to the lower feature.
    private func pick(_ which: Int) -> SplitChoice {
        var out = SplitChoice.none
        let b = best + which * F
        for f in 0..<F where b[f].gain > out.gain { out = b[f] }
        return out
    }

    /// A leaf whose best split `computeHistograms` looks for; `which` picks its row of `best`.
    struct LeafToEvaluate {
        var slot: Int, which: Int
        var g: Double, h: Double
        var count: Int
    }

    /// Per feature, in parallel over features: builds the histogram of rows
    /// `build.start..<build.end` into `build.slot`, turns `derive.large` into
    /// large − small, and finds the best split on that feature of each leaf to evaluate.
    private func computeHistograms(build: (start: Int, end: Int, slot: Int), derive: (large: Int, small: Int)?,
                                   first: LeafToEvaluate?, second: LeafToEvaluate?) {
        let rowsBuilt = build.end - build.start
        let work = rowsBuilt * F + F * 64 * ((first == nil ? 0 : 1) + (second == nil ? 0 : 1) + (derive == nil ? 0 : 1))
        let chunks = options.threads > 1 && work >= 60_000 ? min(options.threads, F) : 1
        let lambda = options.l2, minLeaf = options.minSamplesLeaf, minHess = TreeBooster.minHessianToSplit
        let F = self.F, n = self.n, codes = self.codes, rows = self.rows, og = self.og, oh = self.oh
        let best = self.best, allowed = self.allowed
        let buildHist = pool[build.slot]
        let deriveHists = derive.map { (pool[$0.large], pool[$0.small]) }
        let firstHist = first.map { pool[$0.slot] }, secondHist = second.map { pool[$0.slot] }
        let binCounts = self.binCounts
        @inline(__always)
        func evaluate(_ e: LeafToEvaluate, _ histogram: UnsafeMutablePointer<HistogramBin>, _ f: Int, _ nb: Int) {
            let out = best + e.which * F + f
            out.pointee = .none
            guard allowed[e.which * F + f] else { return }
            let hh = histogram + f * Self.stride
            let parentScore = e.g * e.g / (e.h + lambda)
            var gl = 0.0, hl = 0.0, nl = 0
            for b in 0..<(nb - 1) {
                gl += hh[b].g; hl += hh[b].h; nl += hh[b].count
                if nl < minLeaf { continue }
                let nr = e.count - nl
                if nr < minLeaf { break }
                let hr = e.h - hl
                if hl < minHess || hr < minHess { continue }
                let gr = e.g - gl
                let gain = 0.5 * (gl * gl / (hl + lambda) + gr * gr / (hr + lambda) - parentScore)
                if gain > out.pointee.gain { out.pointee = SplitChoice(gain: gain, feature: f, bin: b, g: gl, h: hl, count: nl) }
            }
        }
        ParallelLoop.run(count: chunks, jobs: chunks) { chunk in
            let f0 = chunk * F / chunks, f1 = (chunk + 1) * F / chunks
            for f in f0..<f1 {
                let nb = binCounts[f]
                let hist = buildHist + f * Self.stride
                hist.update(repeating: HistogramBin(g: 0, h: 0, count: 0), count: nb)
                let column = codes + f * n
                var i = build.start
                while i < build.end {
                    let b = Int(column[Int(rows[i])])
                    hist[b].g += Double(og[i])
                    hist[b].h += Double(oh[i])
                    hist[b].count += 1
                    i += 1
                }
                if let d = deriveHists {
                    let large = d.0 + f * Self.stride, small = d.1 + f * Self.stride
                    for b in 0..<nb {
                        large[b].g -= small[b].g
                        large[b].h -= small[b].h
                        large[b].count -= small[b].count
                    }
                }
                if let e = first, let hh = firstHist { evaluate(e, hh, f, nb) }
                if let e = second, let hh = secondHist { evaluate(e, hh, f, nb) }
            }
        }
    }

    /// The last grown tree's leaf value for train row `r`, walking on bin codes.
    func leafValue(codes c: UnsafePointer<UInt8>, row r: Int) -> Float {
        var i = 0
        while nodes[i].feature >= 0 {
            let f = Int(nodes[i].feature)
            i = Int(c[f * n + r] <= splitBins[i] ? nodes[i].left : nodes[i].right)
        }
        return nodes[i].value
    }
}
