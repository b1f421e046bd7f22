import Basics
/// A sequential classifier: an input shape, layers, and a softmax head. It holds no
/// weights; those live in a flat `[Float]` vector laid out by `slots`, so the optimiser,
/// the gradient reduction and the model file all work on one contiguous array.
public struct Network: Sendable, Equatable {
    public let input: InputShape
    public let layers: [LayerSpec]
    /// Compiled layers: shapes and parameter offsets.
    let plan: [PlannedLayer]
    /// Every weight tensor, in parameter order.
    public let slots: [TensorSlot]
    public let parameterCount: Int
    public var classes: Int { plan.last!.outFeatures }

    struct PlannedLayer: Sendable, Equatable {
        enum Kind: Sendable, Equatable { case lstm, dense, dropout }
        var kind: Kind
        var units: Int
        var activation: Activation
        var returnSequences: Bool
        var rate: Float
        var inSteps: Int, inFeatures: Int
        var outSteps: Int, outFeatures: Int
        /// Kernel (inFeatures × gates), recurrent kernel (units × gates), bias (gates).
        var kernel = 0, recurrent = 0, bias = 0
        var gates: Int { kind == .lstm ? 4 * units : units }
    }

    /// Checks that the layers form a classifier: shapes chain, and the last layer is a
    /// Dense softmax (fused with cross-entropy in training).
    public init(input: InputShape, layers: [LayerSpec]) throws(LearningError) {
        guard input.steps > 0, input.features > 0 else { throw .invalidModel("the input shape must be positive, found \(input.steps) × \(input.features)") }
        guard case let .dense(_, a)? = layers.last, a == .softmax else {
            throw .invalidModel("the last layer must be Dense(classes, softmax); found \(layers.last?.name ?? "no layers")")
        }
        var plan: [PlannedLayer] = []
        var slots: [TensorSlot] = []
        var steps = input.steps, features = input.features, offset = 0
        func slot(_ name: String, _ count: Int) -> Int {
            slots.append(TensorSlot(name: name, offset: offset, count: count))
            offset += count
            return offset - count
        }
        for (i, spec) in layers.enumerated() {
            var p: PlannedLayer
            switch spec {
            case let .lstm(units, activation, rs):
                guard units > 0 else { throw .invalidModel("layer \(i + 1) \(spec.name): units must be positive") }
                guard activation != .softmax else { throw .invalidModel("layer \(i + 1) \(spec.name): softmax is only allowed on the last Dense layer") }
                p = PlannedLayer(kind: .lstm, units: units, activation: activation, returnSequences: rs, rate: 0,
                                 inSteps: steps, inFeatures: features, outSteps: rs ? steps : 1, outFeatures: units)
                p.kernel = slot("layer\(i + 1).lstm.kernel", features * 4 * units)
                p.recurrent = slot("layer\(i + 1).lstm.recurrent_kernel", units * 4 * units)
                p.bias = slot("layer\(i + 1).lstm.bias", 4 * units)
            case let .dense(units, activation):
                guard units > 0 else { throw .invalidModel("layer \(i + 1) \(spec.name): units must be positive") }
                guard steps == 1 else {
                    throw .invalidModel("layer \(i + 1) \(spec.name) needs a vector, but its input is a sequence of \(steps) steps; put an LSTM without return_sequences before it, or read the input as one step")
                }
                if activation == .softmax && i != layers.count - 1 { throw .invalidModel("layer \(i + 1) \(spec.name): softmax is only allowed on the last layer") }
                p = PlannedLayer(kind: .dense, units: units, activation: activation, returnSequences: false, rate: 0,
                                 inSteps: 1, inFeatures: features, outSteps: 1, outFeatures: units)
                p.kernel = slot("layer\(i + 1).dense.kernel", features * units)
                p.bias = slot("layer\(i + 1).dense.bias", units)
            case let .dropout(rate):
                guard rate >= 0, rate < 1 else { throw .invalidModel("layer \(i + 1) \(spec.name): the rate must be in [0, 1)") }
                p = PlannedLayer(kind: .dropout, units: features, activation: .linear, returnSequences: true, rate: Float(rate),
                                 inSteps: steps, inFeatures: features, outSteps: steps, outFeatures: features)
            }
            steps = p.outSteps
            features = p.outFeatures
            plan.append(p)
        }
        guard plan.last!.outFeatures >= 2 else { throw .invalidModel("the softmax layer needs at least 2 classes") }
        self.input = input
        self.layers = layers
        self.plan = plan
        self.slots = slots
        self.parameterCount = offset
    }

