import Basics
import Testing
@testable import Inference

/// The blendshape model's layer norms run as one kernel each (`LayerNormKernel`); its
/// outputs must keep every bit of the ten-operator graph, pruned or whole.
@Suite("Layer norm fusion keeps outputs")
struct LayerNormFusionTests {
    typealias Ref = LandmarkerReference

    @Test func fusedModelsGiveTheSameBits() throws {
        let models = try FaceModels(taskPath: Ref.taskPath)
        var random = SeededRandom(seed: 53)
        let references = try [25, 96].map { try Ref.f32(row: $0, "bs_input") }
        for path in KernelPath.allCases {
            for pruning in [true, false] {
                let fused = try Interpreter(model: models.blendshapes, kernelPath: path, pruning: pruning)
                let separate = try Interpreter(model: models.blendshapes, kernelPath: path, pruning: pruning, fusingLayerNorms: false)
                let count = fused.inputShape.reduce(1, *)
                // Landmark-like values, and wide ones that make the sums round.
                let randomInputs = [Float(1), 1000].flatMap { scale in
                    (0 ..< 3).map { _ in (0 ..< count).map { _ in Float(random.unit() * 2 - 1) * scale } }
                }
                for input in references + randomInputs {
                    let a = try fused.run(input), b = try separate.run(input)
                    #expect(a.map { $0.map(\.bitPattern) } == b.map { $0.map(\.bitPattern) }, "\(path), pruning \(pruning)")
                }
            }
        }
    }

    /// Eight layer norms (two per mixer block) in the blendshape model, none elsewhere; the
    /// last block's one-token pruning still reaches through them.
    @Test func everyLayerNormIsFusedAndPruningStillApplies() throws {
        let models = try FaceModels(taskPath: Ref.taskPath)
        func plan(_ model: TFLiteModel, fusing: Bool) throws -> GraphPlan {
            var plan = try GraphPlan(model: model, kernelPath: .avx2)
            plan.fuse()
            if fusing { plan.fuseLayerNorms() }
            plan.pruneToDemand()
            return plan
        }
        func layerNorms(_ plan: GraphPlan) -> [LayerNormKernel] {
            plan.nodes.compactMap { if case let .layerNorm(k) = $0.kind { k } else { nil } }
        }
        let fused = try plan(models.blendshapes, fusing: true)
        let norms = layerNorms(fused)
        #expect(norms.count == 8)
        #expect(norms.allSatisfy { $0.columns == 64 })
        // The last block's channel MLP reads the two tokens that the output slices start from.
        #expect(norms.map(\.rows) == Array(repeating: 97, count: 7) + [2])
        #expect(fused.multiplyAdds == (try plan(models.blendshapes, fusing: false)).multiplyAdds)
        #expect(try plan(models.blendshapes, fusing: false).nodes.count - fused.nodes.count == 8 * 9)
        for model in [models.detector, models.landmarks] {
            #expect(layerNorms(try plan(model, fusing: true)).isEmpty)
        }
    }
}
