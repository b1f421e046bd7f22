/// Feature scaling fitted on the train split and stored with the model, so a model is
/// always fed features scaled the way it was trained: x' = (x − shift) × scale.
public struct Normalization: Sendable, Equatable, Codable {
    public enum Method: String, Sendable, Codable, CaseIterable { case none, zscore, minmax }
    public var method: Method
    /// One value per feature (empty for `none`).
    public var shift: [Float]
    public var scale: [Float]

    public static let identity = Normalization(method: .none, shift: [], scale: [])

    public init(method: Method, shift: [Float], scale: [Float]) {
        self.method = method
        self.shift = shift
        self.scale = scale
    }

    /// Fits on rows of `width` features. A constant feature gets scale 1 (it then maps to 0),
    /// so no division by zero can reach the model.
    public static func fit(_ method: Method, features x: [Float], width: Int) -> Normalization {
        guard method != .none, width > 0 else { return .identity }
        let rows = x.count / width
        var shift = [Float](repeating: 0, count: width), scale = [Float](repeating: 1, count: width)
        for f in 0..<width {
            switch method {
            case .none: break
            case .zscore:
                var sum = 0.0
                for r in 0..<rows { sum += Double(x[r * width + f]) }
                let mean = rows == 0 ? 0 : sum / Double(rows)
                var ss = 0.0
                for r in 0..<rows { let d = Double(x[r * width + f]) - mean; ss += d * d }
                let sd = rows == 0 ? 0 : (ss / Double(rows)).squareRoot()
                shift[f] = Float(mean)
                scale[f] = sd > 1e-12 ? Float(1 / sd) : 1
            case .minmax:
                var lo = Float.infinity, hi = -Float.infinity
                for r in 0..<rows { lo = min(lo, x[r * width + f]); hi = max(hi, x[r * width + f]) }
                if rows == 0 { lo = 0; hi = 0 }
                shift[f] = lo
                scale[f] = hi - lo > 1e-12 ? 1 / (hi - lo) : 1
            }
        }
        return Normalization(method: method, shift: shift, scale: scale)
    }

    /// Scales rows of `shift.count` features in place.
    public func apply(to x: inout [Float]) {
        guard method != .none, !shift.isEmpty else { return }
        let width = shift.count
        for i in x.indices { let f = i % width; x[i] = (x[i] - shift[f]) * scale[f] }
    }
}
