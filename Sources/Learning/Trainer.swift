import Basics
import Foundation

/// Rows of features with integer class labels. Row r's features are
/// `features[r * size ..< (r + 1) * size]`, step-major (step 0's values first).
public struct LabeledData: Sendable {
    public var features: [Float]
    public var labels: [Int32]
    public var count: Int { labels.count }
    public init(features: [Float], labels: [Int32]) { self.features = features; self.labels = labels }
}

/// Stop when the validation loss has not improved for `patience` epochs, then go back to
/// the weights of the best epoch.
public struct EarlyStopping: Sendable, Equatable {
    public var patience: Int
    public var minDelta: Double
    public init(patience: Int, minDelta: Double = 0) { self.patience = patience; self.minDelta = minDelta }
}

public struct TrainingOptions: Sendable {
    public var epochs: Int
    public var batchSize: Int
    public var optimizer: Adam
    /// Seeds initial weights (when the trainer makes them), shuffling and dropout.
    public var seed: UInt64
    /// Loss weight per class (Keras `class_weight`); nil weighs every class 1.
    public var classWeights: [Float]?
    public var earlyStopping: EarlyStopping?
    /// Worker threads. Results do not depend on it: each batch is cut into
    /// `Trainer.gradientShards` fixed parts whose gradients are summed in order.
    public var threads: Int

    public init(epochs: Int = 100, batchSize: Int = 32, optimizer: Adam = Adam(), seed: UInt64 = 42,
                classWeights: [Float]? = nil, earlyStopping: EarlyStopping? = nil, threads: Int = 1) {
        self.epochs = epochs
        self.batchSize = batchSize
        self.optimizer = optimizer
        self.seed = seed
        self.classWeights = classWeights
        self.earlyStopping = earlyStopping
        self.threads = threads
    }
}

/// One epoch's figures. Train figures are accumulated during the epoch (as Keras does);
/// validation figures are computed on the whole split after it.
public struct EpochRecord: Sendable, Equatable {
    public var epoch: Int
    public var loss: Double
    public var accuracy: Double
    public var macroF1: Double
    public var valLoss: Double?
    public var valAccuracy: Double?
    public var valMacroF1: Double?
    public var seconds: Double
}

public struct TrainingResult: Sendable {
    public var weights: [Float]
    public var history: [EpochRecord]
    /// The epoch (1-based) whose weights were kept.
    public var bestEpoch: Int
    public var stoppedEarly: Bool
    public var seconds: Double
}

public enum Trainer {
    /// Each batch is cut into this many fixed parts, one per worker at most; their
    /// gradients are added in part order, so the result never depends on thread count.
    public static let gradientShards = 2

