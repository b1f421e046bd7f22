import Foundation
import Testing
@testable import Inference

/// Milliseconds per `invoke` of each face model, single thread. Opt-in, because timings
/// belong in release builds on a quiet machine, not in the regular test run:
///
///     TFLITE_BENCHMARK=200 swift test -c release -Xswiftc -enable-testing --filter TFLiteBenchmark
@Suite(.serialized) struct TFLiteBenchmarkTests {
    static let iterations = Int(ProcessInfo.processInfo.environment["TFLITE_BENCHMARK"] ?? "") ?? 0

    @Test(.enabled(if: iterations > 0), arguments: ["face_detector", "face_landmarks_detector", "face_blendshapes"])
    func millisecondsPerInvoke(_ name: String) throws {
        let interpreter = try Interpreter(model: try TFLiteBundleFixture.model(name))
        let count = interpreter.inputShape.reduce(1, *)
        let input = (0 ..< count).map { Float(($0 * 7919) % 255) / 255 }
        try input.withUnsafeBufferPointer { buffer in
            try interpreter.invoke(input: buffer)     // warm caches and pages
            var best = Double.infinity
            let clock = ContinuousClock()
            let start = clock.now
            for _ in 0 ..< Self.iterations {
                let t = clock.now
                try interpreter.invoke(input: buffer)
                best = min(best, (clock.now - t).milliseconds)
            }
            let mean = (clock.now - start).milliseconds / Double(Self.iterations)
            print("benchmark \(name): mean \(String(format: "%.3f", mean)) ms, best \(String(format: "%.3f", best)) ms per invoke (\(Self.iterations) runs)")
        }
    }
}

extension Duration {
    fileprivate var milliseconds: Double {
        Double(components.seconds) * 1000 + Double(components.attoseconds) * 1e-15
    }
}
