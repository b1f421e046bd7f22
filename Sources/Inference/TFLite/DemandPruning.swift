/// Demand-driven pruning: each node computes only the rows of its output that some reader
/// uses, and a 1x1 convolution only the column blocks that are read. The blendshape model's
/// last mixer block feeds a slice that keeps 1 token of 97, so its channel MLP runs on one
/// row and its token MLP's second convolution on one column block: 5.3 M of the model's
/// 32.5 M multiply-adds (as the tiles count them) are never needed. Every value still
/// computed comes from the same kernel in the same order, so the outputs keep their bits.
extension GraphPlan {
    /// What readers use of a tensor's storage: its leading `floats`, and of those rows the
    /// first `columns` (in the storage's own [rows, columns] view).
    struct Demand {
        var floats: Int
        var columns: Int
    }

    /// A [1, …, 1, rows, columns] shape, whose rows are contiguous runs of `columns` floats
    /// and whose first r rows are a prefix of the storage; nil for other shapes.
    static func matrixView(_ shape: [Int]) -> (rows: Int, columns: Int)? {
        guard shape.count >= 2, shape.dropLast(2).allSatisfy({ $0 == 1 }) else { return nil }
        return (shape[shape.count - 2], shape[shape.count - 1])
    }

    /// Multiply-adds of the GEMMs per invoke (convolutions, also inside separable nodes),
    /// counting the padded columns that the tiles compute.
    var multiplyAdds: Int {
        nodes.reduce(0) { sum, node in
            switch node.kind {
            case let .conv(g, packed, _, _, _, _, _):
                sum + g.batch * g.outH * g.outW * packed.k * packed.blocks.reduce(0) { $0 + $1.width }
            case let .separable(depthwise, _, _, packed, _, _, _, _, _):
                sum + depthwise.g.batch * depthwise.g.outH * depthwise.g.outW * packed.k * packed.blocks.reduce(0) { $0 + $1.width }
            default: sum
            }
        }
    }

    mutating func pruneToDemand() {
        // The analysis reads a copy, so that its helpers never overlap the writes to `nodes`.
        let plan = self
        var demand: [Int: Demand] = [:]
        let graphOutputs = plan.model.outputIndices.map(plan.root)
        func count(_ t: Int) -> Int { plan.shapes[t].reduce(1, *) }

        /// A reader of `t`, seen through `t`'s own shape, uses its first `floats` floats and,
        /// in those rows, the first `columns` columns (all when nil).
        func need(_ t: Int, floats: Int, columns: Int? = nil) {
            let r = plan.root(t)
            guard plan.constants[r] == nil else { return }
            let rootColumns = plan.shapes[r].last ?? 1
            // Columns mean the same thing only when the reader sees the storage's rows.
            let c = columns.map { plan.shapes[t].last == rootColumns ? $0 : rootColumns } ?? rootColumns
            var d = demand[r] ?? Demand(floats: 0, columns: 0)
            d.floats = max(d.floats, min(floats, count(r)))
            d.columns = max(d.columns, min(c, rootColumns))
            demand[r] = d
        }
        func needAll(_ t: Int) { need(t, floats: count(t)) }
        graphOutputs.forEach(needAll)

        // Readers come after writers, so a node's demand is complete when it is reached.
        for i in plan.nodes.indices.reversed() {
            let node = plan.nodes[i]
            let out = plan.root(node.output)
            guard let d = demand[out], d.floats > 0,
                  let view = GraphPlan.matrixView(plan.shapes[node.output]), view.rows > 1 || view.columns > 1 else {
                node.inputs.forEach(needAll)
                continue
            }
            let rows = min(view.rows, (d.floats + view.columns - 1) / view.columns)
            let columns = min(view.columns, max(d.columns, 1))
            // A node that runs whole may still read only part of its input (a slice does).
            if let pruned = plan.prunedKind(node, view: view, rows: rows, columns: columns, need: need) {
                if rows < view.rows || columns < view.columns { nodes[i].kind = pruned }
            } else {
                node.inputs.forEach(needAll)
            }
        }
    }

