/// How a warp treats neighbours that fall outside the source image.
public enum WarpBorder: Sendable, Hashable {
    /// Outside pixels count as 0 (`cv::BORDER_CONSTANT`): the detector's letterbox bars.
    case zero
    /// Outside pixels take the nearest edge pixel (`cv::BORDER_REPLICATE`): the landmark crop.
    case replicate
}

/// OpenCV 3.4's 8-bit `warpPerspective` with `INTER_LINEAR`, which MediaPipe 0.10.x links
/// (spec Appendix A with errata 1).
///
/// Each output pixel (u, v) samples the source at the projective square-to-quad map of
/// (u/ow, v/oh), evaluated in float64 through all four float32 corners (the corners are not an
/// exact parallelogram once rounded, so the affine form gets pixels wrong). The position is
/// rounded to 1/32 pixel and the four neighbours are blended with integer weights summing to
/// 2^15, rounded to uint8. Not reproduced: OpenCV's handling of exact 1/64-pixel ties (errata
/// 6), which needs max(W, H) not a multiple of 4 and never occurs for 48x48 images.
public enum ImageWarp {
    /// Warps `source` (`sourceWidth` x `sourceHeight`, 1 gray or 3 RGB channels, row-major)
    /// into `output`, `outputWidth` x `outputHeight` x 3 RGB. Gray is replicated to R, G, B.
    public static func warp(
        source: UnsafeBufferPointer<UInt8>, sourceWidth: Int, sourceHeight: Int, channels: Int,
        quad: Quad, border: WarpBorder,
        into output: UnsafeMutableBufferPointer<UInt8>, outputWidth: Int, outputHeight: Int
    ) {
        precondition(channels == 1 || channels == 3, "channels must be 1 or 3")
        precondition(sourceWidth > 0 && sourceHeight > 0)
        precondition(source.count >= sourceWidth * sourceHeight * channels)
        precondition(output.count >= outputWidth * outputHeight * 3)
        guard outputWidth > 0 && outputHeight > 0 else { return }
        // Per-row scratch on the stack: u / ow per column (a division per pixel would cost
        // more than everything else) and the row's sample positions.
        withUnsafeTemporaryAllocation(of: Double.self, capacity: outputWidth) { columns in
            withUnsafeTemporaryAllocation(of: Int32.self, capacity: 2 * outputWidth) { positions in
                for u in 0..<outputWidth { columns[u] = Double(u) / Double(outputWidth) }
                let rows = RowScratch(columns: UnsafeBufferPointer(columns),
                                      fixedX: positions.baseAddress!,
                                      fixedY: positions.baseAddress! + outputWidth)
                warpRows(source: source, sourceWidth: sourceWidth, sourceHeight: sourceHeight,
                         channels: channels, map: ProjectiveMap(quad: quad), border: border,
                         into: output, outputHeight: outputHeight, scratch: rows)
            }
        }
    }

    struct RowScratch {
        let columns: UnsafeBufferPointer<Double>
        let fixedX: UnsafeMutablePointer<Int32>
        let fixedY: UnsafeMutablePointer<Int32>
    }

