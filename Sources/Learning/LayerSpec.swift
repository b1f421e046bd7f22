/// One layer of a sequential classifier, as configured (no weights).
///
/// Shapes are (steps, features). A plain vector is one step. Dense layers take vectors
/// only: put an LSTM without `returnSequences` before them, or read the input as one step.
public enum LayerSpec: Sendable, Equatable, Codable {
    /// Keras LSTM: gates i, f, c, o; sigmoid recurrent activation; `activation` on the
    /// candidate and the cell output.
    case lstm(units: Int, activation: Activation, returnSequences: Bool)
    case dense(units: Int, activation: Activation)
    /// Inverted dropout: active in training only.
    case dropout(rate: Double)

    public var name: String {
        switch self {
        case let .lstm(u, a, rs): return "LSTM(\(u), \(a.rawValue)\(rs ? ", return_sequences" : ""))"
        case let .dense(u, a): return "Dense(\(u), \(a.rawValue))"
        case let .dropout(r): return "Dropout(\(r))"
        }
    }
}

/// Input shape of a model: `steps` time steps of `features` values each.
public struct InputShape: Sendable, Equatable, Codable {
    public var steps: Int
    public var features: Int
    public init(steps: Int, features: Int) { self.steps = steps; self.features = features }
    public var size: Int { steps * features }
}

/// Where one weight tensor lives in the flat parameter vector.
public struct TensorSlot: Sendable, Equatable {
    public var name: String
    public var offset: Int
    public var count: Int
    public var range: Range<Int> { offset..<(offset + count) }
}
