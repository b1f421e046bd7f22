#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Basics

/// Weights of a convolution as a K x N matrix, packed once into column blocks streamed
/// linearly by the micro-kernels: 16 wide (8 for a narrow tail) for 256-bit vectors, or
/// 32 wide (16 or 8 for the tail) when 512-bit vectors are used.
struct PackedMatrix {
    struct Block {
        let column: Int
        let width: Int          // 8, 16 or 32
        let data: UnsafeMutablePointer<Float>   // k * width floats
    }
    let k: Int
    let n: Int
    let blocks: [Block]
    /// Packed for the 512-bit tiles.
    let wide: Bool
    /// The same weights as float16 for products of one row (`gemv`), or nil.
    let half: HalfPanels?

    /// `element(kk, nn)` gives B[kk][nn]. `allocate` owns the memory. With `oneRow`, a
    /// float16 copy is kept too when every weight is a float16 value (the face models'
    /// weights are stored as float16).
    init(k: Int, n: Int, wide: Bool, oneRow: Bool = false,
         allocate: (Int) -> UnsafeMutablePointer<Float>, element: (Int, Int) -> Float) {
        self.k = k
        self.n = n
        self.wide = wide
        half = oneRow ? HalfPanels(k: k, n: n, allocate: allocate, element: element) : nil
        var blocks: [Block] = []
        var column = 0
        while column < n {
            let left = n - column
            let width = left > 16 && wide ? 32 : left > 8 ? 16 : 8
            let data = allocate(k * width)
            for kk in 0 ..< k {
                for j in 0 ..< width {
                    data[kk * width + j] = column + j < n ? element(kk, column + j) : 0
                }
            }
            blocks.append(Block(column: column, width: width, data: data))
            column += width
        }
        self.blocks = blocks
    }
}

/// Float16 weights for one-row products: groups of up to 64 columns (8 vectors of 8), each
/// group's k x width halves contiguous. Only made when every weight converts to float16
/// and back unchanged, so the products see the same float32 weights.
struct HalfPanels {
    struct Group {
        let column: Int
        let width: Int          // a multiple of 8, at most 64
        let data: UnsafeRawPointer
    }
    let groups: [Group]

    init?(k: Int, n: Int, allocate: (Int) -> UnsafeMutablePointer<Float>, element: (Int, Int) -> Float) {
        #if os(macOS) && arch(x86_64)
        // Swift has no Float16 on Intel Macs: one-row products use the float32 tiles there.
        return nil
        #else
        for kk in 0 ..< k {
            for nn in 0 ..< n {
                let v = element(kk, nn)
                guard Float(Float16(v)) == v else { return nil }
            }
        }
        var groups: [Group] = []
        var column = 0
        while column < n {
            let width = min(64, (n - column + 7) / 8 * 8)
            // Two halves per float of the allocation; the padding columns are zeros.
            let data = UnsafeMutableRawPointer(allocate((k * width + 1) / 2))
            for kk in 0 ..< k {
                for j in 0 ..< width {
                    let v: Float16 = column + j < n ? Float16(element(kk, column + j)) : 0
                    data.storeBytes(of: v, toByteOffset: 2 * (kk * width + j), as: Float16.self)
                }
            }
            groups.append(Group(column: column, width: width, data: UnsafeRawPointer(data)))
            column += width
        }
        self.groups = groups
        #endif
    }
}

/// Which GEMM tiles the interpreter uses. The package builds with `-target-cpu native`,
/// so a CPU with AVX-512 also gets code with 32 vector registers: there 512-bit tiles
/// (8x16, 4x32) pay; on AVX2 they would spill, and 256-bit tiles sized for 16 registers
/// (6x16, 12x8) are used.
///
/// Both paths give the same bits: each output is one chain of fused multiply-adds over k
/// in the same order, whatever the tile width, and the epilogue is per element. So the
/// path is not part of any memo key; `KernelPathTests` checks it on real images.
public enum KernelPath: String, Sendable, CaseIterable {
    /// 256-bit tiles (6x16 and 12x8, with 4x16 and 8x8 for the last rows), what an AVX2 CPU runs.
    case avx2
    /// 512-bit tiles (8x16, 4x32, 8x8 tail), chosen when the CPU has AVX-512F and VL.
    case avx512

