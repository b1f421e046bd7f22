import Basics
import Testing
@testable import Inference

/// Pruning to what readers use (`GraphPlan.pruneToDemand`) must leave every output's bits
/// as they were, and it must actually drop the blendshape model's unread work.
@Suite("Demand pruning keeps outputs and drops unread rows")
struct DemandPruningTests {
    typealias Ref = LandmarkerReference

    /// Each face model, pruned and whole, on reference inputs and random ones: same bits.
    @Test func prunedModelsGiveTheSameBits() throws {
        let models = try FaceModels(taskPath: Ref.taskPath)
        var random = SeededRandom(seed: 41)
        // The rows whose float tensors the reference tool dumped (25 and 96).
        let floatRows = [25, 96]
        let references: [String: [[Float]]] = [
            "blendshapes": try floatRows.map { try Ref.f32(row: $0, "bs_input") },
            "landmarks": try floatRows.map { try Ref.f32(row: $0, "lmk_input") },
            "detector": try floatRows.map { try Ref.f32(row: $0, "det_input") },
        ]
        for (name, model) in [("detector", models.detector), ("landmarks", models.landmarks), ("blendshapes", models.blendshapes)] {
            for path in KernelPath.allCases {
                let pruned = try Interpreter(model: model, kernelPath: path, pruning: true)
                let whole = try Interpreter(model: model, kernelPath: path, pruning: false)
                let count = pruned.inputShape.reduce(1, *)
                let randomInputs = (0 ..< 2).map { _ in (0 ..< count).map { _ in Float(random.unit() * 2 - 1) } }
                for input in references[name]! + randomInputs {
                    let a = try pruned.run(input), b = try whole.run(input)
                    #expect(a.map { $0.map(\.bitPattern) } == b.map { $0.map(\.bitPattern) }, "\(name), \(path)")
                }
            }
        }
    }

    /// The last mixer block feeds a one-token slice: its channel MLP runs on 1 row of 97 and
    /// its token MLP's second convolution on one column block, about 5 M multiply-adds fewer.
    /// The detector and landmark models read all they compute.
    @Test func blendshapeModelDropsTheUnreadTokens() throws {
        let models = try FaceModels(taskPath: Ref.taskPath)
        for path in KernelPath.allCases {
            func multiplyAdds(_ model: TFLiteModel, pruning: Bool) throws -> Int {
                var plan = try GraphPlan(model: model, kernelPath: path)
                plan.fuse()
                if pruning { plan.pruneToDemand() }
                return plan.multiplyAdds
            }
            let whole = try multiplyAdds(models.blendshapes, pruning: false)
            let pruned = try multiplyAdds(models.blendshapes, pruning: true)
            #expect(whole > 31_000_000 && whole - pruned > 4_500_000, "\(path): \(whole) → \(pruned)")
            for model in [models.detector, models.landmarks] {
                #expect(try multiplyAdds(model, pruning: true) == multiplyAdds(model, pruning: false))
            }
        }
    }
}
