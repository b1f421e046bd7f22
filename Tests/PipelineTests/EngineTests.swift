import Foundation
import Formats
import Testing
@testable import Pipeline

let fileChain = #"{ "version": 1, "stages": [ { "name": "f", "kind": "file" }, { "name": "g", "kind": "append", "inputs": ["f"] } ] }"#

@Suite("Key resolution and input files")
struct ResolveTests {
    @Test("resolve gives the key a build uses, and the input file's path and digest")
    func resolveMatchesBuild() throws {
        let dir = temporaryFolder()
        try "alpha".write(toFile: dir + "/input.txt", atomically: true, encoding: .utf8)
        let report = try build(fileChain, in: dir)
        let builder = Builder(plan: try plan(fileChain, in: dir), cacheRoot: dir + "/cache", jobs: 1)
        let f = try builder.resolve(builder.plan.stages[0], inputs: [])
        #expect(f.key == report.stage("f").key)
        #expect(f.inputFiles["path"] == InputFile(path: dir + "/input.txt", digest: SHA256.digest(Array("alpha".utf8))))
        let g = try builder.resolve(builder.plan.stages[1], inputs: [.init(stage: "f", contentID: report.stage("f").contentID)])
        #expect(g.key == report.stage("g").key && g.inputFiles.isEmpty)
        #expect(try builder.cachedRecords().keys.sorted() == ["f", "g"])
    }

    @Test("an input file enters the key as the text \"sha256:<hex>\" in the params, as before")
    func keyTextUnchanged() throws {
        let dir = temporaryFolder()
        try "alpha".write(toFile: dir + "/input.txt", atomically: true, encoding: .utf8)
        let builder = Builder(plan: try plan(fileChain, in: dir), cacheRoot: dir + "/cache", jobs: 1)
        let digest = SHA256.digest(Array("alpha".utf8)).hex
        var h = SHA256()
        h.update("blendset-stage-key-v1\nkind=file\nversion=1\nparams={\"path\":\"sha256:\(digest)\"}\n")
        #expect(try builder.resolve(builder.plan.stages[0], inputs: []).key == h.finalize())
    }

    @Test("a missing input file is the same error for build, status and cachedRecords")
    func missingInputEverywhere() throws {
        let dir = temporaryFolder()
        let builder = Builder(plan: try plan(fileChain, in: dir), cacheRoot: dir + "/cache", jobs: 1)
        func isMissing(_ e: PipelineError) -> Bool {
            guard case .missingInput(let stage, let parameter, let path, _) = e else { return false }
            return stage == "f" && parameter == "path" && path == dir + "/input.txt"
        }
        expectPipelineError({ _ = try builder.build() }, isMissing)
        expectPipelineError({ _ = try builder.status() }, isMissing)
        expectPipelineError({ _ = try builder.cachedRecords() }, isMissing)
    }

    @Test("inputFile of a parameter that is not an input file names the ones there are")
    func notAnInputFile() throws {
        let dir = temporaryFolder()
        try "alpha".write(toFile: dir + "/input.txt", atomically: true, encoding: .utf8)
        let harness = StageHarness()
        struct AsksWrong: Stage {
            static let kind = "asks-wrong"
            static let version = 1
            static let summary = "asks for an input file that is not one"
            static let inputCount = 0...0
            static let parameters = [ParameterSpec("path", default: .string(""), "a file", role: .inputPath(hint: ""))]
            init(parameters: StageParameters) throws(PipelineError) {}
            func run(_ context: StageContext) throws -> StageResult {
                _ = try context.inputFile("text")
                return StageResult(artifacts: [:])
            }
        }
        expectPipelineError({ _ = try harness.run(AsksWrong.self, parameters: ["path": .string(dir + "/input.txt")]) }) {
            $0.description.contains("'text' is not an input-file parameter") && $0.description.contains("input files are: path")
        }
    }
}