    /// `BLENDSET_SIMD=avx2|avx512|auto` when set, else (or with `auto`) the best path for
    /// this CPU. Read once per process, at the first model load.
    public static let preferred: KernelPath = {
        let value = getenv("BLENDSET_SIMD").map { String(cString: $0) } ?? "auto"
        if let path = KernelPath(environmentValue: value) { return path }
        let warning = "blendset: BLENDSET_SIMD=\(value) is not one of avx2, avx512, auto; using auto\n"
        _ = warning.withCString { write(2, $0, strlen($0)) }
        return detected
    }()

    /// The path for a `BLENDSET_SIMD` value: `auto` (or empty) → `detected`, nil if unknown.
    public init?(environmentValue value: String) {
        switch value.lowercased() {
        case "", "auto": self = KernelPath.detected
        case "avx2": self = .avx2
        case "avx512", "avx-512": self = .avx512
        default: return nil
        }
    }

    /// What this CPU supports best.
    public static let detected: KernelPath = {
        #if arch(x86_64) && os(Linux)
        let flags = CPUFlags.current
        return flags.contains("avx512f") && flags.contains("avx512vl") ? .avx512 : .avx2
        #else
        return .avx2
        #endif
    }()
}

/// What happens to each accumulated value before it is stored, in TFLite graph order:
/// bias, then a residual ADD, then a clamp (fused RELU/RELU6), then PRELU.
struct Epilogue {
    /// Bias per output column, readable 32 floats past the last column.
    var bias: UnsafePointer<Float>
    var lower: Float = -.infinity
    var upper: Float = .infinity
    /// PRELU slopes per output column, padded like `bias`.
    var alpha: UnsafePointer<Float>? = nil
    /// Residual tensor added before the clamp; only its first `residualChannels` columns
    /// exist (TFLite pads the rest with zeros through a channel PAD).
    var residual: UnsafePointer<Float>? = nil
    var residualStride: Int = 0
    var residualChannels: Int = 0
}

@inline(__always) func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}

@inline(__always) func load16(_ p: UnsafePointer<Float>) -> SIMD16<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
}

@inline(__always) func store16(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD16<Float>.self)
}

