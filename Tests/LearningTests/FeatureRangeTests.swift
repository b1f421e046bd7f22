import Basics
import Foundation
import Testing
@testable import Learning

@Suite("feature ranges: the model notices input scaled unlike its training")
struct FeatureRangeTests {
    /// A small MLP on 3 features whose raw values lie in [0, 1] like blendshape scores.
    static func rawModel(ranges: Bool = true) throws -> (TrainedModel, [Float]) {
        let net = try Network(input: InputShape(steps: 1, features: 3), layers: [.dense(units: 4, activation: .relu), .dense(units: 2, activation: .softmax)])
        var rng = SeededRandom(seed: 7)
        let x = (0..<(3 * 200)).map { _ in Float(rng.unit() * 0.8 + 0.1) }
        let model = TrainedModel(members: [.network(net, weights: net.initialWeights(seed: 1))], classes: ["a", "b"],
                                 featureNames: ["f1", "f2", "f3"], normalization: .identity,
                                 featureRanges: ranges ? FeatureRanges.fit(features: x, width: 3) : nil)
        return (model, x)
    }

    @Test("the ranges are each feature's min and max, and round-trip through the file (versions 1 and 2)")
    func roundTrip() throws {
        let r = try #require(FeatureRanges.fit(features: [1, 5, -2, 7, 0, 6], width: 2))
        #expect(r.min == [-2, 5] && r.max == [1, 7])
        let (model, _) = try Self.rawModel()
        let bytes = model.encoded()
        #expect(String(decoding: bytes, as: UTF8.self).contains("\"feature_ranges\":{\"max\":["))
        #expect(try TrainedModel(decoding: bytes) == model)
        var ensemble = model
        ensemble.members.append(model.members[0])
        #expect(try TrainedModel(decoding: ensemble.encoded()).featureRanges == model.featureRanges)
    }

    @Test("a model without ranges writes no feature_ranges key (its bytes are as before) and is not checked")
    func absentKey() throws {
        let (model, x) = try Self.rawModel(ranges: false)
        let bytes = model.encoded()
        #expect(!String(decoding: bytes, as: UTF8.self).contains("feature_ranges"))
        let back = try TrainedModel(decoding: bytes)
        #expect(back.featureRanges == nil)
        #expect(back.rangeWarning(rawFeatures: x.map { $0 * 100 }) == nil)
    }

    @Test("z-scored features fed to a raw model produce the warning; raw ones do not")
    func zscoredInputWarns() throws {
        let (model, x) = try Self.rawModel()
        #expect(model.rangeWarning(rawFeatures: x) == nil)
        var z = x
        Normalization.fit(.zscore, features: x, width: 3).apply(to: &z)
        let warning = try #require(model.rangeWarning(rawFeatures: z))
        #expect(warning.contains("of 200 rows"), "\(warning)")
        #expect(warning.contains("outside the range the model was trained on"))
        #expect(warning.contains("raw features (no normalisation)"))
    }

    @Test("1% of rows outside, or values within the 5% margin, give no warning; more than 1% does")
    func thresholds() throws {
        let (model, x) = try Self.rawModel()
        let r = try #require(model.featureRanges)
        var y = x
        y[0] = r.max[0] + 0.04 * (r.max[0] - r.min[0])   // inside the margin
        #expect(model.rangeWarning(rawFeatures: y) == nil)
        y[3] = r.max[0] + 0.06 * (r.max[0] - r.min[0])   // row 2: outside
        y[6] = -5                                        // row 3: outside; 2 of 200 rows = 1%
        #expect(model.outsideRows(y) == 2)
        #expect(model.rangeWarning(rawFeatures: y) == nil)
        y[9] = 5                                         // 3 of 200 rows: 1.5%
        let warning = try #require(model.rangeWarning(rawFeatures: y))
        #expect(warning.hasPrefix("3 of 200 rows (1.5%)"), "\(warning)")
        #expect(warning.contains("f1 in 3"))
    }
}

extension TrainedModel {
    func outsideRows(_ x: [Float]) -> Int { featureRanges!.outside(rawFeatures: x).outsideRows }
}
