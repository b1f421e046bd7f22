import Basics
import Formats
import Testing
@testable import Inference

/// The AVX2 (256-bit tiles) and AVX-512 (512-bit tiles) GEMM paths must give the same
/// bits: sharded builds on mixed machines share one memo, and the kernel path is not in
/// its key. Both paths run on any x86-64 machine with FMA (the 512-bit one is only slower
/// without AVX-512).
@Suite("Kernel paths give identical bytes", .serialized)
struct KernelPathTests {
    typealias Ref = LandmarkerReference

    @Test func environmentValues() {
        #expect(KernelPath(environmentValue: "avx2") == .avx2)
        #expect(KernelPath(environmentValue: "AVX512") == .avx512)
        #expect(KernelPath(environmentValue: "auto") == KernelPath.detected)
        #expect(KernelPath(environmentValue: "") == KernelPath.detected)
        #expect(KernelPath(environmentValue: "sse2") == nil)
    }

    /// The option reaches the weight packing: 512-bit tiles only on the AVX-512 path.
    @Test func pathChoosesThePacking() throws {
        let models = try FaceModels(taskPath: Ref.taskPath)
        for path in KernelPath.allCases {
            var plan = try GraphPlan(model: models.landmarks, kernelPath: path)
            plan.fuse()
            let packings = plan.nodes.compactMap { node -> PackedMatrix? in
                switch node.kind {
                case .conv(_, let packed, _, _, _, _, _), .separable(_, _, _, let packed, _, _, _, _, _): packed
                default: nil
                }
            }
            #expect(!packings.isEmpty)
            #expect(packings.allSatisfy { $0.wide == (path == .avx512) })
            #expect(packings.contains { $0.blocks.contains { $0.width == 32 } } == (path == .avx512))
        }
    }

    /// The profiling run (for `blendset-bench models`) computes what `invoke` computes, and
    /// names every step by its fused operator.
    @Test func profileRunsTheSameSteps() throws {
        let models = try FaceModels(taskPath: Ref.taskPath)
        let interpreter = try Interpreter(model: models.blendshapes)
        var random = SeededRandom(seed: 7)
        let input = (0..<interpreter.inputShape.reduce(1, *)).map { _ in Float(random.unit() * 2 - 1) }
        let expected = try interpreter.run(input)
        let profile = try input.withUnsafeBufferPointer { try interpreter.profile(input: $0) }
        #expect((0..<expected.count).map { Array(interpreter.output($0)) } == expected)
        #expect(profile.contains { $0.kind.hasPrefix("conv 1x1") } && profile.contains { $0.kind == "mean" })
        #expect(Set(profile.map(\.kind)).count == profile.count && profile.allSatisfy { $0.seconds >= 0 })
    }

