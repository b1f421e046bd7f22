import Foundation
import Formats
import Testing
@testable import Pipeline

/// Stages for engine tests: they move small byte strings around, so a test can see
/// exactly which stage ran and what it produced.

/// Produces the UTF-8 bytes of its `text` parameter.
struct TextSource: Stage {
    static let kind = "text"
    static let version = 1
    static let summary = "emit a text"
    static let inputCount = 0...0
    static let parameters = [ParameterSpec("text", default: .string("hello"), "the text")]
    let text: String
    init(parameters: StageParameters) throws(PipelineError) { text = try parameters.string("text") }
    func run(_ context: StageContext) throws -> StageResult {
        StageResult(artifacts: ["out": Array(text.utf8)], rowsOut: 1)
    }
}

/// Concatenates its inputs and a suffix; `ignored` does not change the output, which
/// is how the tests exercise early cutoff.
struct Append: Stage {
    static let kind = "append"
    static let version = 1
    static let summary = "concatenate inputs and a suffix"
    static let inputCount = 1...4
    static let parameters = [
        ParameterSpec("suffix", default: .string("!"), "appended text"),
        ParameterSpec("ignored", default: .int(0), "does not affect the output"),
        ParameterSpec("probe", default: .string(""), "name of a ConcurrencyProbe to report to"),
    ]
    let suffix: String
    let probe: String
    init(parameters: StageParameters) throws(PipelineError) {
        suffix = try parameters.string("suffix")
        _ = try parameters.int("ignored")
        probe = try parameters.string("probe")
    }
    func run(_ context: StageContext) throws -> StageResult {
        if !probe.isEmpty { ConcurrencyProbe.enter(probe) }
        defer { if !probe.isEmpty { ConcurrencyProbe.leave(probe) } }
        var bytes: [UInt8] = []
        for i in context.inputs { bytes += try i.bytes("out") }
        return StageResult(artifacts: ["out": bytes + Array(suffix.utf8)], rowsIn: 1, rowsOut: 1)
    }
}

/// Fails when `fail` is true, with a message or (`with: "format"`) a FormatError.
struct Failing: Stage {
    static let kind = "failing"
    static let version = 1
    static let summary = "fail on demand"
    static let inputCount = 0...1
    static let parameters = [
        ParameterSpec("fail", default: .bool(true), "whether to fail"),
        ParameterSpec("with", default: .string("message"), "\"message\" or \"format\""),
    ]
    let fail: Bool
    let with: String
    init(parameters: StageParameters) throws(PipelineError) {
        fail = try parameters.bool("fail")
        with = try parameters.string("with", oneOf: ["message", "format"])
    }
    func run(_ context: StageContext) throws -> StageResult {
        if fail && with == "format" { throw FormatError(file: "rows.csv", line: 3, message: "expected 2 fields, found 1") }
        if fail { throw PipelineError.stageFailed(stage: context.stage, message: "asked to fail") }
        return StageResult(artifacts: ["out": [1, 2, 3]])
    }
}

/// Reads a file parameter, so tests can check that its content (not path) is keyed.
struct FileSource: Stage {
    static let kind = "file"
    static let version = 1
    static let summary = "emit a file's bytes"
    static let inputCount = 0...0
    static let parameters = [ParameterSpec("path", default: .string("input.txt"), "the file", role: .inputPath(hint: "create it"))]
    init(parameters: StageParameters) throws(PipelineError) { _ = try parameters.path("path") }
    func run(_ context: StageContext) throws -> StageResult {
        let file = try context.inputFile("path")
        let bytes = try readFileBytes(atPath: file.path)
        // The engine hashed the file once; the stage trusts that digest.
        guard SHA256.digest(bytes) == file.digest else { throw PipelineError.stageFailed(stage: context.stage, message: "digest mismatch") }
        return StageResult(artifacts: ["out": bytes])
    }
}

/// Records the largest number of stages running at once, per probe name, and can hold
/// stages at a rendezvous: each arriving stage waits until `parties` stages have arrived,
/// so two stages can only both pass if they run at the same time.
enum ConcurrencyProbe {
    private struct Rendezvous {
        var parties: Int
        var timeout: Double
        var arrived = 0
        var timedOut = false
    }
    nonisolated(unsafe) private static var running: [String: Int] = [:]
    nonisolated(unsafe) private static var peak: [String: Int] = [:]
    nonisolated(unsafe) private static var rendezvous: [String: Rendezvous] = [:]
    private static let condition = NSCondition()

    /// Makes stages reporting to `name` wait for each other: all `parties` must arrive
    /// before any leaves, or `timeout` seconds pass (then `timedOut(name)` is true).
    static func meet(_ name: String, parties: Int, timeout: Double) {
        condition.lock()
        rendezvous[name] = Rendezvous(parties: parties, timeout: timeout)
        condition.unlock()
    }

