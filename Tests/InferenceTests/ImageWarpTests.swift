import Basics
import Testing
@testable import Inference

/// The warp gives the bytes of the per-pixel formula of spec A.4-A.6 for any output width,
/// rotated and projective quads, both borders, gray and RGB: the reference for any rewrite
/// of its inner loop (the eight-pixel interior path among them).
@Suite struct ImageWarpTests {
    /// A.4-A.6 pixel by pixel, written independently of the warp's loop.
    static func plainWarp(_ source: [UInt8], width: Int, height: Int, channels: Int, quad: Quad, border: WarpBorder,
                          outputWidth: Int, outputHeight: Int) -> [UInt8] {
        let map = ProjectiveMap(quad: quad)
        let columns = (0 ..< outputWidth).map { Double($0) / Double(outputWidth) }
        var fx = [Int32](repeating: 0, count: outputWidth), fy = fx
        var out: [UInt8] = []
        for v in 0 ..< outputHeight {
            columns.withUnsafeBufferPointer { c in fx.withUnsafeMutableBufferPointer { x in fy.withUnsafeMutableBufferPointer { y in
                map.fixedPositions(columns: c, t: Double(v) / Double(outputHeight), x: x.baseAddress!, y: y.baseAddress!)
            } } }
            for u in 0 ..< outputWidth {
                let x0 = Int(fx[u]) >> 5, y0 = Int(fy[u]) >> 5
                let ax = Int32(fx[u] & 31), ay = Int32(fy[u] & 31)
                var w = [(32 - ax) * (32 - ay) * 32, ax * (32 - ay) * 32, (32 - ax) * ay * 32, ax * ay * 32]
                let xs = [x0, x0 + 1, x0, x0 + 1], ys = [y0, y0, y0 + 1, y0 + 1]
                let cx = xs.map { min(max($0, 0), width - 1) }, cy = ys.map { min(max($0, 0), height - 1) }
                if border == .zero { for i in 0 ..< 4 where cx[i] != xs[i] || cy[i] != ys[i] { w[i] = 0 } }
                for c in 0 ..< 3 {
                    let ch = channels == 1 ? 0 : c
                    var sum: Int32 = 0
                    for i in 0 ..< 4 { sum += Int32(source[(cy[i] * width + cx[i]) * channels + ch]) * w[i] }
                    out.append(UInt8(clamping: (sum + (1 << 14)) >> 15))
                }
            }
        }
        return out
    }

    /// The warp of `source` through each quad, with both borders, is `plainWarp`'s.
    static func expectPlainWarp(_ source: [UInt8], width: Int, height: Int, channels: Int, quads: [Quad],
                                outputWidth: Int, outputHeight: Int) {
        for quad in quads {
            for border in [WarpBorder.zero, .replicate] {
                var out = [UInt8](repeating: 0, count: outputWidth * outputHeight * 3)
                source.withUnsafeBufferPointer { s in out.withUnsafeMutableBufferPointer { o in
                    ImageWarp.warp(source: s, sourceWidth: width, sourceHeight: height, channels: channels, quad: quad,
                                   border: border, into: o, outputWidth: outputWidth, outputHeight: outputHeight)
                } }
                let expected = plainWarp(source, width: width, height: height, channels: channels, quad: quad, border: border,
                                         outputWidth: outputWidth, outputHeight: outputHeight)
                #expect(out == expected, "\(outputWidth)x\(outputHeight), \(channels) channel(s), \(border), \(quad)")
            }
        }
    }

    @Test(arguments: [(13, 9), (8, 8), (21, 17), (7, 30)])
    func warpMatchesPlainFormula(outputWidth: Int, outputHeight: Int) {
        var random = SeededRandom(seed: UInt64(outputWidth * 100 + outputHeight))
        let quads = [
            // Letterbox-like (affine), partly outside the image.
            Quad(bottomLeft: [-4, 40], topLeft: [-4, -6], topRight: [45, -6], bottomRight: [45, 40]),
            // Rotated and slightly projective, crossing two edges.
            Quad(bottomLeft: [3.3, 47.9], topLeft: [-5.1, 8.25], topRight: [33.7, -2.5], bottomRight: [44.2, 36.6]),
        ]
        for channels in [1, 3] {
            let (width, height) = (37, 29)
            let source = (0 ..< width * height * channels).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            Self.expectPlainWarp(source, width: width, height: height, channels: channels, quads: quads,
                                 outputWidth: outputWidth, outputHeight: outputHeight)
        }
    }

