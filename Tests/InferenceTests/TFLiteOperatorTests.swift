import Foundation
import Testing
@testable import Inference

/// Builtin operator codes and option-union types used by the op-level tests.
enum TFLiteOpCode {
    static let add = 0, concatenation = 2, conv = 3, depthwise = 4, dequantize = 6, logistic = 14, maxPool = 17
    static let mul = 18, relu = 19, reshape = 22, softmax = 25, pad = 34, transpose = 39, mean = 40, sub = 41, div = 42
    static let stridedSlice = 45, prelu = 54, neg = 59, sum = 74, sqrt = 75, rsqrt = 76, squaredDifference = 99
}

/// Independent reference convolution (plain loops, TFLite padding rule written out again).
func tfliteReferenceConv(_ x: [Float], _ xs: [Int], _ w: [Float], _ ws: [Int], _ bias: [Float], stride: Int, dilation: Int,
                   same: Bool, depthwise: Bool, lower: Float = -.infinity, upper: Float = .infinity) -> ([Float], [Int]) {
    let (h, wd, c) = (xs[1], xs[2], xs[3])
    let (kh, kw) = (ws[1], ws[2])
    let outC = depthwise ? ws[3] : ws[0]
    let ekh = (kh - 1) * dilation + 1, ekw = (kw - 1) * dilation + 1
    let oh = same ? (h + stride - 1) / stride : (h - ekh) / stride + 1
    let ow = same ? (wd + stride - 1) / stride : (wd - ekw) / stride + 1
    let pt = same ? max(0, (oh - 1) * stride + ekh - h) / 2 : 0
    let pl = same ? max(0, (ow - 1) * stride + ekw - wd) / 2 : 0
    var out = [Float](repeating: 0, count: oh * ow * outC)
    for oy in 0 ..< oh { for ox in 0 ..< ow { for oc in 0 ..< outC {
        var acc = bias.isEmpty ? 0 : bias[oc]
        for ky in 0 ..< kh { for kx in 0 ..< kw {
            let iy = oy * stride - pt + ky * dilation, ix = ox * stride - pl + kx * dilation
            guard iy >= 0, iy < h, ix >= 0, ix < wd else { continue }
            if depthwise {
                let ic = oc / (outC / c)
                acc += x[(iy * wd + ix) * c + ic] * w[(ky * kw + kx) * outC + oc]
            } else {
                for ic in 0 ..< c { acc += x[(iy * wd + ix) * c + ic] * w[((oc * kh + ky) * kw + kx) * c + ic] }
            }
        } }
        out[(oy * ow + ox) * outC + oc] = min(max(acc, lower), upper)
    } } }
    return (out, [1, oh, ow, outC])
}

/// Conv2DOptions / DepthwiseConv2DOptions fields.
func tfliteConvOptions(same: Bool, stride: Int, dilation: Int = 1, activation: Int8 = 0, multiplier: Int? = nil) -> [TFLiteFlatField?] {
    let padding: TFLiteFlatField = .int8(same ? 0 : 1)
    if let multiplier {
        return [padding, .int32(Int32(stride)), .int32(Int32(stride)), .int32(Int32(multiplier)), .int8(activation),
                .int32(Int32(dilation)), .int32(Int32(dilation))]
    }
    return [padding, .int32(Int32(stride)), .int32(Int32(stride)), .int8(activation), .int32(Int32(dilation)), .int32(Int32(dilation))]
}

struct TFLiteConvCase: CustomTestStringConvertible, Sendable {
    var h: Int, w: Int, c: Int, outC: Int, k: Int, stride: Int, dilation: Int, same: Bool, activation: Int8
    var testDescription: String { "\(h)x\(w)x\(c)→\(outC) k\(k) s\(stride) d\(dilation) \(same ? "SAME" : "VALID") act\(activation)" }
}

@Suite struct TFLiteOperatorTests {
    func runSingle(_ model: TFLiteTinyModel, _ input: [Float]) throws -> [Float] {
        try model.interpreter().run(input)[0]
    }