    static func enter(_ name: String) {
        condition.lock()
        defer { condition.unlock() }
        running[name, default: 0] += 1
        peak[name] = max(peak[name] ?? 0, running[name]!)
        guard var r = rendezvous[name] else { return }
        r.arrived += 1
        rendezvous[name] = r
        condition.broadcast()
        let deadline = Date(timeIntervalSinceNow: r.timeout)
        while rendezvous[name]!.arrived < r.parties {
            if !condition.wait(until: deadline) {
                rendezvous[name]!.timedOut = true
                return
            }
        }
    }

    static func leave(_ name: String) {
        condition.lock()
        running[name, default: 0] -= 1
        condition.unlock()
    }

    static func peak(_ name: String) -> Int {
        condition.lock()
        defer { condition.unlock() }
        return peak[name] ?? 0
    }

    static func timedOut(_ name: String) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        return rendezvous[name]?.timedOut ?? false
    }
}

/// A per-item stage for shard tests. It logs what its context said, leaves one item to the
/// other shards in a shard's first pass (so the stage below it has incomplete input), and
/// defers work while its input is incomplete, as augment's fill does.
struct ShardProbe: Stage {
    static let kind = "shard-probe"
    static let version = 1
    static let summary = "log a shard's view of a per-item stage"
    static let inputCount = 1...1
    static let perItem = true
    static let parameters = [ParameterSpec("log", default: .string("shards"), "the ShardProbe log's name")]
    let log: String
    init(parameters: StageParameters) throws(PipelineError) { log = try parameters.string("log") }
    func run(_ context: StageContext) throws -> StageResult {
        ShardProbe.append(log, "\(context.stage) onlyDeferredWork=\(context.onlyDeferredWork) outputUnused=\(context.outputUnused) inputsComplete=\(context.inputsComplete)")
        if context.shard != nil && !context.onlyDeferredWork { context.countItems(skipped: 1) }
        if !context.inputsComplete { context.deferWork("needs every shard's items") }
        return StageResult(artifacts: ["out": try context.input.bytes("out") + [1]])
    }

    nonisolated(unsafe) private static var logs: [String: [String]] = [:]
    private static let lock = NSLock()
    static func append(_ log: String, _ line: String) {
        lock.lock()
        logs[log, default: []].append(line)
        lock.unlock()
    }
    static func lines(_ log: String) -> [String] {
        lock.lock()
        defer { lock.unlock() }
        return logs[log] ?? []
    }
}

let testRegistry = StageRegistry([TextSource.self, Append.self, Failing.self, FileSource.self])

/// A fresh folder under the system temp directory.
func temporaryFolder(_ label: String = #function) -> String {
    let name = label.filter { $0.isLetter || $0.isNumber }
    let path = NSTemporaryDirectory() + "blendset-tests/\(name)-\(UUID().uuidString.prefix(8))"
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// Writes a pipeline file and plans it.
func plan(_ json: String, in folder: String, overrides: [String] = []) throws -> BuildPlan {
    let file = folder + "/pipeline.json"
    try json.write(toFile: file, atomically: true, encoding: .utf8)
    return try BuildPlan.load(file: file, registry: testRegistry,
                              overrides: try overrides.map { t throws(PipelineError) in try ParameterOverride(parsing: t) },
                              workingDirectory: folder)
}

/// Expects `body` to throw a `PipelineError` that `matches`; a failure points at the caller.
func expectPipelineError(_ body: () throws -> Void, sourceLocation: Testing.SourceLocation = #_sourceLocation,
                         _ matches: (PipelineError) -> Bool) {
    do {
        try body()
        Issue.record("expected a PipelineError, but nothing was thrown", sourceLocation: sourceLocation)
    } catch let error as PipelineError {
        #expect(matches(error), "unexpected error: \(error)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected a PipelineError, got \(type(of: error)): \(error)", sourceLocation: sourceLocation)
    }
}

/// Expects exactly `names` to have run, in plan order.
func expectRan(_ report: BuildReport, _ names: [String], sourceLocation: Testing.SourceLocation = #_sourceLocation) {
    #expect(report.ran() == names, sourceLocation: sourceLocation)
}

/// Flips one bit in the middle of a file, as a bad disk or a stray write would.
func flipByte(in path: String) throws {
    var bytes = try readFileBytes(atPath: path)
    bytes[bytes.count / 2] ^= 0x01
    try AtomicFile.write(bytes, to: path)
}

/// Plans and builds, returning the stage statuses by name.
@discardableResult
func build(_ json: String, in folder: String, overrides: [String] = [], jobs: Int = 2) throws -> BuildReport {
    let p = try plan(json, in: folder, overrides: overrides)
    return try Builder(plan: p, cacheRoot: folder + "/cache", jobs: jobs).build()
}

extension BuildReport {
    func status(_ name: String) -> StageStatus? { stages.first { $0.name == name }?.status }
    func ran() -> [String] { stages.filter { $0.status == .ran }.map(\.name) }
    func stage(_ name: String) -> StageReport { stages.first { $0.name == name }! }
}

let chain = """
{ "version": 1, "stages": [
  { "name": "a", "kind": "text", "params": { "text": "x" } },
  { "name": "b", "kind": "append", "inputs": ["a"], "params": { "suffix": "1" } },
  { "name": "c", "kind": "append", "inputs": ["b"], "params": { "suffix": "2" } }
] }
"""