    /// `node` computing only `rows` rows (and, for a 1x1 convolution, the column blocks
    /// covering `columns`), after recording what that reads of its inputs; nil when the
    /// node cannot be cut so (it then records nothing, and runs whole).
    private func prunedKind(_ node: Node, view: (rows: Int, columns: Int), rows: Int, columns: Int,
                            need: (Int, Int, Int?) -> Void) -> Kind? {
        let outShape = shapes[node.output]
        let rank = outShape.count
        switch node.kind {
        case .conv(var g, let packed, let bias, let lower, let upper, let alpha, let residualChannels):
            guard g.kH == 1, g.kW == 1, g.batch == 1, g.outH == 1, g.outW == view.rows, g.outC == view.columns,
                  !ConvolutionKernel.needsIm2col(g) else { return nil }
            g.inW = rows
            g.outW = rows
            need(node.inputs[0], rows * g.inC, nil)
            if node.inputs.count > 1 { need(node.inputs[1], rows * residualChannels, nil) }
            return .conv(g, packed.keepingColumns(below: columns), bias: bias, lower: lower, upper: upper,
                         alpha: alpha, residualChannels: residualChannels)
        case let .binary(k):
            var reduced = outShape
            reduced[rank - 2] = rows
            var operandShapes: [[Int]] = []
            for t in node.inputs {
                var s = shapes[t]
                let rowAxis = s.count - 2
                if rowAxis >= 0, s[rowAxis] == view.rows, view.rows > 1 {
                    s[rowAxis] = rows
                    need(t, s.reduce(1, *), nil)
                } else {
                    need(t, shapes[t].reduce(1, *), nil)
                }
                operandShapes.append(s)
            }
            return .binary(BinaryKernel(kind: k.kind, shape: reduced,
                                        aStrides: broadcastStrides(operandShapes[0], to: reduced),
                                        bStrides: broadcastStrides(operandShapes[1], to: reduced),
                                        lower: k.lower, upper: k.upper))
        case let .unary(k):
            need(node.inputs[0], rows * view.columns, nil)
            return .unary(UnaryKernel(kind: k.kind, count: rows * view.columns))
        case let .reduce(inputShape, outputStrides, _, divisor):
            // Only a reduction along each row (the last axis) keeps rows apart.
            guard view.columns == 1, let inView = GraphPlan.matrixView(inputShape), inView.rows == view.rows,
                  inputShape.count == rank, outputStrides[rank - 1] == 0, outputStrides[rank - 2] != 0 else { return nil }
            var reduced = inputShape
            reduced[rank - 2] = rows
            need(node.inputs[0], rows * inView.columns, nil)
            return .reduce(inputShape: reduced, outputStrides: outputStrides, outputCount: rows, divisor: divisor)
        case let .layerNorm(k):
            // Rows are normalised apart.
            guard view.rows == k.rows, view.columns == k.columns else { return nil }
            need(node.inputs[0], rows * k.columns, nil)
            return .layerNorm(LayerNormKernel(rows: rows, columns: k.columns, meanDivisor: k.meanDivisor,
                                              varianceDivisor: k.varianceDivisor, epsilon: k.epsilon, gamma: k.gamma))
        case let .gather(k):
            // Output rows are whole (dense), so only their number shrinks.
            let live = k.liveAxes
            let rowAxis: (count: Int, stride: Int), columnStride: Int
            if view.columns > 1 {
                guard live.count == 2, live[0].count == view.rows, live[1].count == view.columns else { return nil }
                rowAxis = live[0]
                columnStride = live[1].stride
            } else {
                guard live.count == 1, live[0].count == view.rows else { return nil }
                rowAxis = live[0]
                columnStride = 0
            }
            let input = node.inputs[0]
            let inColumns = GraphPlan.matrixView(shapes[input])?.columns
            var lastOffset = 0, lastColumn = 0
            for i in 0 ..< rows {
                for j in 0 ..< view.columns {
                    let offset = k.start + i * rowAxis.stride + j * columnStride
                    lastOffset = max(lastOffset, offset)
                    if let inColumns { lastColumn = max(lastColumn, offset % inColumns) }
                }
            }
            if let inColumns {
                need(input, (lastOffset / inColumns + 1) * inColumns, lastColumn + 1)
            } else {
                need(input, lastOffset + 1, nil)
            }
            let shape = view.columns > 1 ? [rows, view.columns] : [rows]
            let strides = view.columns > 1 ? [rowAxis.stride, columnStride] : [rowAxis.stride]
            return .gather(GatherKernel(shape: shape, inputStrides: strides, start: k.start))
        default:
            return nil
        }
    }
}

extension PackedMatrix {
    init(k: Int, n: Int, blocks: [Block], wide: Bool, half: HalfPanels?) {
        self.k = k
        self.n = n
        self.blocks = blocks
        self.wide = wide
        self.half = half
    }

    /// The same packed weights with only the column blocks that start before `column`
    /// (`gemv` computes the columns those blocks cover).
    func keepingColumns(below column: Int) -> PackedMatrix {
        PackedMatrix(k: k, n: n, blocks: blocks.filter { $0.column < column }, wide: wide, half: half)
    }
}
