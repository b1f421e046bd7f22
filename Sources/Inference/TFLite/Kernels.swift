import Basics
/// Spatial geometry shared by convolutions and pooling (NHWC, TFLite padding rules).
struct WindowGeometry: Equatable {
    var batch: Int, inH: Int, inW: Int, inC: Int
    var outH: Int, outW: Int, outC: Int
    var kH: Int, kW: Int
    var strideH: Int, strideW: Int
    var dilationH: Int, dilationW: Int
    var padTop: Int, padLeft: Int

    /// TFLite's output size and leading padding for one spatial dimension.
    static func outputAndPadding(input: Int, filter: Int, stride: Int, dilation: Int, padding: Padding) -> (size: Int, before: Int) {
        let effective = (filter - 1) * dilation + 1
        let size = padding == .same ? (input + stride - 1) / stride : (input - effective + stride) / stride
        guard padding == .same else { return (size, 0) }
        let total = max(0, (size - 1) * stride + effective - input)
        return (size, total / 2)
    }
}

/// Regular convolution as GEMM against packed weights. Where a kernel window lies inside
/// the image, the GEMM reads the input in place (each kernel row is one contiguous run);
/// windows that touch the padding are gathered into an im2col scratch first.
struct ConvolutionKernel {
    let g: WindowGeometry
    let weights: PackedMatrix
    let epilogue: Epilogue
    /// Scratch for im2col, `rowBlock * K` floats, or nil when the input is used directly.
    let scratch: UnsafeMutablePointer<Float>?
    static let rowBlock = 64

    static func needsIm2col(_ g: WindowGeometry) -> Bool {
        !(g.kH == 1 && g.kW == 1 && g.strideH == 1 && g.strideW == 1 && g.padTop == 0 && g.padLeft == 0
            && g.outH == g.inH && g.outW == g.inW)
    }

    func run(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>) {
        guard let scratch else {
            gemm(a: input, lda: g.inC, rows: g.batch * g.outH * g.outW, b: weights, epilogue: epilogue, c: output, ldc: g.outC)
            return
        }
        guard g.dilationW == 1 else {
            im2col(input, output, scratch, from: 0, count: g.batch * g.outH * g.outW)
            return
        }
        // Output columns whose window is inside the image horizontally.
        let sx = g.strideW
        let x0 = min(g.outW, (g.padLeft + sx - 1) / sx)
        let x1 = g.inW - g.kW + g.padLeft < 0 ? x0 : max(x0, min(g.outW, (g.inW - g.kW + g.padLeft) / sx + 1))
        var epi = epilogue
        // Pixels in ascending order: whole-vector stores spill only into pixels written later.
        for b in 0 ..< g.batch {
            for oy in 0 ..< g.outH {
                let rowStart = (b * g.outH + oy) * g.outW
                let iy0 = oy * g.strideH - g.padTop
                guard iy0 >= 0, iy0 + (g.kH - 1) * g.dilationH < g.inH, x1 > x0 else {
                    im2col(input, output, scratch, from: rowStart, count: g.outW)
                    continue
                }
                if x0 > 0 { im2col(input, output, scratch, from: rowStart, count: x0) }
                let m = rowStart + x0
                if let residual = epilogue.residual { epi.residual = residual + m * epilogue.residualStride }
                gemm(a: input + ((b * g.inH + iy0) * g.inW + x0 * sx - g.padLeft) * g.inC, lda: sx * g.inC, rows: x1 - x0,
                     b: weights, epilogue: epi, c: output + m * g.outC, ldc: g.outC,
                     segments: g.kH, segmentStride: g.dilationH * g.inW * g.inC)
                if x1 < g.outW { im2col(input, output, scratch, from: rowStart + x1, count: g.outW - x1) }
            }
        }
    }