    /// Every GEMM tile and its row and column tails (6x16 and 4x16, 12x8 and 8x8 on the
    /// 256-bit path; 8x16, 4x32 on the 512-bit one) gives the bits of one FMA chain over k
    /// from zero, then bias, residual, clamp and PRELU, on both packings; also when A is read
    /// in segments, as a convolution reads its input in place.
    @Test(arguments: [1, 5, 6, 7, 11, 12, 13, 23, 64, 65, 70, 97, 131])
    func gemmTilesAreOneFMAChain(rows: Int) {
        for (k, n, segments) in [(1, 8, 1), (8, 16, 1), (16, 8, 1), (9, 24, 3), (33, 40, 1), (64, 97, 2), (12, 52, 4)] {
            var random = SeededRandom(seed: UInt64(rows * 1000 + k * 10 + n))
            let segmentLength = k / segments, segmentStride = segmentLength + 3
            let lda = segments * segmentStride + 1
            let a = (0 ..< rows * lda + 64).map { _ in Float(random.unit() * 2 - 1) }
            let b = (0 ..< k * n).map { _ in Float(random.unit() * 2 - 1) }
            let bias = (0 ..< n).map { _ in Float(random.unit() - 0.5) } + [Float](repeating: 0, count: 32)
            let alpha = (0 ..< n).map { _ in Float(random.unit() * 0.5) } + [Float](repeating: 0, count: 32)
            let residualChannels = max(1, n - 5)
            let residual = (0 ..< rows * residualChannels).map { _ in Float(random.unit() - 0.5) } + [Float](repeating: 0, count: 32)
            var expected: [UInt32] = []
            for m in 0 ..< rows {
                for j in 0 ..< n {
                    var v: Float = 0
                    for kk in 0 ..< k {
                        v = v.addingProduct(a[m * lda + (kk / segmentLength) * segmentStride + kk % segmentLength], b[kk * n + j])
                    }
                    v += bias[j]
                    if j < residualChannels { v += residual[m * residualChannels + j] }
                    v = min(max(v, -1), 1.5)
                    expected.append((v < 0 ? v * alpha[j] : v).bitPattern)
                }
            }
            for path in KernelPath.allCases {
                var storage: [UnsafeMutablePointer<Float>] = []
                defer { storage.forEach { $0.deallocate() } }
                let packed = PackedMatrix(k: k, n: n, wide: path == .avx512,
                                          allocate: { storage.append(.allocate(capacity: $0)); return storage.last! },
                                          element: { b[$0 * n + $1] })
                var out = [Float](repeating: .nan, count: rows * n + 32)
                bias.withUnsafeBufferPointer { biasP in alpha.withUnsafeBufferPointer { alphaP in residual.withUnsafeBufferPointer { resP in
                    let epilogue = Epilogue(bias: biasP.baseAddress!, lower: -1, upper: 1.5, alpha: alphaP.baseAddress!,
                                            residual: resP.baseAddress!, residualStride: residualChannels, residualChannels: residualChannels)
                    a.withUnsafeBufferPointer { aP in out.withUnsafeMutableBufferPointer { outP in
                        gemm(a: aP.baseAddress!, lda: lda, rows: rows, b: packed, epilogue: epilogue, c: outP.baseAddress!, ldc: n,
                             segments: segments, segmentStride: segmentStride)
                    } }
                } } }
                let bits = out[0 ..< rows * n].map(\.bitPattern)
                #expect(bits == expected, "\(path): rows \(rows), k \(k), n \(n), \(segments) segments")
            }
        }
    }

