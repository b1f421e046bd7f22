import Foundation
import Formats
import Testing
@testable import Pipeline

/// Issue 10: a cache that is verified when read, repaired instead of wedged, never loses a
/// version to gc, and keys that see every change.
@Suite("Cache integrity")
struct CacheIntegrityTests {
    let chain = #"{ "version": 1, "stages": [ { "name": "a", "kind": "text", "params": { "text": "x" } }, { "name": "b", "kind": "append", "inputs": ["a"], "params": { "suffix": "1" } }, { "name": "c", "kind": "append", "inputs": ["b"], "params": { "suffix": "2" } } ] }"#

    func quarantined(_ dir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir + "/cache/quarantine")) ?? []).sorted()
    }

    @Test("a run record whose key field is not its file name is damaged, not served")
    func recordKeyMustMatchName() throws {
        let dir = temporaryFolder()
        let first = try build(chain, in: dir)
        let layout = CacheLayout(root: dir + "/cache")
        // b's record copied over c's: it parses, but it is not c's.
        try FileManager.default.removeItem(atPath: layout.run(first.stage("c").key))
        try FileManager.default.copyItem(atPath: layout.run(first.stage("b").key), toPath: layout.run(first.stage("c").key))
        expectPipelineError({ _ = try RunRecordStore(layout: layout).record(for: first.stage("c").key) }) { error in
            guard case .cacheCorrupt(let path, let message) = error else { return false }
            return path == layout.run(first.stage("c").key) && message.contains("not for the")
        }
    }

    @Test("a run record with an edited artifact id is damaged; the build quarantines it and re-runs the stage")
    func editedArtifactID() throws {
        let dir = temporaryFolder()
        let first = try build(chain, in: dir)
        let layout = CacheLayout(root: dir + "/cache")
        let path = layout.run(first.stage("b").key)
        // Point b's output at a's object (which exists and verifies): the old code served it.
        var text = try String(contentsOfFile: path, encoding: .utf8)
        text = text.replacingOccurrences(of: first.stage("b").artifacts["out"]!.hex, with: first.stage("a").artifacts["out"]!.hex)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        expectPipelineError({ _ = try RunRecordStore(layout: layout).record(for: first.stage("b").key) }) { error in
            if case .cacheCorrupt(path, _) = error { return true } else { return false }
        }
        let second = try build(chain, in: dir)
        #expect(second.ran() == ["b"])
        #expect(second.version.id == first.version.id)
        #expect(second.quarantined == [path])
        #expect(quarantined(dir).count == 1 && quarantined(dir)[0].hasPrefix("runs_" + first.stage("b").key.hex + ".json."))
    }

    @Test("a build that meets a damaged object moves it to quarantine, recomputes it and goes on")
    func damagedObjectIsQuarantined() throws {
        let dir = temporaryFolder()
        let first = try build(chain, in: dir)
        let layout = CacheLayout(root: dir + "/cache")
        let object = layout.object(first.stage("b").artifacts["out"]!)
        try flipByte(in: object)
        // c re-runs (new suffix) and reads b's damaged output.
        let second = try build(chain, in: dir, overrides: ["c.suffix=z3"])
        #expect(second.quarantined == [object])
        #expect(second.ran() == ["b", "c"])
        #expect(try ArtifactStore(layout: layout).read(first.stage("b").artifacts["out"]!) == Array("x1".utf8))
        #expect(quarantined(dir).count == 1)
    }

    @Test("a damaged run record is moved aside and its stage re-run (it used to wedge every build)")
    func damagedRecordRecovers() throws {
        let dir = temporaryFolder()
        let first = try build(chain, in: dir)
        let path = CacheLayout(root: dir + "/cache").run(first.stage("b").key)
        try Data("{ not json".utf8).write(to: URL(fileURLWithPath: path))
        let second = try build(chain, in: dir)
        #expect(second.version.id == first.version.id)
        #expect(second.ran() == ["b"])
        #expect(second.quarantined == [path])
    }

    @Test("a truncated version record of another configuration neither wedges a build nor the version list")
    func truncatedVersionRecord() throws {
        let dir = temporaryFolder()
        let other = try build(chain, in: dir, overrides: ["c.suffix=z9"])
        let first = try build(chain, in: dir)
        let store = VersionStore(layout: CacheLayout(root: dir + "/cache"))
        #expect(truncate(store.path(other.version.id), 20) == 0)
        #expect(try store.all().map(\.id) == [first.version.id])
        let again = try build(chain, in: dir)
        #expect(again.version.id == first.version.id)
        #expect(again.quarantined == [store.path(other.version.id)])
        #expect(store.scan().damaged.isEmpty)
    }

    @Test("a record damaged where it still parses (a letter of a stage name) fails its seal; an unsealed one is still read")
    func sealedRecords() throws {
        let dir = temporaryFolder()
        let first = try build(chain, in: dir)
        let layout = CacheLayout(root: dir + "/cache")
        let versions = VersionStore(layout: layout)
        let runPath = layout.run(first.stage("b").key), versionPath = versions.path(first.version.id)
        for path in [runPath, versionPath] {
            let original = try String(contentsOfFile: path, encoding: .utf8)
            #expect(original.contains("\"seal_sha256\" : \""), "\(path) is sealed")
            // "append" → "appene": valid JSON, a plausible record; before seals it was served.
            try original.replacingOccurrences(of: "\"kind\" : \"append\"", with: "\"kind\" : \"appene\"")
                .write(toFile: path, atomically: true, encoding: .utf8)
            expectPipelineError({
                if path == runPath { _ = try RunRecordStore(layout: layout).record(for: first.stage("b").key) }
                else { _ = try versions.version(first.version.id) }
            }) { error in
                guard case .cacheCorrupt(let p, let message) = error else { return false }
                return p == path && message.contains("does not match its checksum")
            }
            // Without its seal (as records were written before seals) the same record reads.
            let lines = original.split(separator: "\n", omittingEmptySubsequences: false)
            let unsealed = lines.filter { !$0.contains("seal_sha256") }.joined(separator: "\n")
                .replacingOccurrences(of: ",\n}", with: "\n}")
            try unsealed.write(toFile: path, atomically: true, encoding: .utf8)
            if path == runPath { #expect(try RunRecordStore(layout: layout).record(for: first.stage("b").key)?.kind == "append") }
            else { #expect(try versions.version(first.version.id)?.id == first.version.id) }
        }
    }

    @Test("a memo pack with a damaged record keeps its good records and is moved to quarantine")
    func damagedMemoPack() throws {
        let dir = temporaryFolder()
        let layout = CacheLayout(root: dir + "/cache")
        let memoDir = layout.memo + "/ns"
        let keys = (0..<3).map { SHA256.digest(Array("k\($0)".utf8)) }
        do {
            let memo = try MemoStore(directory: memoDir)
            for (i, k) in keys.enumerated() { try memo.put(k, Array(repeating: UInt8(i), count: 100)) }
            memo.flush()
        }
        let pack = try #require(try FileManager.default.contentsOfDirectory(atPath: memoDir).first)
        // Flip a byte in the middle record's payload.
        var bytes = try readFileBytes(atPath: memoDir + "/" + pack)
        bytes[168 + 36 + 50] ^= 0x01
        try AtomicFile.write(bytes, to: memoDir + "/" + pack)
        #expect(MemoStore.scan(bytes).damaged == 1)
        #expect(MemoStore.scan(bytes).records.count == 2)   // the record after it is still read

        let memo = try MemoStore(directory: memoDir, quarantine: Quarantine(layout: layout))
        #expect(memo.quarantined.map(\.pack) == [memoDir + "/" + pack])
        #expect(memo.get(keys[0]) == Array(repeating: 0, count: 100))
        #expect(memo.get(keys[1]) == nil)
        #expect(memo.get(keys[2]) == Array(repeating: 2, count: 100))
        // Reopened, the good records come from the new pack and nothing is damaged.
        let reopened = try MemoStore(directory: memoDir, quarantine: Quarantine(layout: layout))
        #expect(reopened.quarantined.isEmpty && reopened.count == 2)
        #expect(quarantined(dir).count == 1)
    }

    @Test("gc refuses to delete anything while a tag cannot be read; --dry-run lists exactly what gc deletes")
    func gcRefusesAndDryRunIsExact() throws {
        let dir = temporaryFolder()
        let old = try build(chain, in: dir, overrides: ["c.suffix=z9"])
        _ = try build(chain, in: dir)
        let layout = CacheLayout(root: dir + "/cache")
        try TagStore(layout: layout).set("keep", to: old.version.id, force: false)
        #expect(truncate(layout.tag("keep"), 20) == 0)
        let gc = GarbageCollector(cacheRoot: layout.root)
        expectPipelineError({ _ = try gc.collect(.init(keepLast: 1, keepTagged: true), dryRun: false) }) { error in
            if case .cacheCorrupt(let path, _) = error { return path == layout.tag("keep") } else { return false }
        }
        #expect(try VersionStore(layout: layout).all().count == 2)

        // Repaired by hand: the dry run names every file the real run then removes.
        try TagStore(layout: layout).set("keep", to: old.version.id, force: true)
        let snapshot = Set(try allFiles(layout.root))
        let dry = try gc.collect(.init(keepLast: 1), dryRun: true)
        #expect(Set(try allFiles(layout.root)) == snapshot)
        let real = try gc.collect(.init(keepLast: 1), dryRun: false)
        #expect(!dry.paths.isEmpty)
        #expect(dry.paths == real.paths)
        #expect(snapshot.subtracting(try allFiles(layout.root)) == Set(real.paths))
    }

    @Test("gc refuses while a version record cannot be read")
    func gcRefusesOnDamagedVersion() throws {
        let dir = temporaryFolder()
        let old = try build(chain, in: dir, overrides: ["c.suffix=z9"])
        _ = try build(chain, in: dir)
        let store = VersionStore(layout: CacheLayout(root: dir + "/cache"))
        #expect(truncate(store.path(old.version.id), 20) == 0)
        expectPipelineError({ _ = try GarbageCollector(cacheRoot: dir + "/cache").collect(.init(keepLast: 1), dryRun: false) }) { error in
            if case .cacheCorrupt(let path, _) = error { return path == store.path(old.version.id) } else { return false }
        }
        #expect(FileManager.default.fileExists(atPath: store.path(old.version.id)))
    }

    @Test("check finds each kind of damage, exits clean only when there is none, and --repair quarantines it")
    func checkAndRepair() throws {
        let dir = temporaryFolder()
        let first = try build(chain, in: dir)
        let layout = CacheLayout(root: dir + "/cache")
        try TagStore(layout: layout).set("keep", to: first.version.id, force: false)
        let checker = CacheChecker(cacheRoot: layout.root)
        #expect(try checker.check(repair: false).isClean)

        try flipByte(in: layout.object(first.stage("c").artifacts["out"]!))
        try Data("{".utf8).write(to: URL(fileURLWithPath: layout.run(first.stage("a").key)))
        try Data("zz\n".utf8).write(to: URL(fileURLWithPath: layout.head("b")))
        try Data("nope".utf8).write(to: URL(fileURLWithPath: layout.tag("other")))
        let report = try checker.check(repair: false)
        #expect(!report.isClean)
        let kinds = Set(report.findings.map(\.kind))
        #expect(kinds == [.object, .run, .head, .tag, .version])
        #expect(report.findings.contains { $0.path == layout.object(first.stage("c").artifacts["out"]!) })

        let repaired = try checker.check(repair: true)
        #expect(repaired.findings.filter { $0.repairable }.allSatisfy { $0.movedTo != nil })
        // The next build recomputes what was moved, and the cache checks clean.
        let rebuilt = try build(chain, in: dir)
        #expect(rebuilt.version.id == first.version.id)
        #expect(try checker.check(repair: false).isClean)
    }

    @Test("an in-place edit that keeps the size and restores the mtime is seen (ctime changes)")
    func inPlaceEditKeepingMtime() throws {
        let dir = temporaryFolder()
        let file = dir + "/input.txt"
        try Data("alpha".utf8).write(to: URL(fileURLWithPath: file))
        let digests = InputDigests(path: dir + "/files.json")
        let before = try digests.digest(of: file)
        var info = stat()
        #expect(stat(file, &info) == 0)
        Thread.sleep(forTimeInterval: 0.05)
        // Same size, same inode, mtime set back.
        let fd = open(file, O_WRONLY)
        #expect(fd >= 0)
        #expect(pwrite(fd, "omega", 5, 0) == 5)
        close(fd)
        // utimensat is utimes to the nanosecond, so the mtime comes back exactly.
        var times = [info.st_atim, info.st_mtim]
        #expect(utimensat(AT_FDCWD, file, &times, 0) == 0)
        var after = stat()
        #expect(stat(file, &after) == 0)
        #expect(after.st_size == info.st_size && after.st_ino == info.st_ino)
        #expect(after.st_mtim.tv_sec == info.st_mtim.tv_sec && after.st_mtim.tv_nsec == info.st_mtim.tv_nsec)
        // A fresh digest cache, as the next build would load it.
        try digests.save()
        let next = InputDigests(path: dir + "/files.json")
        #expect(try next.digest(of: file) != before)
        #expect(try next.digest(of: file) == SHA256.digest(Array("omega".utf8)))
    }

    @Test("an input whose file name the output records enters the key by name as well as by content")
    func fileNameInKey() throws {
        let dir = temporaryFolder()
        try Data("alpha".utf8).write(to: URL(fileURLWithPath: dir + "/one.txt"))
        try Data("alpha".utf8).write(to: URL(fileURLWithPath: dir + "/two.txt"))
        let json = #"{ "version": 1, "stages": [ { "name": "f", "kind": "named-file", "params": { "path": "one.txt" } } ] }"#
        let p1 = try namedPlan(json, in: dir)
        let p2 = try namedPlan(json, in: dir, overrides: ["f.path=\(dir)/two.txt"])
        let b1 = Builder(plan: p1, cacheRoot: dir + "/cache", jobs: 1)
        let b2 = Builder(plan: p2, cacheRoot: dir + "/cache", jobs: 1)
        let k1 = try b1.resolve(p1.stages[0], inputs: []).key
        let k2 = try b2.resolve(p2.stages[0], inputs: []).key
        #expect(k1 != k2)
        // A build of two.txt after one.txt gives two.txt's output, as a clean cache does.
        _ = try b1.build()
        let out = try b2.build()
        let bytes = try ArtifactStore(layout: b2.layout).read(out.stages[0].artifacts["out"]!)
        #expect(String(decoding: bytes, as: UTF8.self) == "two.txt:alpha")
        // The same name in another folder keeps the key: ids do not depend on where the project is.
        try FileManager.default.createDirectory(atPath: dir + "/moved", withIntermediateDirectories: true)
        try Data("alpha".utf8).write(to: URL(fileURLWithPath: dir + "/moved/one.txt"))
        let p3 = try namedPlan(json, in: dir, overrides: ["f.path=\(dir)/moved/one.txt"])
        #expect(try Builder(plan: p3, cacheRoot: dir + "/cache", jobs: 1).resolve(p3.stages[0], inputs: []).key == k1)
    }
}

/// Writes its input file's name and content, as ingest records its source's name.
struct NamedFileSource: Stage {
    static let kind = "named-file"
    static let version = 1
    static let summary = "emit a file's name and bytes"
    static let inputCount = 0...0
    static let parameters = [ParameterSpec("path", default: .string("input.txt"), "the file", role: .inputPath(hint: ""), keysFileName: true)]
    let path: String
    init(parameters: StageParameters) throws(PipelineError) { path = try parameters.path("path") }
    func run(_ context: StageContext) throws -> StageResult {
        StageResult(artifacts: ["out": Array((URL(fileURLWithPath: path).lastPathComponent + ":").utf8) + (try readFileBytes(atPath: path))])
    }
}

func namedPlan(_ json: String, in folder: String, overrides: [String] = []) throws -> BuildPlan {
    let file = folder + "/pipeline.json"
    try json.write(toFile: file, atomically: true, encoding: .utf8)
    return try BuildPlan.load(file: file, registry: StageRegistry([NamedFileSource.self]),
                              overrides: try overrides.map { t throws(PipelineError) in try ParameterOverride(parsing: t) },
                              workingDirectory: folder)
}

/// Every regular file under `root`, as full paths.
func allFiles(_ root: String) throws -> [String] {
    var out: [String] = []
    let e = FileManager.default.enumerator(atPath: root)
    while let relative = e?.nextObject() as? String {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: root + "/" + relative, isDirectory: &isDir), !isDir.boolValue { out.append(root + "/" + relative) }
    }
    return out
}