    /// Output pixels `from ..< from + count` through the im2col scratch, `rowBlock` at a time.
    private func im2col(_ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>,
                        _ scratch: UnsafeMutablePointer<Float>, from start: Int, count total: Int) {
        let k = weights.k
        var m0 = start
        var epi = epilogue
        while m0 < start + total {
            let count = min(Self.rowBlock, start + total - m0)
            for r in 0 ..< count {
                let m = m0 + r
                let ox = m % g.outW
                let oy = (m / g.outW) % g.outH
                let b = m / (g.outW * g.outH)
                var dst = scratch + r * k
                let ix0 = ox * g.strideW - g.padLeft
                // A kernel row whose taps are all inside the image is one contiguous span.
                let wholeRows = g.dilationW == 1 && ix0 >= 0 && ix0 + g.kW <= g.inW
                let span = g.kW * g.inC
                for ky in 0 ..< g.kH {
                    let iy = oy * g.strideH - g.padTop + ky * g.dilationH
                    if iy < 0 || iy >= g.inH {
                        copySpan(nil, dst, span)
                    } else if wholeRows {
                        copySpan(input + ((b * g.inH + iy) * g.inW + ix0) * g.inC, dst, span)
                    } else {
                        for kx in 0 ..< g.kW {
                            let ix = ix0 + kx * g.dilationW
                            copySpan(ix >= 0 && ix < g.inW ? input + ((b * g.inH + iy) * g.inW + ix) * g.inC : nil, dst + kx * g.inC, g.inC)
                        }
                    }
                    dst += span
                }
            }
            if let residual = epilogue.residual { epi.residual = residual + m0 * epilogue.residualStride }
            gemm(a: scratch, lda: k, rows: count, b: weights, epilogue: epi, c: output + m0 * g.outC, ldc: g.outC)
            m0 += count
        }
    }
}

/// A depthwise convolution feeding a 1x1 convolution, run a band of rows at a time so
/// the depthwise output stays in cache instead of making a round trip through memory.
struct SeparableKernel {
    let depthwise: DepthwiseKernel
    let weights: PackedMatrix
    let epilogue: Epilogue
    /// Depthwise output of one band: `bandRows * outW * outC` floats plus slack.
    let band: UnsafeMutablePointer<Float>
    let bandRows: Int

    /// Enough rows for a few GEMM row blocks, at least one.
    static func bandRows(outW: Int, outH: Int) -> Int { max(1, min(outH, 256 / max(outW, 1))) }

    func run(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>) {
        let g = depthwise.g
        let rowFloats = g.outW * g.outC
        let n = weights.n
        var epi = epilogue
        for b in 0 ..< g.batch {
            var oy0 = 0
            while oy0 < g.outH {
                let rows = min(bandRows, g.outH - oy0)
                for r in 0 ..< rows {
                    depthwise.runRow(input: input, batch: b, oy: oy0 + r, out: band + r * rowFloats)
                }
                let m0 = (b * g.outH + oy0) * g.outW
                if let residual = epilogue.residual { epi.residual = residual + m0 * epilogue.residualStride }
                gemm(a: band, lda: g.outC, rows: rows * g.outW, b: weights, epilogue: epi, c: output + m0 * n, ldc: n)
                oy0 += rows
            }
        }
    }
}

/// Copies (or, for nil, zeroes) `n` floats in whole 8-float vectors. Up to 7 floats past
/// the span are read and overwritten; callers write spans in ascending order and keep
/// slack after their buffers, so the excess is always rewritten or unused.
@inline(__always)
func copySpan(_ src: UnsafePointer<Float>?, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
    var i = 0
    if let src {
        while i < n { store8(load8(src + i), dst + i); i += 8 }
    } else {
        while i < n { store8(SIMD8(), dst + i); i += 8 }
    }
}

/// Depthwise convolution, vectorised over channels. `weights` is [kH][kW][outC] and `bias`
/// has outC entries, both with slack: the partial channel group reads whole vectors.
struct DepthwiseKernel {
    let g: WindowGeometry
    let multiplier: Int
    let weights: UnsafePointer<Float>
    let bias: UnsafePointer<Float>
    let lower: Float
    let upper: Float
    /// `inW * inC` zeros (plus slack): stands in for input rows above and below the image.
    let zeroRow: UnsafePointer<Float>

