/// A rotated rectangle: centre, size and rotation in radians.
///
/// In image-normalised units (x and width as fractions of the image width, y and height of
/// its height) this is MediaPipe's `NormalizedRect`; in pixels it is the ROI that
/// `ImageToTensorCalculator` warps. A positive rotation turns clockwise on screen (y down).
/// Everything is float32, as in MediaPipe.
public struct RotatedRect: Sendable, Hashable {
    public var centerX: Float
    public var centerY: Float
    public var width: Float
    public var height: Float
    public var rotation: Float

    public init(centerX: Float, centerY: Float, width: Float, height: Float, rotation: Float) {
        self.centerX = centerX
        self.centerY = centerY
        self.width = width
        self.height = height
        self.rotation = rotation
    }

    /// The detector ROI in pixels (spec 1.1-1.2): a square of side max(W, H) centred on the
    /// image, so the whole image is letterboxed into the square tensor.
    public static func detectorROI(imageWidth: Int, imageHeight: Int) -> RotatedRect {
        let side = Float(max(imageWidth, imageHeight))
        return RotatedRect(centerX: Float(imageWidth) / 2, centerY: Float(imageHeight) / 2,
                           width: side, height: side, rotation: 0)
    }

    /// The same rectangle in pixels of a `imageWidth` x `imageHeight` image (spec 5).
    public func inPixels(imageWidth: Int, imageHeight: Int) -> RotatedRect {
        let w = Float(imageWidth), h = Float(imageHeight)
        return RotatedRect(centerX: centerX * w, centerY: centerY * h,
                           width: width * w, height: height * h, rotation: rotation)
    }

    /// The four corners, as OpenCV's `cv::RotatedRect::points` computes them (Appendix A.1
    /// with errata 2): the angle goes to degrees as `float(double(float(rot) * 180) / pi)`,
    /// its sine and cosine are taken in double, and everything else is float32.
    public var corners: Quad {
        let angleDegrees = Float(Double(rotation * 180) / Double.pi)
        let radians = Double(angleDegrees) * Double.pi / 180
        let a = Float(LandmarkerMath.sinDouble(radians)) * 0.5
        let b = Float(LandmarkerMath.cosDouble(radians)) * 0.5
        let p0 = SIMD2(centerX - a * height - b * width, centerY + b * height - a * width)
        let p1 = SIMD2(centerX + a * height - b * width, centerY - b * height - a * width)
        let p2 = SIMD2(2 * centerX - p0.x, 2 * centerY - p0.y)
        let p3 = SIMD2(2 * centerX - p1.x, 2 * centerY - p1.y)
        return Quad(bottomLeft: p0, topLeft: p1, topRight: p2, bottomRight: p3)
    }
}

/// Four corners of a warp source region, in pixels. The warp maps `topLeft` to the output's
/// (0, 0), `topRight` to (w, 0), `bottomRight` to (w, h) and `bottomLeft` to (0, h).
public struct Quad: Sendable, Hashable {
    public var bottomLeft: SIMD2<Float>
    public var topLeft: SIMD2<Float>
    public var topRight: SIMD2<Float>
    public var bottomRight: SIMD2<Float>

    public init(bottomLeft: SIMD2<Float>, topLeft: SIMD2<Float>,
                topRight: SIMD2<Float>, bottomRight: SIMD2<Float>) {
        self.bottomLeft = bottomLeft
        self.topLeft = topLeft
        self.topRight = topRight
        self.bottomRight = bottomRight
    }

    /// In OpenCV's `RotatedRect::points` order: P0 bottom-left, P1 top-left, P2 top-right,
    /// P3 bottom-right (the layout of the reference `*_corners_px` files).
    public var points: [SIMD2<Float>] { [bottomLeft, topLeft, topRight, bottomRight] }
}

/// MediaPipe's `NormalizeRadians`: maps a float32 angle into [-pi, pi), computed in double.
@inline(__always)
func normalizeRadians(_ angle: Float) -> Float {
    let a = Double(angle)
    return Float(a - 2 * Double.pi * ((a - -Double.pi) / (2 * Double.pi)).rounded(.down))
}
