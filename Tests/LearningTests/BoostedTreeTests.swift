import Basics
import Foundation
import Testing
@testable import Learning

/// The native gradient-boosted trees: binning, gradients and gains by hand, an exact
/// split, determinism across thread counts, the model file and ensembles.
@Suite struct BoostedTreeTests {
    /// `rows` rows of `width` uniform [0, 1) features; labels from `label`.
    static func data(rows: Int, width: Int, seed: UInt64, label: ([Float]) -> Int32) -> LabeledData {
        var rng = SeededRandom(seed: seed)
        var x: [Float] = [], y: [Int32] = []
        for _ in 0..<rows {
            let row = (0..<width).map { _ in Float(rng.unit()) }
            x += row
            y.append(label(row))
        }
        return LabeledData(features: x, labels: y)
    }

    /// Three noisy classes from a few features.
    static func threeClasses(rows: Int, seed: UInt64) -> LabeledData {
        var noise = SeededRandom(seed: seed ^ 0xABC)
        return data(rows: rows, width: 12, seed: seed) { r in
            let s = r[0] + 0.6 * r[3] - 0.4 * r[7] + Float(noise.normal() * 0.15)
            return s < 0.35 ? 0 : s < 0.75 ? 1 : 2
        }
    }

    @Test func binsAreMidpointsOrQuantilesAndMatchTheirThresholds() {
        let few = FeatureBins.fit(features: [3, 1, 2, 1, 0, 3], width: 1, maxBins: 255)
        #expect(few.edges == [[0.5, 1.5, 2.5]])
        #expect([Float(0), 0.5, 0.6, 1.5, 2, 3, 9].map { few.code($0, feature: 0) } == [0, 0, 1, 1, 2, 3, 3])
        // 1,000 distinct values into 16 bins: 15 edges, about 1/16 of the rows per bin.
        let many = (0..<1000).map { Float($0) }
        let q = FeatureBins.fit(features: many, width: 1, maxBins: 16)
        #expect(q.edges[0].count == 15)
        let codes = q.columns(features: many, width: 1)
        for b in 0..<16 { #expect(abs(codes.filter { $0 == b }.count - 62) <= 2) }
        // bin ≤ s exactly when x ≤ edges[s], for every value and every edge.
        for (i, x) in many.enumerated() {
            for s in 0..<15 { #expect((codes[i] <= s) == (x <= q.edges[0][s])) }
        }
    }

    /// Four rows, one feature, two classes, one round of stumps with lr 1: every number by hand.
    /// Start: p = ½ for both classes. Class 0: g = p − y = (−½, −½, ½, ½), h = p(1 − p) = ¼.
    /// Best split x ≤ 1.5: G_L = −1, H_L = ½, G_R = 1, H_R = ½, G = 0.
    /// gain = ½ (G_L²/(H_L+λ) + G_R²/(H_R+λ) − G²/(H+λ)); leaf = −G/(H+λ).
    @Test(arguments: [(0.0, 2.0, 2.0), (1.0, 2.0 / 3.0, 2.0 / 3.0)])
    func gradientsGainsAndLeavesMatchHandComputedValues(_ l2: Double, _ gain: Double, _ leaf: Double) throws {
        let train = LabeledData(features: [0, 1, 2, 3], labels: [0, 0, 1, 1])
        let o = BoostingOptions(rounds: 1, learningRate: 1, maxLeaves: 2, minSamplesLeaf: 1, l2: l2)
        let r = try TreeBooster.train(train: train, validation: nil, width: 1, classes: 2, options: o)
        let m = r.model
        #expect(m.baseScores == [Float(log(0.5)), Float(log(0.5))])
        #expect(m.treeCount == 2 && m.nodes.count == 6)
        let root = m.nodes[0]
        #expect(root.feature == 0 && root.threshold == 1.5)
        #expect(abs(Double(m.nodes[Int(root.left)].value) - leaf) < 1e-6)
        #expect(abs(Double(m.nodes[Int(root.right)].value) + leaf) < 1e-6)
        // Class 1's tree is the mirror image.
        #expect(abs(Double(m.nodes[3 + Int(m.nodes[3].left)].value) + leaf) < 1e-6)
        #expect(abs(r.importances[0] - 2 * gain) < 1e-9, "two trees, one split each")
        let p = m.predict(features: [0, 3])
        let expected = Float(1 / (1 + exp(-2 * leaf)))
        #expect(abs(p[0] - expected) < 1e-6 && abs(p[3] - expected) < 1e-6)
        #expect(abs(r.history[0].loss + log(Double(expected))) < 1e-6)
    }

    /// Three classes, six rows, one possible split (min_samples_leaf 3: x ≤ 2.5). At the
    /// base scores p = ⅓ for every class, so g = p − y and h = p(1 − p) = 2/9:
    /// class 0: Σg left = 2(⅓ − 1) + ⅓ = −1, right = +1; class 1: 0 and 0 (no gain, one
    /// leaf); class 2: +1 and −1. H per side = 3 · 2/9 = ⅔.
    @Test func softmaxGradientsPerClassMatchHandComputedValues() throws {
        let train = LabeledData(features: [0, 1, 2, 3, 4, 5], labels: [0, 0, 1, 1, 2, 2])
        let lambda = 0.25, lr = 0.5
        let o = BoostingOptions(rounds: 1, learningRate: lr, maxLeaves: 2, minSamplesLeaf: 3, l2: lambda)
        let r = try TreeBooster.train(train: train, validation: nil, width: 1, classes: 3, options: o)
        let m = r.model
        let side = lr * 1 / (2.0 / 3 + lambda)
        #expect(m.nodes[0].threshold == 2.5)
        #expect(abs(Double(m.nodes[1].value) - side) < 1e-6 && abs(Double(m.nodes[2].value) + side) < 1e-6)
        // Class 1: the gradients cancel (up to float rounding), so its leaves add nothing.
        #expect(m.nodes[m.treeStarts[1]..<m.treeStarts[2]].allSatisfy { $0.feature >= 0 || abs($0.value) < 1e-6 })
        let c2 = m.treeStarts[2]
        #expect(abs(Double(m.nodes[c2 + 1].value) + side) < 1e-6 && abs(Double(m.nodes[c2 + 2].value) - side) < 1e-6)
        let gain = 0.5 * (1 / (2.0 / 3 + lambda) + 1 / (2.0 / 3 + lambda))
        #expect(abs(r.importances[0] - 2 * gain) < 1e-5)
    }

    @Test func aStumpFindsTheExactSplit() throws {
        // 250 distinct values per feature: the bins are the midpoints, so the split can be exact.
        let rule = { (r: [Float]) -> Int32 in r[3] > 0.37 ? 1 : 0 }
        let train = Self.data(rows: 250, width: 5, seed: 1, label: rule)
        let o = BoostingOptions(rounds: 1, learningRate: 1, maxLeaves: 2, minSamplesLeaf: 1, maxBins: 256)
        let m = try TreeBooster.train(train: train, validation: nil, width: 5, classes: 2, options: o).model
        let x3 = (0..<250).map { train.features[$0 * 5 + 3] }
        let below = x3.filter { $0 <= 0.37 }.max()!, above = x3.filter { $0 > 0.37 }.min()!
        #expect(m.nodes[0].feature == 3)
        #expect(m.nodes[0].threshold >= below && m.nodes[0].threshold < above)
        let probe = Self.data(rows: 2000, width: 5, seed: 2, label: rule)
        let p = m.predict(features: probe.features)
        let right = (0..<probe.count).filter { (p[2 * $0 + 1] > 0.5 ? 1 : 0) == probe.labels[$0] }.count
        #expect(Double(right) / Double(probe.count) > 0.98)
    }

    @Test func manyRoundsLearnANoisyThreeClassProblem() throws {
        let train = Self.threeClasses(rows: 3000, seed: 3), val = Self.threeClasses(rows: 1000, seed: 4)
        let o = BoostingOptions(rounds: 60, learningRate: 0.1, maxLeaves: 15, l2: 1, patience: 5)
        let r = try TreeBooster.train(train: train, validation: val, width: 12, classes: 3, options: o)
        #expect(r.history.last!.valAccuracy! > 0.75)
        // The important features are the ones the labels depend on.
        let top = r.importances.indices.sorted { r.importances[$0] > r.importances[$1] }.prefix(3)
        #expect(Set(top) == [0, 3, 7])
        // Kept trees reproduce the best round's validation loss through predict.
        let p = r.model.predict(features: val.features)
        let e = Trainer.evaluate(probabilities: p, labels: val.labels, classes: 3)
        #expect(abs(e.loss - r.history[r.bestRound - 1].valLoss!) < 1e-6)
    }

    @Test func earlyStoppingKeepsTheBestRound() throws {
        // Validation labels are shifted by one class: the validation loss only gets worse.
        let train = Self.threeClasses(rows: 600, seed: 5), v = Self.threeClasses(rows: 300, seed: 6)
        let val = LabeledData(features: v.features, labels: v.labels.map { ($0 + 1) % 3 })
        let r = try TreeBooster.train(train: train, validation: val, width: 12, classes: 3,
                                      options: BoostingOptions(rounds: 100, patience: 4))
        #expect(r.stoppedEarly && r.bestRound == 1 && r.history.count == 5)
        #expect(r.model.rounds == 1)
    }

    @Test(arguments: [(1.0, 1.0), (0.7, 0.8)])
    func modelsAreBitIdenticalForAnyThreadCount(_ features: Double, _ rows: Double) throws {
        // Large enough that the feature-parallel path is taken at the root.
        let train = Self.threeClasses(rows: 8000, seed: 7), val = Self.threeClasses(rows: 800, seed: 8)
        func run(_ threads: Int) throws -> BoostingResult {
            try TreeBooster.train(train: train, validation: val, width: 12, classes: 3,
                                  options: BoostingOptions(rounds: 12, maxLeaves: 31, l2: 1, featureFraction: features, subsample: rows,
                                                           seed: 9, patience: 3, threads: threads))
        }
        let one = try run(1), two = try run(2), three = try run(3)
        #expect(one.model == two.model && one.model == three.model)
        #expect(one.importances == two.importances)
        #expect(one.history.map(\.valLoss) == two.history.map(\.valLoss))
        let bytes = TrainedModel(members: [.trees(one.model)], classes: ["a", "b", "c"], featureNames: (0..<12).map { "f\($0)" },
                                 normalization: .identity).encoded()
        #expect(bytes == TrainedModel(members: [.trees(two.model)], classes: ["a", "b", "c"], featureNames: (0..<12).map { "f\($0)" },
                                      normalization: .identity).encoded())
        if features < 1 {
            let other = try TreeBooster.train(train: train, validation: val, width: 12, classes: 3,
                                              options: BoostingOptions(rounds: 12, featureFraction: features, subsample: rows, seed: 10))
            #expect(other.model != one.model, "the seed drives the feature and row draws")
        }
    }