    func run(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>) {
        for b in 0 ..< g.batch {
            for oy in 0 ..< g.outH {
                runRow(input: input, batch: b, oy: oy, out: output + (b * g.outH + oy) * g.outW * g.outC)
            }
        }
    }

    /// One output row (`outW * outC` floats at `out`).
    @inline(__always)
    func runRow(input: UnsafePointer<Float>, batch b: Int, oy: Int, out: UnsafeMutablePointer<Float>) {
        if multiplier == 1, g.kH == 3, g.kW == 3, g.dilationH == 1, g.dilationW == 1 {
            row3x3(input: input, batch: b, oy: oy, out: out)
        } else {
            rowGeneral(input: input, batch: b, oy: oy, out: out)
        }
    }

    /// 3x3, multiplier 1: the nine weight vectors of a channel group stay in registers while
    /// the row of outputs is swept; rows outside the image read `zeroRow`, so only the left
    /// and right border columns need bounds checks.
    private func row3x3(input: UnsafePointer<Float>, batch b: Int, oy: Int, out: UnsafeMutablePointer<Float>) {
        let c = g.outC
        let sx = g.strideW, pl = g.padLeft
        let rowLength = g.inW * c
        let lo = SIMD8<Float>(repeating: lower), hi = SIMD8<Float>(repeating: upper)
        let clamps = lower != -.infinity || upper != .infinity
        // Output columns whose three input columns are all inside the image.
        let interiorStart = min(g.outW, (pl + sx - 1) / sx)
        let interiorEnd = g.inW - 3 + pl < 0 ? interiorStart : max(interiorStart, min(g.outW, (g.inW - 3 + pl) / sx + 1))
        do {
            do {
                let iy0 = oy * g.strideH - g.padTop
                func row(_ iy: Int) -> UnsafePointer<Float> {
                    iy >= 0 && iy < g.inH ? input + (b * g.inH + iy) * rowLength : zeroRow
                }
                let r0 = row(iy0), r1 = row(iy0 + 1), r2 = row(iy0 + 2)
                // The partial channel group first: its whole-vector stores spill into the
                // next pixel's first channels, which the full groups then overwrite.
                let full = c / 8 * 8
                for group in 0 ..< (c + 7) / 8 {
                    let ch = full == c ? group * 8 : group == 0 ? full : (group - 1) * 8
                    let w = weights + ch
                    let w00 = load8(w), w01 = load8(w + c), w02 = load8(w + 2 * c)
                    let w10 = load8(w + 3 * c), w11 = load8(w + 4 * c), w12 = load8(w + 5 * c)
                    let w20 = load8(w + 6 * c), w21 = load8(w + 7 * c), w22 = load8(w + 8 * c)
                    let bv = load8(bias + ch)
                    @inline(__always) func border(_ ox: Int) {
                        var acc = bv
                        let ix0 = ox * sx - pl
                        for kx in 0 ..< 3 {
                            let ix = ix0 + kx
                            guard ix >= 0, ix < g.inW else { continue }
                            let o = ix * c + ch
                            let (wa, wb, wc) = kx == 0 ? (w00, w10, w20) : kx == 1 ? (w01, w11, w21) : (w02, w12, w22)
                            acc.addProduct(load8(r0 + o), wa)
                            acc.addProduct(load8(r1 + o), wb)
                            acc.addProduct(load8(r2 + o), wc)
                        }
                        store8(vmin(vmax(acc, lo), hi), out + ox * c + ch)
                    }
                    for ox in 0 ..< interiorStart { border(ox) }
                    var ox = interiorStart
                    if sx == 1 {
                        // Two outputs share two of their three input columns: 12 loads, not 18.
                        while ox + 2 <= interiorEnd {
                            let o = (ox - pl) * c + ch
                            let p0 = r0 + o, p1 = r1 + o, p2 = r2 + o
                            var acc0 = bv, acc1 = bv
                            var x0 = load8(p0), x1 = load8(p0 + c), x2 = load8(p0 + 2 * c), x3 = load8(p0 + 3 * c)
                            acc0.addProduct(x0, w00); acc0.addProduct(x1, w01); acc0.addProduct(x2, w02)
                            acc1.addProduct(x1, w00); acc1.addProduct(x2, w01); acc1.addProduct(x3, w02)
                            x0 = load8(p1); x1 = load8(p1 + c); x2 = load8(p1 + 2 * c); x3 = load8(p1 + 3 * c)
                            acc0.addProduct(x0, w10); acc0.addProduct(x1, w11); acc0.addProduct(x2, w12)
                            acc1.addProduct(x1, w10); acc1.addProduct(x2, w11); acc1.addProduct(x3, w12)
                            x0 = load8(p2); x1 = load8(p2 + c); x2 = load8(p2 + 2 * c); x3 = load8(p2 + 3 * c)
                            acc0.addProduct(x0, w20); acc0.addProduct(x1, w21); acc0.addProduct(x2, w22)
                            acc1.addProduct(x1, w20); acc1.addProduct(x2, w21); acc1.addProduct(x3, w22)
                            if clamps {
                                acc0 = vmin(vmax(acc0, lo), hi)
                                acc1 = vmin(vmax(acc1, lo), hi)
                            }
                            store8(acc0, out + ox * c + ch)
                            store8(acc1, out + (ox + 1) * c + ch)
                            ox += 2
                        }
                    }
                    while ox < interiorEnd {
                        let o = (ox * sx - pl) * c + ch
                        let p0 = r0 + o, p1 = r1 + o, p2 = r2 + o
                        var acc = bv
                        acc.addProduct(load8(p0), w00)
                        acc.addProduct(load8(p0 + c), w01)
                        acc.addProduct(load8(p0 + 2 * c), w02)
                        acc.addProduct(load8(p1), w10)
                        acc.addProduct(load8(p1 + c), w11)
                        acc.addProduct(load8(p1 + 2 * c), w12)
                        acc.addProduct(load8(p2), w20)
                        acc.addProduct(load8(p2 + c), w21)
                        acc.addProduct(load8(p2 + 2 * c), w22)
                        store8(clamps ? vmin(vmax(acc, lo), hi) : acc, out + ox * c + ch)
                        ox += 1
                    }
                    for ox in interiorEnd ..< g.outW { border(ox) }
                }
            }
        }
    }