    /// Eight pixels at a time (`octet`, and `borderOctet` for pixels with outside neighbours):
    /// wide rows over a larger image, a rotated projective quad inside it, one crossing its
    /// edges, one ending at the last pixel (where the RGB word load would pass the end and
    /// the octet falls back), and one reaching thousands of pixels past every edge.
    @Test(arguments: [1, 3])
    func warpOctetsMatchPlainFormula(channels: Int) {
        var random = SeededRandom(seed: 88)
        let (width, height) = (301, 203)
        let source = (0 ..< width * height * channels).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        let quads = [
            Quad(bottomLeft: [40.3, 180.9], topLeft: [20.1, 30.25], topRight: [250.7, 10.5], bottomRight: [280.2, 170.6]),
            Quad(bottomLeft: [-30, 250], topLeft: [-20, -40], topRight: [330, -10], bottomRight: [320, 240]),
            Quad(bottomLeft: [250, 202.4], topLeft: [250, 150], topRight: [300.3, 150], bottomRight: [300.3, 202.4]),
            Quad(bottomLeft: [-5000.5, 9000.25], topLeft: [-4000.75, -7000.5], topRight: [8000.1, -6000.3], bottomRight: [7000.9, 8000.7]),
        ]
        for (outputWidth, outputHeight) in [(64, 9), (33, 17), (256, 3)] {
            Self.expectPlainWarp(source, width: width, height: height, channels: channels, quads: quads,
                                 outputWidth: outputWidth, outputHeight: outputHeight)
        }
    }

    /// The eight-lane blend in wrapping unsigned arithmetic is the scalar one for every
    /// 1/32 position and neighbour values that make the differences negative.
    @Test func octetBlendEqualsTheScalarBlend() {
        var random = SeededRandom(seed: 32)
        var mismatches = 0
        for _ in 0 ..< 256 {
            let p = (0 ..< 4).map { _ in SIMD8<UInt32>((0 ..< 8).map { _ in UInt32(truncatingIfNeeded: random.next() & 255) }) }
            let fx = SIMD8<UInt32>((0 ..< 8).map { _ in UInt32(truncatingIfNeeded: random.next() & 31) })
            let fy = SIMD8<UInt32>((0 ..< 8).map { _ in UInt32(truncatingIfNeeded: random.next() & 31) })
            let lanes = ImageWarp.interiorBlend(p[0], p[1], p[2], p[3], fx, fy)
            for i in 0 ..< 8 {
                let scalar = ImageWarp.interiorBlend(Int32(p[0][i]), Int32(p[1][i]), Int32(p[2][i]), Int32(p[3][i]),
                                                     Int32(fx[i]), Int32(fy[i]))
                if lanes[i] != UInt32(scalar) { mismatches += 1 }
            }
        }
        #expect(mismatches == 0)
    }

    /// The interior pixels' factored blend, scalar and vector, is A.4-A.6 exactly, for every
    /// 1/32 position and the extreme and random neighbour values.
    @Test func interiorBlendEqualsTheWeightedSum() {
        var random = SeededRandom(seed: 16)
        var corners: [[Int32]] = [[0, 0, 0, 0], [255, 255, 255, 255], [0, 255, 0, 255], [255, 0, 255, 0],
                                  [0, 0, 255, 255], [255, 255, 0, 0], [0, 255, 255, 0], [1, 254, 128, 127]]
        for _ in 0 ..< 64 { corners.append((0 ..< 4).map { _ in Int32(truncatingIfNeeded: random.next() & 255) }) }
        var mismatches = 0
        for p in corners {
            for fx in Int32(0) ..< 32 {
                for fy in Int32(0) ..< 32 {
                    let weighted = ImageWarp.blend(p[0], p[1], p[2], p[3], (32 - fx) * (32 - fy) * 32, fx * (32 - fy) * 32,
                                                   (32 - fx) * fy * 32, fx * fy * 32)
                    if ImageWarp.interiorBlend(p[0], p[1], p[2], p[3], fx, fy) != weighted { mismatches += 1 }
                    // The RGB path's vector form, the same values in every lane.
                    let lanes = ImageWarp.interiorBlend(SIMD4(repeating: p[0]), SIMD4(repeating: p[1]), SIMD4(repeating: p[2]),
                                                        SIMD4(repeating: p[3]), SIMD4(repeating: fx), SIMD4(repeating: fy))
                    if lanes != SIMD4(repeating: weighted) { mismatches += 1 }
                }
            }
        }
        #expect(mismatches == 0)
    }

    /// The warp writes its outputWidth x outputHeight x 3 bytes and nothing after them, even
    /// when the buffer is longer and the last pixel is an interior RGB one.
    @Test(arguments: [1, 3])
    func warpLeavesTheRestOfALongerBufferAlone(channels: Int) {
        var random = SeededRandom(seed: 7)
        let (width, height, side) = (40, 40, 8)
        let source = (0 ..< width * height * channels).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        let quad = Quad(bottomLeft: [5, 30], topLeft: [5, 5], topRight: [30, 5], bottomRight: [30, 30])
        var out = [UInt8](repeating: 0xA5, count: side * side * 3 + 16)
        source.withUnsafeBufferPointer { s in out.withUnsafeMutableBufferPointer { o in
            ImageWarp.warp(source: s, sourceWidth: width, sourceHeight: height, channels: channels, quad: quad,
                           border: .replicate, into: o, outputWidth: side, outputHeight: side)
        } }
        #expect(out[(side * side * 3)...].allSatisfy { $0 == 0xA5 })
        let expected = Self.plainWarp(source, width: width, height: height, channels: channels, quad: quad, border: .replicate,
                                      outputWidth: side, outputHeight: side)
        #expect(Array(out[..<(side * side * 3)]) == expected)
    }
}
