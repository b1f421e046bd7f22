import Basics
import Testing
@testable import Learning

@Suite struct ModelFileTests {
    @Test(arguments: [Normalization.Method.none, .zscore, .minmax])
    func roundTripKeepsWeightsAndScaling(_ method: Normalization.Method) throws {
        let net = try Network(input: InputShape(steps: 4, features: 1), layers: [
            .lstm(units: 3, activation: .relu, returnSequences: true), .dropout(rate: 0.2),
            .lstm(units: 2, activation: .tanh, returnSequences: false), .dense(units: 3, activation: .softmax)])
        let x: [Float] = [1, 2, 3, 4, 2, 2, 2, 2, 0, -1, 5, 9]
        let model = TrainedModel(network: net, weights: net.initialWeights(seed: 1), classes: ["happy", "sad", "neutral"],
                                 featureNames: ["a", "b", "c", "d"], normalization: .fit(method, features: x, width: 4))
        let back = try TrainedModel(decoding: model.encoded())
        #expect(back == model)
        #expect(try back.predict(rawFeatures: x) == model.predict(rawFeatures: x))
    }

    @Test func normalizationIsFittedPerFeature() {
        let x: [Float] = [0, 10, 2, 10, 4, 10]   // 3 rows × 2 features; the second is constant
        let z = Normalization.fit(.zscore, features: x, width: 2)
        #expect(z.shift == [2, 10])
        #expect(abs(z.scale[0] - Float(1 / (8.0 / 3).squareRoot())) < 1e-6)
        #expect(z.scale[1] == 1)
        var y = x
        Normalization.fit(.minmax, features: x, width: 2).apply(to: &y)
        #expect(y == [0, 0, 0.5, 0, 1, 0])
    }

    @Test func predictionDoesNotDependOnThreadsOrBatching() throws {
        let net = try Network(input: InputShape(steps: 5, features: 1), layers: [
            .lstm(units: 4, activation: .relu, returnSequences: false), .dense(units: 3, activation: .softmax)])
        var rng = SeededRandom(seed: 3)
        let x = (0..<(5 * 300)).map { _ in Float(rng.normal()) }
        let w = net.initialWeights(seed: 2)
        let all = net.predict(weights: w, features: x, threads: 1)
        #expect(net.predict(weights: w, features: x, threads: 4) == all)
        #expect(net.predict(weights: w, features: Array(x[5..<10]), threads: 1) == Array(all[3..<6]))
    }
}