@Suite("Stage errors keep their type")
struct StageErrorTests {
    @Test("a stage's FormatError stays a FormatError inside stageFailed")
    func formatErrorKept() throws {
        let dir = temporaryFolder()
        let json = #"{ "version": 1, "stages": [ { "name": "boom", "kind": "failing", "params": { "with": "format" } } ] }"#
        expectPipelineError({ try build(json, in: dir) }) { error in
            guard case .stageFailed(let stage, let underlying) = error, let format = underlying as? FormatError else { return false }
            return stage == "boom" && format.file == "rows.csv" && format.line == 3
                && error.description == "stage 'boom' failed: rows.csv:3: expected 2 fields, found 1"
        }
    }

    @Test("a stage's own message is a StageFailure; underlyingError looks through the wrapper")
    func messageFailure() throws {
        let dir = temporaryFolder()
        let json = #"{ "version": 1, "stages": [ { "name": "boom", "kind": "failing" } ] }"#
        expectPipelineError({ try build(json, in: dir) }) { error in
            (error.underlyingError as? StageFailure)?.message == "asked to fail"
        }
        let nested = PipelineError.stageFailed(stage: "x", underlying: PipelineError.cacheCorrupt(path: "/p", message: "is damaged"))
        guard case .cacheCorrupt(let path, _) = nested.underlyingError as? PipelineError else {
            Issue.record("underlyingError did not reach the cache error")
            return
        }
        #expect(path == "/p")
    }

    @Test("a flipped byte in an object a stage reads is cacheCorrupt naming that file, not a stage failure")
    func damagedObject() throws {
        let dir = temporaryFolder()
        let first = try build(chain, in: dir)
        let layout = CacheLayout(root: dir + "/cache")
        let object = layout.object(first.stage("a").artifacts["out"]!)
        try flipByte(in: object)
        expectPipelineError({ _ = try ArtifactStore(layout: layout).read(first.stage("a").artifacts["out"]!) }) { error in
            guard case .cacheCorrupt(let path, let message) = error else { return false }
            return path == object && message.contains("is damaged") && error.description.contains("Delete that file")
        }
        // b re-runs (new suffix) and reads a's damaged output: the build moves it aside and recomputes it.
        let again = try build(chain, in: dir, overrides: ["b.suffix=x9"])
        #expect(again.quarantined == [object] && again.ran() == ["a", "b", "c"])
    }

    @Test("a truncated object is damaged too")
    func truncatedObject() throws {
        let dir = temporaryFolder()
        let first = try build(chain, in: dir)
        let store = ArtifactStore(layout: CacheLayout(root: dir + "/cache"))
        let id = first.stage("c").artifacts["out"]!
        let bytes = try store.read(id)
        try AtomicFile.write(Array(bytes.dropLast()), to: store.layout.object(id))
        expectPipelineError({ _ = try store.read(id) }) {
            if case .cacheCorrupt(let path, _) = $0 { return path == store.layout.object(id) }
            return false
        }
    }
}

@Suite("JSONValue as Codable")
struct JSONCodableTests {
    @Test("encodes the JSON it represents: integers without a fraction, every member, nested values")
    func encodes() throws {
        let v = JSONValue.object([("z", .int(3)), ("a", .array([.number(0.25), .bool(true), .null, .string("x\"y")])), ("m", .object([]))])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let text = String(decoding: try encoder.encode(v), as: UTF8.self)
        #expect(text == #"{"a":[0.25,true,null,"x\"y"],"m":{},"z":3}"#)
    }

    @Test("decodes any JSON; a round trip gives an equal value", arguments: [
        #"{"b":[1,2.5,-3e2],"a":{"x":null,"y":false},"s":"\u00e9"}"#, "[]", "7", #""text""#, "null", "true",
    ])
    func roundTrip(text: String) throws {
        let parsed = try JSONParser.parse(text)
        let decoded = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
        #expect(decoded.canonical == parsed.canonical)
        let again = try JSONDecoder().decode(JSONValue.self, from: try JSONEncoder().encode(decoded))
        #expect(again == decoded)
    }