    /// Each row's sample positions come from a separate, branch-free pass that vectorises;
    /// then the four neighbours of each pixel are gathered and blended.
    @inline(__always)
    private static func warpRows(
        source: UnsafeBufferPointer<UInt8>, sourceWidth: Int, sourceHeight: Int, channels: Int,
        map: ProjectiveMap, border: WarpBorder, into output: UnsafeMutableBufferPointer<UInt8>,
        outputHeight: Int, scratch: RowScratch
    ) {
        let outputWidth = scratch.columns.count
        let zeroBorder = border == .zero
        let rowBytes = sourceWidth &* channels
        // The 4-byte RGB store below must stay within this warp's bytes, not the buffer's:
        // a caller's longer buffer keeps what follows them.
        let outputEnd = outputWidth &* outputHeight &* 3
        // x0 and x0 + 1 (y0 and y0 + 1) both inside, as one unsigned compare each.
        let lastX = UInt(bitPattern: sourceWidth &- 1), lastY = UInt(bitPattern: sourceHeight &- 1)
        // Eight interior pixels at a time in 32-bit lanes, when indices fit them.
        let octets = sourceWidth < 1 << 24 && sourceHeight < 1 << 24 && source.count < 1 << 30
        var o = 0
        for v in 0..<outputHeight {
            map.fixedPositions(columns: scratch.columns, t: Double(v) / Double(outputHeight),
                               x: scratch.fixedX, y: scratch.fixedY)
            var u = 0
            while u < outputWidth {
                let end = min(u &+ 8, outputWidth)
                if octets && end == u &+ 8 && o &+ 25 <= outputEnd
                    && octet(source: source, channels: channels, rowBytes: rowBytes, zeroBorder: zeroBorder,
                             lastX: UInt32(truncatingIfNeeded: lastX), lastY: UInt32(truncatingIfNeeded: lastY),
                             fixedX: scratch.fixedX + u, fixedY: scratch.fixedY + u,
                             output: UnsafeMutableRawPointer(output.baseAddress! + o)) {
                    u = end
                    o &+= 24
                    continue
                }
                for w in u..<end {
                    pixel(source: source, sourceWidth: sourceWidth, sourceHeight: sourceHeight, channels: channels,
                          zeroBorder: zeroBorder, rowBytes: rowBytes, lastX: lastX, lastY: lastY, outputEnd: outputEnd,
                          fixedX: Int(scratch.fixedX[w]), fixedY: Int(scratch.fixedY[w]), into: output, at: o)
                    o &+= 3
                }
                u = end
            }
        }
    }

    /// Eight consecutive output pixels. When all their neighbours are inside the image, each
    /// neighbour's bytes are loaded as one 32-bit word per pixel (RGB: the pixel and the next
    /// red; gray: the pixel and its right neighbour), the channels split into lanes and
    /// blended with `interiorBlend`'s integer operations in 32-bit wrapping arithmetic (the
    /// true values stay in 0..<2^18, so the bits are the scalar path's). Each pixel is stored
    /// as a 4-byte little-endian word whose 4th byte the next store overwrites (the caller keeps the 25th
    /// byte inside the warp's output). When a pixel is not interior, all eight go through
    /// `borderOctet`. False, with nothing written, when an RGB word load would pass the end.
    @inline(__always)
    static func octet(source: UnsafeBufferPointer<UInt8>, channels: Int,
                      rowBytes: Int, zeroBorder: Bool, lastX: UInt32, lastY: UInt32,
                      fixedX: UnsafePointer<Int32>, fixedY: UnsafePointer<Int32>,
                      output: UnsafeMutableRawPointer) -> Bool {
        let px = UnsafeRawPointer(fixedX).loadUnaligned(as: SIMD8<UInt32>.self)
        let py = UnsafeRawPointer(fixedY).loadUnaligned(as: SIMD8<UInt32>.self)
        // A negative position's bit pattern shifts to at least 2^26, above any last index.
        // x0 < lastX exactly when x0 - lastX wraps (both are below 2^31): all eight pixels are
        // interior when every lane's difference has its top bit set for x and y (a minimum,
        // not a mask compare, which Swift lowers lane by lane through memory).
        let x0 = px &>> 5, y0 = py &>> 5
        let interior = (x0 &- SIMD8(repeating: lastX)) & (y0 &- SIMD8(repeating: lastY))
        guard interior.min() >= 1 << 31 else {
            return borderOctet(source: source, channels: channels, zeroBorder: zeroBorder,
                               lastX: lastX, lastY: lastY, px: px, py: py, output: output)
        }
        let fx = px & 31, fy = py & 31
        let row = UInt32(truncatingIfNeeded: rowBytes)
        let base = UnsafeRawPointer(source.baseAddress!)
        let packed: SIMD8<UInt32>
        if channels == 1 {
            let i00 = y0 &* row &+ x0, i01 = i00 &+ row
            let top = gather16(base, i00), bottom = gather16(base, i01)
            let value = interiorBlend(top & 255, top &>> 8, bottom & 255, bottom &>> 8, fx, fy)
            packed = value &* 0x01_0101
        } else {
            let i00 = y0 &* row &+ x0 &* 3, i01 = i00 &+ row
            // The last 4-byte load reads i01 + 3 ... i01 + 6.
            guard Int(i01.max()) &+ 7 <= source.count else { return false }
            packed = blendWords(gather32(base, i00, 0), gather32(base, i00, 3),
                                gather32(base, i01, 0), gather32(base, i01, 3), fx, fy)
        }
        storeOctet(packed, output)
        return true
    }

