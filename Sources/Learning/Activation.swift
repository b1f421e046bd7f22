import Foundation

/// Element-wise activation functions (Keras names). Softmax is only allowed on the output
/// layer, where it is fused with the cross-entropy loss.
public enum Activation: String, Sendable, Codable, CaseIterable {
    case linear, relu, selu, tanh, sigmoid, softmax

    static let seluAlpha: Float = 1.6732632423543772
    static let seluScale: Float = 1.0507009873554805

    @inline(__always)
    func apply(_ z: Float) -> Float {
        switch self {
        case .linear, .softmax: return z
        case .relu: return max(z, 0)
        case .selu: return z > 0 ? Self.seluScale * z : Self.seluScale * Self.seluAlpha * (expf(z) - 1)
        case .tanh: return tanhf(z)
        case .sigmoid: return 1 / (1 + expf(-z))
        }
    }

    /// The derivative written in terms of the output y = f(z): every activation here has
    /// one, so the backward pass needs only the stored outputs.
    @inline(__always)
    func derivative(output y: Float) -> Float {
        switch self {
        case .linear, .softmax: return 1
        case .relu: return y > 0 ? 1 : 0
        case .selu: return y > 0 ? Self.seluScale : y + Self.seluScale * Self.seluAlpha
        case .tanh: return 1 - y * y
        case .sigmoid: return y * (1 - y)
        }
    }

    /// Applies in place to `count` values.
    @inline(__always)
    func apply(_ p: UnsafeMutablePointer<Float>, _ count: Int) {
        switch self {
        case .linear, .softmax: return
        case .relu: for i in 0..<count { p[i] = max(p[i], 0) }
        default: for i in 0..<count { p[i] = apply(p[i]) }
        }
    }
}
