import Formats

/// What a stage parameter holds, so the engine knows how to treat it in keys.
public enum ParameterRole: Sendable, Equatable {
    /// An ordinary value: its canonical JSON enters the stage key.
    case value
    /// A path to an input file or folder: its *content* digest enters the key, not the
    /// path, so moving a file changes nothing and editing it in place rebuilds.
    case inputPath(hint: String)
}

/// One documented parameter of a stage kind, with its default.
public struct ParameterSpec: Sendable {
    public var name: String
    public var defaultValue: JSONValue
    public var summary: String
    public var role: ParameterRole
    /// For an input path whose file name the stage writes into its output: the name then
    /// enters the key beside the content digest, so a cached result never carries another
    /// file's name (ids stay independent of what the cache held before).
    public var keysFileName: Bool

    public init(_ name: String, default defaultValue: JSONValue, _ summary: String, role: ParameterRole = .value, keysFileName: Bool = false) {
        self.name = name
        self.defaultValue = defaultValue
        self.summary = summary
        self.role = role
        self.keysFileName = keysFileName
    }
}

/// A stage kind: a named, versioned transformation from input artifacts to output
/// artifacts. Implementations are values holding their decoded parameters.
///
/// Bump `version` whenever the output for the same inputs and parameters changes:
/// the version is part of the stage key, so old cached results stop matching.
public protocol Stage: Sendable {
    static var kind: String { get }
    static var version: Int { get }
    static var summary: String { get }
    static var parameters: [ParameterSpec] { get }
    /// How many upstream stages this kind reads.
    static var inputCount: ClosedRange<Int> { get }
    /// Parameters this kind no longer takes, each with where it went (default: none).
    static var movedParameters: [String: String] { get }
    /// Whether the stage computes independent, memoised items (default: false). A shard
    /// (`build --shard K/N`) runs the plan up to and including these stages, each computing
    /// only the items `StageContext.owns` gives it, and writes nothing but memo entries.
    static var perItem: Bool { get }

    /// Decodes and validates the parameters (defaults already applied). Errors here
    /// are reported before anything runs.
    init(parameters: StageParameters) throws(PipelineError)

    func run(_ context: StageContext) throws -> StageResult
}

extension Stage {
    /// Setting a moved parameter is a configuration error that says where it went,
    /// instead of a bare "unknown parameter".
    public static var movedParameters: [String: String] { [:] }
    public static var perItem: Bool { false }

    /// The error for a parameter this kind does not take.
    static func unknownParameterError(_ name: String, stage: String, at location: SourceLocation) -> PipelineError {
        if let whereTo = movedParameters[name] {
            return .invalidParameter(location, stage: stage, parameter: name, message: whereTo)
        }
        return .unknownParameter(location, stage: stage, parameter: name, known: parameters.map(\.name))
    }
}

/// The resolved parameters of one stage: defaults overlaid with pipeline.json and
/// command-line overrides, each value keeping where it came from.
public struct StageParameters: Sendable {
    public var stage: String
    public var values: [String: JSONValue]
    /// For error messages: where each value was set.
    public var locations: [String: SourceLocation]
    /// Input paths made absolute (relative ones are resolved against the pipeline
    /// file's folder, or the working directory for --set values).
    public var resolvedPaths: [String: String]

    public init(stage: String, values: [String: JSONValue], locations: [String: SourceLocation] = [:], resolvedPaths: [String: String] = [:]) {
        self.stage = stage
        self.values = values
        self.locations = locations
        self.resolvedPaths = resolvedPaths
    }

    public func location(_ name: String) -> SourceLocation {
        locations[name] ?? SourceLocation(file: "defaults", line: 0, column: 0)
    }

    public func invalid(_ name: String, _ message: String) -> PipelineError {
        .invalidParameter(location(name), stage: stage, parameter: name, message: message)
    }

    public func value(_ name: String) throws(PipelineError) -> JSONValue {
        guard let v = values[name] else { throw invalid(name, "missing value") }
        return v
    }

    public func int(_ name: String, in range: ClosedRange<Int>? = nil) throws(PipelineError) -> Int {
        let v = try value(name)
        guard let i = v.intValue else { throw invalid(name, "expected an integer, found \(v.typeName) \(v.canonical)") }
        if let range, !range.contains(i) {
            throw invalid(name, "expected an integer in \(range.lowerBound)...\(range.upperBound), found \(i)")
        }
        return i
    }