    /// `interiorBlend` of four neighbours given as RGB words (red in the low byte, a 4th byte
    /// ignored), packed back the same way.
    @inline(__always)
    static func blendWords(_ a: SIMD8<UInt32>, _ b: SIMD8<UInt32>, _ c: SIMD8<UInt32>, _ d: SIMD8<UInt32>,
                           _ fx: SIMD8<UInt32>, _ fy: SIMD8<UInt32>) -> SIMD8<UInt32> {
        @inline(__always) func channel(_ shift: UInt32) -> SIMD8<UInt32> {
            interiorBlend((a &>> shift) & 255, (b &>> shift) & 255, (c &>> shift) & 255, (d &>> shift) & 255, fx, fy)
        }
        return channel(0) | channel(8) &<< 8 | channel(16) &<< 16
    }

    /// Eight RGB pixels as 4-byte little-endian words 3 bytes apart: each word's 4th byte is
    /// overwritten by the next, and the last one's lands on the 25th byte (the caller's).
    @inline(__always)
    static func storeOctet(_ packed: SIMD8<UInt32>, _ output: UnsafeMutableRawPointer) {
        for lane in 0..<8 { output.storeBytes(of: packed[lane].littleEndian, toByteOffset: 3 &* lane, as: UInt32.self) }
    }