    @Test func convSamePaddingWithStride2PutsTheExtraRowAtTheEnd() throws {
        // 6x6, 3x3, stride 2: total padding 1, so 0 before and 1 after (TFLite puts the odd pixel last).
        var m = TFLiteTinyModel()
        let x = m.tensor([1, 6, 6, 2])
        let w = m.constant([1, 3, 3, 2], [Float](repeating: 1, count: 18))
        let y = m.tensor([1, 3, 3, 1])
        m.op(TFLiteOpCode.conv, [x, w, -1], [y], optionsType: 1, tfliteConvOptions(same: true, stride: 2))
        m.inputs = [x]; m.outputs = [y]
        let out = try runSingle(m, [Float](repeating: 1, count: 72))
        #expect(out == [18, 18, 12, 18, 18, 12, 12, 12, 8])

        // 5x5: total padding 2, one on each side.
        var m5 = TFLiteTinyModel()
        let x5 = m5.tensor([1, 5, 5, 1])
        let w5 = m5.constant([1, 3, 3, 1], [Float](repeating: 1, count: 9))
        let y5 = m5.tensor([1, 3, 3, 1])
        m5.op(TFLiteOpCode.conv, [x5, w5, -1], [y5], optionsType: 1, tfliteConvOptions(same: true, stride: 2))
        m5.inputs = [x5]; m5.outputs = [y5]
        #expect(try runSingle(m5, [Float](repeating: 1, count: 25)) == [4, 6, 4, 6, 9, 6, 4, 6, 4])
    }

    static let convCases: [TFLiteConvCase] = [
        TFLiteConvCase(h: 9, w: 7, c: 3, outC: 5, k: 3, stride: 2, dilation: 1, same: true, activation: 0),
        TFLiteConvCase(h: 8, w: 8, c: 4, outC: 16, k: 3, stride: 2, dilation: 1, same: true, activation: 1),
        TFLiteConvCase(h: 10, w: 11, c: 5, outC: 24, k: 5, stride: 2, dilation: 1, same: true, activation: 3),
        TFLiteConvCase(h: 12, w: 12, c: 7, outC: 33, k: 1, stride: 1, dilation: 1, same: false, activation: 0),
        TFLiteConvCase(h: 9, w: 13, c: 16, outC: 9, k: 1, stride: 1, dilation: 1, same: true, activation: 2),
        TFLiteConvCase(h: 8, w: 8, c: 16, outC: 8, k: 2, stride: 2, dilation: 1, same: false, activation: 0),
        TFLiteConvCase(h: 9, w: 9, c: 3, outC: 17, k: 3, stride: 1, dilation: 2, same: true, activation: 0),
        TFLiteConvCase(h: 7, w: 6, c: 2, outC: 1, k: 3, stride: 3, dilation: 1, same: false, activation: 0),
        TFLiteConvCase(h: 2, w: 2, c: 40, outC: 70, k: 2, stride: 1, dilation: 1, same: false, activation: 0),
    ]

    @Test(arguments: convCases)
    func convMatchesReference(_ c: TFLiteConvCase) throws {
        var rng = TFLiteTestRandom(state: UInt64(c.h * 1000 + c.outC))
        let xv = rng.floats(c.h * c.w * c.c), wv = rng.floats(c.outC * c.k * c.k * c.c), bv = rng.floats(c.outC)
        let bounds: (Float, Float) = [(-.infinity, .infinity), (0, .infinity), (-1, 1), (0, 6)][Int(c.activation)]
        let (expected, shape) = tfliteReferenceConv(xv, [1, c.h, c.w, c.c], wv, [c.outC, c.k, c.k, c.c], bv, stride: c.stride,
                                              dilation: c.dilation, same: c.same, depthwise: false, lower: bounds.0, upper: bounds.1)
        var m = TFLiteTinyModel()
        let x = m.tensor([1, c.h, c.w, c.c])
        let w = m.constant([c.outC, c.k, c.k, c.c], wv)
        let b = m.constant([c.outC], bv)
        let y = m.tensor(shape)
        m.op(TFLiteOpCode.conv, [x, w, b], [y], optionsType: 1, tfliteConvOptions(same: c.same, stride: c.stride, dilation: c.dilation, activation: c.activation))
        m.inputs = [x]; m.outputs = [y]
        let out = try runSingle(m, xv)
        #expect(tfliteMaxAbsDifference(out, expected) < 1e-5)
    }

    @Test(arguments: [(1, true, 1), (1, true, 2), (1, false, 2), (1, false, 1), (2, true, 1), (2, false, 2), (3, true, 2), (1, true, 5)])
    func depthwiseWithMultiplier(_ multiplier: Int, _ same: Bool, _ stride: Int) throws {
        let c = multiplier == 1 ? 11 : 2
        let outC = c * multiplier
        var rng = TFLiteTestRandom(state: UInt64(7 + multiplier * 10 + stride))
        let xv = rng.floats(6 * 5 * c), wv = rng.floats(3 * 3 * outC), bv = rng.floats(outC)
        let (expected, shape) = tfliteReferenceConv(xv, [1, 6, 5, c], wv, [1, 3, 3, outC], bv, stride: stride, dilation: 1,
                                              same: same, depthwise: true)
        var m = TFLiteTinyModel()
        let x = m.tensor([1, 6, 5, c])
        let w = m.constant([1, 3, 3, outC], wv)
        let b = m.constant([outC], bv)
        let y = m.tensor(shape)
        m.op(TFLiteOpCode.depthwise, [x, w, b], [y], optionsType: 2, tfliteConvOptions(same: same, stride: stride, multiplier: multiplier))
        m.inputs = [x]; m.outputs = [y]
        #expect(tfliteMaxAbsDifference(try runSingle(m, xv), expected) < 1e-5)
    }

