import Foundation
import Formats

/// Runs one stage outside a build: no pipeline file, no cache folder. Inputs and outputs
/// live in a `BuildStore` (in memory by default), and the stage runs through the same code
/// as in a build (`Builder.execute`), so results and errors are what a build would see.
///
///     let h = StageHarness()
///     let ingest = try h.run(IngestStage.self, parameters: ["source": .string(csv)])
///     let select = try h.run(SelectStage.self, inputs: [ingest.output])
public struct StageHarness: Sendable {
    public let store: any BuildStore
    public let jobs: Int
    /// Where per-item memos go, for stages that keep one.
    public let memoRoot: String

    public init(store: any BuildStore = InMemoryBuildStore(), jobs: Int = 1,
                memoRoot: String = NSTemporaryDirectory() + "blendset-harness-memo-\(UUID().uuidString.prefix(8))") {
        self.store = store
        self.jobs = max(1, jobs)
        self.memoRoot = memoRoot
    }

    /// Stores artifacts as the output of a pretend upstream stage.
    public func input(stage: String = "input", kind: String = "input", artifacts: [String: [UInt8]]) throws(PipelineError) -> StageInput {
        var ids: [String: ContentDigest] = [:]
        for (name, bytes) in artifacts { ids[name] = try store.write(bytes) }
        return StageInput(stage: stage, kind: kind, artifacts: ids, contentID: Builder.contentID(ids), store: store)
    }

    /// Runs the stage kind `S` on `inputs`, with `parameters` over its defaults. Input-file
    /// parameters are resolved (path and content digest) as a build resolves them.
    public func run<S: Stage>(_ type: S.Type, name: String? = nil, parameters: [String: JSONValue] = [:],
                              inputs: [StageInput] = []) throws -> StageRun {
        let stage = name ?? S.kind
        let location = SourceLocation(file: "StageHarness", line: 0, column: 0)
        var values: [String: JSONValue] = [:]
        for p in S.parameters { values[p.name] = p.defaultValue }
        for (n, v) in parameters {
            guard values[n] != nil else {
                throw S.unknownParameterError(n, stage: stage, at: location)
            }
            values[n] = v
        }
        var files: [String: InputFile] = [:]
        var resolvedPaths: [String: String] = [:]
        let digests = InputDigests(path: "/dev/null")
        for p in S.parameters {
            guard case .inputPath(let hint) = p.role, let path = values[p.name]?.stringValue else { continue }
            let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
            guard FileManager.default.fileExists(atPath: absolute) else {
                throw PipelineError.missingInput(stage: stage, parameter: p.name, path: absolute, hint: hint)
            }
            resolvedPaths[p.name] = absolute
            files[p.name] = InputFile(path: absolute, digest: try digests.digest(of: absolute))
        }
        let stageParameters = StageParameters(stage: stage, values: values, resolvedPaths: resolvedPaths)
        let implementation = try S(parameters: stageParameters)
        let context = StageContext(stage: stage, inputs: inputs, parameters: stageParameters, jobs: jobs,
                                   inputFiles: files, memoRoot: memoRoot, observer: nil)
        let (result, ids) = try Builder.execute(implementation, context, store: store)
        let output = StageInput(stage: stage, kind: S.kind, artifacts: ids, contentID: Builder.contentID(ids), store: store)
        return StageRun(result: result, output: output, warnings: context.warnings)
    }
}

/// One stage run by a `StageHarness`.
public struct StageRun: Sendable {
    public var result: StageResult
    /// The stored output, ready to be the input of the next stage.
    public var output: StageInput
    public var warnings: [String]

    /// The bytes of an output artifact (written or forwarded).
    public func bytes(_ artifact: String) throws(PipelineError) -> [UInt8] { try output.bytes(artifact) }
    public var stats: JSONValue { result.stats }
}