    private func rowGeneral(input: UnsafePointer<Float>, batch b: Int, oy: Int, out rowOut: UnsafeMutablePointer<Float>) {
        let c = g.outC
        let lo = SIMD8<Float>(repeating: lower), hi = SIMD8<Float>(repeating: upper)
        do {
            do {
                let iy0 = oy * g.strideH - g.padTop
                for ox in 0 ..< g.outW {
                    let ix0 = ox * g.strideW - g.padLeft
                    let out = rowOut + ox * c
                    if multiplier == 1 {
                        var ch = 0
                        while ch + 8 <= c {
                            var acc = load8(bias + ch)
                            for ky in 0 ..< g.kH {
                                let iy = iy0 + ky * g.dilationH
                                guard iy >= 0, iy < g.inH else { continue }
                                let row = input + (b * g.inH + iy) * g.inW * g.inC + ch
                                let wrow = weights + ky * g.kW * c + ch
                                for kx in 0 ..< g.kW {
                                    let ix = ix0 + kx * g.dilationW
                                    guard ix >= 0, ix < g.inW else { continue }
                                    acc.addProduct(load8(row + ix * g.inC), load8(wrow + kx * c))
                                }
                            }
                            store8(vmin(vmax(acc, lo), hi), out + ch)
                            ch += 8
                        }
                        while ch < c {
                            out[ch] = point(b, iy0, ix0, ch, input: input)
                            ch += 1
                        }
                    } else {
                        for ch in 0 ..< c { out[ch] = point(b, iy0, ix0, ch, input: input) }
                    }
                }
            }
        }
    }