    @Test func broadcastingBinaryOps() throws {
        // [2,1,3] (+) [4,1] → [2,4,3]
        let av: [Float] = [1, 2, 3, 4, 5, 6]
        let bv: [Float] = [10, 20, 30, 40]
        func expect(_ code: Int, activation: Int8 = 0, sourceLocation: SourceLocation = #_sourceLocation, _ f: (Float, Float) -> Float) throws {
            var m = TFLiteTinyModel()
            let a = m.tensor([2, 1, 3])
            let b = m.constant([4, 1], bv)
            let y = m.tensor([2, 4, 3])
            m.op(code, [a, b], [y], optionsType: 11, [.int8(activation)])
            m.inputs = [a]; m.outputs = [y]
            var expected: [Float] = []
            for i in 0 ..< 2 { for j in 0 ..< 4 { for k in 0 ..< 3 { expected.append(f(av[i * 3 + k], bv[j])) } } }
            #expect(try runSingle(m, av) == expected, "op \(code)", sourceLocation: sourceLocation)
        }
        try expect(TFLiteOpCode.add) { $0 + $1 }
        try expect(TFLiteOpCode.sub, activation: 2) { min(max($0 - $1, -1), 1) }
        try expect(TFLiteOpCode.mul) { $0 * $1 }
        try expect(TFLiteOpCode.div) { $0 / $1 }
        try expect(TFLiteOpCode.squaredDifference) { ($0 - $1) * ($0 - $1) }

        // Scalar constant on the left, PRELU with per-channel slopes.
        var m = TFLiteTinyModel()
        let s = m.constant([], [3])
        let x = m.tensor([1, 2, 2])
        let alpha = m.constant([1, 1, 2], [0.5, 0.25])
        let t = m.tensor([1, 2, 2]), y = m.tensor([1, 2, 2])
        m.op(TFLiteOpCode.sub, [s, x], [t], optionsType: 28, [.int8(0)])
        m.op(TFLiteOpCode.prelu, [t, alpha], [y])
        m.inputs = [x]; m.outputs = [y]
        #expect(try runSingle(m, [1, 5, 7, 2]) == [2, -0.5, -2, 1])
    }

    /// STRIDED_SLICE on a [3,4] tensor holding 0...11.
    @Test(arguments: [
        ([1, 0], [3, 4], [1, 2], 0, 0, 0, false, [2, 2], [4, 6, 8, 10] as [Float]),
        ([0, -1], [0, 0], [1, -1], 1, 3, 0, false, [3, 4], [3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8]),
        ([2, 1], [3, 3], [1, 1], 0, 0, 1, false, [2], [9, 10]),
        ([0, 0], [-1, -1], [2, 1], 0, 0, 0, false, [1, 3], [0, 1, 2]),
        ([-10, 1], [10, 2], [1, 1], 0, 0, 0, false, [3, 1], [1, 5, 9]),
        ([1, 1], [2, 2], [1, 1], 0, 0, 0, true, [2, 2], [5, 6, 9, 10]),
        ([0, 3], [3, 0], [1, 1], 0, 0, 2, false, [3], [3, 7, 11]),
    ] as [([Int32], [Int32], [Int32], Int32, Int32, Int32, Bool, [Int], [Float])])
    func stridedSliceMasks(_ begin: [Int32], _ end: [Int32], _ strides: [Int32], _ beginMask: Int32, _ endMask: Int32,
                           _ shrink: Int32, _ offset: Bool, _ shape: [Int], _ expected: [Float]) throws {
        var m = TFLiteTinyModel()
        let x = m.tensor([3, 4])
        let b = m.ints([2], begin), e = m.ints([2], end), s = m.ints([2], strides)
        let y = m.tensor(shape)
        m.op(TFLiteOpCode.stridedSlice, [x, b, e, s], [y], optionsType: 32,
             [.int32(beginMask), .int32(endMask), .int32(0), .int32(0), .int32(shrink), .int8(offset ? 1 : 0)])
        m.inputs = [x]; m.outputs = [y]
        #expect(try runSingle(m, (0 ..< 12).map(Float.init)) == expected)
    }

