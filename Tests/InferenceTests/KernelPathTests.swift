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