    @inline(__always)
    private func point(_ b: Int, _ iy0: Int, _ ix0: Int, _ ch: Int, input: UnsafePointer<Float>) -> Float {
        let c = g.outC
        let ic = ch / multiplier
        var acc = bias[ch]
        for ky in 0 ..< g.kH {
            let iy = iy0 + ky * g.dilationH
            guard iy >= 0, iy < g.inH else { continue }
            for kx in 0 ..< g.kW {
                let ix = ix0 + kx * g.dilationW
                guard ix >= 0, ix < g.inW else { continue }
                acc += input[((b * g.inH + iy) * g.inW + ix) * g.inC + ic] * weights[(ky * g.kW + kx) * c + ch]
            }
        }
        return min(max(acc, lower), upper)
    }
}

/// MAX_POOL_2D: the maximum over the in-range part of each window, 8 channels at a time
/// (the last group's whole-vector store spills into the next pixel, written after it).
struct MaxPoolKernel {
    let g: WindowGeometry
    let lower: Float
    let upper: Float

    func run(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>) {
        let c = g.inC
        let lo = SIMD8<Float>(repeating: lower), hi = SIMD8<Float>(repeating: upper)
        let clamps = lower != -.infinity || upper != .infinity
        let twoByTwo = g.kH == 2 && g.kW == 2
        for b in 0 ..< g.batch {
            for oy in 0 ..< g.outH {
                let iy0 = oy * g.strideH - g.padTop
                let kyStart = max(0, -iy0), kyEnd = min(g.kH, g.inH - iy0)
                for ox in 0 ..< g.outW {
                    let ix0 = ox * g.strideW - g.padLeft
                    let kxStart = max(0, -ix0), kxEnd = min(g.kW, g.inW - ix0)
                    let out = output + ((b * g.outH + oy) * g.outW + ox) * c
                    var ch = 0
                    if twoByTwo && kyEnd - kyStart == 2 && kxEnd - kxStart == 2 {
                        // A whole 2x2 window (every pool in the face models): the same max
                        // chain unrolled, and no clamp when there is no activation.
                        let r0 = input + ((b * g.inH + iy0) * g.inW + ix0) * c, r1 = r0 + g.inW * c
                        while ch < c {
                            var acc = vmax(vmax(SIMD8(repeating: -.greatestFiniteMagnitude), load8(r0 + ch)), load8(r0 + c + ch))
                            acc = vmax(vmax(acc, load8(r1 + ch)), load8(r1 + c + ch))
                            store8(clamps ? vmin(vmax(acc, lo), hi) : acc, out + ch)
                            ch += 8
                        }
                        continue
                    }
                    while ch < c {
                        var acc = SIMD8<Float>(repeating: -.greatestFiniteMagnitude)
                        for ky in kyStart ..< kyEnd {
                            let row = input + ((b * g.inH + iy0 + ky) * g.inW + ix0) * c + ch
                            for kx in kxStart ..< kxEnd { acc = vmax(acc, load8(row + kx * c)) }
                        }
                        store8(vmin(vmax(acc, lo), hi), out + ch)
                        ch += 8
                    }
                }
            }
        }
    }
}

/// Strides of a row-major shape.
func rowMajorStrides(_ shape: [Int]) -> [Int] {
    var strides = [Int](repeating: 1, count: shape.count)
    var s = 1
    for i in stride(from: shape.count - 1, through: 0, by: -1) {
        strides[i] = s
        s *= shape[i]
    }
    return strides
}

/// Visits every index of `shape` in row-major order, giving the offsets into up to three
/// strided views. Takes slices so callers can pass parts of stored arrays, and keeps the
/// index on the stack: `invoke` must not allocate.
@inline(__always)
func forEachIndex(_ shape: ArraySlice<Int>, _ s0: ArraySlice<Int>, _ s1: ArraySlice<Int>, _ s2: ArraySlice<Int>,
                  _ body: (Int, Int, Int) -> Void) {
    let rank = shape.count
    let total = shape.reduce(1, *)
    guard total > 0 else { return }
    let b = shape.startIndex, b0 = s0.startIndex, b1 = s1.startIndex, b2 = s2.startIndex
    withUnsafeTemporaryAllocation(of: Int.self, capacity: max(rank, 1)) { index in
        index.initialize(repeating: 0)
        var o0 = 0, o1 = 0, o2 = 0
        for _ in 0 ..< total {
            body(o0, o1, o2)
            var d = rank - 1
            while d >= 0 {
                index[d] += 1
                o0 += s0[b0 + d]; o1 += s1[b1 + d]; o2 += s2[b2 + d]
                if index[d] < shape[b + d] { break }
                let n = shape[b + d]
                o0 -= s0[b0 + d] * n; o1 -= s1[b1 + d] * n; o2 -= s2[b2 + d] * n
                index[d] = 0
                d -= 1
            }
        }
    }
}

