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

    /// `element(kk, nn)` gives B[kk][nn]. `allocate` owns the memory.
    init(k: Int, n: Int, wide: Bool = CPUFeatures.prefers512BitVectors,
         allocate: (Int) -> UnsafeMutablePointer<Float>, element: (Int, Int) -> Float) {
        self.k = k
        self.n = n
        self.wide = wide
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

/// Which GEMM tiles suit this CPU. The package builds with `-target-cpu native`, so a CPU
/// with AVX-512 also gets code with 32 vector registers: there 512-bit tiles (8x16, 4x32)
/// pay; on AVX2 they would spill, and the 256-bit 4x16 tile is used.
enum CPUFeatures {
    static let prefers512BitVectors: Bool = {
        #if arch(x86_64) && os(Linux)
        guard let info = try? readWholeFile("/proc/cpuinfo") else { return false }
        let text = String(decoding: info.prefix(1 << 16), as: UTF8.self)
        guard let flags = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return false }
        let set = Set(flags.split(separator: " "))
        return set.contains("avx512f") && set.contains("avx512vl")
        #else
        return false
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

/// Lane-wise max/min that lower to single vmaxps/vminps (the generic `pointwiseMax` is
/// not specialised across modules and showed up as a call per vector).
@inline(__always) func vmax(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> { a.replacing(with: b, where: a .< b) }
@inline(__always) func vmin(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> { a.replacing(with: b, where: b .< a) }

@inline(__always) func load16(_ p: UnsafePointer<Float>) -> SIMD16<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
}

@inline(__always) func store16(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD16<Float>.self)
}

@inline(__always) func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
}

extension Epilogue {
    /// Finishes 8 lanes of row `row` starting at output column `column` and stores the valid
    /// ones: the general path, for column blocks that run past `n` or the residual.
    func finish(_ acc: SIMD8<Float>, row: Int, column: Int, n: Int, out: UnsafeMutablePointer<Float>) {
        guard column < n else { return }
        var v = acc + load8(bias + column)
        if let residual, column < residualChannels {
            let r = residual + row * residualStride + column
            if column + 8 <= residualChannels {
                v += load8(r)
            } else {
                for lane in 0 ..< residualChannels - column { v[lane] += r[lane] }
            }
        }
        if lower != -.infinity { v = vmax(v, SIMD8(repeating: lower)) }
        if upper != .infinity { v = vmin(v, SIMD8(repeating: upper)) }
        if let alpha {
            v.replace(with: v * load8(alpha + column), where: v .< 0)
        }
        if column + 8 <= n {
            store8(v, out + column)
        } else {
            for lane in 0 ..< n - column { out[column + lane] = v[lane] }
        }
    }
}

/// Bias, residual, clamp and PRELU on 8 full lanes: the branch-free path of `Epilogue`.
/// Transparent because `@inline(__always)` was not honoured inside the large `gemm` body.
@_transparent
func finish8(_ acc: SIMD8<Float>, bias: SIMD8<Float>, alpha: SIMD8<Float>, lower: SIMD8<Float>, upper: SIMD8<Float>,
             residual: UnsafePointer<Float>?, out: UnsafeMutablePointer<Float>) {
    var v = acc + bias
    if let residual { v += load8(residual) }
    v = vmin(vmax(v, lower), upper)
    v.replace(with: v * alpha, where: v .< 0)
    store8(v, out)
}

/// `finish8` on 16 lanes.
@_transparent
func finish16(_ acc: SIMD16<Float>, bias: SIMD16<Float>, alpha: SIMD16<Float>, lower: SIMD16<Float>, upper: SIMD16<Float>,
              residual: UnsafePointer<Float>?, out: UnsafeMutablePointer<Float>) {
    var v = acc + bias
    if let residual { v += load16(residual) }
    v = v.replacing(with: lower, where: v .< lower)
    v = v.replacing(with: upper, where: upper .< v)
    v.replace(with: v * alpha, where: v .< 0)
    store16(v, out)
}

extension Epilogue {
    /// The general path for 16 lanes: two 8-lane halves.
    func finish(_ acc: SIMD16<Float>, row: Int, column: Int, n: Int, out: UnsafeMutablePointer<Float>) {
        finish(acc.lowHalf, row: row, column: column, n: n, out: out)
        finish(acc.highHalf, row: row, column: column + 8, n: n, out: out)
    }
}

/// 512-bit tiles for one column block of width 16 (8 rows) or 32 (4 rows x 2 vectors).
@inline(__always)
func gemmWideBlock(a: UnsafePointer<Float>, lda: Int, m0: Int, mEnd: Int, k: Int, n: Int, block: PackedMatrix.Block,
                   epilogue: Epilogue, c: UnsafeMutablePointer<Float>, ldc: Int) {
    let col = block.column
    let w = block.data
    let fast = col + block.width <= n && (epilogue.residual == nil || col + block.width <= epilogue.residualChannels)
    let lower = SIMD16<Float>(repeating: epilogue.lower), upper = SIMD16<Float>(repeating: epilogue.upper)
    let ones = SIMD16<Float>(repeating: 1)
    let bias0 = load16(epilogue.bias + col), bias1 = load16(epilogue.bias + col + 16)
    let alpha0 = epilogue.alpha.map { load16($0 + col) } ?? ones
    let alpha1 = epilogue.alpha.map { load16($0 + col + 16) } ?? ones
    let rs = epilogue.residualStride
    var epi = epilogue
    var m = m0
    if block.width == 16 {
        while m < mEnd {
            let count = min(8, mEnd - m)
            let a0 = a + m * lda
            let a1 = count > 1 ? a0 + lda : a0, a2 = count > 2 ? a0 + 2 * lda : a0, a3 = count > 3 ? a0 + 3 * lda : a0
            let a4 = count > 4 ? a0 + 4 * lda : a0, a5 = count > 5 ? a0 + 5 * lda : a0, a6 = count > 6 ? a0 + 6 * lda : a0
            let a7 = count > 7 ? a0 + 7 * lda : a0
            var c0 = SIMD16<Float>(), c1 = SIMD16<Float>(), c2 = SIMD16<Float>(), c3 = SIMD16<Float>()
            var c4 = SIMD16<Float>(), c5 = SIMD16<Float>(), c6 = SIMD16<Float>(), c7 = SIMD16<Float>()
            var pw = w
            for kk in 0 ..< k {
                let b = load16(pw)
                c0.addProduct(SIMD16(repeating: a0[kk]), b)
                c1.addProduct(SIMD16(repeating: a1[kk]), b)
                c2.addProduct(SIMD16(repeating: a2[kk]), b)
                c3.addProduct(SIMD16(repeating: a3[kk]), b)
                c4.addProduct(SIMD16(repeating: a4[kk]), b)
                c5.addProduct(SIMD16(repeating: a5[kk]), b)
                c6.addProduct(SIMD16(repeating: a6[kk]), b)
                c7.addProduct(SIMD16(repeating: a7[kk]), b)
                pw += 16
            }
            let out = c + m * ldc
            let accs = (c0, c1, c2, c3, c4, c5, c6, c7)
            if fast {
                let residual = epilogue.residual.map { $0 + m * rs + col }
                finish16(accs.0, bias: bias0, alpha: alpha0, lower: lower, upper: upper, residual: residual, out: out + col)
                if count > 1 { finish16(accs.1, bias: bias0, alpha: alpha0, lower: lower, upper: upper, residual: residual.map { $0 + rs }, out: out + ldc + col) }
                if count > 2 { finish16(accs.2, bias: bias0, alpha: alpha0, lower: lower, upper: upper, residual: residual.map { $0 + 2 * rs }, out: out + 2 * ldc + col) }
                if count > 3 { finish16(accs.3, bias: bias0, alpha: alpha0, lower: lower, upper: upper, residual: residual.map { $0 + 3 * rs }, out: out + 3 * ldc + col) }
                if count > 4 { finish16(accs.4, bias: bias0, alpha: alpha0, lower: lower, upper: upper, residual: residual.map { $0 + 4 * rs }, out: out + 4 * ldc + col) }
                if count > 5 { finish16(accs.5, bias: bias0, alpha: alpha0, lower: lower, upper: upper, residual: residual.map { $0 + 5 * rs }, out: out + 5 * ldc + col) }
                if count > 6 { finish16(accs.6, bias: bias0, alpha: alpha0, lower: lower, upper: upper, residual: residual.map { $0 + 6 * rs }, out: out + 6 * ldc + col) }
                if count > 7 { finish16(accs.7, bias: bias0, alpha: alpha0, lower: lower, upper: upper, residual: residual.map { $0 + 7 * rs }, out: out + 7 * ldc + col) }
            } else {
                epi.residual = epilogue.residual.map { $0 + m * rs }
                let list = [accs.0, accs.1, accs.2, accs.3, accs.4, accs.5, accs.6, accs.7]
                for r in 0 ..< count { epi.finish(list[r], row: r, column: col, n: n, out: out + r * ldc) }
            }
            m += 8
        }
    } else {
        while m < mEnd {
            let count = min(4, mEnd - m)
            let a0 = a + m * lda
            let a1 = count > 1 ? a0 + lda : a0, a2 = count > 2 ? a0 + 2 * lda : a0, a3 = count > 3 ? a0 + 3 * lda : a0
            var c00 = SIMD16<Float>(), c01 = SIMD16<Float>(), c10 = SIMD16<Float>(), c11 = SIMD16<Float>()
            var c20 = SIMD16<Float>(), c21 = SIMD16<Float>(), c30 = SIMD16<Float>(), c31 = SIMD16<Float>()
            var pw = w
            for kk in 0 ..< k {
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
            let out = c + m * ldc
            if fast {
                let r0 = epilogue.residual.map { $0 + m * rs + col }
                finish16(c00, bias: bias0, alpha: alpha0, lower: lower, upper: upper, residual: r0, out: out + col)
                finish16(c01, bias: bias1, alpha: alpha1, lower: lower, upper: upper, residual: r0.map { $0 + 16 }, out: out + col + 16)
                if count > 1 {
                    let r = r0.map { $0 + rs }
                    finish16(c10, bias: bias0, alpha: alpha0, lower: lower, upper: upper, residual: r, out: out + ldc + col)
                    finish16(c11, bias: bias1, alpha: alpha1, lower: lower, upper: upper, residual: r.map { $0 + 16 }, out: out + ldc + col + 16)
                }
                if count > 2 {
                    let r = r0.map { $0 + 2 * rs }
                    finish16(c20, bias: bias0, alpha: alpha0, lower: lower, upper: upper, residual: r, out: out + 2 * ldc + col)
                    finish16(c21, bias: bias1, alpha: alpha1, lower: lower, upper: upper, residual: r.map { $0 + 16 }, out: out + 2 * ldc + col + 16)
                }
                if count > 3 {
                    let r = r0.map { $0 + 3 * rs }
                    finish16(c30, bias: bias0, alpha: alpha0, lower: lower, upper: upper, residual: r, out: out + 3 * ldc + col)
                    finish16(c31, bias: bias1, alpha: alpha1, lower: lower, upper: upper, residual: r.map { $0 + 16 }, out: out + 3 * ldc + col + 16)
                }
            } else {
                epi.residual = epilogue.residual.map { $0 + m * rs }
                epi.finish(c00, row: 0, column: col, n: n, out: out)
                epi.finish(c01, row: 0, column: col + 16, n: n, out: out)
                if count > 1 { epi.finish(c10, row: 1, column: col, n: n, out: out + ldc); epi.finish(c11, row: 1, column: col + 16, n: n, out: out + ldc) }
                if count > 2 { epi.finish(c20, row: 2, column: col, n: n, out: out + 2 * ldc); epi.finish(c21, row: 2, column: col + 16, n: n, out: out + 2 * ldc) }
                if count > 3 { epi.finish(c30, row: 3, column: col, n: n, out: out + 3 * ldc); epi.finish(c31, row: 3, column: col + 16, n: n, out: out + 3 * ldc) }
            }
            m += 4
        }
    }
}

/// C[m][n] = epilogue(sum_k A[m][k] * B[k][n]) for `rows` rows of A (row stride `lda`).
/// `c` and the epilogue's residual point at the first row.
func gemm(a: UnsafePointer<Float>, lda: Int, rows: Int, b: PackedMatrix,
          epilogue: Epilogue, c: UnsafeMutablePointer<Float>, ldc: Int) {
    let k = b.k
    let n = b.n
    var epi = epilogue
    let lower = SIMD8<Float>(repeating: epilogue.lower), upper = SIMD8<Float>(repeating: epilogue.upper)
    let residualStride = epilogue.residualStride
    // Rows in blocks that keep A in L1 while every column block passes over it.
    let rowBlock = 64
    var m0 = 0
    while m0 < rows {
        let mEnd = min(rows, m0 + rowBlock)
        for block in b.blocks {
            if block.width == 32 || (block.width == 16 && b.wide) {
                gemmWideBlock(a: a, lda: lda, m0: m0, mEnd: mEnd, k: k, n: n, block: block, epilogue: epilogue, c: c, ldc: ldc)
                continue
            }
            let w = block.data
            let col = block.column
            // Full columns (and full residual columns) take the branch-free epilogue.
            let fast = col + block.width <= n && (epilogue.residual == nil || col + block.width <= epilogue.residualChannels)
            let bias0 = load8(epilogue.bias + col), bias1 = load8(epilogue.bias + col + 8)
            let ones = SIMD8<Float>(repeating: 1)
            let alpha0 = epilogue.alpha.map { load8($0 + col) } ?? ones
            let alpha1 = epilogue.alpha.map { load8($0 + col + 8) } ?? ones
            var m = m0
            while m < mEnd {
                let count = min(4, mEnd - m)
                let a0 = a + m * lda
                let a1 = count > 1 ? a0 + lda : a0
                let a2 = count > 2 ? a0 + 2 * lda : a0
                let a3 = count > 3 ? a0 + 3 * lda : a0
                let residual = epilogue.residual.map { $0 + m * residualStride + col }
                if let residual = epilogue.residual { epi.residual = residual + m * residualStride }
                let out = c + m * ldc
                if block.width == 16 {
                    var c00 = SIMD8<Float>(), c01 = SIMD8<Float>()
                    var c10 = SIMD8<Float>(), c11 = SIMD8<Float>()
                    var c20 = SIMD8<Float>(), c21 = SIMD8<Float>()
                    var c30 = SIMD8<Float>(), c31 = SIMD8<Float>()
                    var pw = w
                    for kk in 0 ..< k {
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
                    if fast {
                        finish8(c00, bias: bias0, alpha: alpha0, lower: lower, upper: upper, residual: residual, out: out + col)
                        finish8(c01, bias: bias1, alpha: alpha1, lower: lower, upper: upper, residual: residual.map { $0 + 8 }, out: out + col + 8)
                        if count > 1 {
                            let r = residual.map { $0 + residualStride }
                            finish8(c10, bias: bias0, alpha: alpha0, lower: lower, upper: upper, residual: r, out: out + ldc + col)
                            finish8(c11, bias: bias1, alpha: alpha1, lower: lower, upper: upper, residual: r.map { $0 + 8 }, out: out + ldc + col + 8)
                        }
                        if count > 2 {
                            let r = residual.map { $0 + 2 * residualStride }
                            finish8(c20, bias: bias0, alpha: alpha0, lower: lower, upper: upper, residual: r, out: out + 2 * ldc + col)
                            finish8(c21, bias: bias1, alpha: alpha1, lower: lower, upper: upper, residual: r.map { $0 + 8 }, out: out + 2 * ldc + col + 8)
                        }
                        if count > 3 {
                            let r = residual.map { $0 + 3 * residualStride }
                            finish8(c30, bias: bias0, alpha: alpha0, lower: lower, upper: upper, residual: r, out: out + 3 * ldc + col)
                            finish8(c31, bias: bias1, alpha: alpha1, lower: lower, upper: upper, residual: r.map { $0 + 8 }, out: out + 3 * ldc + col + 8)
                        }
                    } else {
                        epi.finish(c00, row: 0, column: col, n: n, out: out)
                        epi.finish(c01, row: 0, column: col + 8, n: n, out: out)
                        if count > 1 {
                            epi.finish(c10, row: 1, column: col, n: n, out: out + ldc)
                            epi.finish(c11, row: 1, column: col + 8, n: n, out: out + ldc)
                        }
                        if count > 2 {
                            epi.finish(c20, row: 2, column: col, n: n, out: out + 2 * ldc)
                            epi.finish(c21, row: 2, column: col + 8, n: n, out: out + 2 * ldc)
                        }
                        if count > 3 {
                            epi.finish(c30, row: 3, column: col, n: n, out: out + 3 * ldc)
                            epi.finish(c31, row: 3, column: col + 8, n: n, out: out + 3 * ldc)
                        }
                    }
                } else {
                    var c0 = SIMD8<Float>(), c1 = SIMD8<Float>(), c2 = SIMD8<Float>(), c3 = SIMD8<Float>()
                    var pw = w
                    for kk in 0 ..< k {
                        let b0 = load8(pw)
                        c0.addProduct(SIMD8(repeating: a0[kk]), b0)
                        c1.addProduct(SIMD8(repeating: a1[kk]), b0)
                        c2.addProduct(SIMD8(repeating: a2[kk]), b0)
                        c3.addProduct(SIMD8(repeating: a3[kk]), b0)
                        pw += 8
                    }
                    if fast {
                        finish8(c0, bias: bias0, alpha: alpha0, lower: lower, upper: upper, residual: residual, out: out + col)
                        if count > 1 {
                            finish8(c1, bias: bias0, alpha: alpha0, lower: lower, upper: upper, residual: residual.map { $0 + residualStride }, out: out + ldc + col)
                        }
                        if count > 2 {
                            finish8(c2, bias: bias0, alpha: alpha0, lower: lower, upper: upper, residual: residual.map { $0 + 2 * residualStride }, out: out + 2 * ldc + col)
                        }
                        if count > 3 {
                            finish8(c3, bias: bias0, alpha: alpha0, lower: lower, upper: upper, residual: residual.map { $0 + 3 * residualStride }, out: out + 3 * ldc + col)
                        }
                    } else {
                        epi.finish(c0, row: 0, column: col, n: n, out: out)
                        if count > 1 { epi.finish(c1, row: 1, column: col, n: n, out: out + ldc) }
                        if count > 2 { epi.finish(c2, row: 2, column: col, n: n, out: out + 2 * ldc) }
                        if count > 3 { epi.finish(c3, row: 3, column: col, n: n, out: out + 3 * ldc) }
                    }
                }
                m += 4
            }
        }
        m0 = mEnd
    }
}