    @Test func saveLoadPredictRoundTripGivesIdenticalProbabilities() throws {
        let train = Self.threeClasses(rows: 1500, seed: 11), test = Self.threeClasses(rows: 300, seed: 12)
        let trees = try TreeBooster.train(train: train, validation: nil, width: 12, classes: 3,
                                          options: BoostingOptions(rounds: 20, maxLeaves: 8, maxDepth: 3)).model
        #expect(trees.problem() == nil)
        let names = (0..<12).map { "f\($0)" }
        let model = TrainedModel(members: [.trees(trees)], classes: ["happy", "sad", "neutral"], featureNames: names,
                                 normalization: .fit(.zscore, features: train.features, width: 12))
        let bytes = model.encoded()
        #expect(bytes[8] == 2, "format version 2")
        let back = try TrainedModel(decoding: bytes)
        #expect(back == model)
        #expect(try back.predict(rawFeatures: test.features, threads: 2) == model.predict(rawFeatures: test.features))
        // A depth limit of 3 and at most 8 leaves: never more than 15 nodes per tree.
        #expect((0..<trees.treeCount).allSatisfy { trees.treeStarts[$0 + 1] - trees.treeStarts[$0] <= 15 })
        var damaged = bytes
        damaged[damaged.count - 40] ^= 1
        #expect(throws: LearningError.self) { try TrainedModel(decoding: damaged) }
    }

