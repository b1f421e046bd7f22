/// Runs one `TFLiteModel` on float32 tensors, single-threaded.
///
/// `init` plans the whole graph once: weights are dequantised (float16 → float32) and
/// packed, constant sub-graphs are folded, convolutions absorb their bias, residual ADD,
/// activation and PRELU, and every activation tensor gets a fixed place in one arena.
/// `invoke` then runs a list of prepared kernels and allocates nothing.
///
/// Not thread-safe: create one interpreter per model per worker thread.
public final class Interpreter {
    public let modelName: String
    public let inputShape: [Int]
    public let outputNames: [String]
    public let outputShapes: [[Int]]

    private let steps: [() -> Void]
    private let input: UnsafeMutablePointer<Float>
    private let inputCount: Int
    private let outputs: [UnsafeMutablePointer<Float>]
    private let outputCounts: [Int]
    /// Owns every buffer the steps point into.
    private let buffers: BufferStore

    public init(model: TFLiteModel) throws(ModelError) {
        var plan = try GraphPlan(model: model)
        plan.fuse()
        let compiled = try plan.compile()
        modelName = model.name
        inputShape = model.tensors[model.inputIndices[0]].shape
        outputNames = model.outputNames
        outputShapes = model.outputShapes
        steps = compiled.steps
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

    init(model: TFLiteModel) throws(ModelError) {
        self.model = model
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

    // MARK: planning one operator

    private mutating func plan(_ op: OperatorInfo, index: Int) throws(ModelError) {
        let name = op.opName
        func fail(_ message: String) -> ModelError {
            ModelError(source: model.name, "operator \(index) (\(name)): \(message)")
        }
        func input(_ i: Int) throws(ModelError) -> Int {
            guard i < op.inputs.count, op.inputs[i] >= 0 else { throw fail("missing input \(i)") }
            return op.inputs[i]
        }
        guard op.outputs.count == 1 else { throw fail("expected 1 output, found \(op.outputs.count)") }
        let out = op.outputs[0]
        guard producer(of: out) == nil, constants[out] == nil, alias[out] == nil,
              !model.inputIndices.contains(out), model.tensors[out].data == nil else {
            throw fail("output tensor \(out) is written twice or is constant")
        }
        guard shapes[out].reduce(1, *) <= GraphPlan.maxTensorFloats else {
            throw fail("output shape \(shapes[out]) exceeds the limit of \(GraphPlan.maxTensorFloats) elements per tensor")
        }
        guard model.tensors[out].type == .float32 else {
            throw fail("unsupported output tensor type \(model.tensors[out].type)")
        }
        /// A float tensor that exists at this point: computed, constant or the graph input.
        /// Returns the operator's own tensor id (its shape may differ from the storage's
        /// through a RESHAPE alias); storage is found through `root`.
        func float(_ i: Int) throws(ModelError) -> Int {
            let original = try input(i)
            let t = root(original)
            let info = model.tensors[t]
            if constants[t] != nil || producer(of: t) != nil || model.inputIndices.contains(t) { return original }
            if info.isConstant {
                guard info.type == .float32 else { throw fail("unsupported tensor type \(info.type) for input \(i) '\(info.name)'") }
                constants[t] = try readFloat32(t)
                return original
            }
            throw fail("input \(i) '\(info.name)' is used before it is computed")
        }
        func shape(_ t: Int) -> [Int] { shapes[t] }
        func count(_ t: Int) -> Int { shapes[t].reduce(1, *) }
        func checkOutput(_ expected: [Int]) throws(ModelError) {
            guard expected == shapes[out] else {
                throw fail("output shape \(shapes[out]) does not match the computed \(expected)")
            }
        }
        func constant(_ i: Int) throws(ModelError) -> UnsafeMutablePointer<Float> {
            let t = try float(i)
            guard let p = constants[root(t)] else { throw fail("input \(i) '\(model.tensors[t].name)' must be constant") }
            return p
        }
        func activationBounds(_ a: Activation) -> (Float, Float) { a.bounds }

        var kind: Kind
        var inputs: [Int]
        switch op.builtinCode {
        case BuiltinOperator.dequantize:
            let t = try input(0)
            let info = model.tensors[t]
            guard let data = info.data, info.type == .float16 else {
                throw fail("only constant FLOAT16 inputs are supported, found \(info.type)\(info.isConstant ? "" : " activation")")
            }
            try checkOutput(info.shape)
            let n = info.elementCount
            let p = allocate(n)
            let bytes = model.bytes
            for i in 0 ..< n {
                p[i] = float16ToFloat(UInt16(bytes[data.lowerBound + 2 * i]) | UInt16(bytes[data.lowerBound + 2 * i + 1]) << 8)
            }
            constants[out] = p
            return

        case BuiltinOperator.reshape:
            let x = try float(0)
            guard count(x) == count(out) else { throw fail("cannot reshape \(shape(x)) to \(shape(out))") }
            if let p = constants[root(x)] { constants[out] = p } else { alias[out] = root(x) }
            return

        case BuiltinOperator.conv2D, BuiltinOperator.depthwiseConv2D:
            let x = try float(0)
            let w = try constant(1)
            let wt = try input(1)
            let xs = shape(x), ws = shape(wt)
            guard xs.count == 4, ws.count == 4 else { throw fail("expected 4-D input and filter, found \(xs) and \(ws)") }
            let depthwise = op.builtinCode == BuiltinOperator.depthwiseConv2D
            let padding: Padding, sw: Int, sh: Int, dw: Int, dh: Int, act: Activation
            switch op.options {
            case let .conv(p, w_, h_, dw_, dh_, a):
                (padding, sw, sh, dw, dh, act) = (p, w_, h_, dw_, dh_, a)
            case let .depthwise(p, w_, h_, _, dw_, dh_, a):
                (padding, sw, sh, dw, dh, act) = (p, w_, h_, dw_, dh_, a)
            default: throw fail("missing options")
            }
            guard sw >= 1, sh >= 1, dw >= 1, dh >= 1, sw <= 64, sh <= 64, dw <= 64, dh <= 64 else {
                throw fail("invalid stride \(sw)x\(sh) or dilation \(dw)x\(dh)")
            }
            let outC = depthwise ? ws[3] : ws[0]
            let kH = ws[1], kW = ws[2]
            guard kH >= 1, kW >= 1, outC >= 1, xs[3] >= 1 else { throw fail("empty filter \(ws) or input \(xs)") }
            if depthwise {
                guard ws[0] == 1, outC % xs[3] == 0 else { throw fail("depthwise filter \(ws) does not fit input channels \(xs[3])") }
            } else {
                guard ws[3] == xs[3] else { throw fail("filter \(ws) expects \(ws[3]) input channels, input \(xs) has \(xs[3])") }
            }
            let (oh, pt) = WindowGeometry.outputAndPadding(input: xs[1], filter: kH, stride: sh, dilation: dh, padding: padding)
            let (ow, pl) = WindowGeometry.outputAndPadding(input: xs[2], filter: kW, stride: sw, dilation: dw, padding: padding)
            guard oh >= 1, ow >= 1 else { throw fail("filter \(ws) does not fit input \(xs)") }
            try checkOutput([xs[0], oh, ow, outC])
            let g = WindowGeometry(batch: xs[0], inH: xs[1], inW: xs[2], inC: xs[3], outH: oh, outW: ow, outC: outC,
                                   kH: kH, kW: kW, strideH: sh, strideW: sw, dilationH: dh, dilationW: dw, padTop: pt, padLeft: pl)
            let bias = allocate(outC + 32)
            if op.inputs.count > 2, op.inputs[2] >= 0 {
                let b = try constant(2)
                guard count(op.inputs[2]) == outC else { throw fail("bias has \(count(op.inputs[2])) values for \(outC) channels") }
                bias.update(from: b, count: outC)
            }
            let (lower, upper) = act.bounds
            if depthwise {
                // TFLite's [1][kH][kW][outC] layout is already what the kernel wants.
                let weights = allocate(kH * kW * outC + 8)
                weights.update(from: w, count: kH * kW * outC)
                kind = .depthwise(g, multiplier: outC / xs[3], weights: weights, bias: bias, lower: lower, upper: upper,
                                  zeroRow: allocate(g.inW * g.inC + 16))
            } else {
                let k = kH * kW * xs[3]
                let packed = PackedMatrix(k: k, n: outC, allocate: buffers.floats,
                                          element: { kk, nn in w[nn * k + kk] })
                if ConvolutionKernel.needsIm2col(g) { im2colFloats = max(im2colFloats, ConvolutionKernel.rowBlock * k) }
                kind = .conv(g, packed, bias: bias, lower: lower, upper: upper, alpha: nil, residualChannels: 0)
            }
            inputs = [x]

        case BuiltinOperator.maxPool2D:
            let x = try float(0)
            let xs = shape(x)
            guard xs.count == 4, case let .pool(padding, sw, sh, fw, fh, act) = op.options else { throw fail("expected 4-D input and pool options") }
            guard sw >= 1, sh >= 1, fw >= 1, fh >= 1, sw <= 64, sh <= 64, fw <= 64, fh <= 64 else {
                throw fail("invalid stride \(sw)x\(sh) or filter \(fw)x\(fh)")
            }
            let (oh, pt) = WindowGeometry.outputAndPadding(input: xs[1], filter: fh, stride: sh, dilation: 1, padding: padding)
            let (ow, pl) = WindowGeometry.outputAndPadding(input: xs[2], filter: fw, stride: sw, dilation: 1, padding: padding)
            guard oh >= 1, ow >= 1 else { throw fail("window \(fh)x\(fw) does not fit input \(xs)") }
            try checkOutput([xs[0], oh, ow, xs[3]])
            let g = WindowGeometry(batch: xs[0], inH: xs[1], inW: xs[2], inC: xs[3], outH: oh, outW: ow, outC: xs[3],
                                   kH: fh, kW: fw, strideH: sh, strideW: sw, dilationH: 1, dilationW: 1, padTop: pt, padLeft: pl)
            kind = .maxPool(MaxPoolKernel(g: g, lower: act.bounds.lower, upper: act.bounds.upper))
            inputs = [x]

        case BuiltinOperator.add, BuiltinOperator.sub, BuiltinOperator.mul, BuiltinOperator.div,
             BuiltinOperator.squaredDifference, BuiltinOperator.prelu:
            let a = try float(0), b = try float(1)
            let binary: BinaryKind = switch op.builtinCode {
            case BuiltinOperator.add: .add
            case BuiltinOperator.sub: .sub
            case BuiltinOperator.mul: .mul
            case BuiltinOperator.div: .div
            case BuiltinOperator.prelu: .prelu
            default: .squaredDifference
            }
            var act = Activation.none
            if case let .activation(a) = op.options { act = a }
            guard let outShape = broadcastShape(shape(a), shape(b)) else {
                throw fail("shapes \(shape(a)) and \(shape(b)) do not broadcast")
            }
            try checkOutput(outShape)
            kind = .binary(BinaryKernel(kind: binary, shape: outShape, aStrides: broadcastStrides(shape(a), to: outShape),
                                        bStrides: broadcastStrides(shape(b), to: outShape),
                                        lower: act.bounds.lower, upper: act.bounds.upper))
            inputs = [a, b]

        case BuiltinOperator.neg, BuiltinOperator.relu, BuiltinOperator.relu6, BuiltinOperator.reluN1To1,
             BuiltinOperator.logistic, BuiltinOperator.sqrt, BuiltinOperator.rsqrt:
            let x = try float(0)
            try checkOutput(shape(x))
            let unary: UnaryKind = switch op.builtinCode {
            case BuiltinOperator.neg: .neg
            case BuiltinOperator.relu: .relu
            case BuiltinOperator.relu6: .relu6
            case BuiltinOperator.reluN1To1: .reluN1To1
            case BuiltinOperator.logistic: .logistic
            case BuiltinOperator.sqrt: .sqrt
            default: .rsqrt
            }
            kind = .unary(UnaryKernel(kind: unary, count: count(x)))
            inputs = [x]

        case BuiltinOperator.pad:
            let x = try float(0)
            let xs = shape(x)
            let paddings = try ints(try input(1), fail)
            guard paddings.count == 2 * xs.count, paddings.allSatisfy({ $0 >= 0 && $0 <= 1 << 16 }) else {
                throw fail("paddings \(paddings) do not fit rank \(xs.count) with non-negative values")
            }
            let outShape = xs.indices.map { xs[$0] + paddings[2 * $0] + paddings[2 * $0 + 1] }
            try checkOutput(outShape)
            let strides = rowMajorStrides(outShape)
            let start = xs.indices.reduce(0) { $0 + paddings[2 * $1] * strides[$1] }
            kind = .pad(PadKernel(inputShape: xs, outputStrides: strides, start: start, outputCount: count(out)))
            inputs = [x]

        case BuiltinOperator.concatenation:
            guard case let .concatenation(axisOption, act) = op.options, act == .none else { throw fail("fused activations on CONCATENATION are not supported") }
            guard !op.inputs.isEmpty else { throw fail("no inputs") }
            var ids: [Int] = []
            for i in op.inputs.indices { ids.append(try float(i)) }
            let rank = shape(out).count
            let axis = axisOption < 0 ? axisOption + rank : axisOption
            guard axis >= 0, axis < rank else { throw fail("axis \(axisOption) is out of range for rank \(rank)") }
            var outShape = shape(ids[0])
            guard outShape.count == rank else { throw fail("input rank \(outShape.count) differs from output rank \(rank)") }
            outShape[axis] = 0
            for t in ids {
                var s = shape(t)
                guard s.count == rank else { throw fail("inputs have different ranks") }
                outShape[axis] += s[axis]
                s[axis] = outShape[axis]
                guard s == outShape else { throw fail("input shape \(shape(t)) does not match \(outShape) off axis \(axis)") }
            }
            try checkOutput(outShape)
            let outer = outShape[..<axis].reduce(1, *)
            kind = .concat(ConcatKernel(outer: outer, inner: ids.map { shape($0)[axis...].reduce(1, *) }))
            inputs = ids

        case BuiltinOperator.transpose:
            let x = try float(0)
            let xs = shape(x)
            let perm = try ints(try input(1), fail)
            guard perm.count == xs.count, Set(perm) == Set(0 ..< xs.count) else { throw fail("permutation \(perm) does not fit rank \(xs.count)") }
            let outShape = perm.map { xs[$0] }
            try checkOutput(outShape)
            let s = rowMajorStrides(xs)
            kind = .gather(GatherKernel(shape: outShape, inputStrides: perm.map { s[$0] }, start: 0))
            inputs = [x]

        case BuiltinOperator.stridedSlice:
            let x = try float(0)
            let xs = shape(x)
            guard case let .stridedSlice(beginMask, endMask, ellipsisMask, newAxisMask, shrinkMask, offset) = op.options else { throw fail("missing options") }
            guard ellipsisMask == 0, newAxisMask == 0 else { throw fail("ellipsis_mask and new_axis_mask are not supported") }
            let begin = try ints(try input(1), fail), end = try ints(try input(2), fail), strides = try ints(try input(3), fail)
            guard begin.count == xs.count, end.count == xs.count, strides.count == xs.count else {
                throw fail("begin/end/strides lengths \(begin.count)/\(end.count)/\(strides.count) differ from rank \(xs.count)")
            }
            let inStrides = rowMajorStrides(xs)
            var start = 0
            var sliceShape: [Int] = [], sliceStrides: [Int] = [], outShape: [Int] = []
            for d in xs.indices {
                let dim = xs[d], step = strides[d]
                guard step != 0 else { throw fail("stride 0 on axis \(d)") }
                let (first, count) = stridedSliceAxis(dim: dim, begin: begin[d], end: end[d], stride: step,
                                                      beginMasked: beginMask & (1 << d) != 0, endMasked: endMask & (1 << d) != 0,
                                                      shrink: shrinkMask & (1 << d) != 0, offset: offset)
                if shrinkMask & (1 << d) != 0 {
                    guard count == 1 else { throw fail("shrunk axis \(d) index \(begin[d]) is out of range for size \(dim)") }
                } else {
                    outShape.append(count)
                }
                start += first * inStrides[d]
                sliceShape.append(count)
                sliceStrides.append(step * inStrides[d])
            }
            try checkOutput(outShape)
            kind = .gather(GatherKernel(shape: sliceShape, inputStrides: sliceStrides, start: sliceShape.contains(0) ? 0 : start))
            inputs = [x]

        case BuiltinOperator.mean, BuiltinOperator.sum:
            let x = try float(0)
            let xs = shape(x)
            guard case let .reducer(keepDims) = op.options else { throw fail("missing options") }
            var axes = Set<Int>()
            for a in try ints(try input(1), fail) {
                let axis = a < 0 ? a + xs.count : a
                guard axis >= 0, axis < xs.count else { throw fail("axis \(a) is out of range for rank \(xs.count)") }
                axes.insert(axis)
            }
            let kept = xs.indices.map { axes.contains($0) ? 1 : xs[$0] }
            let outShape = keepDims ? kept : xs.indices.filter { !axes.contains($0) }.map { xs[$0] }
            try checkOutput(outShape)
            let ks = rowMajorStrides(kept)
            let reduced = axes.reduce(1) { $0 * xs[$1] }
            kind = .reduce(inputShape: xs, outputStrides: xs.indices.map { axes.contains($0) ? 0 : ks[$0] },
                           outputCount: kept.reduce(1, *),
                           divisor: op.builtinCode == BuiltinOperator.mean ? Double(max(reduced, 1)) : 1)
            inputs = [x]

        default:
            throw ModelError(source: model.name, "operator \(index) (\(name)) is not supported by this interpreter")
        }

        let node = Node(kind: kind, inputs: inputs, output: out, opIndex: index)
        if inputs.allSatisfy({ constants[root($0)] != nil }) {
            // Constant sub-graph: evaluate once now.
            let result = allocate(count(out))
            let pointers = inputs.map { UnsafePointer(constants[root($0)]!) }
            let scratch = allocate(max(im2colFloats, count(out)) * 2)
            GraphPlan.kernel(node, inputs: pointers, output: result, scratch: scratch)()
            constants[out] = result
        } else {
            nodes.append(node)
        }
    }

    /// Copies a constant FLOAT32 tensor out of the model bytes.
    private mutating func readFloat32(_ t: Int) throws(ModelError) -> UnsafeMutablePointer<Float> {
        let info = model.tensors[t]
        guard let data = info.data else { throw ModelError(source: model.name, "tensor '\(info.name)' has no data") }
        let p = allocate(info.elementCount)
        model.bytes.withUnsafeBytes { raw in
            for i in 0 ..< info.elementCount {
                p[i] = Float(bitPattern: raw.loadUnaligned(fromByteOffset: data.lowerBound + 4 * i, as: UInt32.self).littleEndian)
            }
        }
        return p
    }

    /// Integer constant (INT32 or INT64), e.g. paddings, axes, permutations.
    private func ints(_ t: Int, _ fail: (String) -> ModelError) throws(ModelError) -> [Int] {
        let info = model.tensors[root(t)]
        guard let data = info.data ?? (info.elementCount == 0 ? 0 ..< 0 : nil) else {
            throw fail("tensor '\(info.name)' must be a constant integer tensor")
        }
        let b = model.bytes
        switch info.type {
        case .int32:
            return (0 ..< info.elementCount).map { i in
                let p = data.lowerBound + 4 * i
                return Int(Int32(bitPattern: UInt32(b[p]) | UInt32(b[p + 1]) << 8 | UInt32(b[p + 2]) << 16 | UInt32(b[p + 3]) << 24))
            }
        case .int64:
            return (0 ..< info.elementCount).map { i in
                var v: UInt64 = 0
                for j in 0 ..< 8 { v |= UInt64(b[data.lowerBound + 8 * i + j]) << (8 * UInt64(j)) }
                return Int(truncatingIfNeeded: Int64(bitPattern: v))
            }
        default:
            throw fail("tensor '\(info.name)' has type \(info.type), expected INT32 or INT64")
        }
    }
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