    #if !(os(macOS) && arch(x86_64))  // no Float16 on Intel Macs
    /// One row against float16 weights (`gemv`: 64-column groups and the narrower last
    /// group) gives the bits of one FMA chain over k from zero, then bias, residual, clamp
    /// and PRELU, as the tiles do, on both packings and in segments; a pruned matrix still
    /// computes every column its blocks cover. Weights that are not all float16 values get
    /// no float16 copy.
    @Test(arguments: [(1, 8, 1), (9, 24, 3), (64, 97, 2), (33, 130, 1), (512, 1434, 2), (12, 64, 4)])
    func oneRowWithFloat16WeightsIsOneFMAChain(k: Int, n: Int, segments: Int) {
        var random = SeededRandom(seed: UInt64(k * 10 + n))
        let segmentLength = k / segments, segmentStride = segmentLength + 3
        let lda = segments * segmentStride + 1
        let a = (0 ..< lda + 64).map { _ in Float(random.unit() * 2 - 1) }
        let b = (0 ..< k * n).map { _ in Float(Float16(random.unit() * 2 - 1)) }
        let bias = (0 ..< n).map { _ in Float(random.unit() - 0.5) } + [Float](repeating: 0, count: 32)
        let alpha = (0 ..< n).map { _ in Float(random.unit() * 0.5) } + [Float](repeating: 0, count: 32)
        let residualChannels = max(1, n - 5)
        let residual = (0 ..< residualChannels).map { _ in Float(random.unit() - 0.5) } + [Float](repeating: 0, count: 32)
        var expected: [UInt32] = []
        for j in 0 ..< n {
            var v: Float = 0
            for kk in 0 ..< k { v = v.addingProduct(a[(kk / segmentLength) * segmentStride + kk % segmentLength], b[kk * n + j]) }
            v += bias[j]
            if j < residualChannels { v += residual[j] }
            v = min(max(v, -1), 1.5)
            expected.append((v < 0 ? v * alpha[j] : v).bitPattern)
        }
        for path in KernelPath.allCases {
            var storage: [UnsafeMutablePointer<Float>] = []
            defer { storage.forEach { $0.deallocate() } }
            let packed = PackedMatrix(k: k, n: n, wide: path == .avx512, oneRow: true,
                                      allocate: { storage.append(.allocate(capacity: $0)); return storage.last! },
                                      element: { b[$0 * n + $1] })
            #expect(packed.half != nil)
            let keep = packed.blocks.last!.column  // prune the last block away
            for matrix in [packed, packed.keepingColumns(below: keep)] {
                let covered = matrix.blocks.reduce(0) { max($0, $1.column + $1.width) }
                var out = [Float](repeating: .nan, count: n + 32)
                bias.withUnsafeBufferPointer { biasP in alpha.withUnsafeBufferPointer { alphaP in residual.withUnsafeBufferPointer { resP in
                    let epilogue = Epilogue(bias: biasP.baseAddress!, lower: -1, upper: 1.5, alpha: alphaP.baseAddress!,
                                            residual: resP.baseAddress!, residualStride: residualChannels, residualChannels: residualChannels)
                    a.withUnsafeBufferPointer { aP in out.withUnsafeMutableBufferPointer { outP in
                        gemm(a: aP.baseAddress!, lda: lda, rows: 1, b: matrix, epilogue: epilogue, c: outP.baseAddress!, ldc: n,
                             segments: segments, segmentStride: segmentStride)
                    } }
                } } }
                let columns = min(n, covered)
                #expect(out[0 ..< columns].map(\.bitPattern) == Array(expected[0 ..< columns]),
                        "\(path): k \(k), n \(n), \(segments) segments, columns below \(covered)")
            }
        }
        // One weight that float16 cannot hold: float32 only.
        var storage: [UnsafeMutablePointer<Float>] = []
        defer { storage.forEach { $0.deallocate() } }
        let exact = PackedMatrix(k: k, n: n, wide: false, oneRow: true,
                                 allocate: { storage.append(.allocate(capacity: $0)); return storage.last! },
                                 element: { $0 == k - 1 && $1 == n - 1 ? 1 + .ulpOfOne : b[$0 * n + $1] })
        #expect(exact.half == nil)
    }
    #endif

    /// MAX_POOL_2D's unrolled whole-2x2-window path gives the bits of a plain loop over the
    /// in-range taps, next to the partial windows of SAME padding, with and without a clamp.
    @Test(arguments: [8, 12, 28, 42])
    func maxPoolWindowsMatchPlainLoop(channels c: Int) {
        for (inH, inW, lower, upper) in [(6, 8, -Float.infinity, Float.infinity), (5, 7, -Float.infinity, Float.infinity), (7, 5, 0, 6)] {
            let (outH, top) = WindowGeometry.outputAndPadding(input: inH, filter: 2, stride: 2, dilation: 1, padding: .same)
            let (outW, left) = WindowGeometry.outputAndPadding(input: inW, filter: 2, stride: 2, dilation: 1, padding: .same)
            let g = WindowGeometry(batch: 1, inH: inH, inW: inW, inC: c, outH: outH, outW: outW, outC: c, kH: 2, kW: 2,
                                   strideH: 2, strideW: 2, dilationH: 1, dilationW: 1, padTop: top, padLeft: left)
            var random = SeededRandom(seed: UInt64(c * 100 + inH))
            let input = (0 ..< inH * inW * c).map { _ in Float(random.unit() * 16 - 8) } + [Float](repeating: 0, count: 16)
            var expected: [UInt32] = []
            for oy in 0 ..< outH {
                for ox in 0 ..< outW {
                    for ch in 0 ..< c {
                        var v = -Float.greatestFiniteMagnitude
                        for iy in oy * 2 - top ..< oy * 2 - top + 2 where iy >= 0 && iy < inH {
                            for ix in ox * 2 - left ..< ox * 2 - left + 2 where ix >= 0 && ix < inW {
                                v = max(v, input[(iy * inW + ix) * c + ch])
                            }
                        }
                        expected.append(min(max(v, lower), upper).bitPattern)
                    }
                }
            }
            var out = [Float](repeating: .nan, count: outH * outW * c + 16)
            input.withUnsafeBufferPointer { x in out.withUnsafeMutableBufferPointer { y in
                MaxPoolKernel(g: g, lower: lower, upper: upper).run(input: x.baseAddress!, output: y.baseAddress!)
            } }
            #expect(out[0 ..< outH * outW * c].map(\.bitPattern) == expected, "\(inH)x\(inW)x\(c), clamp \(lower)...\(upper)")
        }
    }

    /// Every output bit of the three face models, on seeded random inputs.
    @Test func interpreterOutputsOnRandomInputs() throws {
        let models = try FaceModels(taskPath: Ref.taskPath)
        for model in [models.detector, models.landmarks, models.blendshapes] {
            let narrow = try Interpreter(model: model, kernelPath: .avx2)
            let wide = try Interpreter(model: model, kernelPath: .avx512)
            var random = SeededRandom(seed: 5, stream: UInt64(model.name.utf8.count))
            for _ in 0..<3 {
                let input = (0..<narrow.inputShape.reduce(1, *)).map { _ in Float(random.unit() * 2 - 1) }
                let a = try narrow.run(input), b = try wide.run(input)
                for (i, (x, y)) in zip(a, b).enumerated() {
                    #expect(x.map(\.bitPattern) == y.map(\.bitPattern), "\(model.name) output \(i)")
                }
            }
        }
    }

    /// Landmarks, blendshapes and scores of the whole landmarker on the mini fixture and
    /// the photos.
    @Test func landmarkerOnRealImages() throws {
        let models = try FaceModels(taskPath: Ref.taskPath)
        let narrow = try FaceLandmarker(models: models, kernelPath: .avx2)
        let wide = try FaceLandmarker(models: models, kernelPath: .avx512)
        var images: [(name: String, image: PixelImage)] = Ref.fixtureImages.enumerated().map { row, pixels in
            ("fixture row \(row)", PixelImage(width: 48, height: 48, channels: 1, pixels: pixels))
        }
        for photo in ["astronaut.png", "astronaut-gray.png"] {
            let path = "\(Ref.shared)/photos/\(photo)"
            images.append((photo, try PNGCodec.decode(try readFileBytes(atPath: path), source: path)))
        }
        #expect(images.count >= 100)
        var faces = 0, identical = 0
        for (name, image) in images {
            func run(_ landmarker: FaceLandmarker) throws -> FaceLandmarkerResult {
                try image.pixels.withUnsafeBufferPointer { p in
                    image.channels == 1 ? try landmarker.detect(gray: p, width: image.width, height: image.height)
                                        : try landmarker.detect(rgb: p, width: image.width, height: image.height)
                }
            }
            switch (try run(narrow), try run(wide)) {
            case (.face(let a), .face(let b)):
                faces += 1
                let bitsA = a.landmarks.flatMap { [$0.x, $0.y, $0.z] }.map(\.bitPattern) + a.blendshapes.map(\.bitPattern)
                    + [a.detectionScore.bitPattern, a.presence.bitPattern]
                let bitsB = b.landmarks.flatMap { [$0.x, $0.y, $0.z] }.map(\.bitPattern) + b.blendshapes.map(\.bitPattern)
                    + [b.detectionScore.bitPattern, b.presence.bitPattern]
                #expect(bitsA == bitsB, "\(name): the two kernel paths give different floats")
                if bitsA == bitsB { identical += 1 }
            case (.noFace, .noFace):
                identical += 1
            default:
                Issue.record("\(name): one kernel path finds a face, the other does not")
            }
        }
        #expect(faces >= 50)
        #expect(identical == images.count)
        print("KernelPathTests: \(images.count) images, \(faces) with a face, \(identical) identical on avx2 and avx512")
    }
}