    @Test func reductions() throws {
        // MEAN over the last axis (negative) without keep_dims, then SUM over axes 0 and 2 with keep_dims.
        var m = TFLiteTinyModel()
        let x = m.tensor([2, 3, 4])
        let axis = m.ints([1], [-1])
        let y = m.tensor([2, 3])
        m.op(TFLiteOpCode.mean, [x, axis], [y], optionsType: 27, [.int8(0)])
        let axes = m.ints([2], [0, 2])
        let z = m.tensor([1, 3, 1])
        m.op(TFLiteOpCode.sum, [x, axes], [z], optionsType: 27, [.int8(1)])
        m.inputs = [x]; m.outputs = [y, z]
        let out = try m.interpreter().run((0 ..< 24).map(Float.init))
        #expect(out[0] == [1.5, 5.5, 9.5, 13.5, 17.5, 21.5])
        #expect(out[1] == [60, 92, 124])
    }

    /// MEAN along each row (a layer norm's) runs four rows per vector; every row must keep the
    /// bits of one sequential Double sum, also where the order of the adds matters (values
    /// from 1e-8 to 1e8 with mixed signs) and in the last 1-3 rows.
    @Test(arguments: [1, 3, 4, 97])
    func rowMeansKeepTheSequentialSum(rows: Int) throws {
        var m = TFLiteTinyModel()
        let n = 64
        let x = m.tensor([1, 1, rows, n])
        let axis = m.ints([1], [3])
        let y = m.tensor([1, 1, rows, 1])
        m.op(TFLiteOpCode.mean, [x, axis], [y], optionsType: 27, [.int8(1)])
        m.inputs = [x]; m.outputs = [y]
        var rng = TFLiteTestRandom(state: UInt64(rows))
        let values = rng.floats(rows * n).enumerated().map { i, v in v * Float(pow(10.0, Double(i % 17) - 8)) }
        let expected = (0 ..< rows).map { r -> UInt32 in
            var sum = 0.0
            for j in 0 ..< n { sum += Double(values[r * n + j]) }
            return Float(sum / Double(n)).bitPattern
        }
        let out = try m.interpreter().run(values)[0]
        #expect(out.map(\.bitPattern) == expected)
    }

    @Test func padTransposeConcatReshape() throws {
        var m = TFLiteTinyModel()
        let x = m.tensor([1, 2, 3])
        let p = m.ints([3, 2], [0, 0, 1, 0, 0, 2])
        let padded = m.tensor([1, 3, 5])
        m.op(TFLiteOpCode.pad, [x, p], [padded])
        let perm = m.ints([3], [0, 2, 1])
        let t = m.tensor([1, 5, 3])
        m.op(TFLiteOpCode.transpose, [padded, perm], [t])
        let r = m.tensor([1, 15])
        m.op(TFLiteOpCode.reshape, [t], [r])
        let c = m.constant([1, 2], [100, 200])
        let y = m.tensor([1, 17])
        m.op(TFLiteOpCode.concatenation, [c, r], [y], optionsType: 10, [.int32(-1), .int8(0)])
        m.inputs = [x]; m.outputs = [y]
        // padded = [[0,0,0,0,0],[1,2,3,0,0],[4,5,6,0,0]]; transposed rows are its columns.
        #expect(try runSingle(m, [1, 2, 3, 4, 5, 6]) == [100, 200, 0, 1, 4, 0, 2, 5, 0, 3, 6, 0, 0, 0, 0, 0, 0])
    }

    @Test func maxPoolSameIgnoresPadding() throws {
        var m = TFLiteTinyModel()
        let x = m.tensor([1, 3, 3, 1])
        let y = m.tensor([1, 2, 2, 1])
        m.op(TFLiteOpCode.maxPool, [x], [y], optionsType: 5, [.int8(0), .int32(2), .int32(2), .int32(2), .int32(2), .int8(0)])
        m.inputs = [x]; m.outputs = [y]
        #expect(try runSingle(m, [-1, -2, -3, -4, -5, -6, -7, -8, -9]) == [-1, -3, -7, -9])
    }