    @Test func anEnsembleAveragesItsMembersProbabilities() throws {
        let train = Self.threeClasses(rows: 1200, seed: 13), test = Self.threeClasses(rows: 200, seed: 14)
        let a = try TreeBooster.train(train: train, validation: nil, width: 12, classes: 3,
                                      options: BoostingOptions(rounds: 10, featureFraction: 0.5, seed: 1)).model
        let b = try TreeBooster.train(train: train, validation: nil, width: 12, classes: 3,
                                      options: BoostingOptions(rounds: 10, featureFraction: 0.5, seed: 2)).model
        let net = try Network(input: InputShape(steps: 1, features: 12), layers: [.dense(units: 4, activation: .relu), .dense(units: 3, activation: .softmax)])
        let w = net.initialWeights(seed: 3)
        let names = (0..<12).map { "f\($0)" }, classes = ["happy", "sad", "neutral"]
        let ensemble = TrainedModel(members: [.trees(a), .trees(b), .network(net, weights: w)], classes: classes, featureNames: names,
                                    normalization: .identity)
        let p = try ensemble.predict(rawFeatures: test.features)
        let pa = a.predict(features: test.features), pb = b.predict(features: test.features)
        let pn = net.predict(weights: w, features: test.features)
        for i in p.indices { #expect(p[i] == Float((Double(pa[i]) + Double(pb[i]) + Double(pn[i])) / 3)) }
        #expect(pa != pb)
        let back = try TrainedModel(decoding: ensemble.encoded())
        #expect(back == ensemble)
        #expect(try back.predict(rawFeatures: test.features) == p)
        // One network alone is still written as format 1, as before.
        #expect(TrainedModel(network: net, weights: w, classes: classes, featureNames: names, normalization: .identity).encoded()[8] == 1)
    }

    @Test(arguments: [
        BoostingOptions(rounds: 0), BoostingOptions(learningRate: 0), BoostingOptions(maxLeaves: 1), BoostingOptions(maxLeaves: 0, maxDepth: 0),
        BoostingOptions(minSamplesLeaf: 0), BoostingOptions(l2: -1), BoostingOptions(maxBins: 257), BoostingOptions(featureFraction: 0),
        BoostingOptions(subsample: 1.5),
    ])
    func invalidOptionsAreRefusedWithAReason(_ o: BoostingOptions) {
        #expect(o.problem() != nil)
        #expect(throws: LearningError.self) {
            try TreeBooster.train(train: LabeledData(features: [0, 1], labels: [0, 1]), validation: nil, width: 1, classes: 2, options: o)
        }
    }

    @Test func badDataIsRefused() {
        let o = BoostingOptions()
        #expect(throws: LearningError.self) { try TreeBooster.train(train: LabeledData(features: [0, 1, 2], labels: [0, 1]), validation: nil, width: 1, classes: 2, options: o) }
        #expect(throws: LearningError.self) { try TreeBooster.train(train: LabeledData(features: [0, .nan], labels: [0, 1]), validation: nil, width: 1, classes: 2, options: o) }
        #expect(throws: LearningError.self) { try TreeBooster.train(train: LabeledData(features: [0, 1], labels: [0, 2]), validation: nil, width: 1, classes: 2, options: o) }
    }
}