enum BinaryKind { case add, sub, mul, div, squaredDifference, prelu }
enum UnaryKind { case neg, relu, relu6, reluN1To1, logistic, sqrt, rsqrt }

/// Element-wise binary op with NumPy broadcasting, run row by row: the last axis is either
/// contiguous (step 1) or broadcast (step 0) for each operand, and only the outer axes go
/// through the index counter.
struct BinaryKernel {
    let kind: BinaryKind
    let shape: [Int]
    let aStrides: [Int]
    let bStrides: [Int]
    let lower: Float
    let upper: Float

    init(kind: BinaryKind, shape: [Int], aStrides: [Int], bStrides: [Int], lower: Float, upper: Float) {
        self.kind = kind
        self.lower = lower
        self.upper = upper
        // Merge adjacent axes that step the same way in both operands, so a same-shape op
        // becomes one long row and a per-channel broadcast becomes rows of channels.
        var mergedShape: [Int] = [], mergedA: [Int] = [], mergedB: [Int] = []
        for i in shape.indices where shape[i] != 1 {
            if let last = mergedShape.last,
               mergedA.last! == aStrides[i] * shape[i], mergedB.last! == bStrides[i] * shape[i] {
                mergedShape[mergedShape.count - 1] = last * shape[i]
                mergedA[mergedA.count - 1] = aStrides[i]
                mergedB[mergedB.count - 1] = bStrides[i]
            } else {
                mergedShape.append(shape[i]); mergedA.append(aStrides[i]); mergedB.append(bStrides[i])
            }
        }
        if mergedShape.isEmpty { mergedShape = [1]; mergedA = [0]; mergedB = [0] }
        self.shape = mergedShape
        self.aStrides = mergedA
        self.bStrides = mergedB
    }

    @inline(__always)
    static func apply(_ kind: BinaryKind, _ x: Float, _ y: Float) -> Float {
        switch kind {
        case .add: x + y
        case .sub: x - y
        case .mul: x * y
        case .div: x / y
        case .squaredDifference: (x - y) * (x - y)
        case .prelu: x >= 0 ? x : x * y
        }
    }

    @inline(__always)
    static func apply8(_ kind: BinaryKind, _ x: SIMD8<Float>, _ y: SIMD8<Float>) -> SIMD8<Float> {
        switch kind {
        case .add: x + y
        case .sub: x - y
        case .mul: x * y
        case .div: x / y
        case .squaredDifference: (x - y) * (x - y)
        case .prelu: x.replacing(with: x * y, where: x .< 0)
        }
    }

    /// One row of `n` outputs; `sa`/`sb` are 0 (broadcast) or 1 (contiguous).
    @inline(__always)
    private func row(_ a: UnsafePointer<Float>, _ sa: Int, _ b: UnsafePointer<Float>, _ sb: Int,
                     _ out: UnsafeMutablePointer<Float>, _ n: Int) {
        let lo = SIMD8<Float>(repeating: lower), hi = SIMD8<Float>(repeating: upper)
        var i = 0
        let av = sa == 0 ? SIMD8<Float>(repeating: a[0]) : SIMD8<Float>()
        let bv = sb == 0 ? SIMD8<Float>(repeating: b[0]) : SIMD8<Float>()
        while i + 8 <= n {
            let x = sa == 0 ? av : load8(a + i)
            let y = sb == 0 ? bv : load8(b + i)
            store8(vmin(vmax(Self.apply8(kind, x, y), lo), hi), out + i)
            i += 8
        }
        while i < n {
            out[i] = min(max(Self.apply(kind, a[i * sa], b[i * sb]), lower), upper)
            i += 1
        }
    }