    public func double(_ name: String, in range: ClosedRange<Double>? = nil) throws(PipelineError) -> Double {
        let v = try value(name)
        guard let d = v.doubleValue else { throw invalid(name, "expected a number, found \(v.typeName) \(v.canonical)") }
        if let range, !range.contains(d) {
            throw invalid(name, "expected a number in \(range.lowerBound)...\(range.upperBound), found \(JSONValue.format(d))")
        }
        return d
    }

    public func bool(_ name: String) throws(PipelineError) -> Bool {
        let v = try value(name)
        guard let b = v.boolValue else { throw invalid(name, "expected true or false, found \(v.typeName) \(v.canonical)") }
        return b
    }

    public func string(_ name: String, oneOf allowed: [String]? = nil) throws(PipelineError) -> String {
        let v = try value(name)
        guard let s = v.stringValue else { throw invalid(name, "expected a string, found \(v.typeName) \(v.canonical)") }
        if let allowed, !allowed.contains(s) {
            throw invalid(name, "expected one of \(allowed.map { "\"\($0)\"" }.joined(separator: ", ")), found \"\(s)\"")
        }
        return s
    }

    /// The absolute path of an `inputPath` parameter.
    public func path(_ name: String) throws(PipelineError) -> String {
        if let p = resolvedPaths[name] { return p }
        return try string(name)
    }
}

/// What a stage hands back: named artifacts (bytes the engine stores by content) and
/// statistics for the run record and the build summary.
public struct StageResult: Sendable {
    public var artifacts: [String: [UInt8]]
    /// Artifacts passed through unchanged from an input, by id: large data (images)
    /// is then stored once however many stages carry it.
    public var forwarded: [String: ContentDigest]
    public var rowsIn: Int?
    public var rowsOut: Int?
    /// Stage-specific figures (counts per class, skipped rows, policy applied …).
    public var stats: JSONValue
    /// Content ids of some of `artifacts`, taken as their bytes were made: the store does
    /// not hash those again (a large table costs a SHA-256 pass per hash).
    public var digests: [String: ContentDigest] = [:]

    public init(artifacts: [String: [UInt8]], forwarded: [String: ContentDigest] = [:], rowsIn: Int? = nil, rowsOut: Int? = nil, stats: JSONValue = .object([])) {
        self.artifacts = artifacts
        self.forwarded = forwarded
        self.rowsIn = rowsIn
        self.rowsOut = rowsOut
        self.stats = stats
    }

    /// Artifacts whose content ids are known (see `digests`), plus any others.
    public init(sealed: [String: SealedBytes], artifacts: [String: [UInt8]] = [:], forwarded: [String: ContentDigest] = [:],
                rowsIn: Int? = nil, rowsOut: Int? = nil, stats: JSONValue = .object([])) {
        self.init(artifacts: artifacts.merging(sealed.mapValues(\.bytes)) { a, _ in a }, forwarded: forwarded,
                  rowsIn: rowsIn, rowsOut: rowsOut, stats: stats)
        digests = sealed.mapValues(\.digest)
    }
}

/// One upstream stage's output as seen by a downstream stage.
public struct StageInput: Sendable {
    public var stage: String
    public var kind: String
    /// Artifact name → content id.
    public var artifacts: [String: ContentDigest]
    /// Identifies the whole output (all artifacts); this is what enters downstream keys.
    public var contentID: ContentDigest
    let store: any BuildStore

    public init(stage: String, kind: String, artifacts: [String: ContentDigest], contentID: ContentDigest, store: any BuildStore) {
        self.stage = stage
        self.kind = kind
        self.artifacts = artifacts
        self.contentID = contentID
        self.store = store
    }

    public func has(_ name: String) -> Bool { artifacts[name] != nil }

    /// The bytes of one artifact.
    public func bytes(_ name: String) throws(PipelineError) -> [UInt8] {
        guard let id = artifacts[name] else {
            throw .stageFailed(stage: stage, message: "its output has no artifact named '\(name)' (it has: \(artifacts.keys.sorted().joined(separator: ", ")))")
        }
        return try store.read(id)
    }

    /// The bytes of one artifact, and whether the store found them sealed (ending in the
    /// SHA-256 of the bytes before), checked in the same pass as their content id.
    public func sealedBytes(_ name: String) throws(PipelineError) -> (bytes: [UInt8], sealed: Bool) {
        guard let id = artifacts[name] else {
            throw .stageFailed(stage: stage, message: "its output has no artifact named '\(name)' (it has: \(artifacts.keys.sorted().joined(separator: ", ")))")
        }
        return try store.readSealed(id)
    }
}
