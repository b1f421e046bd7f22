import Testing
@testable import Inference

/// Both tile families (256-bit and 512-bit) must agree with plain loops, whichever one the
/// CPU running the tests would pick.
@Suite struct TFLiteGEMMTests {
    @Test(arguments: [(1, 1, 1), (3, 5, 8), (13, 16, 16), (67, 27, 24), (9, 8, 33), (70, 64, 72), (5, 97, 384), (129, 3, 17)])
    func tilesMatchPlainLoops(_ rows: Int, _ k: Int, _ n: Int) {
        var rng = TFLiteTestRandom(state: UInt64(rows * 10_000 + k * 100 + n))
        let a = rng.floats(rows * k), b = rng.floats(k * n)
        let bias = rng.floats(n) + [Float](repeating: 0, count: 32)
        let alpha = rng.floats(n, 0, 0.5) + [Float](repeating: 0, count: 32)
        let residualChannels = max(1, n - 3)
        let residual = rng.floats(rows * residualChannels) + [Float](repeating: 0, count: 32)
        var expected = [Float](repeating: 0, count: rows * n)
        for m in 0 ..< rows { for j in 0 ..< n {
            var v = bias[j]
            for kk in 0 ..< k { v += a[m * k + kk] * b[kk * n + j] }
            if j < residualChannels { v += residual[m * residualChannels + j] }
            v = min(max(v, -0.5), 2)
            expected[m * n + j] = v < 0 ? v * alpha[j] : v
        } }
        for wide in [false, true] {
            var storage: [UnsafeMutablePointer<Float>] = []
            defer { storage.forEach { $0.deallocate() } }
            let packed = PackedMatrix(k: k, n: n, wide: wide, allocate: { storage.append(.allocate(capacity: $0)); return storage.last! },
                                      element: { b[$0 * n + $1] })
            var out = [Float](repeating: .nan, count: rows * n + 64)
            bias.withUnsafeBufferPointer { biasP in alpha.withUnsafeBufferPointer { alphaP in residual.withUnsafeBufferPointer { resP in
                let epilogue = Epilogue(bias: biasP.baseAddress!, lower: -0.5, upper: 2, alpha: alphaP.baseAddress!,
                                        residual: resP.baseAddress!, residualStride: residualChannels, residualChannels: residualChannels)
                a.withUnsafeBufferPointer { aP in out.withUnsafeMutableBufferPointer { outP in
                    gemm(a: aP.baseAddress!, lda: k, rows: rows, b: packed, epilogue: epilogue, c: outP.baseAddress!, ldc: n)
                } }
            } } }
            #expect(tfliteMaxAbsDifference(Array(out[0 ..< rows * n]), expected) < 1e-4, "wide \(wide)")

            // Bias only: the epilogue skips residual, clamp and PRELU.
            var plain = [Float](repeating: .nan, count: rows * n + 64)
            bias.withUnsafeBufferPointer { biasP in
                a.withUnsafeBufferPointer { aP in plain.withUnsafeMutableBufferPointer { outP in
                    gemm(a: aP.baseAddress!, lda: k, rows: rows, b: packed, epilogue: Epilogue(bias: biasP.baseAddress!),
                         c: outP.baseAddress!, ldc: n)
                } }
            }
            var plainExpected = [Float](repeating: 0, count: rows * n)
            for m in 0 ..< rows { for j in 0 ..< n {
                var v = bias[j]
                for kk in 0 ..< k { v += a[m * k + kk] * b[kk * n + j] }
                plainExpected[m * n + j] = v
            } }
            #expect(tfliteMaxAbsDifference(Array(plain[0 ..< rows * n]), plainExpected) < 1e-4, "bias only, wide \(wide)")
            // Whole-vector stores may use the 32 floats of slack after the output, no more.
            let untouched = out[(rows * n + 32)...].allSatisfy { $0.isNaN }
            #expect(untouched, "wrote past the slack (wide \(wide))")
        }
    }
}
