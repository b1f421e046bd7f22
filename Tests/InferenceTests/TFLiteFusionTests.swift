import Testing
@testable import Inference

/// Graphs that the planner fuses into one convolution must compute what the unfused
/// operators compute, and the fusion must actually happen.
@Suite struct TFLiteFusionTests {
    /// conv → ADD(conv, PAD(x) with extra zero channels) → RELU, as in the face detector;
    /// conv → PRELU → (1x1 conv) → ADD(residual) → PRELU, as in the landmark model.
    @Test(arguments: [true, false])
    func residualPadAndActivationsFuse(_ throughPad: Bool) throws {
        var rng = TFLiteTestRandom(state: throughPad ? 11 : 12)
        let (h, w, c, outC) = (9, 7, 12, throughPad ? 20 : 12)
        let xv = rng.floats(h * w * c)
        let wv = rng.floats(outC * 9 * c), bv = rng.floats(outC), alpha = rng.floats(outC, 0, 0.5)
        let w2 = rng.floats(outC * outC), b2 = rng.floats(outC)

        var m = TFLiteTinyModel()
        let x = m.tensor([1, h, w, c])
        let wt = m.constant([outC, 3, 3, c], wv), bt = m.constant([outC], bv)
        let conv = m.tensor([1, h, w, outC])
        m.op(TFLiteOpCode.conv, [x, wt, bt], [conv], optionsType: 1, tfliteConvOptions(same: true, stride: 1))
        var residual = x
        if throughPad {
            let p = m.ints([4, 2], [0, 0, 0, 0, 0, 0, 0, Int32(outC - c)])
            residual = m.tensor([1, h, w, outC])
            m.op(TFLiteOpCode.pad, [x, p], [residual])
        }
        let sum = m.tensor([1, h, w, outC])
        m.op(TFLiteOpCode.add, [conv, residual], [sum], optionsType: 11, [.int8(0)])
        let relu = m.tensor([1, h, w, outC])
        m.op(TFLiteOpCode.relu, [sum], [relu])
        let w2t = m.constant([outC, 1, 1, outC], w2), b2t = m.constant([outC], b2)
        let conv2 = m.tensor([1, h, w, outC])
        m.op(TFLiteOpCode.conv, [relu, w2t, b2t], [conv2], optionsType: 1, tfliteConvOptions(same: false, stride: 1))
        let slopes = m.constant([1, 1, outC], alpha)
        let y = m.tensor([1, h, w, outC])
        m.op(TFLiteOpCode.prelu, [conv2, slopes], [y])
        m.inputs = [x]; m.outputs = [y]

        // Expected, operator by operator.
        let (c1, _) = tfliteReferenceConv(xv, [1, h, w, c], wv, [outC, 3, 3, c], bv, stride: 1, dilation: 1, same: true, depthwise: false)
        var r = c1
        for i in 0 ..< h * w { for ch in 0 ..< outC {
            let res: Float = ch < c ? xv[i * c + ch] : 0
            r[i * outC + ch] = max(c1[i * outC + ch] + res, 0)
        } }
        let (c2, _) = tfliteReferenceConv(r, [1, h, w, outC], w2, [outC, 1, 1, outC], b2, stride: 1, dilation: 1, same: false, depthwise: false)
        let expected = c2.enumerated().map { i, v in v >= 0 ? v : v * alpha[i % outC] }

        let model = try TFLiteModel(bytes: m.bytes(), name: "fused.tflite")
        var plan = try GraphPlan(model: model)
        plan.fuse()
        #expect(plan.nodes.count == 2, "conv+pad+add+relu and conv+prelu should each become one node")
        let out = try Interpreter(model: model).run(xv)[0]
        #expect(tfliteMaxAbsDifference(out, expected) < 1e-5)
    }

