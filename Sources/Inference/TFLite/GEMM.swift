/// Weights of a convolution as a K x N matrix, packed once into column blocks of 16
/// (the last block 8 or 16 wide, zero-padded) so the micro-kernel streams them linearly.
struct PackedMatrix {
    struct Block {
        let column: Int
        let width: Int          // 8 or 16
        let data: UnsafeMutablePointer<Float>   // k * width floats
    }
    let k: Int
    let n: Int
    let blocks: [Block]

    /// `element(kk, nn)` gives B[kk][nn]. `allocate` owns the memory.
    init(k: Int, n: Int, allocate: (Int) -> UnsafeMutablePointer<Float>, element: (Int, Int) -> Float) {
        self.k = k
        self.n = n
        var blocks: [Block] = []
        var column = 0
        while column < n {
            let width = n - column > 8 ? 16 : 8
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

/// What happens to each accumulated value before it is stored, in TFLite graph order:
/// bias, then a residual ADD, then a clamp (fused RELU/RELU6), then PRELU.
struct Epilogue {
    /// Bias per output column, padded to a multiple of 16.
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

@inline(__always) func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
}

extension Epilogue {
    /// Finishes 8 lanes of row `row` starting at output column `column` and stores the valid
    /// ones: the general path, for column blocks that run past `n` or the residual.
    func finish(_ acc: SIMD8<Float>, row: Int, column: Int, n: Int, out: UnsafeMutablePointer<Float>) {
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
