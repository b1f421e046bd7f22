import Basics
import Foundation

/// Scratch memory for the forward and backward pass of up to `capacity` samples, allocated
/// once so that training allocates nothing per step. Activations are time-major:
/// element (t, b, f) of a sequence buffer is at `(t * n + b) * features + f`.
final class ForwardBackwardBuffers {
    let network: Network
    let capacity: Int
    /// Input batch, time-major.
    let input: UnsafeMutablePointer<Float>
    /// Per layer: hidden outputs (LSTM: all steps; others: the output).
    let hidden: [UnsafeMutablePointer<Float>]
    /// Per layer: LSTM gate activations i, f, g, o [T][n][4U]; dropout masks [T][n][F].
    let gates: [UnsafeMutablePointer<Float>]
    /// Per layer: LSTM cell states and their activations [T][n][U].
    let cells: [UnsafeMutablePointer<Float>]
    let cellOut: [UnsafeMutablePointer<Float>]
    /// Per layer: gradient with respect to the layer's output.
    let dOutput: [UnsafeMutablePointer<Float>]
    let dh: UnsafeMutablePointer<Float>, dc: UnsafeMutablePointer<Float>, dz: UnsafeMutablePointer<Float>
    let zeros: UnsafeMutablePointer<Float>
    /// This shard's parameter gradient.
    let gradient: UnsafeMutablePointer<Float>
    private var allocations: [UnsafeMutablePointer<Float>] = []