    /// Trains with mini-batch Adam on categorical cross-entropy. `onEpoch` sees each epoch
    /// as it finishes (for progress lines).
    public static func train(network: Network, weights initial: [Float], train: LabeledData, validation: LabeledData?,
                             options: TrainingOptions, onEpoch: (EpochRecord) -> Void = { _ in }) throws(LearningError) -> TrainingResult {
        let classes = network.classes
        try check(train, network, "train")
        if let validation { try check(validation, network, "validation") }
        guard train.count > 0 else { throw .invalidData("the train split is empty") }
        guard initial.count == network.parameterCount else {
            throw .invalidData("expected \(network.parameterCount) weights for \(network.layers.map(\.name).joined(separator: " → ")), found \(initial.count)")
        }
        guard options.batchSize > 0, options.epochs >= 0 else { throw .invalidData("batch size and epochs must be positive") }
        if let cw = options.classWeights, cw.count != classes {
            throw .invalidData("class_weights has \(cw.count) values for \(classes) classes")
        }
        let shardCapacity = (options.batchSize + gradientShards - 1) / gradientShards
        let workspaces = (0..<gradientShards).map { _ in ForwardBackwardBuffers(network: network, capacity: shardCapacity) }
        let state = AdamState(count: network.parameterCount)
        var weights = initial
        var transposed = [Float](repeating: 0, count: network.parameterCount)
        var gradient = [Float](repeating: 0, count: network.parameterCount)
        var order = Array(0..<train.count)
        var predicted = [Int32](repeating: 0, count: train.count)
        var sampleLoss = [Double](repeating: 0, count: train.count)
        var keys = [UInt64](repeating: 0, count: options.batchSize)
        var history: [EpochRecord] = []
        var best: (loss: Double, epoch: Int, weights: [Float])? = nil
        var stoppedEarly = false
        let start = ContinuousClock.now
        let threads = max(1, min(options.threads, gradientShards))

        for epoch in 1...max(options.epochs, 1) where options.epochs > 0 {
            let epochStart = ContinuousClock.now
            var shuffle = SeededRandom(seed: options.seed, stream: 2, index: UInt64(epoch))
            shuffle.shuffle(&order)
            var begin = 0
            while begin < train.count {
                let m = min(options.batchSize, train.count - begin)
                for j in 0..<m {
                    var g = SeededRandom(seed: options.seed, stream: 4, index: UInt64(epoch) << 32 | UInt64(begin + j))
                    keys[j] = g.next()
                }
                weights.withUnsafeMutableBufferPointer { w in
                    transposed.withUnsafeMutableBufferPointer { wt in
                        network.transpose(w.baseAddress!, into: wt.baseAddress!)
                        let wp = UnsafePointer(w.baseAddress!), wtp = UnsafePointer(wt.baseAddress!)
                        train.features.withUnsafeBufferPointer { data in
                            order.withUnsafeBufferPointer { ord in
                                predicted.withUnsafeMutableBufferPointer { pred in
                                    sampleLoss.withUnsafeMutableBufferPointer { lossOut in
                                        keys.withUnsafeBufferPointer { kp in
                                            let per = (m + gradientShards - 1) / gradientShards
                                            let shardWork = { (s: Int) in
                                                let lo = min(m, s * per), hi = min(m, lo + per)
                                                let ws = workspaces[s]
                                                ws.gradient.update(repeating: 0, count: network.parameterCount)
                                                guard hi > lo else { return }
                                                let n = hi - lo
                                                fill(ws.input, from: data.baseAddress!, rows: ord.baseAddress! + begin + lo, count: n, shape: network.input)
                                                let probs = ws.forward(weights: wp, count: n, dropoutKeys: kp.baseAddress! + lo)
                                                let dz = ws.dOutput[network.plan.count - 1]
                                                for b in 0..<n {
                                                    let row = ord[begin + lo + b]
                                                    let y = Int(train.labels[row])
                                                    let sw = options.classWeights?[y] ?? 1
                                                    let p = probs + b * classes
                                                    var arg = 0
                                                    for c in 0..<classes {
                                                        dz[b * classes + c] = (p[c] - (c == y ? 1 : 0)) * sw / Float(m)
                                                        if p[c] > p[arg] { arg = c }
                                                    }
                                                    pred[row] = Int32(arg)
                                                    lossOut[row] = -Double(sw) * log(Double(min(max(p[y], 1e-7), 1 - 1e-7)))
                                                }
                                                ws.backward(weights: wp, transposed: wtp, count: n)
                                            }
                                            ParallelLoop.run(count: gradientShards, jobs: threads, shardWork)
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                gradient.withUnsafeMutableBufferPointer { g in
                    let gp = g.baseAddress!
                    gp.update(from: workspaces[0].gradient, count: network.parameterCount)
                    for s in 1..<gradientShards {
                        let o = workspaces[s].gradient
                        for i in 0..<network.parameterCount { gp[i] += o[i] }
                    }
                    weights.withUnsafeMutableBufferPointer { w in
                        state.apply(options.optimizer, slots: network.slots, gradient: gp, weights: w.baseAddress!)
                    }
                }
                begin += m
            }
            let loss = sampleLoss.reduce(0, +) / Double(train.count)
            guard loss.isFinite else { throw .diverged(epoch: epoch) }
            let trainMetrics = ClassificationMetrics(trueLabels: train.labels, predicted: predicted, classes: classes)
            var record = EpochRecord(epoch: epoch, loss: loss, accuracy: trainMetrics.accuracy, macroF1: trainMetrics.macroF1, seconds: 0)
            if let validation, validation.count > 0 {
                let probs = network.predict(weights: weights, features: validation.features, threads: options.threads)
                let e = evaluate(probabilities: probs, labels: validation.labels, classes: classes)
                record.valLoss = e.loss
                record.valAccuracy = e.metrics.accuracy
                record.valMacroF1 = e.metrics.macroF1
            }
            record.seconds = seconds(since: epochStart)
            history.append(record)
            onEpoch(record)
            if let es = options.earlyStopping, let vl = record.valLoss {
                if best == nil || vl < best!.loss - es.minDelta {
                    best = (vl, epoch, weights)
                } else if epoch - best!.epoch >= es.patience {
                    stoppedEarly = true
                    break
                }
            }
        }
        var bestEpoch = history.count
        if let best { weights = best.weights; bestEpoch = best.epoch }
        return TrainingResult(weights: weights, history: history, bestEpoch: bestEpoch, stoppedEarly: stoppedEarly, seconds: seconds(since: start))
    }

    /// Mean cross-entropy (probabilities clipped to [1e-7, 1 - 1e-7], as Keras) and metrics.
    public static func evaluate(probabilities: [Float], labels: [Int32], classes: Int) -> (loss: Double, metrics: ClassificationMetrics) {
        var loss = 0.0
        var predicted = [Int32](repeating: 0, count: labels.count)
        for r in 0..<labels.count {
            let p = probabilities[(r * classes)..<((r + 1) * classes)]
            let y = Int(labels[r])
            loss -= log(Double(min(max(p[p.startIndex + y], 1e-7), 1 - 1e-7)))
            predicted[r] = Int32(argmax(p))
        }
        return (labels.isEmpty ? 0 : loss / Double(labels.count), ClassificationMetrics(trueLabels: labels, predicted: predicted, classes: classes))
    }

    static func check(_ d: LabeledData, _ network: Network, _ name: String) throws(LearningError) {
        guard d.features.count == d.count * network.input.size else {
            throw .invalidData("the \(name) split has \(d.features.count) feature values for \(d.count) rows; the model reads \(network.input.size) per row (\(network.input.steps) steps × \(network.input.features))")
        }
        if let bad = d.labels.first(where: { $0 < 0 || Int($0) >= network.classes }) {
            throw .invalidData("the \(name) split has label \(bad), outside 0..<\(network.classes)")
        }
    }

    static func seconds(since t: ContinuousClock.Instant) -> Double {
        let d = ContinuousClock.now - t
        return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }
}

func argmax<C: Collection>(_ p: C) -> Int where C.Element == Float {
    var best = 0, bestValue = -Float.infinity
    for (i, v) in p.enumerated() where v > bestValue { best = i; bestValue = v }
    return best
}

/// Copies `count` rows (sample-major) into the time-major input buffer.
@inline(__always)
func fill(_ input: UnsafeMutablePointer<Float>, from data: UnsafePointer<Float>, rows: UnsafePointer<Int>, count n: Int, shape: InputShape) {
    let F = shape.features, size = shape.size
    for b in 0..<n {
        let src = data + rows[b] * size
        for t in 0..<shape.steps {
            (input + (t * n + b) * F).update(from: src + t * F, count: F)
        }
    }
}

extension Network {
    /// Class probabilities [rows][classes] for sample-major features.
    public func predict(weights: [Float], features: [Float], threads: Int = 1) -> [Float] {
        let rows = features.count / input.size, chunk = 64
        var out = [Float](repeating: 0, count: rows * classes)
        let chunks = (rows + chunk - 1) / chunk
        let workers = max(1, min(threads, chunks))
        // A workspace no larger than the rows: one image's prediction would otherwise allocate
        // and clear buffers for 64 rows, forward and backward (a few % of its latency).
        let capacity = max(1, min(chunk, rows))
        let workspaces = (0..<workers).map { _ in ForwardBackwardBuffers(network: self, capacity: capacity) }
        let index = Array(0..<rows)
        weights.withUnsafeBufferPointer { w in
            features.withUnsafeBufferPointer { data in
                index.withUnsafeBufferPointer { idx in
                    out.withUnsafeMutableBufferPointer { o in
                        let ob = o.baseAddress!
                        // Each sample's arithmetic is independent of its batch, so how the rows
                        // are split among workers cannot change a result.
                        let work = { (worker: Int) in
                            let ws = workspaces[worker]
                            var c = worker
                            while c < chunks {
                                let lo = c * chunk, n = min(chunk, rows - lo)
                                fill(ws.input, from: data.baseAddress!, rows: idx.baseAddress! + lo, count: n, shape: self.input)
                                let p = ws.forward(weights: w.baseAddress!, count: n)
                                (ob + lo * self.classes).update(from: p, count: n * self.classes)
                                c += workers
                            }
                        }
                        ParallelLoop.run(count: workers, jobs: workers, work)
                    }
                }
            }
        }
        return out
    }
}


extension Network {
    /// Mean cross-entropy of one batch (no dropout) and its gradient, in one workspace.
    /// For tests and tools; training uses the sharded loop above.
    func lossAndGradient(weights: [Float], data: LabeledData) -> (loss: Double, gradient: [Float]) {
        let n = data.count
        let ws = ForwardBackwardBuffers(network: self, capacity: n)
        var transposed = [Float](repeating: 0, count: parameterCount)
        var loss = 0.0
        weights.withUnsafeBufferPointer { w in
            transposed.withUnsafeMutableBufferPointer { t in
                transpose(w.baseAddress!, into: t.baseAddress!)
                let rows = Array(0..<n)
                data.features.withUnsafeBufferPointer { d in
                    rows.withUnsafeBufferPointer { r in fill(ws.input, from: d.baseAddress!, rows: r.baseAddress!, count: n, shape: input) }
                }
                let p = ws.forward(weights: w.baseAddress!, count: n)
                let dz = ws.dOutput[plan.count - 1]
                for b in 0..<n {
                    let y = Int(data.labels[b])
                    loss -= log(Double(p[b * classes + y]))
                    for c in 0..<classes { dz[b * classes + c] = (p[b * classes + c] - (c == y ? 1 : 0)) / Float(n) }
                }
                ws.gradient.update(repeating: 0, count: parameterCount)
                ws.backward(weights: w.baseAddress!, transposed: UnsafePointer(t.baseAddress!), count: n)
            }
        }
        return (loss / Double(n), Array(UnsafeBufferPointer(start: ws.gradient, count: parameterCount)))
    }
}
