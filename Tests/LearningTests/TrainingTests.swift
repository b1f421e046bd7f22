import Basics
import Testing
@testable import Learning

@Suite struct TrainingTests {
    /// Three noisy clusters, learnable in a few epochs.
    static func clusters(rows: Int, seed: UInt64) -> LabeledData {
        var rng = SeededRandom(seed: seed)
        var x: [Float] = [], y: [Int32] = []
        for r in 0..<rows {
            let c = r % 3
            for f in 0..<6 { x.append(Float(rng.normal() * 0.5) + (f % 3 == c ? 1.5 : 0)) }
            y.append(Int32(c))
        }
        return LabeledData(features: x, labels: y)
    }

    static let recipe: [LayerSpec] = [.lstm(units: 6, activation: .relu, returnSequences: true),
                                      .lstm(units: 4, activation: .relu, returnSequences: false), .dense(units: 3, activation: .softmax)]

    @Test func sameSeedGivesBitIdenticalWeightsAtAnyThreadCount() throws {
        let net = try Network(input: InputShape(steps: 6, features: 1), layers: Self.recipe)
        let d = Self.clusters(rows: 150, seed: 1)
        func run(threads: Int) throws -> [Float] {
            let o = TrainingOptions(epochs: 3, batchSize: 32, optimizer: Adam(learningRate: 0.01, clipping: .perTensor(1)), seed: 9, threads: threads)
            return try Trainer.train(network: net, weights: net.initialWeights(seed: 9), train: d, validation: d, options: o).weights
        }
        let one = try run(threads: 1)
        #expect(try run(threads: 2) == one)
        #expect(try run(threads: 8) == one)
    }

    @Test(arguments: [GradientClipping.none, .perTensor(1), .global(1)])
    func learnsSeparableClasses(_ clipping: GradientClipping) throws {
        let net = try Network(input: InputShape(steps: 1, features: 6), layers: [.dense(units: 8, activation: .relu), .dropout(rate: 0.1), .dense(units: 3, activation: .softmax)])
        let train = Self.clusters(rows: 300, seed: 2), val = Self.clusters(rows: 90, seed: 3)
        var epochs = 0
        let o = TrainingOptions(epochs: 30, optimizer: Adam(learningRate: 0.01, amsgrad: clipping == .none, clipping: clipping), seed: 1, classWeights: [1, 1.5, 1])
        let r = try Trainer.train(network: net, weights: net.initialWeights(seed: 1), train: train, validation: val, options: o) { _ in epochs += 1 }
        #expect(epochs == r.history.count)
        #expect(r.history.last!.valAccuracy! > 0.9)
        #expect(r.history.last!.loss < r.history.first!.loss)
    }

    @Test func earlyStoppingRestoresTheBestWeights() throws {
        let net = try Network(input: InputShape(steps: 1, features: 6), layers: [.dense(units: 16, activation: .relu), .dense(units: 3, activation: .softmax)])
        // Validation labels disagree with training (rotated by one class), so validation
        // loss gets worse as the model learns, whatever the random streams are.
        let train = Self.clusters(rows: 12, seed: 4), clusters = Self.clusters(rows: 60, seed: 5)
        let val = LabeledData(features: clusters.features, labels: clusters.labels.map { ($0 + 1) % 3 })
        let o = TrainingOptions(epochs: 200, batchSize: 4, optimizer: Adam(learningRate: 0.05), seed: 2, earlyStopping: EarlyStopping(patience: 3))
        let r = try Trainer.train(network: net, weights: net.initialWeights(seed: 2), train: train, validation: val, options: o)
        #expect(r.stoppedEarly)
        let best = r.history.min { $0.valLoss! < $1.valLoss! }!
        #expect(r.bestEpoch == best.epoch)
        #expect(r.history.count == best.epoch + 3)
        let again = Trainer.evaluate(probabilities: net.predict(weights: r.weights, features: val.features), labels: val.labels, classes: 3)
        #expect(abs(again.loss - best.valLoss!) < 1e-9)
    }

    @Test func metricsMatchHandComputedValues() {
        let m = ClassificationMetrics(confusion: [[693, 67, 40], [55, 299, 99], [53, 236, 271]])
        #expect(abs(m.accuracy - 1263.0 / 1813.0) < 1e-12)
        #expect(abs(m.precision(0) - 693.0 / 801.0) < 1e-12)
        #expect(abs(m.recall(2) - 271.0 / 560.0) < 1e-12)
        let f1 = (0..<3).map { m.f1($0) }
        #expect(abs(m.macroF1 - f1.reduce(0, +) / 3) < 1e-12)
        #expect(ClassificationMetrics(trueLabels: [0, 1, 2, 2], predicted: [0, 2, 2, 2], classes: 3).confusion == [[1, 0, 0], [0, 0, 1], [0, 0, 2]])
    }
}