    @Test("a run record stores parameters and stats as JSON, not as strings of JSON")
    func recordHoldsJSON() throws {
        let dir = temporaryFolder()
        let first = try build(chain, in: dir)
        let text = try String(contentsOfFile: CacheLayout(root: dir + "/cache").run(first.stage("b").key), encoding: .utf8)
        let json = try JSONParser.parse(text)
        #expect(json["format"] == .int(2))
        #expect(json["parameters"]?["suffix"] == .string("1"))
        #expect(json["displayParameters"]?["suffix"] == .string("1"))
        #expect(json["stats"] == .object([]))
    }

    @Test("records written by the previous release (JSON held in strings) are still read")
    func legacyRecords() throws {
        let dir = temporaryFolder()
        let first = try build(chain, in: dir)
        let layout = CacheLayout(root: dir + "/cache")
        let b = first.stage("b")
        // A run record in the old form: no format field, JSON inside strings.
        let run = """
        {"artifacts":{"out":"\(b.artifacts["out"]!.hex)"},"contentID":"\(b.contentID.hex)",
         "displayParameters":{"ignored":"0","probe":"\\"\\"","suffix":"\\"1\\""},"finishedAt":"2026-01-01T00:00:00Z",
         "inputs":[{"contentID":"\(first.stage("a").contentID.hex)","stage":"a"}],"key":"\(b.key.hex)","kind":"append",
         "parameters":"{\\"ignored\\":0,\\"probe\\":\\"\\",\\"suffix\\":\\"1\\"}","rowsIn":1,"rowsOut":1,"seconds":0.5,
         "stage":"b","stats":"{\\"kept\\":{\\"happy\\":2}}","version":1}
        """
        try AtomicFile.write(Array(run.utf8), to: layout.run(b.key))
        let record = try #require(try RunRecordStore(layout: layout).record(for: b.key))
        #expect(record.parameters == JSONValue.object([("ignored", .int(0)), ("probe", .string("")), ("suffix", .string("1"))]))
        #expect(record.displayParameters["suffix"] == .string("1"))
        #expect(record.stats["kept"]?["happy"] == .int(2))
        #expect(try build(chain, in: dir).ran().isEmpty)

        // A version record in the old form.
        let id = first.version.id
        let version = """
        {"blendsetVersion":"0.1.0","createdAt":"2026-01-01T00:00:00Z","id":"\(id.hex)","outputs":{"c":"\(first.stage("c").contentID.hex)"},
         "pipelineFile":"/x/pipeline.json","stages":[{"artifacts":{"out":"\(b.artifacts["out"]!.hex)"},"contentID":"\(b.contentID.hex)",
         "inputs":["a"],"key":"\(b.key.hex)","kind":"append","name":"b","parameters":{"suffix":"\\"1\\"","ignored":"0"},
         "rowsIn":1,"rowsOut":1,"seconds":0.5,"stats":"{\\"kept\\":{\\"happy\\":2}}","version":1}]}
        """
        let store = VersionStore(layout: layout)
        try AtomicFile.write(Array(version.utf8), to: store.path(id))
        let v = try #require(try store.version(id))
        #expect(v.stages[0].parameters == ["suffix": .string("1"), "ignored": .int(0)])
        #expect(v.stages[0].stats?["kept"]?["happy"] == .int(2))
        #expect(v.format == DatasetVersion.currentFormat)
        // Written again, it is in the new form, and reads back equal.
        try store.write(v)
        #expect(try store.version(id) == v)
        #expect(try JSONParser.parse(String(contentsOfFile: store.path(id), encoding: .utf8))["format"] == .int(2))
    }
}