    func run(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>) {
        let rank = shape.count
        let n = shape[rank - 1]
        let sa = aStrides[rank - 1], sb = bStrides[rank - 1]
        if sa > 1 || sb > 1 {
            // Last axis strided in an operand (never after merging for these graphs): go element-wise.
            var o = 0
            forEachIndex(shape[...], aStrides[...], bStrides[...], aStrides[...]) { ia, ib, _ in
                out[o] = min(max(Self.apply(kind, a[ia], b[ib]), lower), upper)
                o += 1
            }
            return
        }
        let outer = 0 ..< rank - 1
        var o = out
        forEachIndex(shape[outer], aStrides[outer], bStrides[outer], shape[outer]) { ia, ib, _ in
            row(a + ia, sa, b + ib, sb, o, n)
            o += n
        }
    }
}

struct UnaryKernel {
    let kind: UnaryKind
    let count: Int

    func run(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>) {
        switch kind {
        case .neg: for i in 0 ..< count { out[i] = -x[i] }
        case .relu: for i in 0 ..< count { out[i] = max(x[i], 0) }
        case .relu6: for i in 0 ..< count { out[i] = min(max(x[i], 0), 6) }
        case .reluN1To1: for i in 0 ..< count { out[i] = min(max(x[i], -1), 1) }
        case .logistic: for i in 0 ..< count { out[i] = 1 / (1 + expf(-x[i])) }
        case .sqrt: for i in 0 ..< count { out[i] = x[i].squareRoot() }
        case .rsqrt: for i in 0 ..< count { out[i] = 1 / x[i].squareRoot() }
        }
    }
}

/// Copies a strided view of the input (TRANSPOSE and STRIDED_SLICE) into a dense output,
/// one output row at a time.
struct GatherKernel {
    let shape: [Int]
    let inputStrides: [Int]
    let start: Int
    /// The axes of more than one element before merging, with their input strides, in
    /// output order: what `GraphPlan.pruneToDemand` needs to map output rows to input.
    let liveAxes: [(count: Int, stride: Int)]

    init(shape: [Int], inputStrides: [Int], start: Int) {
        liveAxes = shape.indices.filter { shape[$0] != 1 }.map { (shape[$0], inputStrides[$0]) }
        // Merge axes that are contiguous in the input too, so a slice of whole rows is one copy.
        var mergedShape: [Int] = [], mergedStrides: [Int] = []
        for i in shape.indices where shape[i] != 1 {
            if let last = mergedShape.last, mergedStrides.last! == inputStrides[i] * shape[i] {
                mergedShape[mergedShape.count - 1] = last * shape[i]
                mergedStrides[mergedStrides.count - 1] = inputStrides[i]
            } else {
                mergedShape.append(shape[i]); mergedStrides.append(inputStrides[i])
            }
        }
        if shape.contains(0) { mergedShape = [0]; mergedStrides = [0] }
        if mergedShape.isEmpty { mergedShape = [1]; mergedStrides = [0] }
        self.shape = mergedShape
        self.inputStrides = mergedStrides
        self.start = start
    }

    func run(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>) {
        let rank = shape.count
        let n = shape[rank - 1], step = inputStrides[rank - 1]
        guard n > 0 else { return }
        if rank == 2 && inputStrides[0] == 1 {
            // A 2-D transpose (the blendshape model's, between its token and channel MLPs).
            transposeMatrix(x + start, rows: n, columns: shape[0], stride: step, into: out)
            return
        }
        let outer = 0 ..< rank - 1
        var o = out
        let base = x + start
        forEachIndex(shape[outer], inputStrides[outer], inputStrides[outer], inputStrides[outer]) { i, _, _ in
            let src = base + i
            if step == 1 {
                o.update(from: src, count: n)
            } else {
                for j in 0 ..< n { o[j] = src[j * step] }
            }
            o += n
        }
    }
}

/// PAD with zeros: fills the output, then copies the input into its place.
struct PadKernel {
    let inputShape: [Int]
    let outputStrides: [Int]
    let start: Int
    let outputCount: Int