    /// Eight pixels at any position, for either border. Each neighbour index is clamped into
    /// the image (A.5): that is BORDER_REPLICATE; for BORDER_CONSTANT an outside neighbour's
    /// value is then zeroed, which takes out its term as zeroing its weight does. The four
    /// neighbours go through the interior blend, A.4-A.6's weighted sum exactly for any four
    /// values. Positions are within ±2^25 pixels (`roundedToInt32`): the lanes cannot overflow.
    /// False, with nothing written, when an RGB word load would pass the end.
    @inline(__always)
    static func borderOctet(source: UnsafeBufferPointer<UInt8>, channels: Int, zeroBorder: Bool,
                            lastX lastColumn: UInt32, lastY lastRow: UInt32, px: SIMD8<UInt32>, py: SIMD8<UInt32>,
                            output: UnsafeMutableRawPointer) -> Bool {
        let sx = SIMD8<Int32>(truncatingIfNeeded: px) &>> 5, sy = SIMD8<Int32>(truncatingIfNeeded: py) &>> 5
        let lastX = SIMD8<Int32>(repeating: Int32(truncatingIfNeeded: lastColumn))
        let lastY = SIMD8<Int32>(repeating: Int32(truncatingIfNeeded: lastRow))
        // Sign-mask arithmetic, not mask compares (which Swift lowers lane by lane).
        @inline(__always) func clamped(_ v: SIMD8<Int32>, _ last: SIMD8<Int32>) -> SIMD8<UInt32> {
            let low = v & ~(v &>> 31)
            let excess = last &- low
            return SIMD8<UInt32>(truncatingIfNeeded: low &+ (excess & (excess &>> 31)))
        }
        /// All ones where 0 <= v <= last, else zero.
        @inline(__always) func inside(_ v: SIMD8<Int32>, _ last: SIMD8<Int32>) -> SIMD8<UInt32> {
            SIMD8<UInt32>(truncatingIfNeeded: ~((v | (last &- v)) &>> 31))
        }
        let sx1 = sx &+ 1, sy1 = sy &+ 1
        let xa = clamped(sx, lastX), xb = clamped(sx1, lastX)
        let ya = clamped(sy, lastY), yb = clamped(sy1, lastY)
        let fx = px & 31, fy = py & 31
        let width = SIMD8<UInt32>(repeating: lastColumn &+ 1)
        let rowA = ya &* width, rowB = yb &* width
        let base = UnsafeRawPointer(source.baseAddress!)
        var keep00 = SIMD8<UInt32>(repeating: .max), keep10 = keep00, keep01 = keep00, keep11 = keep00
        if zeroBorder {
            let inXa = inside(sx, lastX), inXb = inside(sx1, lastX), inYa = inside(sy, lastY), inYb = inside(sy1, lastY)
            keep00 = inXa & inYa
            keep10 = inXb & inYa
            keep01 = inXa & inYb
            keep11 = inXb & inYb
        }
        let packed: SIMD8<UInt32>
        if channels == 1 {
            let value = interiorBlend(gather8(base, rowA &+ xa) & keep00, gather8(base, rowA &+ xb) & keep10,
                                      gather8(base, rowB &+ xa) & keep01, gather8(base, rowB &+ xb) & keep11, fx, fy)
            packed = value &* 0x01_0101
        } else {
            let i00 = (rowA &+ xa) &* 3, i10 = (rowA &+ xb) &* 3, i01 = (rowB &+ xa) &* 3, i11 = (rowB &+ xb) &* 3
            // Each 4-byte load reads one byte past its pixel; i11 is the largest index of each lane.
            guard Int(i11.max()) &+ 4 <= source.count else { return false }
            packed = blendWords(gather32(base, i00, 0) & keep00, gather32(base, i10, 0) & keep10,
                                gather32(base, i01, 0) & keep01, gather32(base, i11, 0) & keep11, fx, fy)
        }
        storeOctet(packed, output)
        return true
    }

    /// The bytes at `base + index[lane]`, in 32-bit lanes.
    @inline(__always)
    static func gather8(_ base: UnsafeRawPointer, _ index: SIMD8<UInt32>) -> SIMD8<UInt32> {
        @inline(__always) func byte(_ lane: Int) -> UInt32 { UInt32(base.load(fromByteOffset: Int(index[lane]), as: UInt8.self)) }
        return SIMD8(byte(0), byte(1), byte(2), byte(3), byte(4), byte(5), byte(6), byte(7))
    }

    /// The 32-bit little-endian words at `base + index[lane] + offset`.
    @inline(__always)
    static func gather32(_ base: UnsafeRawPointer, _ index: SIMD8<UInt32>, _ offset: Int) -> SIMD8<UInt32> {
        @inline(__always) func word(_ lane: Int) -> UInt32 {
            UInt32(littleEndian: base.loadUnaligned(fromByteOffset: Int(index[lane]) &+ offset, as: UInt32.self))
        }
        return SIMD8(word(0), word(1), word(2), word(3), word(4), word(5), word(6), word(7))
    }

    /// The 16-bit little-endian words at `base + index[lane]`, in 32-bit lanes.
    @inline(__always)
    static func gather16(_ base: UnsafeRawPointer, _ index: SIMD8<UInt32>) -> SIMD8<UInt32> {
        @inline(__always) func word(_ lane: Int) -> UInt32 {
            UInt32(UInt16(littleEndian: base.loadUnaligned(fromByteOffset: Int(index[lane]), as: UInt16.self)))
        }
        return SIMD8(word(0), word(1), word(2), word(3), word(4), word(5), word(6), word(7))
    }