    /// Keras default initial weights: Glorot-uniform kernels, orthogonal recurrent
    /// kernels, zero biases with the LSTM forget-gate bias at 1.
    public func initialWeights(seed: UInt64) -> [Float] {
        var w = [Float](repeating: 0, count: parameterCount)
        for (i, p) in plan.enumerated() where p.kind != .dropout {
            var rng = SeededRandom(seed: seed, stream: 1, index: UInt64(i))
            let fanIn = p.inFeatures, fanOut = p.gates
            let limit = (6.0 / Double(fanIn + fanOut)).squareRoot()
            for k in 0..<(fanIn * fanOut) { w[p.kernel + k] = Float((rng.unit() * 2 - 1) * limit) }
            if p.kind == .lstm {
                let q = orthogonalRows(rows: p.units, columns: p.gates, rng: &rng)
                for k in 0..<q.count { w[p.recurrent + k] = q[k] }
                for k in 0..<p.units { w[p.bias + p.units + k] = 1 }
            }
        }
        return w
    }

    /// Transposed copies of every kernel (same offsets as the weights; biases unused), so
    /// the backward pass also runs as contiguous multiply-adds.
    func transpose(_ w: UnsafePointer<Float>, into t: UnsafeMutablePointer<Float>) {
        for p in plan where p.kind != .dropout {
            transposeMatrix(w + p.kernel, rows: p.inFeatures, columns: p.gates, stride: p.gates, into: t + p.kernel)
            if p.kind == .lstm { transposeMatrix(w + p.recurrent, rows: p.units, columns: p.gates, stride: p.gates, into: t + p.recurrent) }
        }
    }
}

/// A rows × columns matrix with orthonormal rows (columns ≥ rows) or columns, as Keras'
/// Orthogonal initializer makes it: QR of a normal matrix with the signs of R's diagonal
/// folded into Q (Gram–Schmidt gives exactly that Q).
func orthogonalRows(rows: Int, columns: Int, rng: inout SeededRandom) -> [Float] {
    let n = max(rows, columns), m = min(rows, columns)
    // m vectors of length n, orthonormalised in Double with modified Gram–Schmidt.
    var v = [[Double]](repeating: [], count: m)
    for j in 0..<m { v[j] = (0..<n).map { _ in rng.normal() } }
    for j in 0..<m {
        for _ in 0..<2 {   // twice is enough for full orthogonality in floating point
            for k in 0..<j {
                var d = 0.0
                for i in 0..<n { d += v[j][i] * v[k][i] }
                for i in 0..<n { v[j][i] -= d * v[k][i] }
            }
        }
        var norm = 0.0
        for i in 0..<n { norm += v[j][i] * v[j][i] }
        norm = norm.squareRoot()
        for i in 0..<n { v[j][i] /= norm }
    }
    var out = [Float](repeating: 0, count: rows * columns)
    for r in 0..<rows { for c in 0..<columns { out[r * columns + c] = Float(rows <= columns ? v[r][c] : v[c][r]) } }
    return out
}

extension SeededRandom {
    /// Training streams are two levels deep: purpose (1 initial weights, 2 epoch shuffle,
    /// 3 dropout, 4 dropout keys), then an index, both through the one stream derivation.
    init(seed: UInt64, stream: UInt64, index: UInt64) {
        self.init(seed: SeededRandom.streamSeed(seed, stream), stream: index)
    }
}
