import Basics
import Testing
@testable import Learning

/// Small random problems: every weight's analytic gradient against a central difference.
@Suite struct GradientTests {
    static func data(_ shape: InputShape, classes: Int, rows: Int, seed: UInt64) -> LabeledData {
        var rng = SeededRandom(seed: seed)
        let x = (0..<(rows * shape.size)).map { _ in Float(rng.normal()) }
        let y = (0..<rows).map { Int32($0 % classes) }
        return LabeledData(features: x, labels: y)
    }

    static let models: [(String, InputShape, [LayerSpec])] = [
        ("lstm-tanh-seq → lstm-sigmoid → dense", InputShape(steps: 4, features: 2),
         [.lstm(units: 3, activation: .tanh, returnSequences: true), .lstm(units: 4, activation: .sigmoid, returnSequences: false), .dense(units: 3, activation: .softmax)]),
        ("lstm-relu-seq → lstm-relu → dense (the recipe, small)", InputShape(steps: 5, features: 1),
         [.lstm(units: 4, activation: .relu, returnSequences: true), .lstm(units: 3, activation: .relu, returnSequences: false), .dense(units: 3, activation: .softmax)]),
        ("lstm-selu → dense-tanh → dense", InputShape(steps: 3, features: 3),
         [.lstm(units: 5, activation: .selu, returnSequences: false), .dense(units: 4, activation: .tanh), .dense(units: 3, activation: .softmax)]),
        ("mlp relu/selu/sigmoid/linear", InputShape(steps: 1, features: 6),
         [.dense(units: 7, activation: .relu), .dense(units: 5, activation: .selu), .dense(units: 4, activation: .sigmoid),
          .dense(units: 4, activation: .linear), .dense(units: 3, activation: .softmax)]),
        ("dropout in inference mode is the identity", InputShape(steps: 1, features: 4),
         [.dense(units: 5, activation: .tanh), .dropout(rate: 0.3), .dense(units: 2, activation: .softmax)]),
    ]

    @Test(arguments: 0..<models.count)
    func analyticGradientMatchesFiniteDifferences(_ index: Int) throws {
        let (name, shape, layers) = Self.models[index]
        let net = try Network(input: shape, layers: layers)
        let d = Self.data(shape, classes: net.classes, rows: 6, seed: 7)
        // Larger-than-default weights so relu units are active and gradients are not tiny.
        var w = net.initialWeights(seed: 3)
        var rng = SeededRandom(seed: 11)
        for i in w.indices { w[i] += Float(rng.normal() * 0.1) }
        let (_, g) = net.lossAndGradient(weights: w, data: d)
        func numeric(_ i: Int, _ h: Float) -> Double {
            var plus = w, minus = w
            plus[i] += h
            minus[i] -= h
            return (net.lossAndGradient(weights: plus, data: d).loss - net.lossAndGradient(weights: minus, data: d).loss) / Double(2 * h)
        }
        func relative(_ x: Double, _ y: Double) -> Double { abs(x - y) / max(1e-2, abs(x) + abs(y)) }
        // relu and selu have kinks: where two step sizes disagree, the loss is not smooth
        // within the step and a finite difference says nothing, so that weight is skipped.
        var skipped = 0
        for i in w.indices {
            let coarse = numeric(i, 2e-3), fine = numeric(i, 5e-4)
            if relative(coarse, fine) > 0.01 { skipped += 1; continue }
            #expect(relative(fine, Double(g[i])) < 0.02,
                    "\(name): weight \(i) (\(net.slots.first { $0.range.contains(i) }!.name)): analytic \(g[i]), numeric \(fine)")
        }
        #expect(skipped * 10 < w.count, "\(name): \(skipped) of \(w.count) weights sit on a kink")
    }

    @Test func orthogonalRecurrentKernelHasOrthonormalRows() {
        var rng = SeededRandom(seed: 5)
        let q = orthogonalRows(rows: 6, columns: 24, rng: &rng)
        for a in 0..<6 {
            for b in 0..<6 {
                var d: Float = 0
                for c in 0..<24 { d += q[a * 24 + c] * q[b * 24 + c] }
                #expect(abs(d - (a == b ? 1 : 0)) < 1e-5)
            }
        }
    }

    @Test func initialWeightsFollowKerasDefaults() throws {
        let net = try Network(input: InputShape(steps: 33, features: 1), layers: [
            .lstm(units: 33, activation: .relu, returnSequences: true), .lstm(units: 12, activation: .relu, returnSequences: false),
            .dense(units: 3, activation: .softmax)])
        #expect(net.parameterCount == (1 * 132 + 33 * 132 + 132) + (33 * 48 + 12 * 48 + 48) + (12 * 3 + 3))
        let w = net.initialWeights(seed: 42)
        let bias = net.slots[2]
        #expect(Array(w[bias.range]) == [Float](repeating: 0, count: 33) + [Float](repeating: 1, count: 33) + [Float](repeating: 0, count: 66))
        let kernel = net.slots[0], limit = Float((6.0 / Double(1 + 132)).squareRoot())
        #expect(w[kernel.range].allSatisfy { abs($0) <= limit })
        #expect(net.initialWeights(seed: 42) == w)
        #expect(net.initialWeights(seed: 43) != w)
    }

    @Test func invalidModelsAreRejectedWithAReason() {
        #expect(throws: LearningError.self) { try Network(input: InputShape(steps: 3, features: 1), layers: [.dense(units: 3, activation: .softmax)]) }
        #expect(throws: LearningError.self) { try Network(input: InputShape(steps: 1, features: 3), layers: [.dense(units: 3, activation: .relu)]) }
    }
}