    /// One output pixel, any position: the factored blend when the four neighbours are
    /// inside, else A.4-A.6 with the border rule.
    @inline(__always)
    private static func pixel(
        source: UnsafeBufferPointer<UInt8>, sourceWidth: Int, sourceHeight: Int, channels: Int,
        zeroBorder: Bool, rowBytes: Int, lastX: UInt, lastY: UInt, outputEnd: Int,
        fixedX: Int, fixedY: Int, into output: UnsafeMutableBufferPointer<UInt8>, at o: Int
    ) {
        let x0 = fixedX >> 5, fx = Int32(truncatingIfNeeded: fixedX & 31)
        let y0 = fixedY >> 5, fy = Int32(truncatingIfNeeded: fixedY & 31)
        if UInt(bitPattern: x0) < lastX && UInt(bitPattern: y0) < lastY {
            // All four neighbours inside: no clamp, no border, and the A.4 weights
            // factor exactly (integers, no rounding in between), so the sum
            // 32 * ((32-fy) * rowA + fy * rowB) with rowA = (32-fx) p00 + fx p10 needs
            // 3 multiplies per channel instead of 4 plus 4 weights, and its A.6
            // rounding (32 X + 2^14) >> 15 is (X + 2^9) >> 10.
            let i00 = y0 &* rowBytes &+ x0 &* channels, i01 = i00 &+ rowBytes
            if channels == 1 {
                let value = interiorBlend(Int32(source[i00]), Int32(source[i00 &+ 1]),
                                          Int32(source[i01]), Int32(source[i01 &+ 1]), fx, fy)
                output[o] = value
                output[o &+ 1] = value
                output[o &+ 2] = value
            } else if i01 &+ 7 <= source.count && o &+ 4 <= outputEnd {
                // The three channels at once, one 4-byte load per neighbour: the 4th
                // lane is the next pixel's red (in range, computed and discarded), and
                // its byte stored at o + 3 is written over by the next pixel.
                let s = UnsafeRawPointer(source.baseAddress!)
                let value = interiorBlend(
                    SIMD4<Int32>(truncatingIfNeeded: s.loadUnaligned(fromByteOffset: i00, as: SIMD4<UInt8>.self)),
                    SIMD4<Int32>(truncatingIfNeeded: s.loadUnaligned(fromByteOffset: i00 &+ 3, as: SIMD4<UInt8>.self)),
                    SIMD4<Int32>(truncatingIfNeeded: s.loadUnaligned(fromByteOffset: i01, as: SIMD4<UInt8>.self)),
                    SIMD4<Int32>(truncatingIfNeeded: s.loadUnaligned(fromByteOffset: i01 &+ 3, as: SIMD4<UInt8>.self)),
                    SIMD4(repeating: fx), SIMD4(repeating: fy))
                UnsafeMutableRawPointer(output.baseAddress! + o).storeBytes(of: value, as: SIMD4<UInt8>.self)
            } else {
                for c in 0..<3 {
                    output[o &+ c] = interiorBlend(
                        Int32(source[i00 &+ c]), Int32(source[i00 &+ 3 &+ c]),
                        Int32(source[i01 &+ c]), Int32(source[i01 &+ 3 &+ c]), fx, fy)
                }
            }
            return
        }
        // A.4: weights (32-fx)(32-fy)*32 etc., 2^15 in total. Wrapping arithmetic:
        // every term is bounded (fx, fy < 32, values < 256).
        var w00 = (32 &- fx) &* (32 &- fy) &* 32, w10 = fx &* (32 &- fy) &* 32
        var w01 = (32 &- fx) &* fy &* 32, w11 = fx &* fy &* 32
        // A.5: clamped neighbours are BORDER_REPLICATE; for BORDER_ZERO an outside
        // neighbour keeps a clamped (valid) index but loses its weight.
        let xa = min(max(x0, 0), sourceWidth - 1), xb = min(max(x0 + 1, 0), sourceWidth - 1)
        let ya = min(max(y0, 0), sourceHeight - 1), yb = min(max(y0 + 1, 0), sourceHeight - 1)
        if zeroBorder {
            let xaIn: Int32 = xa == x0 ? 1 : 0, xbIn: Int32 = xb == x0 + 1 ? 1 : 0
            let yaIn: Int32 = ya == y0 ? 1 : 0, ybIn: Int32 = yb == y0 + 1 ? 1 : 0
            w00 &*= xaIn &* yaIn
            w10 &*= xbIn &* yaIn
            w01 &*= xaIn &* ybIn
            w11 &*= xbIn &* ybIn
        }
        // Clamped indices into an image whose size was checked: no overflow.
        let i00 = (ya &* sourceWidth &+ xa) &* channels, i10 = (ya &* sourceWidth &+ xb) &* channels
        let i01 = (yb &* sourceWidth &+ xa) &* channels, i11 = (yb &* sourceWidth &+ xb) &* channels
        if channels == 1 {
            let value = blend(Int32(source[i00]), Int32(source[i10]), Int32(source[i01]),
                              Int32(source[i11]), w00, w10, w01, w11)
            output[o] = value
            output[o + 1] = value
            output[o + 2] = value
        } else {
            for c in 0..<3 {
                output[o + c] = blend(Int32(source[i00 + c]), Int32(source[i10 + c]),
                                      Int32(source[i01 + c]), Int32(source[i11 + c]),
                                      w00, w10, w01, w11)
            }
        }
    }

