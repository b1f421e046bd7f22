/// Why building, training or loading a model failed. Each message says what to change.
public enum LearningError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The layer list cannot form a classifier (e.g. Dense after a sequence, no softmax head).
    case invalidModel(String)
    /// Data and model disagree (feature count, class count, empty split …).
    case invalidData(String)
    /// A model file is damaged, truncated or of an unknown format.
    case invalidModelFile(path: String, reason: String)
    /// Training diverged (a loss or weight became NaN or infinite).
    case diverged(epoch: Int)

    public var description: String {
        switch self {
        case let .invalidModel(m): return "invalid model: \(m)"
        case let .invalidData(m): return "invalid training data: \(m)"
        case let .invalidModelFile(path, reason): return "cannot read the model file \(path): \(reason)"
        case let .diverged(epoch):
            return "training diverged in epoch \(epoch) (the loss became NaN or infinite); lower the learning rate or set a clipnorm"
        }
    }
}
