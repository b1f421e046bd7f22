/// Planning: how each TFLite operator becomes a node of the `GraphPlan` (or a constant, or
/// an alias), one function per operator. Fusion (`fuse`) and code generation (`compile`)
/// come after, in Compile.swift.

/// The operator being planned: its inputs, its one output, and how errors name it.
struct OperatorSite {
    let op: OperatorInfo
    let index: Int
    let modelName: String

    var out: Int { op.outputs[0] }

    func fail(_ message: String) -> ModelError {
        ModelError(source: modelName, "operator \(index) (\(op.opName)): \(message)")
    }

    func input(_ i: Int) throws(ModelError) -> Int {
        guard i < op.inputs.count, op.inputs[i] >= 0 else { throw fail("missing input \(i)") }
        return op.inputs[i]
    }
}

extension GraphPlan {
    /// What an operator becomes: a kernel and the tensors it reads. `nil` when planning
    /// already produced the output (a constant or an alias).
    typealias PlannedNode = (kind: Kind, inputs: [Int])

    mutating func plan(_ op: OperatorInfo, index: Int) throws(ModelError) {
        let site = OperatorSite(op: op, index: index, modelName: model.name)
        guard op.outputs.count == 1 else { throw site.fail("expected 1 output, found \(op.outputs.count)") }
        let out = site.out
        guard producer(of: out) == nil, constants[out] == nil, alias[out] == nil,
              !model.inputIndices.contains(out), model.tensors[out].data == nil else {
            throw site.fail("output tensor \(out) is written twice or is constant")
        }
        guard shapes[out].reduce(1, *) <= GraphPlan.maxTensorFloats else {
            throw site.fail("output shape \(shapes[out]) exceeds the limit of \(GraphPlan.maxTensorFloats) elements per tensor")
        }
        guard model.tensors[out].type == .float32 else {
            throw site.fail("unsupported output tensor type \(model.tensors[out].type)")
        }
        let planned: PlannedNode?
        switch op.builtinCode {
        case BuiltinOperator.dequantize:
            planned = try planDequantize(site)
        case BuiltinOperator.reshape:
            planned = try planReshape(site)
        case BuiltinOperator.conv2D, BuiltinOperator.depthwiseConv2D:
            planned = try planConvolution(site)
        case BuiltinOperator.maxPool2D:
            planned = try planMaxPool(site)
        case BuiltinOperator.add, BuiltinOperator.sub, BuiltinOperator.mul, BuiltinOperator.div,
             BuiltinOperator.squaredDifference, BuiltinOperator.prelu:
            planned = try planBinary(site)
        case BuiltinOperator.neg, BuiltinOperator.relu, BuiltinOperator.relu6, BuiltinOperator.reluN1To1,
             BuiltinOperator.logistic, BuiltinOperator.sqrt, BuiltinOperator.rsqrt:
            planned = try planUnary(site)
        case BuiltinOperator.pad:
            planned = try planPad(site)
        case BuiltinOperator.concatenation:
            planned = try planConcatenation(site)
        case BuiltinOperator.transpose:
            planned = try planTranspose(site)
        case BuiltinOperator.stridedSlice:
            planned = try planStridedSlice(site)
        case BuiltinOperator.mean, BuiltinOperator.sum:
            planned = try planReduce(site)
        default:
            throw ModelError(source: model.name, "operator \(index) (\(op.opName)) is not supported by this interpreter")
        }
        guard let planned else { return }
        let inputs = planned.inputs

        let node = Node(kind: planned.kind, inputs: inputs, output: out, opIndex: index)
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

    // MARK: one function per operator

    /// FLOAT16 constant → FLOAT32 constant, folded now.
    private mutating func planDequantize(_ s: OperatorSite) throws(ModelError) -> PlannedNode? {
        let t = try s.input(0)
        let info = model.tensors[t]
        guard let data = info.data, info.type == .float16 else {
            throw s.fail("only constant FLOAT16 inputs are supported, found \(info.type)\(info.isConstant ? "" : " activation")")
        }
        try checkOutput(s, info.shape)
        let n = info.elementCount
        let p = allocate(n)
        let bytes = model.bytes
        for i in 0 ..< n {
            p[i] = float16ToFloat(UInt16(bytes[data.lowerBound + 2 * i]) | UInt16(bytes[data.lowerBound + 2 * i + 1]) << 8)
        }
        constants[s.out] = p
        return nil
    }

    /// Same storage, new shape: an alias (or the same constant).
    private mutating func planReshape(_ s: OperatorSite) throws(ModelError) -> PlannedNode? {
        let x = try float(0, s)
        guard count(x) == count(s.out) else { throw s.fail("cannot reshape \(shape(x)) to \(shape(s.out))") }
        if let p = constants[root(x)] { constants[s.out] = p } else { alias[s.out] = root(x) }
        return nil
    }

    /// CONV_2D and DEPTHWISE_CONV_2D: geometry, bias, and weights packed for the GEMM (or kept for the depthwise kernel).
    private mutating func planConvolution(_ s: OperatorSite) throws(ModelError) -> PlannedNode? {
        let x = try float(0, s)
        let w = try constant(1, s)
        let wt = try s.input(1)
        let xs = shape(x), ws = shape(wt)
        guard xs.count == 4, ws.count == 4 else { throw s.fail("expected 4-D input and filter, found \(xs) and \(ws)") }
        let depthwise = s.op.builtinCode == BuiltinOperator.depthwiseConv2D
        let padding: Padding, sw: Int, sh: Int, dw: Int, dh: Int, act: Activation
        switch s.op.options {
        case let .conv(p, w_, h_, dw_, dh_, a):
            (padding, sw, sh, dw, dh, act) = (p, w_, h_, dw_, dh_, a)
        case let .depthwise(p, w_, h_, _, dw_, dh_, a):
            (padding, sw, sh, dw, dh, act) = (p, w_, h_, dw_, dh_, a)
        default: throw s.fail("missing options")
        }
        guard sw >= 1, sh >= 1, dw >= 1, dh >= 1, sw <= 64, sh <= 64, dw <= 64, dh <= 64 else {
            throw s.fail("invalid stride \(sw)x\(sh) or dilation \(dw)x\(dh)")
        }
        let outC = depthwise ? ws[3] : ws[0]
        let kH = ws[1], kW = ws[2]
        guard kH >= 1, kW >= 1, outC >= 1, xs[3] >= 1 else { throw s.fail("empty filter \(ws) or input \(xs)") }
        if depthwise {
            guard ws[0] == 1, outC % xs[3] == 0 else { throw s.fail("depthwise filter \(ws) does not fit input channels \(xs[3])") }
        } else {
            guard ws[3] == xs[3] else { throw s.fail("filter \(ws) expects \(ws[3]) input channels, input \(xs) has \(xs[3])") }
        }
        let (oh, pt) = WindowGeometry.outputAndPadding(input: xs[1], filter: kH, stride: sh, dilation: dh, padding: padding)
        let (ow, pl) = WindowGeometry.outputAndPadding(input: xs[2], filter: kW, stride: sw, dilation: dw, padding: padding)
        guard oh >= 1, ow >= 1 else { throw s.fail("filter \(ws) does not fit input \(xs)") }
        try checkOutput(s, [xs[0], oh, ow, outC])
        let g = WindowGeometry(batch: xs[0], inH: xs[1], inW: xs[2], inC: xs[3], outH: oh, outW: ow, outC: outC,
                               kH: kH, kW: kW, strideH: sh, strideW: sw, dilationH: dh, dilationW: dw, padTop: pt, padLeft: pl)
        let bias = allocate(outC + 32)
        if s.op.inputs.count > 2, s.op.inputs[2] >= 0 {
            let b = try constant(2, s)
            guard count(s.op.inputs[2]) == outC else { throw s.fail("bias has \(count(s.op.inputs[2])) values for \(outC) channels") }
            bias.update(from: b, count: outC)
        }
        let (lower, upper) = act.bounds
        let kind: Kind
        if depthwise {
            // TFLite's [1][kH][kW][outC] layout is already what the kernel wants.
            let weights = allocate(kH * kW * outC + 8)
            weights.update(from: w, count: kH * kW * outC)
            kind = .depthwise(g, multiplier: outC / xs[3], weights: weights, bias: bias, lower: lower, upper: upper,
                              zeroRow: allocate(g.inW * g.inC + 16))
        } else {
            let k = kH * kW * xs[3]
            let packed = PackedMatrix(k: k, n: outC, wide: kernelPath == .avx512, oneRow: g.batch * oh * ow == 1,
                                      allocate: buffers.floats,
                                      element: { kk, nn in w[nn * k + kk] })
            if ConvolutionKernel.needsIm2col(g) { im2colFloats = max(im2colFloats, ConvolutionKernel.rowBlock * k) }
            kind = .conv(g, packed, bias: bias, lower: lower, upper: upper, alpha: nil, residualChannels: 0)
        }
        return (kind, [x])
    }

    /// MAX_POOL_2D.
    private mutating func planMaxPool(_ s: OperatorSite) throws(ModelError) -> PlannedNode? {
        let x = try float(0, s)
        let xs = shape(x)
        guard xs.count == 4, case let .pool(padding, sw, sh, fw, fh, act) = s.op.options else { throw s.fail("expected 4-D input and pool options") }
        guard sw >= 1, sh >= 1, fw >= 1, fh >= 1, sw <= 64, sh <= 64, fw <= 64, fh <= 64 else {
            throw s.fail("invalid stride \(sw)x\(sh) or filter \(fw)x\(fh)")
        }
        let (oh, pt) = WindowGeometry.outputAndPadding(input: xs[1], filter: fh, stride: sh, dilation: 1, padding: padding)
        let (ow, pl) = WindowGeometry.outputAndPadding(input: xs[2], filter: fw, stride: sw, dilation: 1, padding: padding)
        guard oh >= 1, ow >= 1 else { throw s.fail("window \(fh)x\(fw) does not fit input \(xs)") }
        try checkOutput(s, [xs[0], oh, ow, xs[3]])
        let g = WindowGeometry(batch: xs[0], inH: xs[1], inW: xs[2], inC: xs[3], outH: oh, outW: ow, outC: xs[3],
                               kH: fh, kW: fw, strideH: sh, strideW: sw, dilationH: 1, dilationW: 1, padTop: pt, padLeft: pl)
        let kind: Kind = .maxPool(MaxPoolKernel(g: g, lower: act.bounds.lower, upper: act.bounds.upper))
        return (kind, [x])
    }

    /// ADD, SUB, MUL, DIV, SQUARED_DIFFERENCE and PRELU with broadcasting.
    private mutating func planBinary(_ s: OperatorSite) throws(ModelError) -> PlannedNode? {
        let a = try float(0, s), b = try float(1, s)
        let binary: BinaryKind = switch s.op.builtinCode {
        case BuiltinOperator.add: .add
        case BuiltinOperator.sub: .sub
        case BuiltinOperator.mul: .mul
        case BuiltinOperator.div: .div
        case BuiltinOperator.prelu: .prelu
        default: .squaredDifference
        }
        var act = Activation.none
        if case let .activation(a) = s.op.options { act = a }
        guard let outShape = broadcastShape(shape(a), shape(b)) else {
            throw s.fail("shapes \(shape(a)) and \(shape(b)) do not broadcast")
        }
        try checkOutput(s, outShape)
        let kind: Kind = .binary(BinaryKernel(kind: binary, shape: outShape, aStrides: broadcastStrides(shape(a), to: outShape),
                                              bStrides: broadcastStrides(shape(b), to: outShape),
                                              lower: act.bounds.lower, upper: act.bounds.upper))
        return (kind, [a, b])
    }

    /// NEG, RELU, RELU6, RELU_N1_TO_1, LOGISTIC, SQRT, RSQRT.
    private mutating func planUnary(_ s: OperatorSite) throws(ModelError) -> PlannedNode? {
        let x = try float(0, s)
        try checkOutput(s, shape(x))
        let unary: UnaryKind = switch s.op.builtinCode {
        case BuiltinOperator.neg: .neg
        case BuiltinOperator.relu: .relu
        case BuiltinOperator.relu6: .relu6
        case BuiltinOperator.reluN1To1: .reluN1To1
        case BuiltinOperator.logistic: .logistic
        case BuiltinOperator.sqrt: .sqrt
        default: .rsqrt
        }
        let kind: Kind = .unary(UnaryKernel(kind: unary, count: count(x)))
        return (kind, [x])
    }

    /// PAD with constant zero.
    private mutating func planPad(_ s: OperatorSite) throws(ModelError) -> PlannedNode? {
        let x = try float(0, s)
        let xs = shape(x)
        let paddings = try ints(try s.input(1), s)
        guard paddings.count == 2 * xs.count, paddings.allSatisfy({ $0 >= 0 && $0 <= 1 << 16 }) else {
            throw s.fail("paddings \(paddings) do not fit rank \(xs.count) with non-negative values")
        }
        let outShape = xs.indices.map { xs[$0] + paddings[2 * $0] + paddings[2 * $0 + 1] }
        try checkOutput(s, outShape)
        let strides = rowMajorStrides(outShape)
        let start = xs.indices.reduce(0) { $0 + paddings[2 * $1] * strides[$1] }
        let kind: Kind = .pad(PadKernel(inputShape: xs, outputStrides: strides, start: start, outputCount: count(s.out)))
        return (kind, [x])
    }

    /// CONCATENATION along one axis, without fused activation.
    private mutating func planConcatenation(_ s: OperatorSite) throws(ModelError) -> PlannedNode? {
        guard case let .concatenation(axisOption, act) = s.op.options, act == .none else { throw s.fail("fused activations on CONCATENATION are not supported") }
        guard !s.op.inputs.isEmpty else { throw s.fail("no inputs") }
        var ids: [Int] = []
        for i in s.op.inputs.indices { ids.append(try float(i, s)) }
        let rank = shape(s.out).count
        let axis = axisOption < 0 ? axisOption + rank : axisOption
        guard axis >= 0, axis < rank else { throw s.fail("axis \(axisOption) is out of range for rank \(rank)") }
        var outShape = shape(ids[0])
        guard outShape.count == rank else { throw s.fail("input rank \(outShape.count) differs from output rank \(rank)") }
        outShape[axis] = 0
        for t in ids {
            var inputShape = shape(t)
            guard inputShape.count == rank else { throw s.fail("inputs have different ranks") }
            outShape[axis] += inputShape[axis]
            inputShape[axis] = outShape[axis]
            guard inputShape == outShape else { throw s.fail("input shape \(shape(t)) does not match \(outShape) off axis \(axis)") }
        }
        try checkOutput(s, outShape)
        let outer = outShape[..<axis].reduce(1, *)
        let kind: Kind = .concat(ConcatKernel(outer: outer, inner: ids.map { shape($0)[axis...].reduce(1, *) }))
        return (kind, ids)
    }

    /// TRANSPOSE as a strided gather.
    private mutating func planTranspose(_ s: OperatorSite) throws(ModelError) -> PlannedNode? {
        let x = try float(0, s)
        let xs = shape(x)
        let perm = try ints(try s.input(1), s)
        guard perm.count == xs.count, Set(perm) == Set(0 ..< xs.count) else { throw s.fail("permutation \(perm) does not fit rank \(xs.count)") }
        let outShape = perm.map { xs[$0] }
        try checkOutput(s, outShape)
        let inputStrides = rowMajorStrides(xs)
        let kind: Kind = .gather(GatherKernel(shape: outShape, inputStrides: perm.map { inputStrides[$0] }, start: 0))
        return (kind, [x])
    }

    /// STRIDED_SLICE as a strided gather.
    private mutating func planStridedSlice(_ s: OperatorSite) throws(ModelError) -> PlannedNode? {
        let x = try float(0, s)
        let xs = shape(x)
        guard case let .stridedSlice(beginMask, endMask, ellipsisMask, newAxisMask, shrinkMask, offset) = s.op.options else { throw s.fail("missing options") }
        guard ellipsisMask == 0, newAxisMask == 0 else { throw s.fail("ellipsis_mask and new_axis_mask are not supported") }
        let begin = try ints(try s.input(1), s), end = try ints(try s.input(2), s), strides = try ints(try s.input(3), s)
        guard begin.count == xs.count, end.count == xs.count, strides.count == xs.count else {
            throw s.fail("begin/end/strides lengths \(begin.count)/\(end.count)/\(strides.count) differ from rank \(xs.count)")
        }
        let inStrides = rowMajorStrides(xs)
        var start = 0
        var sliceShape: [Int] = [], sliceStrides: [Int] = [], outShape: [Int] = []
        for d in xs.indices {
            let dim = xs[d], step = strides[d]
            guard step != 0 else { throw s.fail("stride 0 on axis \(d)") }
            let (first, count) = stridedSliceAxis(dim: dim, begin: begin[d], end: end[d], stride: step,
                                                  beginMasked: beginMask & (1 << d) != 0, endMasked: endMask & (1 << d) != 0,
                                                  shrink: shrinkMask & (1 << d) != 0, offset: offset)
            if shrinkMask & (1 << d) != 0 {
                guard count == 1 else { throw s.fail("shrunk axis \(d) index \(begin[d]) is out of range for size \(dim)") }
            } else {
                outShape.append(count)
            }
            start += first * inStrides[d]
            sliceShape.append(count)
            sliceStrides.append(step * inStrides[d])
        }
        try checkOutput(s, outShape)
        let kind: Kind = .gather(GatherKernel(shape: sliceShape, inputStrides: sliceStrides, start: sliceShape.contains(0) ? 0 : start))
        return (kind, [x])
    }

    /// MEAN and SUM over constant axes.
    private mutating func planReduce(_ s: OperatorSite) throws(ModelError) -> PlannedNode? {
        let x = try float(0, s)
        let xs = shape(x)
        guard case let .reducer(keepDims) = s.op.options else { throw s.fail("missing options") }
        var axes = Set<Int>()
        for a in try ints(try s.input(1), s) {
            let axis = a < 0 ? a + xs.count : a
            guard axis >= 0, axis < xs.count else { throw s.fail("axis \(a) is out of range for rank \(xs.count)") }
            axes.insert(axis)
        }
        let kept = xs.indices.map { axes.contains($0) ? 1 : xs[$0] }
        let outShape = keepDims ? kept : xs.indices.filter { !axes.contains($0) }.map { xs[$0] }
        try checkOutput(s, outShape)
        let ks = rowMajorStrides(kept)
        let reduced = axes.reduce(1) { $0 * xs[$1] }
        let kind: Kind = .reduce(inputShape: xs, outputStrides: xs.indices.map { axes.contains($0) ? 0 : ks[$0] },
                                 outputCount: kept.reduce(1, *),
                                 divisor: s.op.builtinCode == BuiltinOperator.mean ? Double(max(reduced, 1)) : 1)
        return (kind, [x])
    }

    // MARK: operands

    /// A float tensor that exists at this point: computed, constant or the graph input.
    /// Returns the operator's own tensor id (its shape may differ from the storage's
    /// through a RESHAPE alias); storage is found through `root`.
    private mutating func float(_ i: Int, _ s: OperatorSite) throws(ModelError) -> Int {
        let original = try s.input(i)
        let t = root(original)
        let info = model.tensors[t]
        if constants[t] != nil || producer(of: t) != nil || model.inputIndices.contains(t) { return original }
        if info.isConstant {
            guard info.type == .float32 else { throw s.fail("unsupported tensor type \(info.type) for input \(i) '\(info.name)'") }
            constants[t] = try readFloat32(t)
            return original
        }
        throw s.fail("input \(i) '\(info.name)' is used before it is computed")
    }

    private mutating func constant(_ i: Int, _ s: OperatorSite) throws(ModelError) -> UnsafeMutablePointer<Float> {
        let t = try float(i, s)
        guard let p = constants[root(t)] else { throw s.fail("input \(i) '\(model.tensors[t].name)' must be constant") }
        return p
    }

    private func checkOutput(_ s: OperatorSite, _ expected: [Int]) throws(ModelError) {
        guard expected == shapes[s.out] else {
            throw s.fail("output shape \(shapes[s.out]) does not match the computed \(expected)")
        }
    }

    private func shape(_ t: Int) -> [Int] { shapes[t] }
    private func count(_ t: Int) -> Int { shapes[t].reduce(1, *) }

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
    private func ints(_ t: Int, _ s: OperatorSite) throws(ModelError) -> [Int] {
        let info = model.tensors[root(t)]
        guard let data = info.data ?? (info.elementCount == 0 ? 0 ..< 0 : nil) else {
            throw s.fail("tensor '\(info.name)' must be a constant integer tensor")
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
            throw s.fail("tensor '\(info.name)' has type \(info.type), expected INT32 or INT64")
        }
    }
}

