import Dispatch

/// Runs one `TFLiteModel` on float32 tensors, single-threaded.
///
/// `init` plans the whole graph once: weights are dequantised (float16 → float32) and
/// packed, constant sub-graphs are folded, convolutions absorb their bias, residual ADD,
/// activation and PRELU, each node is cut to the rows its readers use (`pruneToDemand`), and
/// every activation tensor gets a fixed place in one arena.
/// `invoke` then runs a list of prepared kernels and allocates nothing.
///
/// Not thread-safe: create one interpreter per model per worker thread.
public final class Interpreter {
    public let modelName: String
    public let inputShape: [Int]
    public let outputNames: [String]
    public let outputShapes: [[Int]]
    /// Multiply-adds of the convolutions per invoke, as the tiles compute them (padding
    /// columns included): what the model costs after pruning.
    public let multiplyAdds: Int

    private let steps: [() -> Void]
    private let stepLabels: [String]
    private let input: UnsafeMutablePointer<Float>
    private let inputCount: Int
    private let outputs: [UnsafeMutablePointer<Float>]
    private let outputCounts: [Int]
    /// Owns every buffer the steps point into.
    private let buffers: BufferStore

    /// `kernelPath` picks the GEMM tiles; every path gives the same bits (see `KernelPath`).
    public convenience init(model: TFLiteModel, kernelPath: KernelPath = .preferred) throws(ModelError) {
        try self.init(model: model, kernelPath: kernelPath, pruning: true)
    }

    /// `pruning: false` computes every row of every tensor (see `pruneToDemand`), for tests
    /// that check the pruned graph against the whole one.
    /// `fusingLayerNorms: false` keeps each layer norm as its ten operators (see
    /// `LayerNormKernel`), for tests that check the fused graph against them.
    init(model: TFLiteModel, kernelPath: KernelPath, pruning: Bool, fusingLayerNorms: Bool = true) throws(ModelError) {
        var plan = try GraphPlan(model: model, kernelPath: kernelPath)
        plan.fuse()
        if fusingLayerNorms { plan.fuseLayerNorms() }
        if pruning { plan.pruneToDemand() }
        multiplyAdds = plan.multiplyAdds
        let compiled = try plan.compile()
        modelName = model.name
        inputShape = model.tensors[model.inputIndices[0]].shape
        outputNames = model.outputNames
        outputShapes = model.outputShapes
        steps = compiled.steps
        stepLabels = compiled.stepLabels
        input = compiled.input
        inputCount = compiled.inputCount
        outputs = compiled.outputs
        outputCounts = compiled.outputCounts
        buffers = plan.buffers
    }

    /// Runs the model on `input` (row-major, `inputShape`).
    public func invoke(input values: UnsafeBufferPointer<Float>) throws(ModelError) {
        guard values.count == inputCount, let base = values.baseAddress else {
            throw ModelError(source: modelName, "input has \(values.count) floats, the model expects \(inputCount) (shape \(inputShape))")
        }
        input.update(from: base, count: inputCount)
        for step in steps { step() }
    }

    /// Runs the model like `invoke`, timing each step: seconds by operator kind (after fusion,
    /// e.g. "conv 1x1 +prelu", "depthwise 3x3"), in first-seen order. For benchmarks.
    public func profile(input values: UnsafeBufferPointer<Float>) throws(ModelError) -> [(kind: String, seconds: Double)] {
        guard values.count == inputCount, let base = values.baseAddress else {
            throw ModelError(source: modelName, "input has \(values.count) floats, the model expects \(inputCount) (shape \(inputShape))")
        }
        input.update(from: base, count: inputCount)
        var order: [String] = [], totals: [String: UInt64] = [:]
        for (step, label) in zip(steps, stepLabels) {
            let t = DispatchTime.now().uptimeNanoseconds
            step()
            let dt = DispatchTime.now().uptimeNanoseconds - t
            if totals[label] == nil { order.append(label) }
            totals[label, default: 0] += dt
        }
        return order.map { ($0, Double(totals[$0]!) / 1e9) }
    }

    /// Output `index` of the last `invoke`; valid until the next one.
    public func output(_ index: Int) -> UnsafeBufferPointer<Float> {
        UnsafeBufferPointer(start: outputs[index], count: outputCounts[index])
    }

