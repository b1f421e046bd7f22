/// A failure to read, plan or run a model: names the file or entry, and what was expected.
public struct ModelError: Error, Sendable, CustomStringConvertible, Equatable {
    /// The model file, bundle or bundle entry the error is about.
    public let source: String
    /// What was wrong, with the expected and found values where known.
    public let message: String

    public init(source: String, _ message: String) {
        self.source = source
        self.message = message
    }

    public var description: String { "\(source): \(message)" }
}