    /// DEPTHWISE → 1x1 CONV → ADD(PAD(x)) → PRELU runs as one node, band by band.
    @Test(arguments: [(9, 7, 1), (6, 5, 2), (40, 3, 1)])
    func depthwiseFeedingPointwiseFuses(_ h: Int, _ w: Int, _ stride: Int) throws {
        var rng = TFLiteTestRandom(state: UInt64(h * 100 + w * 10 + stride))
        let (c, outC) = (12, 20)
        let xv = rng.floats(h * w * c), dw = rng.floats(9 * c), dwb = rng.floats(c)
        let pw = rng.floats(outC * c), pwb = rng.floats(outC), alpha = rng.floats(outC, 0, 0.5)
        let (d, dShape) = tfliteReferenceConv(xv, [1, h, w, c], dw, [1, 3, 3, c], dwb, stride: stride, dilation: 1, same: true, depthwise: true)
        let (p, _) = tfliteReferenceConv(d, dShape, pw, [outC, 1, 1, c], pwb, stride: 1, dilation: 1, same: false, depthwise: false)
        let (oh, ow) = (dShape[1], dShape[2])
        // The residual has the depthwise output's spatial size only for stride 1.
        let useResidual = stride == 1
        var expected = p
        for i in 0 ..< oh * ow { for ch in 0 ..< outC {
            var v = p[i * outC + ch] + (useResidual && ch < c ? xv[i * c + ch] : 0)
            v = v >= 0 ? v : v * alpha[ch]
            expected[i * outC + ch] = v
        } }

        var m = TFLiteTinyModel()
        let x = m.tensor([1, h, w, c])
        let dwt = m.constant([1, 3, 3, c], dw), dwbt = m.constant([c], dwb)
        let dout = m.tensor(dShape)
        m.op(TFLiteOpCode.depthwise, [x, dwt, dwbt], [dout], optionsType: 2, tfliteConvOptions(same: true, stride: stride, multiplier: 1))
        let pwt = m.constant([outC, 1, 1, c], pw), pwbt = m.constant([outC], pwb)
        let conv = m.tensor([1, oh, ow, outC])
        m.op(TFLiteOpCode.conv, [dout, pwt, pwbt], [conv], optionsType: 1, tfliteConvOptions(same: false, stride: 1))
        var last = conv
        if useResidual {
            let pads = m.ints([4, 2], [0, 0, 0, 0, 0, 0, 0, Int32(outC - c)])
            let padded = m.tensor([1, h, w, outC])
            m.op(TFLiteOpCode.pad, [x, pads], [padded])
            let sum = m.tensor([1, oh, ow, outC])
            m.op(TFLiteOpCode.add, [conv, padded], [sum], optionsType: 11, [.int8(0)])
            last = sum
        }
        let slopes = m.constant([outC], alpha)
        let y = m.tensor([1, oh, ow, outC])
        m.op(TFLiteOpCode.prelu, [last, slopes], [y])
        m.inputs = [x]; m.outputs = [y]

        let model = try TFLiteModel(bytes: m.bytes(), name: "separable.tflite")
        var plan = try GraphPlan(model: model)
        plan.fuse()
        #expect(plan.nodes.count == 1)
        let out = try Interpreter(model: model).run(xv)[0]
        #expect(tfliteMaxAbsDifference(out, expected) < 1e-5)
    }

    /// A convolution output that is also a graph output must not absorb its consumer.
    @Test func graphOutputsAreNotFusedAway() throws {
        var m = TFLiteTinyModel()
        let x = m.tensor([1, 2, 2, 1])
        let wt = m.constant([1, 1, 1, 1], [-2])
        let conv = m.tensor([1, 2, 2, 1]), y = m.tensor([1, 2, 2, 1])
        m.op(TFLiteOpCode.conv, [x, wt, -1], [conv], optionsType: 1, tfliteConvOptions(same: false, stride: 1))
        m.op(TFLiteOpCode.relu, [conv], [y])
        m.inputs = [x]; m.outputs = [conv, y]
        let out = try m.interpreter().run([1, -1, 2, -3])
        #expect(out[0] == [-2, 2, -4, 6])
        #expect(out[1] == [0, 2, 0, 6])
    }
}