/// Lane-wise max/min that lower to single vmaxps/vminps (the generic `pointwiseMax` is
/// not specialised across modules and showed up as a call per vector).
@inline(__always) func vmax(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> { a.replacing(with: b, where: a .< b) }
@inline(__always) func vmin(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> { a.replacing(with: b, where: b .< a) }

@inline(__always) func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
}

/// The epilogue of 8 output columns starting at `column`, in registers.
struct Finish8 {
    let bias: SIMD8<Float>, alpha: SIMD8<Float>, lower: SIMD8<Float>, upper: SIMD8<Float>
    /// Lanes that have a residual value; the others add zero.
    let keep: SIMDMask<SIMD8<Int32>>
    /// Residual at row 0 of the tile and this column, or nil when no lane has one.
    var residual: UnsafePointer<Float>?
    let stride: Int
    /// Which steps do anything: skipping the others matters for small-K layers, where
    /// the epilogue costs as much as the multiply-adds.
    let partialResidual: Bool, clamps: Bool, prelu: Bool

    @inline(__always)
    init(_ e: Epilogue, column: Int, row: Int) {
        bias = load8(e.bias + column)
        alpha = e.alpha.map { load8($0 + column) } ?? SIMD8(repeating: 1)
        lower = SIMD8(repeating: e.lower)
        upper = SIMD8(repeating: e.upper)
        keep = SIMD8<Int32>(0, 1, 2, 3, 4, 5, 6, 7) .< SIMD8(repeating: Int32(clamping: e.residualChannels - column))
        residual = e.residual.flatMap { column < e.residualChannels ? $0 + row * e.residualStride + column : nil }
        stride = e.residualStride
        partialResidual = e.residualChannels - column < 8
        clamps = e.lower != -.infinity || e.upper != .infinity
        prelu = e.alpha != nil
    }

    @_transparent
    func callAsFunction(_ acc: SIMD8<Float>, row: Int, _ out: UnsafeMutablePointer<Float>) {
        var v = acc + bias
        if let residual {
            let r = load8(residual + row * stride)
            v += partialResidual ? r.replacing(with: 0, where: .!keep) : r
        }
        if clamps { v = vmin(vmax(v, lower), upper) }
        if prelu { v.replace(with: v * alpha, where: v .< 0) }
        store8(v, out)
    }
}

/// `Finish8` for 16 columns.
struct Finish16 {
    let bias: SIMD16<Float>, alpha: SIMD16<Float>, lower: SIMD16<Float>, upper: SIMD16<Float>
    let keep: SIMDMask<SIMD16<Int32>>
    var residual: UnsafePointer<Float>?
    let stride: Int
    let partialResidual: Bool, clamps: Bool, prelu: Bool

    @inline(__always)
    init(_ e: Epilogue, column: Int, row: Int) {
        bias = load16(e.bias + column)
        alpha = e.alpha.map { load16($0 + column) } ?? SIMD16(repeating: 1)
        lower = SIMD16(repeating: e.lower)
        upper = SIMD16(repeating: e.upper)
        keep = SIMD16<Int32>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
            .< SIMD16(repeating: Int32(clamping: e.residualChannels - column))
        residual = e.residual.flatMap { column < e.residualChannels ? $0 + row * e.residualStride + column : nil }
        stride = e.residualStride
        partialResidual = e.residualChannels - column < 16
        clamps = e.lower != -.infinity || e.upper != .infinity
        prelu = e.alpha != nil
    }

    @_transparent
    func callAsFunction(_ acc: SIMD16<Float>, row: Int, _ out: UnsafeMutablePointer<Float>) {
        var v = acc + bias
        if let residual {
            let r = load16(residual + row * stride)
            v += partialResidual ? r.replacing(with: 0, where: .!keep) : r
        }
        if clamps {
            v = v.replacing(with: lower, where: v .< lower)
            v = v.replacing(with: upper, where: upper .< v)
        }
        if prelu { v.replace(with: v * alpha, where: v .< 0) }
        store16(v, out)
    }
}

/// C[m][n] = epilogue(sum_k A[m][k] * B[k][n]) for `rows` rows of A (row stride `lda`);
/// `c` (row stride n) and the epilogue's residual point at the first row.
///
/// Every tile stores whole vectors, also past column n: the excess lands in the next row,
/// which is written later (column blocks run last to first, rows first to last), or, after
/// the last row, in the 32 floats of slack every buffer here has. Residual lanes past
/// `residualChannels` are masked to zero but still read, within the same slack.
///
/// With `segments > 1`, row m of A is `segments` runs of `k / segments` floats, run s at
/// `a + m * lda + s * segmentStride`: a convolution reads its input in place this way.
func gemm(a: UnsafePointer<Float>, lda: Int, rows: Int, b: PackedMatrix,
          epilogue e: Epilogue, c: UnsafeMutablePointer<Float>, ldc: Int,
          segments: Int = 1, segmentStride: Int = 0) {
    assert(ldc == b.n, "whole-vector stores need dense rows")
    assert(b.k % segments == 0)
    #if !(os(macOS) && arch(x86_64))
    if rows == 1, let half = b.half {
        gemv(a: a, b: b, half: half, epilogue: e, c: c, segments: segments, segmentStride: segmentStride)
        return
    }
    #endif
    let segmentLength = b.k / segments
    // Rows in blocks that keep A in L1 while every column block passes over it; 48 on the
    // 256-bit path is a whole number of its 6- and 12-row tiles.
    let rowBlock = b.wide ? 64 : 48
    var m0 = 0
    while m0 < rows {
        let mEnd = min(rows, m0 + rowBlock)
        for block in b.blocks.reversed() {
            let col = block.column
            let w = block.data
            var m = m0
            switch block.width {
            case 32:
                while m < mEnd {
                    let count = min(4, mEnd - m)
                    let a0 = a + m * lda
                    let a1 = count > 1 ? a0 + lda : a0, a2 = count > 2 ? a0 + 2 * lda : a0, a3 = count > 3 ? a0 + 3 * lda : a0
                    var c00 = SIMD16<Float>(), c01 = SIMD16<Float>(), c10 = SIMD16<Float>(), c11 = SIMD16<Float>()
                    var c20 = SIMD16<Float>(), c21 = SIMD16<Float>(), c30 = SIMD16<Float>(), c31 = SIMD16<Float>()
                    var pw = w
                    for seg in 0 ..< segments {
                        let so = seg * segmentStride
                        for kk in so ..< so + segmentLength {
                            let b0 = load16(pw), b1 = load16(pw + 16)
                            let s0 = SIMD16<Float>(repeating: a0[kk])
                            c00.addProduct(s0, b0); c01.addProduct(s0, b1)
                            let s1 = SIMD16<Float>(repeating: a1[kk])
                            c10.addProduct(s1, b0); c11.addProduct(s1, b1)
                            let s2 = SIMD16<Float>(repeating: a2[kk])
                            c20.addProduct(s2, b0); c21.addProduct(s2, b1)
                            let s3 = SIMD16<Float>(repeating: a3[kk])
                            c30.addProduct(s3, b0); c31.addProduct(s3, b1)
                            pw += 32
                        }
                    }
                    let f0 = Finish16(e, column: col, row: m), f1 = Finish16(e, column: col + 16, row: m)
                    let out = c + m * ldc + col
                    f0(c00, row: 0, out); f1(c01, row: 0, out + 16)
                    if count > 1 { f0(c10, row: 1, out + ldc); f1(c11, row: 1, out + ldc + 16) }
                    if count > 2 { f0(c20, row: 2, out + 2 * ldc); f1(c21, row: 2, out + 2 * ldc + 16) }
                    if count > 3 { f0(c30, row: 3, out + 3 * ldc); f1(c31, row: 3, out + 3 * ldc + 16) }
                    m += 4
                }
            case 16 where b.wide:
                while m < mEnd {
                    let count = min(8, mEnd - m)
                    let a0 = a + m * lda
                    let a1 = count > 1 ? a0 + lda : a0, a2 = count > 2 ? a0 + 2 * lda : a0, a3 = count > 3 ? a0 + 3 * lda : a0
                    let a4 = count > 4 ? a0 + 4 * lda : a0, a5 = count > 5 ? a0 + 5 * lda : a0, a6 = count > 6 ? a0 + 6 * lda : a0
                    let a7 = count > 7 ? a0 + 7 * lda : a0
                    var c0 = SIMD16<Float>(), c1 = SIMD16<Float>(), c2 = SIMD16<Float>(), c3 = SIMD16<Float>()
                    var c4 = SIMD16<Float>(), c5 = SIMD16<Float>(), c6 = SIMD16<Float>(), c7 = SIMD16<Float>()
                    var pw = w
                    for seg in 0 ..< segments {
                        let so = seg * segmentStride
                        for kk in so ..< so + segmentLength {
                            let bv = load16(pw)
                            c0.addProduct(SIMD16(repeating: a0[kk]), bv)
                            c1.addProduct(SIMD16(repeating: a1[kk]), bv)
                            c2.addProduct(SIMD16(repeating: a2[kk]), bv)
                            c3.addProduct(SIMD16(repeating: a3[kk]), bv)
                            c4.addProduct(SIMD16(repeating: a4[kk]), bv)
                            c5.addProduct(SIMD16(repeating: a5[kk]), bv)
                            c6.addProduct(SIMD16(repeating: a6[kk]), bv)
                            c7.addProduct(SIMD16(repeating: a7[kk]), bv)
                            pw += 16
                        }
                    }
                    let f = Finish16(e, column: col, row: m)
                    let out = c + m * ldc + col
                    f(c0, row: 0, out)
                    if count > 1 { f(c1, row: 1, out + ldc) }
                    if count > 2 { f(c2, row: 2, out + 2 * ldc) }
                    if count > 3 { f(c3, row: 3, out + 3 * ldc) }
                    if count > 4 { f(c4, row: 4, out + 4 * ldc) }
                    if count > 5 { f(c5, row: 5, out + 5 * ldc) }
                    if count > 6 { f(c6, row: 6, out + 6 * ldc) }
                    if count > 7 { f(c7, row: 7, out + 7 * ldc) }
                    m += 8
                }
            case 16:
                // 6 rows x 16 columns: 12 accumulators, 2 weight vectors and a broadcast fill
                // the 16 ymm registers of an AVX2 CPU, with 12 independent FMA chains (8 in the
                // 4x16 tile only just cover the FMA latency) and 8 loads per 12 FMAs, not 6 per 8.
                while m + 6 <= mEnd {
                    let a0 = a + m * lda, a1 = a0 + lda, a2 = a0 + 2 * lda, a3 = a0 + 3 * lda, a4 = a0 + 4 * lda, a5 = a0 + 5 * lda
                    var c00 = SIMD8<Float>(), c01 = SIMD8<Float>(), c10 = SIMD8<Float>(), c11 = SIMD8<Float>()
                    var c20 = SIMD8<Float>(), c21 = SIMD8<Float>(), c30 = SIMD8<Float>(), c31 = SIMD8<Float>()
                    var c40 = SIMD8<Float>(), c41 = SIMD8<Float>(), c50 = SIMD8<Float>(), c51 = SIMD8<Float>()
                    var pw = w
                    for seg in 0 ..< segments {
                        let so = seg * segmentStride
                        for kk in so ..< so + segmentLength {
                            let b0 = load8(pw), b1 = load8(pw + 8)
                            let s0 = SIMD8<Float>(repeating: a0[kk])
                            c00.addProduct(s0, b0); c01.addProduct(s0, b1)
                            let s1 = SIMD8<Float>(repeating: a1[kk])
                            c10.addProduct(s1, b0); c11.addProduct(s1, b1)
                            let s2 = SIMD8<Float>(repeating: a2[kk])
                            c20.addProduct(s2, b0); c21.addProduct(s2, b1)
                            let s3 = SIMD8<Float>(repeating: a3[kk])
                            c30.addProduct(s3, b0); c31.addProduct(s3, b1)
                            let s4 = SIMD8<Float>(repeating: a4[kk])
                            c40.addProduct(s4, b0); c41.addProduct(s4, b1)
                            let s5 = SIMD8<Float>(repeating: a5[kk])
                            c50.addProduct(s5, b0); c51.addProduct(s5, b1)
                            pw += 16
                        }
                    }
                    let f0 = Finish8(e, column: col, row: m), f1 = Finish8(e, column: col + 8, row: m)
                    let out = c + m * ldc + col
                    f0(c00, row: 0, out); f1(c01, row: 0, out + 8)
                    f0(c10, row: 1, out + ldc); f1(c11, row: 1, out + ldc + 8)
                    f0(c20, row: 2, out + 2 * ldc); f1(c21, row: 2, out + 2 * ldc + 8)
                    f0(c30, row: 3, out + 3 * ldc); f1(c31, row: 3, out + 3 * ldc + 8)
                    f0(c40, row: 4, out + 4 * ldc); f1(c41, row: 4, out + 4 * ldc + 8)
                    f0(c50, row: 5, out + 5 * ldc); f1(c51, row: 5, out + 5 * ldc + 8)
                    m += 6
                }
                // The last 1-5 rows of the row block: 4x16 tiles.
                while m < mEnd {
                    let count = min(4, mEnd - m)
                    let a0 = a + m * lda
                    let a1 = count > 1 ? a0 + lda : a0, a2 = count > 2 ? a0 + 2 * lda : a0, a3 = count > 3 ? a0 + 3 * lda : a0
                    var c00 = SIMD8<Float>(), c01 = SIMD8<Float>(), c10 = SIMD8<Float>(), c11 = SIMD8<Float>()
                    var c20 = SIMD8<Float>(), c21 = SIMD8<Float>(), c30 = SIMD8<Float>(), c31 = SIMD8<Float>()
                    var pw = w
                    for seg in 0 ..< segments {
                        let so = seg * segmentStride
                        for kk in so ..< so + segmentLength {
                            let b0 = load8(pw), b1 = load8(pw + 8)
                            let s0 = SIMD8<Float>(repeating: a0[kk])
                            c00.addProduct(s0, b0); c01.addProduct(s0, b1)
                            let s1 = SIMD8<Float>(repeating: a1[kk])
                            c10.addProduct(s1, b0); c11.addProduct(s1, b1)
                            let s2 = SIMD8<Float>(repeating: a2[kk])
                            c20.addProduct(s2, b0); c21.addProduct(s2, b1)
                            let s3 = SIMD8<Float>(repeating: a3[kk])
                            c30.addProduct(s3, b0); c31.addProduct(s3, b1)
                            pw += 16
                        }
                    }
                    let f0 = Finish8(e, column: col, row: m), f1 = Finish8(e, column: col + 8, row: m)
                    let out = c + m * ldc + col
                    f0(c00, row: 0, out); f1(c01, row: 0, out + 8)
                    if count > 1 { f0(c10, row: 1, out + ldc); f1(c11, row: 1, out + ldc + 8) }
                    if count > 2 { f0(c20, row: 2, out + 2 * ldc); f1(c21, row: 2, out + 2 * ldc + 8) }
                    if count > 3 { f0(c30, row: 3, out + 3 * ldc); f1(c31, row: 3, out + 3 * ldc + 8) }
                    m += 4
                }
            default:
                // 8 columns on the 256-bit path: 12 rows per tile, so 12 independent FMA chains
                // in 14 of the 16 ymm registers; the last 1-11 rows take the 8x8 tile below.
                while !b.wide && m + 12 <= mEnd {
                    let a0 = a + m * lda, a1 = a0 + lda, a2 = a0 + 2 * lda, a3 = a0 + 3 * lda
                    let a4 = a0 + 4 * lda, a5 = a0 + 5 * lda, a6 = a0 + 6 * lda, a7 = a0 + 7 * lda
                    let a8 = a0 + 8 * lda, a9 = a0 + 9 * lda, a10 = a0 + 10 * lda, a11 = a0 + 11 * lda
                    var c0 = SIMD8<Float>(), c1 = SIMD8<Float>(), c2 = SIMD8<Float>(), c3 = SIMD8<Float>()
                    var c4 = SIMD8<Float>(), c5 = SIMD8<Float>(), c6 = SIMD8<Float>(), c7 = SIMD8<Float>()
                    var c8 = SIMD8<Float>(), c9 = SIMD8<Float>(), c10 = SIMD8<Float>(), c11 = SIMD8<Float>()
                    var pw = w
                    for seg in 0 ..< segments {
                        let so = seg * segmentStride
                        for kk in so ..< so + segmentLength {
                            let bv = load8(pw)
                            c0.addProduct(SIMD8(repeating: a0[kk]), bv)
                            c1.addProduct(SIMD8(repeating: a1[kk]), bv)
                            c2.addProduct(SIMD8(repeating: a2[kk]), bv)
                            c3.addProduct(SIMD8(repeating: a3[kk]), bv)
                            c4.addProduct(SIMD8(repeating: a4[kk]), bv)
                            c5.addProduct(SIMD8(repeating: a5[kk]), bv)
                            c6.addProduct(SIMD8(repeating: a6[kk]), bv)
                            c7.addProduct(SIMD8(repeating: a7[kk]), bv)
                            c8.addProduct(SIMD8(repeating: a8[kk]), bv)
                            c9.addProduct(SIMD8(repeating: a9[kk]), bv)
                            c10.addProduct(SIMD8(repeating: a10[kk]), bv)
                            c11.addProduct(SIMD8(repeating: a11[kk]), bv)
                            pw += 8
                        }
                    }
                    let f = Finish8(e, column: col, row: m)
                    let out = c + m * ldc + col
                    f(c0, row: 0, out); f(c1, row: 1, out + ldc); f(c2, row: 2, out + 2 * ldc); f(c3, row: 3, out + 3 * ldc)
                    f(c4, row: 4, out + 4 * ldc); f(c5, row: 5, out + 5 * ldc); f(c6, row: 6, out + 6 * ldc); f(c7, row: 7, out + 7 * ldc)
                    f(c8, row: 8, out + 8 * ldc); f(c9, row: 9, out + 9 * ldc); f(c10, row: 10, out + 10 * ldc); f(c11, row: 11, out + 11 * ldc)
                    m += 12
                }
                while m < mEnd {
                    let count = min(8, mEnd - m)
                    let a0 = a + m * lda
                    let a1 = count > 1 ? a0 + lda : a0, a2 = count > 2 ? a0 + 2 * lda : a0, a3 = count > 3 ? a0 + 3 * lda : a0
                    let a4 = count > 4 ? a0 + 4 * lda : a0, a5 = count > 5 ? a0 + 5 * lda : a0, a6 = count > 6 ? a0 + 6 * lda : a0
                    let a7 = count > 7 ? a0 + 7 * lda : a0
                    var c0 = SIMD8<Float>(), c1 = SIMD8<Float>(), c2 = SIMD8<Float>(), c3 = SIMD8<Float>()
                    var c4 = SIMD8<Float>(), c5 = SIMD8<Float>(), c6 = SIMD8<Float>(), c7 = SIMD8<Float>()
                    var pw = w
                    for seg in 0 ..< segments {
                        let so = seg * segmentStride
                        for kk in so ..< so + segmentLength {
                            let bv = load8(pw)
                            c0.addProduct(SIMD8(repeating: a0[kk]), bv)
                            c1.addProduct(SIMD8(repeating: a1[kk]), bv)
                            c2.addProduct(SIMD8(repeating: a2[kk]), bv)
                            c3.addProduct(SIMD8(repeating: a3[kk]), bv)
                            c4.addProduct(SIMD8(repeating: a4[kk]), bv)
                            c5.addProduct(SIMD8(repeating: a5[kk]), bv)
                            c6.addProduct(SIMD8(repeating: a6[kk]), bv)
                            c7.addProduct(SIMD8(repeating: a7[kk]), bv)
                            pw += 8
                        }
                    }
                    let f = Finish8(e, column: col, row: m)
                    let out = c + m * ldc + col
                    f(c0, row: 0, out)
                    if count > 1 { f(c1, row: 1, out + ldc) }
                    if count > 2 { f(c2, row: 2, out + 2 * ldc) }
                    if count > 3 { f(c3, row: 3, out + 3 * ldc) }
                    if count > 4 { f(c4, row: 4, out + 4 * ldc) }
                    if count > 5 { f(c5, row: 5, out + 5 * ldc) }
                    if count > 6 { f(c6, row: 6, out + 6 * ldc) }
                    if count > 7 { f(c7, row: 7, out + 7 * ldc) }
                    m += 8
                }
            }
        }
        m0 = mEnd
    }
}

#if !(os(macOS) && arch(x86_64))
/// `gemm` of one row with the float16 copy of the weights. Each output is the same chain of
/// fused multiply-adds over k from zero, then the same epilogue, so the bits are the tiles';
/// the weights cost half the memory traffic (the face mesh's last layer, 512 x 1434, streams
/// 2.9 MB of float32 per image), and eight independent chains hide the FMA latency.
func gemv(a: UnsafePointer<Float>, b: PackedMatrix, half: HalfPanels, epilogue e: Epilogue,
          c: UnsafeMutablePointer<Float>, segments: Int, segmentStride: Int) {
    let segmentLength = b.k / segments
    // A pruned matrix (`keepingColumns`) computes only the columns its blocks cover.
    let limit = b.blocks.reduce(0) { max($0, $1.column + $1.width) }
    for group in half.groups where group.column < limit {
        let p = group.data
        let out = c + group.column
        if group.width == 64 {
            var c0 = SIMD8<Float>(), c1 = SIMD8<Float>(), c2 = SIMD8<Float>(), c3 = SIMD8<Float>()
            var c4 = SIMD8<Float>(), c5 = SIMD8<Float>(), c6 = SIMD8<Float>(), c7 = SIMD8<Float>()
            var offset = 0
            for seg in 0 ..< segments {
                let so = seg * segmentStride
                for kk in so ..< so + segmentLength {
                    let s = SIMD8<Float>(repeating: a[kk])
                    c0.addProduct(s, half8(p, offset)); c1.addProduct(s, half8(p, offset + 16))
                    c2.addProduct(s, half8(p, offset + 32)); c3.addProduct(s, half8(p, offset + 48))
                    c4.addProduct(s, half8(p, offset + 64)); c5.addProduct(s, half8(p, offset + 80))
                    c6.addProduct(s, half8(p, offset + 96)); c7.addProduct(s, half8(p, offset + 112))
                    offset += 128
                }
            }
            let col = group.column
            Finish8(e, column: col, row: 0)(c0, row: 0, out)
            Finish8(e, column: col + 8, row: 0)(c1, row: 0, out + 8)
            Finish8(e, column: col + 16, row: 0)(c2, row: 0, out + 16)
            Finish8(e, column: col + 24, row: 0)(c3, row: 0, out + 24)
            Finish8(e, column: col + 32, row: 0)(c4, row: 0, out + 32)
            Finish8(e, column: col + 40, row: 0)(c5, row: 0, out + 40)
            Finish8(e, column: col + 48, row: 0)(c6, row: 0, out + 48)
            Finish8(e, column: col + 56, row: 0)(c7, row: 0, out + 56)
        } else {
            // The last, narrower group: one chain per 8 columns.
            for j in 0 ..< group.width / 8 {
                var acc = SIMD8<Float>()
                var offset = 16 * j
                for seg in 0 ..< segments {
                    let so = seg * segmentStride
                    for kk in so ..< so + segmentLength {
                        acc.addProduct(SIMD8<Float>(repeating: a[kk]), half8(p, offset))
                        offset += 2 * group.width
                    }
                }
                Finish8(e, column: group.column + 8 * j, row: 0)(acc, row: 0, out + 8 * j)
            }
        }
    }
}

/// Eight float16 weights at `byteOffset`, widened to float32 (exactly).
@inline(__always) func half8(_ p: UnsafeRawPointer, _ byteOffset: Int) -> SIMD8<Float> {
    SIMD8<Float>(p.loadUnaligned(fromByteOffset: byteOffset, as: SIMD8<Float16>.self))
}
#endif
