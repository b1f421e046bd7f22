/// The uint8 -> float32 conversion of a warped image into a model input (spec 1.4, 5).
///
/// Each value is `q * scale + offset` rounded to float32 **once** (errata 3): `q * scale` is
/// exact in double, so one rounding is what MediaPipe's fused arithmetic produces; two float32
/// roundings are 1 ulp off for most grey values. With only 256 inputs the result is a table.
public struct TensorScaling: Sendable {
    /// The float32 value of each uint8 level.
    public let table: [Float]

    /// `float32(double(q) * double(float32(hi - lo) / float32(255)) + lo)` for q = 0...255.
    public init(low: Float, high: Float) {
        let scale = Double((high - low) / Float(255))
        table = (0...255).map { Float(Double($0) * scale + Double(low)) }
    }

    /// The face detector's range, [-1, 1] (metadata mean 127.5, std 127.5).
    public static let detector = TensorScaling(low: -1, high: 1)
    /// The landmark model's range, [0, 1] (metadata mean 0, std 255).
    public static let landmarks = TensorScaling(low: 0, high: 1)

    /// Converts `count` values; `output` must hold at least as many as `input`.
    public func apply(_ input: UnsafeBufferPointer<UInt8>, into output: UnsafeMutableBufferPointer<Float>) {
        precondition(output.count >= input.count)
        table.withUnsafeBufferPointer { table in
            for i in input.indices {
                output[i] = table[Int(input[i])]
            }
        }
    }
}