    @Test func unaryOps() throws {
        let codes = [TFLiteOpCode.neg, TFLiteOpCode.relu, TFLiteOpCode.logistic, TFLiteOpCode.sqrt, TFLiteOpCode.rsqrt]
        let input: [Float] = [0.25, 4, 1, 9]
        let expected: [[Float]] = [[-0.25, -4, -1, -9], input, input.map { 1 / (1 + Float(exp(-Double($0)))) },
                                   [0.5, 2, 1, 3], [2, 0.5, 1, 1.0 / 3]]
        for (code, want) in zip(codes, expected) {
            var m = TFLiteTinyModel()
            let x = m.tensor([4]), y = m.tensor([4])
            m.op(code, [x], [y])
            m.inputs = [x]; m.outputs = [y]
            #expect(tfliteMaxAbsDifference(try runSingle(m, input), want) < 1e-6, "op \(code)")
        }
    }

    @Test func dequantizeFloat16AndDeprecatedOpcodes() throws {
        #expect(float16ToFloat(0x3C00) == 1)
        #expect(float16ToFloat(0xC000) == -2)
        #expect(float16ToFloat(0x7BFF) == 65504)
        #expect(float16ToFloat(0x0001) == 0x1p-24)
        #expect(float16ToFloat(0x8000).sign == .minus)
        #expect(float16ToFloat(0x7C00) == .infinity)
        for deprecated in [false, true] {
            var m = TFLiteTinyModel()
            m.deprecatedCodes = deprecated
            let half = m.float16Constant([2], [0x3C00, 0x3555])
            let weights = m.tensor([2])
            m.op(TFLiteOpCode.dequantize, [half], [weights])
            let x = m.tensor([2]), y = m.tensor([2])
            m.op(TFLiteOpCode.mul, [x, weights], [y], optionsType: 21, [.int8(0)])
            m.inputs = [x]; m.outputs = [y]
            #expect(try runSingle(m, [2, 3]) == [2, 3 * 0.333251953125])
        }
    }

    @Test func unsupportedOperatorNamesOpIndexAndModel() throws {
        var m = TFLiteTinyModel()
        let x = m.tensor([4]), y = m.tensor([4]), z = m.tensor([4])
        m.op(TFLiteOpCode.neg, [x], [y])
        m.op(TFLiteOpCode.softmax, [y], [z])
        m.inputs = [x]; m.outputs = [z]
        let error = #expect(throws: ModelError.self) { try m.interpreter() }
        let text = error?.description ?? ""
        #expect(text.contains("SOFTMAX") && text.contains("operator 1") && text.contains("tiny.tflite"), "\(text)")
    }

    @Test func hugeActivationsAreRefused() throws {
        var m = TFLiteTinyModel()
        let x = m.tensor([1 << 24, 4]), y = m.tensor([1 << 24, 4])
        m.op(TFLiteOpCode.neg, [x], [y])
        m.inputs = [x]; m.outputs = [y]
        let error = #expect(throws: ModelError.self) { try m.interpreter() }
        #expect(error?.description.contains("limit") == true)
    }

    @Test func wrongInputSizeIsAnError() throws {
        var m = TFLiteTinyModel()
        let x = m.tensor([4]), y = m.tensor([4])
        m.op(TFLiteOpCode.neg, [x], [y])
        m.inputs = [x]; m.outputs = [y]
        #expect(throws: ModelError.self) { try m.interpreter().run([1, 2, 3]) }
    }
}

@Suite("Transpose in eight-by-eight blocks")
struct GatherTransposeTests {
    @Test("a 2-D transpose gives every element where the plain formula puts it, for block-sized and ragged shapes",
          arguments: [(64, 97), (97, 64), (8, 8), (1, 9), (9, 1), (7, 15), (16, 17), (33, 8)])
    func blocksMatchPlainFormula(rows: Int, columns: Int) {
        // A [rows, columns] matrix whose rows lie `stride` floats apart, read as its transpose
        // [columns, rows]: the gather of a TRANSPOSE with perm [1, 0] (or of a slice of one).
        for stride in [columns, columns + 3] {
            let input = (0 ..< rows * stride).map { Float($0) * 0.5 - 7 }
            let kernel = GatherKernel(shape: [columns, rows], inputStrides: [1, stride], start: 0)
            var output = [Float](repeating: .nan, count: rows * columns)
            input.withUnsafeBufferPointer { x in
                output.withUnsafeMutableBufferPointer { kernel.run(x.baseAddress!, $0.baseAddress!) }
            }
            for c in 0 ..< columns {
                for r in 0 ..< rows where output[c * rows + r] != input[r * stride + c] {
                    Issue.record("rows \(rows), columns \(columns), stride \(stride): out[\(c), \(r)] = \(output[c * rows + r]), expected \(input[r * stride + c])")
                }
            }
        }
    }
}