    init(network: Network, capacity: Int) {
        self.network = network
        self.capacity = capacity
        var all: [UnsafeMutablePointer<Float>] = []
        func make(_ n: Int) -> UnsafeMutablePointer<Float> {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: max(n, 1))
            p.initialize(repeating: 0, count: max(n, 1))
            all.append(p)
            return p
        }
        input = make(capacity * network.input.size)
        var hidden: [UnsafeMutablePointer<Float>] = [], gates: [UnsafeMutablePointer<Float>] = []
        var cells: [UnsafeMutablePointer<Float>] = [], cellOut: [UnsafeMutablePointer<Float>] = [], dOutput: [UnsafeMutablePointer<Float>] = []
        // The per-sample scratch rows (dh, dc, dz) serve every layer: size them for the widest.
        var widest = max(1, network.input.features)
        for p in network.plan {
            widest = max(widest, p.gates, p.inFeatures, p.outFeatures)
            let steps = p.kind == .lstm ? p.inSteps : p.outSteps
            hidden.append(make(capacity * steps * p.outFeatures))
            dOutput.append(make(capacity * p.outSteps * p.outFeatures))
            switch p.kind {
            case .lstm:
                gates.append(make(capacity * p.inSteps * p.gates))
                cells.append(make(capacity * p.inSteps * p.units))
                cellOut.append(make(capacity * p.inSteps * p.units))
                widest = max(widest, p.gates)
            case .dropout:
                gates.append(make(capacity * p.outSteps * p.outFeatures))
                cells.append(make(0)); cellOut.append(make(0))
            case .dense:
                gates.append(make(0)); cells.append(make(0)); cellOut.append(make(0))
            }
        }
        self.hidden = hidden; self.gates = gates; self.cells = cells; self.cellOut = cellOut; self.dOutput = dOutput
        dh = make(capacity * widest); dc = make(capacity * widest); dz = make(capacity * widest)
        zeros = make(capacity * widest)
        gradient = make(network.parameterCount)
        allocations = all
    }

    deinit { for p in allocations { p.deallocate() } }

    /// The output of layer `l` for a batch of `n` (for an LSTM without return_sequences,
    /// the last step's hidden state).
    @inline(__always)
    func output(_ l: Int, _ n: Int) -> UnsafeMutablePointer<Float> {
        let p = network.plan[l]
        if p.kind == .lstm && !p.returnSequences { return hidden[l] + (p.inSteps - 1) * n * p.units }
        return hidden[l]
    }

    @inline(__always)
    func layerInput(_ l: Int, _ n: Int) -> UnsafeMutablePointer<Float> { l == 0 ? input : output(l - 1, n) }

    /// Runs the network on the `n` samples in `input`; returns the class probabilities
    /// [n][classes]. With `dropoutKeys` (one per sample) dropout layers are active.
    @discardableResult
    func forward(weights w: UnsafePointer<Float>, count n: Int, dropoutKeys: UnsafePointer<UInt64>? = nil) -> UnsafeMutablePointer<Float> {
        for l in network.plan.indices {
            let p = network.plan[l]
            let x = layerInput(l, n)
            switch p.kind {
            case .lstm: lstmForward(p, w, x, l, n)
            case .dense: denseForward(p, w, x, hidden[l], n)
            case .dropout:
                let size = p.outSteps * p.outFeatures, y = hidden[l], mask = gates[l]
                if let keys = dropoutKeys, p.rate > 0 {
                    let keep = 1 / (1 - p.rate)
                    for b in 0..<n {
                        var rng = SeededRandom(seed: keys[b], stream: 3, index: UInt64(l))
                        for t in 0..<p.outSteps {
                            for f in 0..<p.outFeatures {
                                let i = (t * n + b) * p.outFeatures + f
                                mask[i] = rng.unit() >= Double(p.rate) ? keep : 0
                            }
                        }
                    }
                    for i in 0..<(n * size) { y[i] = x[i] * mask[i] }
                } else {
                    for i in 0..<(n * size) { mask[i] = 1 }
                    y.update(from: x, count: n * size)
                }
            }
        }
        return output(network.plan.count - 1, n)
    }

    /// Back-propagates `dOutput[last]` (already dL/dz of the softmax head) and adds the
    /// parameter gradients to `gradient`. The order of every sum is fixed by the code, never
    /// by threads, so results are reproducible bit for bit.
    func backward(weights w: UnsafePointer<Float>, transposed wt: UnsafePointer<Float>, count n: Int) {
        for l in network.plan.indices.reversed() {
            let p = network.plan[l]
            let x = layerInput(l, n)
            let dx: UnsafeMutablePointer<Float>? = l == 0 ? nil : dOutput[l - 1]
            switch p.kind {
            case .lstm: lstmBackward(p, wt, x, dx, l, n)
            case .dense: denseBackward(p, wt, x, dx, l, n)
            case .dropout:
                if let dx {
                    let mask = gates[l], dy = dOutput[l]
                    for i in 0..<(n * p.outSteps * p.outFeatures) { dx[i] = dy[i] * mask[i] }
                }
            }
        }
    }

    // MARK: dense

    private func denseForward(_ p: Network.PlannedLayer, _ w: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        let fIn = p.inFeatures, fOut = p.units
        let kernel = w + p.kernel, bias = w + p.bias
        for b in 0..<n {
            let row = y + b * fOut
            row.update(from: bias, count: fOut)
            for k in 0..<fIn {
                let xv = x[b * fIn + k]
                if xv != 0 { axpy(row, kernel + k * fOut, xv, fOut) }
            }
            if p.activation == .softmax {
                var m = row[0]
                for j in 1..<fOut { m = max(m, row[j]) }
                var s: Float = 0
                for j in 0..<fOut { row[j] = expf(row[j] - m); s += row[j] }
                let r = 1 / s
                for j in 0..<fOut { row[j] *= r }
            } else {
                p.activation.apply(row, fOut)
            }
        }
    }

    private func denseBackward(_ p: Network.PlannedLayer, _ wt: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>?, _ l: Int, _ n: Int) {
        let fIn = p.inFeatures, fOut = p.units
        let y = hidden[l], dy = dOutput[l]
        let gk = gradient + p.kernel, gb = gradient + p.bias, kt = wt + p.kernel
        for b in 0..<n {
            let dzb = dz + b * fOut
            for j in 0..<fOut { dzb[j] = dy[b * fOut + j] * p.activation.derivative(output: y[b * fOut + j]) }
            for j in 0..<fOut { gb[j] += dzb[j] }
            for k in 0..<fIn {
                let xv = x[b * fIn + k]
                if xv != 0 { axpy(gk + k * fOut, dzb, xv, fOut) }
            }
            if let dx {
                let row = dx + b * fIn
                row.update(repeating: 0, count: fIn)
                for j in 0..<fOut where dzb[j] != 0 { axpy(row, kt + j * fIn, dzb[j], fIn) }
            }
        }
    }

    // MARK: LSTM

    private func lstmForward(_ p: Network.PlannedLayer, _ w: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ l: Int, _ n: Int) {
        let F = p.inFeatures, U = p.units, G = 4 * U, T = p.inSteps
        let kernel = w + p.kernel, rec = w + p.recurrent, bias = w + p.bias
        let act = p.activation
        for t in 0..<T {
            let xt = x + t * n * F
            let gt = gates[l] + t * n * G
            let ht = hidden[l] + t * n * U, ct = cells[l] + t * n * U, at = cellOut[l] + t * n * U
            let hPrev = t == 0 ? nil : UnsafePointer(hidden[l] + (t - 1) * n * U)
            let cPrev: UnsafePointer<Float> = t == 0 ? UnsafePointer(zeros) : UnsafePointer(cells[l] + (t - 1) * n * U)
            for b in 0..<n {
                let g = gt + b * G
                g.update(from: bias, count: G)
                for k in 0..<F {
                    let xv = xt[b * F + k]
                    if xv != 0 { axpy(g, kernel + k * G, xv, G) }
                }
                if let hPrev {
                    for k in 0..<U {
                        let hv = hPrev[b * U + k]
                        if hv != 0 { axpy(g, rec + k * G, hv, G) }
                    }
                }
                let h = ht + b * U, c = ct + b * U, a = at + b * U, cp = cPrev + b * U
                for k in 0..<U {
                    let i = sigmoid(g[k]), f = sigmoid(g[U + k]), cc = act.apply(g[2 * U + k]), o = sigmoid(g[3 * U + k])
                    g[k] = i; g[U + k] = f; g[2 * U + k] = cc; g[3 * U + k] = o
                    let cell = f * cp[k] + i * cc
                    c[k] = cell
                    let ac = act.apply(cell)
                    a[k] = ac
                    h[k] = o * ac
                }
            }
        }
    }

    private func lstmBackward(_ p: Network.PlannedLayer, _ wt: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>?, _ l: Int, _ n: Int) {
        let F = p.inFeatures, U = p.units, G = 4 * U, T = p.inSteps
        let kt = wt + p.kernel, rt = wt + p.recurrent
        let gk = gradient + p.kernel, gr = gradient + p.recurrent, gb = gradient + p.bias
        let act = p.activation, dy = dOutput[l]
        dh.update(repeating: 0, count: n * U)
        dc.update(repeating: 0, count: n * U)
        for t in stride(from: T - 1, through: 0, by: -1) {
            let xt = x + t * n * F, gt = gates[l] + t * n * G
            let at = cellOut[l] + t * n * U
            let hPrev = t == 0 ? nil : UnsafePointer(hidden[l] + (t - 1) * n * U)
            let cPrev: UnsafePointer<Float> = t == 0 ? UnsafePointer(zeros) : UnsafePointer(cells[l] + (t - 1) * n * U)
            let dyt: UnsafePointer<Float>? = p.returnSequences ? UnsafePointer(dy + t * n * U) : (t == T - 1 ? UnsafePointer(dy) : nil)
            for b in 0..<n {
                let g = gt + b * G, a = at + b * U, cp = cPrev + b * U
                let dhb = dh + b * U, dcb = dc + b * U, dzb = dz + b * G
                for k in 0..<U {
                    let dhk = dhb[k] + (dyt?[b * U + k] ?? 0)
                    let i = g[k], f = g[U + k], cc = g[2 * U + k], o = g[3 * U + k]
                    let dO = dhk * a[k]
                    let dcell = dcb[k] + dhk * o * act.derivative(output: a[k])
                    dcb[k] = dcell * f
                    dzb[k] = dcell * cc * i * (1 - i)
                    dzb[U + k] = dcell * cp[k] * f * (1 - f)
                    dzb[2 * U + k] = dcell * i * act.derivative(output: cc)
                    dzb[3 * U + k] = dO * o * (1 - o)
                }
                for j in 0..<G { gb[j] += dzb[j] }
                for k in 0..<F {
                    let xv = xt[b * F + k]
                    if xv != 0 { axpy(gk + k * G, dzb, xv, G) }
                }
                if let hPrev {
                    for k in 0..<U {
                        let hv = hPrev[b * U + k]
                        if hv != 0 { axpy(gr + k * G, dzb, hv, G) }
                    }
                }
                if let dx {
                    let row = dx + (t * n + b) * F
                    row.update(repeating: 0, count: F)
                    for j in 0..<G where dzb[j] != 0 { axpy(row, kt + j * F, dzb[j], F) }
                }
                // dh for step t - 1 (dh at t = 0 is unused).
                dhb.update(repeating: 0, count: U)
                if t > 0 { for j in 0..<G where dzb[j] != 0 { axpy(dhb, rt + j * U, dzb[j], U) } }
            }
        }
    }
}

@inline(__always)
func sigmoid(_ z: Float) -> Float { 1 / (1 + expf(-z)) }

/// y += a * x over `n` contiguous floats (vectorised by the compiler: no reduction).
@inline(__always)
func axpy(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ a: Float, _ n: Int) {
    var i = 0
    let va = SIMD8<Float>(repeating: a)
    while i + 8 <= n {
        let vy = UnsafeMutableRawPointer(y + i).loadUnaligned(as: SIMD8<Float>.self)
        let vx = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
        UnsafeMutableRawPointer(y + i).storeBytes(of: vy.addingProduct(vx, va), as: SIMD8<Float>.self)
        i += 8
    }
    while i < n { y[i] = y[i].addingProduct(x[i], a); i += 1 }
}