    /// Convenience for tests: runs once and copies every output.
    public func run(_ values: [Float]) throws(ModelError) -> [[Float]] {
        var failure: ModelError?
        values.withUnsafeBufferPointer { buffer in
            do throws(ModelError) { try invoke(input: buffer) } catch { failure = error }
        }
        if let failure { throw failure }
        return (0 ..< outputs.count).map { Array(output($0)) }
    }
}

/// The planned graph: nodes over tensor ids, constants already materialised.
struct GraphPlan {
    enum Kind {
        /// inputs: [x] or [x, residual]
        case conv(WindowGeometry, PackedMatrix, bias: UnsafeMutablePointer<Float>, lower: Float, upper: Float,
                  alpha: UnsafeMutablePointer<Float>?, residualChannels: Int)
        case depthwise(WindowGeometry, multiplier: Int, weights: UnsafeMutablePointer<Float>, bias: UnsafeMutablePointer<Float>,
                       lower: Float, upper: Float, zeroRow: UnsafeMutablePointer<Float>)
        /// A depthwise convolution fused into the 1x1 convolution that is its only reader.
        /// inputs: [x] or [x, residual]
        case separable(DepthwiseKernel, band: UnsafeMutablePointer<Float>, bandRows: Int, PackedMatrix,
                       bias: UnsafeMutablePointer<Float>, lower: Float, upper: Float,
                       alpha: UnsafeMutablePointer<Float>?, residualChannels: Int)
        case maxPool(MaxPoolKernel)
        case binary(BinaryKernel)
        case unary(UnaryKernel)
        case gather(GatherKernel)
        case pad(PadKernel)
        case concat(ConcatKernel)
        case reduce(inputShape: [Int], outputStrides: [Int], outputCount: Int, divisor: Double)
        /// inputs: [x]
        case layerNorm(LayerNormKernel)
    }

    struct Node {
        var kind: Kind
        var inputs: [Int]
        var output: Int
        let opIndex: Int
    }

    /// Limits for what a model may ask for: far above the face models (largest tensor
    /// 256x256x3, arena a few MB), far below what would exhaust memory.
    static let maxTensorFloats = 1 << 25
    static let maxArenaFloats = 1 << 26

    let model: TFLiteModel
    var nodes: [Node] = []
    /// Float constants by tensor id (weights, folded results).
    var constants: [Int: UnsafeMutablePointer<Float>] = [:]
    /// RESHAPE outputs share their input's storage.
    var alias: [Int: Int] = [:]
    /// Freed when the plan (or the interpreter it becomes) goes away, also after a failure.
    let buffers = BufferStore()
    var shapes: [[Int]]
    var im2colFloats = 0
    /// Which GEMM tiles the packed weights are laid out for.
    let kernelPath: KernelPath

    init(model: TFLiteModel, kernelPath: KernelPath = .preferred) throws(ModelError) {
        self.model = model
        self.kernelPath = kernelPath
        self.shapes = model.tensors.map(\.shape)
        guard model.inputIndices.count == 1 else {
            throw ModelError(source: model.name, "expected exactly one input tensor, found \(model.inputIndices.count)")
        }
        guard !model.outputIndices.isEmpty else { throw ModelError(source: model.name, "model has no outputs") }
        for t in model.inputIndices + model.outputIndices where model.tensors[t].type != .float32 {
            throw ModelError(source: model.name, "tensor '\(model.tensors[t].name)' has type \(model.tensors[t].type); only FLOAT32 inputs and outputs are supported")
        }
        for (index, op) in model.operators.enumerated() {
            try plan(op, index: index)
        }
        for t in model.outputIndices where producer(of: root(t)) == nil && constants[root(t)] == nil && !model.inputIndices.contains(root(t)) {
            throw ModelError(source: model.name, "output '\(model.tensors[t].name)' is never computed")
        }
    }

    func root(_ t: Int) -> Int {
        var t = t
        while let a = alias[t] { t = a }
        return t
    }

    func producer(of t: Int) -> Int? { nodes.firstIndex { $0.output == t } }

    func allocate(_ count: Int) -> UnsafeMutablePointer<Float> { buffers.floats(count) }
}

/// Zeroed, 64-byte aligned float buffers with 32 floats of slack after each (kernels
/// store and read whole vectors past the end, see `gemm`), freed together.
final class BufferStore {
    private var pointers: [UnsafeMutableRawPointer] = []