    /// A.4-A.6 for four neighbours inside the image, in the factored form (see the caller).
    /// Values stay below 2^18: no overflow, and the result is already in 0...255.
    @inline(__always)
    static func interiorBlend(_ p00: Int32, _ p10: Int32, _ p01: Int32, _ p11: Int32,
                              _ fx: Int32, _ fy: Int32) -> UInt8 {
        let rowA = p00 &<< 5 &+ fx &* (p10 &- p00), rowB = p01 &<< 5 &+ fx &* (p11 &- p01)
        let x = rowA &<< 5 &+ fy &* (rowB &- rowA)
        return UInt8(truncatingIfNeeded: (x &+ (1 << 9)) &>> 10)
    }

    /// `interiorBlend` for four channels in one vector.
    @inline(__always)
    static func interiorBlend(_ p00: SIMD4<Int32>, _ p10: SIMD4<Int32>, _ p01: SIMD4<Int32>, _ p11: SIMD4<Int32>,
                              _ fx: SIMD4<Int32>, _ fy: SIMD4<Int32>) -> SIMD4<UInt8> {
        let rowA = p00 &<< 5 &+ fx &* (p10 &- p00), rowB = p01 &<< 5 &+ fx &* (p11 &- p01)
        let x = rowA &<< 5 &+ fy &* (rowB &- rowA)
        return SIMD4<UInt8>(truncatingIfNeeded: (x &+ (1 << 9)) &>> 10)
    }

    /// `interiorBlend` for eight pixels, in 32-bit wrapping arithmetic: the differences
    /// wrap, but every result is the true value (0...255) because it lies in 0..<2^32.
    @inline(__always)
    static func interiorBlend(_ p00: SIMD8<UInt32>, _ p10: SIMD8<UInt32>, _ p01: SIMD8<UInt32>, _ p11: SIMD8<UInt32>,
                              _ fx: SIMD8<UInt32>, _ fy: SIMD8<UInt32>) -> SIMD8<UInt32> {
        let rowA = p00 &<< 5 &+ fx &* (p10 &- p00), rowB = p01 &<< 5 &+ fx &* (p11 &- p01)
        let x = rowA &<< 5 &+ fy &* (rowB &- rowA)
        return (x &+ (1 << 9)) &>> 10
    }

