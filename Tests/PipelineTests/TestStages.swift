import Foundation
import Formats
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

/// Fails when `fail` is true.
struct Failing: Stage {
    static let kind = "failing"
    static let version = 1
    static let summary = "fail on demand"
    static let inputCount = 0...1
    static let parameters = [ParameterSpec("fail", default: .bool(true), "whether to fail")]
    let fail: Bool
    init(parameters: StageParameters) throws(PipelineError) { fail = try parameters.bool("fail") }
    func run(_ context: StageContext) throws -> StageResult {
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
    let path: String
    init(parameters: StageParameters) throws(PipelineError) { path = try parameters.path("path") }
    func run(_ context: StageContext) throws -> StageResult {
        StageResult(artifacts: ["out": try readFileBytes(atPath: path)])
    }
}

/// Records the largest number of stages running at once, per probe name.
enum ConcurrencyProbe {
    nonisolated(unsafe) private static var running: [String: Int] = [:]
    nonisolated(unsafe) private static var peak: [String: Int] = [:]
    private static let lock = NSLock()

    static func enter(_ name: String) {
        lock.lock()
        running[name, default: 0] += 1
        peak[name] = max(peak[name] ?? 0, running[name]!)
        lock.unlock()
        // Long enough that a parallel sibling overlaps with this one.
        Thread.sleep(forTimeInterval: 0.3)
    }

    static func leave(_ name: String) {
        lock.lock()
        running[name, default: 0] -= 1
        lock.unlock()
    }

    static func peak(_ name: String) -> Int {
        lock.lock()
        defer { lock.unlock() }
        return peak[name] ?? 0
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
