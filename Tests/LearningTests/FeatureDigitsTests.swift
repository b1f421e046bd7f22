import Testing
@testable import Learning

@Suite struct FeatureDigitsTests {
    @Test func detectsTheTruncationTheValuesWentThrough() {
        #expect(FeatureDigits.detect([0.1234, 0.5, 1, -0.0003, 0]) == 4)
        #expect(FeatureDigits.detect([0.12345, 0.5]) == 5)
        #expect(FeatureDigits.detect([3, -7, 0]) == 0)
        #expect(FeatureDigits.detect([0.123456789]) == nil)
        #expect(FeatureDigits.detect([]) == nil)
        // Truncated values are found again, and truncation is idempotent.
        let raw: [Float] = [0.987654, 0.0000987, 0.333333, -0.55555]
        let cut = raw.map { FeatureDigits.truncate($0, digits: 4) }
        #expect(cut == [0.9876, 0, 0.3333, -0.5555])
        #expect(FeatureDigits.detect(cut) == 4)
        #expect(cut.map { FeatureDigits.truncate($0, digits: 4) } == cut)
    }

    @Test func modelFileKeepsTheDigitsAndRefusesImpossibleOnes() throws {
        let net = try Network(input: InputShape(steps: 1, features: 2), layers: [.dense(units: 2, activation: .softmax)])
        var model = TrainedModel(network: net, weights: net.initialWeights(seed: 1), classes: ["a", "b"],
                                 featureNames: ["x", "y"], normalization: .identity)
        let without = model.encoded()
        #expect(try TrainedModel(decoding: without).featureDigits == nil)
        #expect(!String(decoding: without, as: UTF8.self).contains("feature_digits"))
        model.featureDigits = 4
        #expect(try TrainedModel(decoding: model.encoded()).featureDigits == 4)
        model.featureDigits = 12
        #expect(throws: LearningError.self) { try TrainedModel(decoding: model.encoded()) }
    }
}
