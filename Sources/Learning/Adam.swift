import Foundation

/// How gradients are clipped before the Adam step.
public enum GradientClipping: Sendable, Equatable, Codable {
    case none
    /// Keras `clipnorm`: each weight tensor is scaled so its own L2 norm is at most the value.
    case perTensor(Float)
    /// Keras `global_clipnorm`: all gradients are scaled together so their joint L2 norm is
    /// at most the value.
    case global(Float)
}

/// Adam as Keras 3 implements it (bias correction folded into the step size), with
/// optional AMSGrad and gradient clipping.
public struct Adam: Sendable {
    public var learningRate: Float
    public var beta1: Float
    public var beta2: Float
    public var epsilon: Float
    public var amsgrad: Bool
    public var clipping: GradientClipping

    public init(learningRate: Float = 0.001, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-7,
                amsgrad: Bool = false, clipping: GradientClipping = .none) {
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.amsgrad = amsgrad
        self.clipping = clipping
    }
}

/// Moment estimates for one parameter vector.
final class AdamState {
    let m: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>, vMax: UnsafeMutablePointer<Float>
    let count: Int
    var step = 0

    init(count: Int) {
        self.count = count
        m = .allocate(capacity: max(count, 1)); m.initialize(repeating: 0, count: max(count, 1))
        v = .allocate(capacity: max(count, 1)); v.initialize(repeating: 0, count: max(count, 1))
        vMax = .allocate(capacity: max(count, 1)); vMax.initialize(repeating: 0, count: max(count, 1))
    }

    deinit { m.deallocate(); v.deallocate(); vMax.deallocate() }

    /// Clips `g` in place, then updates `w`.
    func apply(_ o: Adam, slots: [TensorSlot], gradient g: UnsafeMutablePointer<Float>, weights w: UnsafeMutablePointer<Float>) {
        switch o.clipping {
        case .none: break
        case let .perTensor(c):
            for s in slots { clip(g + s.offset, s.count, to: c, norm: norm(g + s.offset, s.count)) }
        case let .global(c):
            var total: Double = 0
            for s in slots { let n = norm(g + s.offset, s.count); total += n * n }
            clip(g, count, to: c, norm: total.squareRoot())
        }
        step += 1
        let t = Float(step)
        let alpha = o.learningRate * (1 - powf(o.beta2, t)).squareRoot() / (1 - powf(o.beta1, t))
        let a1 = 1 - o.beta1, a2 = 1 - o.beta2
        for i in 0..<count {
            let gi = g[i]
            m[i] += (gi - m[i]) * a1
            v[i] += (gi * gi - v[i]) * a2
            var denom = v[i]
            if o.amsgrad { vMax[i] = max(vMax[i], v[i]); denom = vMax[i] }
            w[i] -= alpha * m[i] / (denom.squareRoot() + o.epsilon)
        }
    }

    private func norm(_ p: UnsafePointer<Float>, _ n: Int) -> Double {
        var s: Double = 0
        for i in 0..<n { s += Double(p[i]) * Double(p[i]) }
        return s.squareRoot()
    }

    private func clip(_ p: UnsafeMutablePointer<Float>, _ n: Int, to c: Float, norm: Double) {
        guard norm > Double(c) else { return }
        let scale = Float(Double(c) / norm)
        for i in 0..<n { p[i] *= scale }
    }
}
