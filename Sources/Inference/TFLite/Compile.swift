extension GraphPlan {
    struct Compiled {
        var steps: [() -> Void]
        /// What each step computes, for per-operator profiles (`GraphPlan.Node.label`).
        var stepLabels: [String]
        var input: UnsafeMutablePointer<Float>
        var inputCount: Int
        var outputs: [UnsafeMutablePointer<Float>]
        var outputCounts: [Int]
    }

    /// Places every activation tensor in one arena (tensors whose lifetimes overlap never
    /// share bytes) and turns the nodes into prepared kernels.
    func compile() throws(ModelError) -> Compiled {
        let inputTensor = root(model.inputIndices[0])
        var first: [Int: Int] = [:], last: [Int: Int] = [:]
        if constants[inputTensor] == nil { first[inputTensor] = -1; last[inputTensor] = -1 }
        for (i, node) in nodes.enumerated() {
            first[node.output] = i
            last[node.output] = max(last[node.output] ?? i, i)
            for t in node.inputs.map(root) where constants[t] == nil { last[t] = i }
        }
        for t in model.outputIndices {
            let r = root(t)
            if constants[r] == nil { last[r] = nodes.count }
        }

        // Greedy placement, largest first, at the lowest offset free during the lifetime.
        let tensors = first.keys.sorted { a, b in
            let ca = shapes[a].reduce(1, *), cb = shapes[b].reduce(1, *)
            return ca != cb ? ca > cb : a < b
        }
        var placed: [(offset: Int, size: Int, first: Int, last: Int)] = []
        var offsets: [Int: Int] = [:]
        var arenaSize = 0
        for t in tensors {
            // 32 floats of slack: kernels store and read whole vectors past the end (see `gemm`).
            let size = (shapes[t].reduce(1, *) + 15) / 16 * 16 + 32
            let (f, l) = (first[t]!, last[t]!)
            let conflicts = placed.filter { $0.first <= l && f <= $0.last }.sorted { $0.offset < $1.offset }
            var offset = 0
            for c in conflicts {
                if offset + size <= c.offset { break }
                offset = max(offset, c.offset + c.size)
            }
            placed.append((offset, size, f, l))
            offsets[t] = offset
            arenaSize = max(arenaSize, offset + size)
        }

        // A hostile file can declare huge activations with consistent shapes; refuse instead
        // of letting the allocation fail.
        guard arenaSize <= GraphPlan.maxArenaFloats else {
            throw ModelError(source: model.name, "activations need \(arenaSize * 4 >> 20) MB, more than the \(GraphPlan.maxArenaFloats * 4 >> 20) MB limit")
        }
        let arena = allocate(arenaSize)
        var scratchFloats = im2colFloats
        for node in nodes { if case let .reduce(_, _, count, _) = node.kind { scratchFloats = max(scratchFloats, 2 * count) } }
        let scratch = allocate(scratchFloats)

        func pointer(_ t: Int) -> UnsafeMutablePointer<Float> {
            let r = root(t)
            if let c = constants[r] { return c }
            return arena + offsets[r]!
        }
        let steps = nodes.map { node in
            GraphPlan.kernel(node, inputs: node.inputs.map { UnsafePointer(pointer($0)) }, output: pointer(node.output), scratch: scratch)
        }
        return Compiled(steps: steps, stepLabels: nodes.map(\.label), input: pointer(inputTensor), inputCount: shapes[inputTensor].reduce(1, *),
                        outputs: model.outputIndices.map { pointer($0) },
                        outputCounts: model.outputIndices.map { shapes[$0].reduce(1, *) })
    }

    /// The prepared kernel of one node, bound to its buffers.
    static func kernel(_ node: Node, inputs: [UnsafePointer<Float>], output: UnsafeMutablePointer<Float>,
                       scratch: UnsafeMutablePointer<Float>) -> () -> Void {
        switch node.kind {
        case let .conv(g, packed, bias, lower, upper, alpha, residualChannels):
            var epilogue = Epilogue(bias: bias, lower: lower, upper: upper, alpha: alpha.map { UnsafePointer($0) })
            if inputs.count > 1 {
                epilogue.residual = inputs[1]
                epilogue.residualStride = residualChannels
                epilogue.residualChannels = residualChannels
            }
            let kernel = ConvolutionKernel(g: g, weights: packed, epilogue: epilogue,
                                           scratch: ConvolutionKernel.needsIm2col(g) ? scratch : nil)
            let x = inputs[0]
            return { kernel.run(input: x, output: output) }
        case let .depthwise(g, multiplier, weights, bias, lower, upper, zeroRow):
            let kernel = DepthwiseKernel(g: g, multiplier: multiplier, weights: weights, bias: bias, lower: lower, upper: upper,
                                         zeroRow: zeroRow)
            let x = inputs[0]
            return { kernel.run(input: x, output: output) }
        case let .separable(depthwise, band, bandRows, packed, bias, lower, upper, alpha, residualChannels):
            var epilogue = Epilogue(bias: bias, lower: lower, upper: upper, alpha: alpha.map { UnsafePointer($0) })
            if inputs.count > 1 {
                epilogue.residual = inputs[1]
                epilogue.residualStride = residualChannels
                epilogue.residualChannels = residualChannels
            }
            let kernel = SeparableKernel(depthwise: depthwise, weights: packed, epilogue: epilogue, band: band, bandRows: bandRows)
            let x = inputs[0]
            return { kernel.run(input: x, output: output) }
        case let .maxPool(kernel):
            let x = inputs[0]
            return { kernel.run(input: x, output: output) }
        case let .binary(kernel):
            let a = inputs[0], b = inputs[1]
            return { kernel.run(a, b, output) }
        case let .unary(kernel):
            let x = inputs[0]
            return { kernel.run(x, output) }
        case let .gather(kernel):
            let x = inputs[0]
            return { kernel.run(x, output) }
        case let .pad(kernel):
            let x = inputs[0]
            return { kernel.run(x, output) }
        case let .concat(kernel):
            return { kernel.run(inputs, output) }
        case let .reduce(shape, strides, count, divisor):
            let doubles = UnsafeMutableRawPointer(scratch).bindMemory(to: Double.self, capacity: count)
            let kernel = ReduceKernel(inputShape: shape, outputStrides: strides, outputCount: count, divisor: divisor, scratch: doubles)
            let x = inputs[0]
            return { kernel.run(x, output) }
        case let .layerNorm(kernel):
            let x = inputs[0]
            return { kernel.run(x, output) }
        }
    }

    /// Folds what TFLite runs after a convolution into its epilogue: a residual ADD (also
    /// through a channel-only PAD of the residual), then RELU/RELU6/RELU_N1_TO_1 or PRELU with
    /// per-channel slopes. A fused node takes the place of the last operator it absorbs, so
    /// every operand it reads is computed by then.
    mutating func fuse() {
        var slots: [Node?] = nodes
        let graphOutputs = Set(model.outputIndices.map(root))

        /// The only node reading `t`, if `t` has exactly one use and is not a graph output.
        func soleConsumer(_ t: Int) -> Int? {
            guard !graphOutputs.contains(t) else { return nil }
            var found: Int? = nil
            var uses = 0
            for (j, node) in slots.enumerated() {
                guard let node else { continue }
                for input in node.inputs where root(input) == t {
                    uses += 1
                    found = j
                }
            }
            return uses == 1 ? found : nil
        }

        for i in slots.indices {
            guard var node = slots[i], case .conv(let g, let packed, let bias, var lower, var upper, var alpha, var residualChannels) = node.kind else { continue }
            var position = i
            while let c = soleConsumer(node.output), let consumer = slots[c], shapes[consumer.output] == shapes[node.output] {
                let unbounded = lower == -.infinity && upper == .infinity && alpha == nil
                if case let .binary(k) = consumer.kind, k.kind == .add, node.inputs.count == 1, unbounded {
                    let other = consumer.inputs[0] == node.output ? consumer.inputs[1] : consumer.inputs[0]
                    guard consumer.inputs.contains(node.output), constants[root(other)] == nil, shapes[other] == shapes[node.output] else { break }
                    var residual = other
                    residualChannels = g.outC
                    // A PAD that only appends zero channels: read its input directly.
                    if let p = slots.indices.first(where: { slots[$0]?.output == root(other) }), let pad = slots[p],
                       case let .pad(kernel) = pad.kind, kernel.start == 0, soleConsumer(pad.output) == c,
                       shapes[pad.inputs[0]].dropLast() == shapes[other].dropLast() {
                        residual = pad.inputs[0]
                        residualChannels = shapes[residual].last ?? 0
                        slots[p] = nil
                    }
                    (lower, upper) = (k.lower, k.upper)
                    node.inputs.append(residual)
                } else if case let .unary(k) = consumer.kind, unbounded, [.relu, .relu6, .reluN1To1].contains(k.kind) {
                    (lower, upper) = k.kind == .relu ? (0, .infinity) : k.kind == .relu6 ? (0, 6) : (-1, 1)
                } else if case let .binary(k) = consumer.kind, k.kind == .prelu, unbounded, consumer.inputs[0] == node.output,
                          let slopes = constants[root(consumer.inputs[1])],
                          shapes[consumer.inputs[1]].reduce(1, *) == g.outC, shapes[consumer.inputs[1]].last == g.outC {
                    let padded = allocate(g.outC + 32)
                    padded.update(from: slopes, count: g.outC)
                    alpha = padded
                } else {
                    break
                }
                node.output = consumer.output
                node.kind = .conv(g, packed, bias: bias, lower: lower, upper: upper, alpha: alpha, residualChannels: residualChannels)
                slots[position] = nil
                slots[c] = node
                position = c
            }
        }
        // Depthwise convolutions whose only reader is a 1x1 convolution run inside it.
        for i in slots.indices {
            guard let node = slots[i], case let .conv(g, packed, bias, lower, upper, alpha, residualChannels) = node.kind,
                  !ConvolutionKernel.needsIm2col(g), g.kH == 1, g.kW == 1,
                  let p = slots.indices.first(where: { slots[$0]?.output == node.inputs[0] }), let producer = slots[p],
                  case let .depthwise(dg, multiplier, weights, dwBias, dwLower, dwUpper, zeroRow) = producer.kind,
                  soleConsumer(producer.output) == i else { continue }
            let depthwise = DepthwiseKernel(g: dg, multiplier: multiplier, weights: weights, bias: dwBias,
                                            lower: dwLower, upper: dwUpper, zeroRow: zeroRow)
            let rows = SeparableKernel.bandRows(outW: dg.outW, outH: dg.outH)
            let band = allocate(rows * dg.outW * dg.outC)
            var fused = node
            fused.kind = .separable(depthwise, band: band, bandRows: rows, packed, bias: bias, lower: lower, upper: upper,
                                    alpha: alpha, residualChannels: residualChannels)
            fused.inputs[0] = producer.inputs[0]
            slots[p] = nil
            slots[i] = fused
        }
        nodes = slots.compactMap { $0 }
    }
}