    func floats(_ count: Int) -> UnsafeMutablePointer<Float> {
        let capacity = max(count, 1) + 32
        let raw = UnsafeMutableRawPointer.allocate(byteCount: capacity * 4, alignment: 64)
        pointers.append(raw)
        let p = raw.bindMemory(to: Float.self, capacity: capacity)
        p.initialize(repeating: 0, count: capacity)
        return p
    }

    deinit {
        for p in pointers { p.deallocate() }
    }
}

/// NumPy/TFLite broadcasting of two shapes, or nil.
func broadcastShape(_ a: [Int], _ b: [Int]) -> [Int]? {
    let rank = max(a.count, b.count)
    var result: [Int] = []
    for i in 0 ..< rank {
        let x = i < rank - a.count ? 1 : a[i - (rank - a.count)]
        let y = i < rank - b.count ? 1 : b[i - (rank - b.count)]
        guard x == y || x == 1 || y == 1 else { return nil }
        result.append(x == 1 ? y : x)
    }
    return result
}

/// Strides of `shape` seen through `target` (0 on broadcast axes).
func broadcastStrides(_ shape: [Int], to target: [Int]) -> [Int] {
    let own = rowMajorStrides(shape)
    let lead = target.count - shape.count
    return target.indices.map { i in
        i < lead || shape[i - lead] == 1 ? 0 : own[i - lead]
    }
}

/// TFLite's strided-slice rule for one axis: first index and element count.
func stridedSliceAxis(dim: Int, begin: Int, end: Int, stride: Int, beginMasked: Bool, endMasked: Bool,
                      shrink: Bool, offset: Bool) -> (first: Int, count: Int) {
    func clamp(_ v: Int, _ lo: Int, _ hi: Int) -> Int { min(max(v, lo), hi) }
    var start: Int
    if beginMasked && !shrink {
        start = stride > 0 ? 0 : dim - 1
    } else {
        start = begin < 0 ? begin + dim : begin
        start = stride > 0 ? clamp(start, 0, dim) : clamp(start, -1, dim - 1)
    }
    var stop: Int
    if shrink {
        let s = begin < 0 ? begin + dim : begin
        guard s >= 0, s < dim else { return (0, 0) }
        return (s, 1)
    } else if endMasked {
        stop = stride > 0 ? dim : -1
    } else {
        // With `offset`, end counts from begin.
        var e = offset ? start + end : end
        if !offset, e < 0 { e += dim }
        stop = stride > 0 ? clamp(e, 0, dim) : clamp(e, -1, dim - 1)
    }
    let count = stride > 0 ? max(0, (stop - start + stride - 1) / stride) : max(0, (start - stop + (-stride) - 1) / (-stride))
    return (start, count)
}

/// IEEE half → single precision (exact).
func float16ToFloat(_ h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let exponent = Int(h >> 10) & 0x1F
    let mantissa = UInt32(h & 0x3FF)
    if exponent == 0 {
        // Zero or subnormal: mantissa * 2^-24.
        let v = Float(mantissa) * (1.0 / 16_777_216.0)
        return sign != 0 ? -v : v
    }
    if exponent == 31 {
        return Float(bitPattern: sign | 0x7F80_0000 | mantissa << 13)
    }
    return Float(bitPattern: sign | UInt32(exponent + 112) << 23 | mantissa << 13)
}

extension GraphPlan.Node {
    /// A short name for profiles: the operator, its window, and what was fused into it.
    var label: String {
        func window(_ g: WindowGeometry) -> String { "\(g.kH)x\(g.kW)" + (g.strideH > 1 ? "/\(g.strideH)" : "") }
        func fused(_ alpha: UnsafeMutablePointer<Float>?) -> String { (alpha != nil ? " +prelu" : "") + (inputs.count > 1 ? " +add" : "") }
        switch kind {
        case let .conv(g, _, _, _, _, alpha, _): return "conv \(window(g))" + fused(alpha)
        case let .depthwise(g, _, _, _, _, _, _): return "depthwise \(window(g))"
        case let .separable(_, _, _, _, _, _, _, alpha, _): return "depthwise+conv 1x1" + fused(alpha)
        case .maxPool: return "max pool"
        case let .binary(k): return "\(k.kind)"
        case let .unary(k): return "\(k.kind)"
        case .gather: return "gather"
        case .pad: return "pad"
        case .concat: return "concat"
        case .reduce: return "mean"
        case .layerNorm: return "layer norm"
        }
    }
}
