import Basics
import Formats

/// Where in a configuration file something was found.
public struct SourceLocation: Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int
    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }
    public var description: String { line > 0 ? "\(file):\(line):\(column)" : file }
}

/// Everything the build engine can report. Each message says what was expected and
/// where, so a user can fix the file or the command line without reading the code.
public enum PipelineError: Error, Sendable, CustomStringConvertible {
    /// pipeline.json (or a --set value) is not valid JSON or not a valid pipeline.
    case invalidPipeline(SourceLocation, String)
    /// A stage kind that no registered implementation provides.
    case unknownStageKind(SourceLocation, kind: String, stage: String, known: [String])
    /// A parameter name that the stage kind does not have.
    case unknownParameter(SourceLocation, stage: String, parameter: String, known: [String])
    /// A parameter value of the wrong type or outside its allowed range.
    case invalidParameter(SourceLocation, stage: String, parameter: String, message: String)
    /// A stage input that names no stage.
    case unknownInput(SourceLocation, stage: String, input: String)
    /// The stages' inputs form a cycle; the names are in cycle order.
    case cycle([String])
    /// A --set or command-line reference to a stage that the pipeline does not have.
    case unknownStage(String, known: [String])
    /// The pipeline file itself is not there (EX_NOINPUT, like any missing input).
    case missingPipelineFile(path: String)
    /// An input file or folder that a stage needs is not there.
    case missingInput(stage: String, parameter: String, path: String, hint: String)
    /// Another build holds the cache lock and --no-wait was given.
    case cacheLocked(cache: String, holder: String)
    /// A stage failed while running. The underlying error keeps its type, so the one
    /// mapping to exit codes can tell bad data from a damaged cache or an I/O failure.
    case stageFailed(stage: String, underlying: any Error)
    /// The cache is damaged (a record that does not parse, a missing object).
    case cacheCorrupt(path: String, message: String)
    /// A file could not be read or written.
    case io(String)
    /// `--shard` (or the scheduler's environment for `--shard auto`) does not name a shard.
    case invalidShard(String)

    /// The message, with input bytes escaped and over-long lines shortened.
    public var description: String { MessageText.sanitized(text) }

    private var text: String {
        func q(_ field: String) -> String { MessageText.field(field) }
        switch self {
        case let .invalidPipeline(loc, message):
            return "\(loc): \(message)"
        case let .unknownStageKind(loc, kind, stage, known):
            return "\(loc): unknown stage kind '\(q(kind))' in stage '\(q(stage))'; known kinds: \(known.joined(separator: ", "))"
        case let .unknownParameter(loc, stage, parameter, known):
            let hint = known.isEmpty ? "it takes no parameters" : "its parameters are: \(known.joined(separator: ", "))"
            return "\(loc): stage '\(q(stage))' has no parameter '\(q(parameter))'; \(hint)"
        case let .invalidParameter(loc, stage, parameter, message):
            return "\(loc): \(stage).\(parameter): \(message)"
        case let .unknownInput(loc, stage, input):
            return "\(loc): stage '\(q(stage))' takes input from '\(q(input))', but no stage has that name"
        case let .cycle(names):
            return "the stages form a cycle: \((names + [names.first ?? ""]).joined(separator: " → "))"
        case let .unknownStage(name, known):
            return "no stage named '\(q(name))' in the pipeline; stages: \(known.joined(separator: ", "))"
        case let .missingPipelineFile(path):
            return "the pipeline file \(path) does not exist; pass --pipeline FILE, or run from the project folder that holds pipeline.json"
        case let .missingInput(stage, parameter, path, hint):
            return "stage '\(stage)': \(parameter) '\(path)' does not exist. \(hint)"
        case let .cacheLocked(cache, holder):
            return "the cache \(cache) is locked by another build (\(holder)); wait for it, or run without --no-wait to wait automatically"
        case let .stageFailed(stage, underlying):
            return "stage '\(stage)' failed: \(underlying)"
        case let .cacheCorrupt(path, message):
            return "the cache is damaged: file \(path) \(message). Delete that file (or the whole cache folder) and build again; the build recomputes what is missing"
        case let .io(message):
            return message
        case let .invalidShard(message):
            return "--shard: \(message)"
        }
    }
}

extension PipelineError {
    /// A stage failure described by a message alone (no more specific error type fits).
    public static func stageFailed(stage: String, message: String) -> PipelineError {
        .stageFailed(stage: stage, underlying: StageFailure(message: message))
    }

    /// The innermost error: through `stageFailed` wrappers to what actually went wrong.
    public var underlyingError: any Error {
        if case .stageFailed(_, let underlying) = self {
            return (underlying as? PipelineError)?.underlyingError ?? underlying
        }
        return self
    }

    /// A failed read or write of a file the engine owns (an object, a record): an I/O error.
    init(_ error: FormatError) { self = .io(error.description) }
}

/// A stage's own failure, described by a message (e.g. "holds no images; expected …").
public struct StageFailure: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}