    /// A.6: the weighted sum rounded back to uint8.
    @inline(__always)
    static func blend(_ p00: Int32, _ p10: Int32, _ p01: Int32, _ p11: Int32,
                      _ w00: Int32, _ w10: Int32, _ w01: Int32, _ w11: Int32) -> UInt8 {
        let sum = p00 &* w00 &+ p10 &* w10 &+ p01 &* w01 &+ p11 &* w11
        return UInt8(clamping: (sum &+ (1 << 14)) >> 15)
    }
}

/// The projective map from the unit square onto a quad, in float64 (`source_positions()` of
/// the reference tool). Unit-square corners (0,0), (1,0), (1,1), (0,1) go to the quad's
/// top-left, top-right, bottom-right and bottom-left. The operation order follows the tool,
/// because it decides the 1/32-pixel rounding of a few samples.
struct ProjectiveMap {
    let q0: SIMD2<Double>
    let a: SIMD2<Double>
    let b: SIMD2<Double>
    let g: Double
    let h: Double
    /// g = h = 0 (an axis-aligned or exact parallelogram quad, e.g. the detector letterbox):
    /// the denominator is exactly 1 and the division can be skipped without changing a bit.
    let isAffine: Bool

    init(quad: Quad) {
        let q0 = SIMD2<Double>(quad.topLeft), q1 = SIMD2<Double>(quad.topRight)
        let q2 = SIMD2<Double>(quad.bottomRight), q3 = SIMD2<Double>(quad.bottomLeft)
        let d1 = q1 - q2, d2 = q3 - q2, sq = q0 - q1 + q2 - q3
        let den = d1.x * d2.y - d2.x * d1.y
        let g = (sq.x * d2.y - d2.x * sq.y) / den
        let h = (d1.x * sq.y - sq.x * d1.y) / den
        self.q0 = q0
        self.a = q1 - q0 + g * q1
        self.b = q3 - q0 + h * q3
        self.g = g
        self.h = h
        self.isAffine = g == 0 && h == 0
    }

    /// A.3 for one output row: the source positions of (s, t) for every s in `columns`, in
    /// 1/32 pixel rounded half to even. Non-finite or huge positions (a degenerate ROI) are
    /// clamped like OpenCV's saturating casts. The same IEEE operations in the same order as
    /// `apply`, written without traps or branches so that the compiler vectorises the loop.
    @inline(__always)
    func fixedPositions(columns: UnsafeBufferPointer<Double>, t: Double,
                        x fixedX: UnsafeMutablePointer<Int32>, y fixedY: UnsafeMutablePointer<Int32>) {
        let btx = b.x * t, bty = b.y * t, ht = h * t
        for u in columns.indices {
            let s = columns[u]
            var x = a.x * s + btx + q0.x, y = a.y * s + bty + q0.y
            if !isAffine {
                let w = g * s + ht + 1
                x /= w
                y /= w
            }
            fixedX[u] = Self.roundedToInt32(x * 32)
            fixedY[u] = Self.roundedToInt32(y * 32)
        }
    }

    /// `v` rounded half to even, as Int32; NaN becomes 0 and |v| is limited to 2^30. Adding
    /// 1.5 * 2^52 leaves the rounded integer in the low mantissa bits (the sum's ulp is 1 and
    /// rounding is to nearest even), which avoids Swift's trapping float-to-int conversion.
    @inline(__always)
    static func roundedToInt32(_ v: Double) -> Int32 {
        let limit = Double(1 << 30)
        let finite = v.isNaN ? 0 : v
        let clamped = finite < -limit ? -limit : (finite > limit ? limit : finite)
        return Int32(truncatingIfNeeded: (clamped + 6_755_399_441_055_744.0).bitPattern)
    }

    /// The source position of unit-square point (s, t).
    @inline(__always)
    func apply(s: Double, t: Double) -> SIMD2<Double> {
        let numerator = a * s + b * t + q0
        return isAffine ? numerator : numerator / (g * s + h * t + 1)
    }
}
