/// A layer norm over each row's `columns` values with a per-column scale and no offset, as
/// the blendshape model's MLP-Mixer is written in TFLite: ten operators (MEAN, NEG,
/// SQUARED_DIFFERENCE, MEAN, ADD ε, RSQRT, MUL γ, MUL, MUL, ADD) become one pass over eight
/// rows at a time. Every value is the same IEEE operation on the same operands as in the
/// operator it replaces (sums in float64 in column order, like `ReduceKernel`; products and
/// sums in float32, unfused), so the output keeps its bits.
struct LayerNormKernel {
    let rows: Int
    let columns: Int
    let meanDivisor: Double
    let varianceDivisor: Double
    let epsilon: Float
    /// `columns` scales (γ).
    let gamma: UnsafePointer<Float>

    func run(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>) {
        let n = columns
        var r = 0
        while r + 8 <= rows {
            let p = x + r * n
            // One row per lane: eight chains of adds overlap, each in the scalar order.
            var sum = SIMD8<Double>()
            for j in 0 ..< n { sum += SIMD8<Double>(Self.column(p, j, n)) }
            let mean = SIMD8<Float>(sum / meanDivisor)
            var squares = SIMD8<Double>()
            for j in 0 ..< n {
                let d = Self.column(p, j, n) - mean
                squares += SIMD8<Double>(d * d)
            }
            let variance = SIMD8<Float>(squares / varianceDivisor)
            let scale = 1 / (variance + epsilon).squareRoot()
            let negatedMean = -mean
            for lane in 0 ..< 8 {
                normalize(p + lane * n, out + (r + lane) * n, scale: scale[lane], negatedMean: negatedMean[lane])
            }
            r += 8
        }
        while r < rows {
            let p = x + r * n
            var sum = 0.0
            for j in 0 ..< n { sum += Double(p[j]) }
            let mean = Float(sum / meanDivisor)
            var squares = 0.0
            for j in 0 ..< n {
                let d = p[j] - mean
                squares += Double(d * d)
            }
            let variance = Float(squares / varianceDivisor)
            normalize(p, out + r * n, scale: 1 / (variance + epsilon).squareRoot(), negatedMean: -mean)
            r += 1
        }
    }

    /// Column `j` of eight rows of `n` floats.
    @inline(__always)
    private static func column(_ p: UnsafePointer<Float>, _ j: Int, _ n: Int) -> SIMD8<Float> {
        SIMD8(p[j], p[n + j], p[2 * n + j], p[3 * n + j], p[4 * n + j], p[5 * n + j], p[6 * n + j], p[7 * n + j])
    }

    /// out = x * (scale * γ) + (-mean) * (scale * γ): the graph's last three operators.
    @inline(__always)
    private func normalize(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, scale: Float, negatedMean: Float) {
        let s = SIMD8(repeating: scale), m = SIMD8(repeating: negatedMean)
        var j = 0
        while j + 8 <= columns {
            let scaled = s * load8(gamma + j)
            store8(load8(x + j) * scaled + m * scaled, out + j)
            j += 8
        }
        while j < columns {
            let scaled = scale * gamma[j]
            out[j] = x[j] * scaled + negatedMean * scaled
            j += 1
        }
    }
}