    func run(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>) {
        out.update(repeating: 0, count: outputCount)
        var i = 0
        let base = out + start
        forEachIndex(inputShape[...], outputStrides[...], outputStrides[...], outputStrides[...]) { o, _, _ in
            base[o] = x[i]
            i += 1
        }
    }
}

/// CONCATENATION: each input contributes `inner[i]` contiguous floats per outer step.
struct ConcatKernel {
    let outer: Int
    let inner: [Int]

    func run(_ inputs: [UnsafePointer<Float>], _ out: UnsafeMutablePointer<Float>) {
        var o = out
        for step in 0 ..< outer {
            for (x, n) in zip(inputs, inner) {
                o.update(from: x + step * n, count: n)
                o += n
            }
        }
    }
}

/// MEAN / SUM over a set of axes, accumulated in Double. Input axes are merged where
/// possible; the last one is then either summed along (reduced) or added as a row (kept).
struct ReduceKernel {
    let inputShape: [Int]
    /// Output strides per input axis (0 on reduced axes).
    let outputStrides: [Int]
    let outputCount: Int
    let divisor: Double
    let scratch: UnsafeMutablePointer<Double>

    init(inputShape: [Int], outputStrides: [Int], outputCount: Int, divisor: Double, scratch: UnsafeMutablePointer<Double>) {
        let inStrides = rowMajorStrides(inputShape)
        var shape: [Int] = [], outs: [Int] = [], ins: [Int] = []
        for i in inputShape.indices where inputShape[i] != 1 {
            if let last = shape.last, ins.last! == inStrides[i] * inputShape[i], outs.last! == outputStrides[i] * inputShape[i] {
                shape[shape.count - 1] = last * inputShape[i]
                outs[outs.count - 1] = outputStrides[i]
                ins[ins.count - 1] = inStrides[i]
            } else {
                shape.append(inputShape[i]); outs.append(outputStrides[i]); ins.append(inStrides[i])
            }
        }
        if inputShape.contains(0) { shape = [0]; outs = [0] }
        if shape.isEmpty { shape = [1]; outs = [0] }
        self.inputShape = shape
        self.outputStrides = outs
        self.outputCount = outputCount
        self.divisor = divisor
        self.scratch = scratch
    }

    func run(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>) {
        let rank = inputShape.count
        let n = inputShape[rank - 1], step = outputStrides[rank - 1]
        if rank == 2, step == 0, outputStrides[0] == 1, n > 0 {
            rowSums(x, out, rows: inputShape[0], n: n)
            return
        }
        scratch.update(repeating: 0, count: outputCount)
        let outer = 0 ..< rank - 1
        var src = x
        if n > 0 {
            forEachIndex(inputShape[outer], outputStrides[outer], outputStrides[outer], outputStrides[outer]) { o, _, _ in
                if step == 0 {
                    var sum = 0.0
                    for j in 0 ..< n { sum += Double(src[j]) }
                    scratch[o] += sum
                } else {
                    for j in 0 ..< n { scratch[o + j * step] += Double(src[j]) }
                }
                src += n
            }
        }
        for o in 0 ..< outputCount { out[o] = Float(scratch[o] / divisor) }
    }

    /// Each row of `n` floats reduced to one value (a layer norm's MEAN): four rows at a
    /// time, one row per lane, so four dependent chains of adds overlap. Each lane adds in
    /// the order the scalar loop does, so the sums keep their bits.
    private func rowSums(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, rows: Int, n: Int) {
        var r = 0
        while r + 4 <= rows {
            let p = x + r * n
            var sum = SIMD4<Double>()
            for j in 0 ..< n {
                sum += SIMD4(Double(p[j]), Double(p[n + j]), Double(p[2 * n + j]), Double(p[3 * n + j]))
            }
            for lane in 0 ..< 4 { out[r + lane] = Float(sum[lane] / divisor) }
            r += 4
        }
        while r < rows {
            let p = x + r * n
            var sum = 0.0
            for j in 0 ..< n { sum += Double(p[j]) }
            out[r] = Float(sum / divisor)
            r += 1
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