@Suite("Build stores")
struct BuildStoreTests {
    @Test("a build against an in-memory store runs, caches, and writes no objects or run records to disk")
    func inMemoryBuild() throws {
        let dir = temporaryFolder()
        let store = InMemoryBuildStore()
        let p = try plan(chain, in: dir)
        let first = try Builder(plan: p, cacheRoot: dir + "/cache", jobs: 2, store: store).build()
        expectRan(first, ["a", "b", "c"])
        expectRan(try Builder(plan: p, cacheRoot: dir + "/cache", jobs: 2, store: store).build(), [])
        #expect(String(decoding: try store.read(first.stage("c").artifacts["out"]!), as: UTF8.self) == "x12")
        #expect(!FileManager.default.fileExists(atPath: dir + "/cache/objects"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/cache/runs"))
        #expect(store.head("c") == first.stage("c").key)
    }

    @Test("the file and in-memory stores agree on ids, records and heads", arguments: ["file", "memory"])
    func storesAgree(kind: String) throws {
        let dir = temporaryFolder()
        let store: any BuildStore = kind == "file" ? FileBuildStore(layout: CacheLayout(root: dir)) : InMemoryBuildStore()
        let id = try store.write(Array("bytes".utf8))
        #expect(id == SHA256.digest(Array("bytes".utf8)))
        #expect(store.contains(id) && !store.contains(SHA256.digest([1])))
        #expect(try store.read(id) == Array("bytes".utf8))
        expectPipelineError({ _ = try store.read(SHA256.digest([1])) }) { if case .cacheCorrupt = $0 { return true }; return false }
        let record = RunRecord(key: SHA256.digest([2]), stage: "s", kind: "k", version: 1, parameters: .object([("n", .int(1))]),
                               displayParameters: ["n": .int(1)], inputs: [], artifacts: ["out": id], contentID: Builder.contentID(["out": id]),
                               rowsIn: nil, rowsOut: 1, seconds: 0.1, finishedAt: "now", stats: .object([("x", .number(0.5))]))
        try store.writeRecord(record)
        #expect(try store.record(for: record.key) == record)
        #expect(try store.record(for: id) == nil)
        #expect(store.head("s") == nil)
        try store.setHead("s", record.key)
        #expect(store.head("s") == record.key)
    }
}

@Suite("Stage harness")
struct StageHarnessTests {
    @Test("runs stages one by one in memory, chaining outputs into inputs")
    func chains() throws {
        let h = StageHarness()
        let a = try h.run(TextSource.self, name: "a", parameters: ["text": .string("x")])
        let b = try h.run(Append.self, name: "b", parameters: ["suffix": .string("1")], inputs: [a.output])
        #expect(String(decoding: try b.bytes("out"), as: UTF8.self) == "x1")
        #expect(b.result.rowsOut == 1 && b.output.stage == "b" && b.output.kind == "append")
    }

    @Test("inputs can be plain bytes, and input files are resolved as a build resolves them")
    func bytesAndFiles() throws {
        let dir = temporaryFolder()
        try "alpha".write(toFile: dir + "/input.txt", atomically: true, encoding: .utf8)
        let h = StageHarness()
        let f = try h.run(FileSource.self, parameters: ["path": .string(dir + "/input.txt")])
        #expect(try f.bytes("out") == Array("alpha".utf8))
        let given = try h.input(artifacts: ["out": Array("abc".utf8)])
        #expect(try h.run(Append.self, inputs: [given]).bytes("out") == Array("abc!".utf8))
        expectPipelineError({ _ = try h.run(FileSource.self, parameters: ["path": .string(dir + "/nope.txt")]) }) {
            if case .missingInput(_, "path", let path, "create it") = $0 { return path == dir + "/nope.txt" }
            return false
        }
        expectPipelineError({ _ = try h.run(Append.self, parameters: ["sufix": .string("?")]) }) {
            if case .unknownParameter(_, _, "sufix", _) = $0 { return true }
            return false
        }
    }

    @Test("errors are wrapped as in a build")
    func errors() throws {
        expectPipelineError({ _ = try StageHarness().run(Failing.self, name: "boom", parameters: ["with": .string("format")]) }) {
            guard case .stageFailed("boom", let underlying) = $0 else { return false }
            return underlying is FormatError
        }
    }
}