extension GraphPlan {
    /// Replaces each ten-operator layer norm (see `LayerNormKernel`) by one node, placed where
    /// its last operator was. Only a chain whose intermediate tensors have no other reader,
    /// and whose binary operators carry no fused activation, is replaced.
    mutating func fuseLayerNorms() {
        let graphOutputs = Set(model.outputIndices.map(root))
        var producer: [Int: Int] = [:]
        var readers: [Int: [Int]] = [:]
        for (i, node) in nodes.enumerated() {
            producer[root(node.output)] = i
            for t in Set(node.inputs.map(root)) { readers[t, default: []].append(i) }
        }
        let plan = self
        /// The node computing `t`, when its readers are exactly `expected`.
        func source(of t: Int, readBy expected: Set<Int>) -> (index: Int, node: Node)? {
            let r = plan.root(t)
            guard !graphOutputs.contains(r), let p = producer[r], Set(readers[r] ?? []) == expected else { return nil }
            return (p, plan.nodes[p])
        }
        func binary(_ node: Node, _ kind: BinaryKind) -> Bool {
            guard case let .binary(k) = node.kind else { return false }
            return k.kind == kind && k.lower == -.infinity && k.upper == .infinity
        }
        func unary(_ node: Node, _ kind: UnaryKind) -> Bool {
            guard case let .unary(k) = node.kind else { return false }
            return k.kind == kind
        }
        /// The divisor of a MEAN over the last axis of a [rows, columns] tensor.
        func rowMean(_ node: Node, rows: Int, columns: Int) -> Double? {
            guard case let .reduce(inputShape, outputStrides, outputCount, divisor) = node.kind,
                  let view = GraphPlan.matrixView(inputShape), view.rows == rows, view.columns == columns,
                  outputCount == rows, outputStrides.last == 0, rows == 1 || outputStrides[outputStrides.count - 2] != 0
            else { return nil }
            return divisor
        }
        func constant(_ t: Int, count: Int) -> UnsafeMutablePointer<Float>? {
            guard plan.shapes[t].reduce(1, *) == count, count == 1 || plan.shapes[t].last == count else { return nil }
            return plan.constants[plan.root(t)]
        }

        var removed = Set<Int>()
        for (last, final) in nodes.enumerated() where binary(final, .add) && final.inputs.count == 2 {
            guard let view = GraphPlan.matrixView(shapes[final.output]) else { continue }
            let (rows, n) = view
            // out = MUL(x, rg) + MUL(negm, rg), in either order.
            guard let a = source(of: final.inputs[0], readBy: [last]), let b = source(of: final.inputs[1], readBy: [last]),
                  binary(a.node, .mul), binary(b.node, .mul) else { continue }
            var matched = false
            for (xr, nr) in [(a, b), (b, a)] where !matched {
                // nr = MUL(negm, rg) with negm = NEG(m); xr = MUL(x, rg).
                for nrSlot in 0 ..< 2 where !matched {
                    let negm = nr.node.inputs[nrSlot], rg = nr.node.inputs[1 - nrSlot]
                    guard plan.root(rg) != plan.root(negm), xr.node.inputs.map(plan.root).contains(plan.root(rg)),
                          let x = xr.node.inputs.first(where: { plan.root($0) != plan.root(rg) }),
                          plan.constants[plan.root(x)] == nil, shapes[x] == shapes[final.output],
                          let rgNode = source(of: rg, readBy: [xr.index, nr.index]), binary(rgNode.node, .mul),
                          let negNode = source(of: negm, readBy: [nr.index]), unary(negNode.node, .neg),
                          let m = negNode.node.inputs.first,
                          let meanNode = producer[plan.root(m)].map({ (index: $0, node: plan.nodes[$0]) }),
                          let meanDivisor = rowMean(meanNode.node, rows: rows, columns: n),
                          plan.root(meanNode.node.inputs[0]) == plan.root(x), !graphOutputs.contains(plan.root(m))
                    else { continue }
                    // rg = MUL(rr, γ); rr = RSQRT(ve); ve = ADD(v, ε); v = MEAN(sq); sq = SQDIFF(x, m).
                    guard let gammaSlot = rgNode.node.inputs.firstIndex(where: { constant($0, count: n) != nil }),
                          let gamma = constant(rgNode.node.inputs[gammaSlot], count: n),
                          let rsqrtNode = source(of: rgNode.node.inputs[1 - gammaSlot], readBy: [rgNode.index]),
                          unary(rsqrtNode.node, .rsqrt),
                          let epsNode = source(of: rsqrtNode.node.inputs[0], readBy: [rsqrtNode.index]), binary(epsNode.node, .add),
                          let epsSlot = epsNode.node.inputs.firstIndex(where: { constant($0, count: 1) != nil }),
                          let epsilon = constant(epsNode.node.inputs[epsSlot], count: 1)?.pointee,
                          let varianceNode = source(of: epsNode.node.inputs[1 - epsSlot], readBy: [epsNode.index]),
                          let varianceDivisor = rowMean(varianceNode.node, rows: rows, columns: n),
                          let squaresNode = source(of: varianceNode.node.inputs[0], readBy: [varianceNode.index]),
                          binary(squaresNode.node, .squaredDifference),
                          Set(squaresNode.node.inputs.map(plan.root)) == [plan.root(x), plan.root(m)],
                          Set(readers[plan.root(m)] ?? []) == [negNode.index, squaresNode.index]
                    else { continue }
                    let kernel = LayerNormKernel(rows: rows, columns: n, meanDivisor: meanDivisor, varianceDivisor: varianceDivisor,
                                                 epsilon: epsilon, gamma: gamma)
                    nodes[last] = Node(kind: .layerNorm(kernel), inputs: [x], output: final.output, opIndex: final.opIndex)
                    removed.formUnion([xr.index, nr.index, rgNode.index, negNode.index, meanNode.index, rsqrtNode.index,
                                       epsNode.index, varianceNode.index, squaresNode.index])
                    matched = true
                }
            }
        }
        nodes = nodes.enumerated().filter { !removed.contains($0.offset) }.map(\.element)
    }
}
