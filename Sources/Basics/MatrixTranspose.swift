/// Writes the transpose of a `rows` x `columns` matrix whose rows lie `stride` floats apart:
/// `t[c * rows + r] = a[r * stride + c]`. Eight-by-eight blocks go through registers, so every
/// load and store is a whole vector instead of one float. Used by the trainer's backward pass
/// and by the face models' TRANSPOSE operators.
public func transposeMatrix(_ a: UnsafePointer<Float>, rows: Int, columns: Int, stride: Int,
                            into t: UnsafeMutablePointer<Float>) {
    @inline(__always) func row(_ r: Int, _ c: Int) -> SIMD8<Float> {
        UnsafeRawPointer(a + r * stride + c).loadUnaligned(as: SIMD8<Float>.self)
    }
    var c = 0
    while c + 8 <= columns {
        var r = 0
        while r + 8 <= rows {
            let v0 = row(r, c), v1 = row(r + 1, c), v2 = row(r + 2, c), v3 = row(r + 3, c)
            let v4 = row(r + 4, c), v5 = row(r + 5, c), v6 = row(r + 6, c), v7 = row(r + 7, c)
            for k in 0 ..< 8 {
                UnsafeMutableRawPointer(t + (c + k) * rows + r)
                    .storeBytes(of: SIMD8(v0[k], v1[k], v2[k], v3[k], v4[k], v5[k], v6[k], v7[k]), as: SIMD8<Float>.self)
            }
            r += 8
        }
        while r < rows {
            for k in 0 ..< 8 { t[(c + k) * rows + r] = a[r * stride + c + k] }
            r += 1
        }
        c += 8
    }
    while c < columns {
        for r in 0 ..< rows { t[c * rows + r] = a[r * stride + c] }
        c += 1
    }
}
