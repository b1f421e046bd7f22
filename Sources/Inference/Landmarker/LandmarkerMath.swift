#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The libm calls the Face Landmarker's numerics depend on, in one place.
///
/// MediaPipe computes its geometry in float32 with C's float functions (`sinf`, `cosf`,
/// `atan2f`, `expf`), while OpenCV computes the corner trigonometry in double. Which of the two
/// each step uses decides the last bit of the landmarks, so the callers name the variant.
enum LandmarkerMath {
    /// `exp(x)` rounded to float32 once (errata 4): a 1-ulp-off exp changes NMS weights.
    @inline(__always)
    static func expRoundedOnce(_ x: Float) -> Float { Float(exp(Double(x))) }

    /// `1 / (1 + exp(-x))` in float32 with a correctly rounded exp (spec 3.2, 6.3).
    @inline(__always)
    static func sigmoid(_ x: Float) -> Float { 1 / (1 + expRoundedOnce(-x)) }

    /// C's `atan2f`, as `std::atan2(float, float)` in MediaPipe's DetectionsToRectsCalculator.
    @inline(__always)
    static func atan2Float(_ y: Float, _ x: Float) -> Float { atan2f(y, x) }

    /// C's `sinf`/`cosf`, as `std::sin(float)` in MediaPipe's LandmarkProjectionCalculator.
    @inline(__always)
    static func sinFloat(_ x: Float) -> Float { sinf(x) }
    @inline(__always)
    static func cosFloat(_ x: Float) -> Float { cosf(x) }

    /// Double-precision sine/cosine, as in OpenCV's `RotatedRect::points`.
    @inline(__always)
    static func sinDouble(_ x: Double) -> Double { sin(x) }
    @inline(__always)
    static func cosDouble(_ x: Double) -> Double { cos(x) }

    /// `floor` in double, for MediaPipe's `NormalizeRadians`.
    @inline(__always)
    static func floorDouble(_ x: Double) -> Double { floor(x) }
}
