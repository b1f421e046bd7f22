import Foundation
import Formats
import Testing
@testable import Pipeline

@Suite("Build engine")
struct BuilderTests {
    @Test("a second build of the same pipeline runs nothing and keeps every key")
    func secondBuildIsCached() throws {
        let dir = temporaryFolder()
        let first = try build(chain, in: dir)
        #expect(first.ran() == ["a", "b", "c"])
        let second = try build(chain, in: dir)
        #expect(second.ran().isEmpty)
        #expect(first.stages.map(\.key) == second.stages.map(\.key))
        #expect(first.version.id == second.version.id)
        let out = try ArtifactStore(layout: CacheLayout(root: dir + "/cache")).read(second.stage("c").artifacts["out"]!)
        #expect(String(decoding: out, as: UTF8.self) == "x12")
    }

    @Test("a parameter change re-runs that stage and its descendants only")
    func parameterChangeRebuildsDescendants() throws {
        let dir = temporaryFolder()
        try build(chain, in: dir)
        let changed = try build(chain, in: dir, overrides: ["b.suffix=\"9\""])
        #expect(changed.ran() == ["b", "c"])
    }

    @Test("the key is the SHA-256 of kind, version, canonical params and input content")
    func keyIsDeterministicAndCanonical() throws {
        let p1 = JSONValue.object([("b", .int(2)), ("a", .string("x"))])
        let p2 = try JSONParser.parse(#"{ "a" : "x", "b" : 2.0 }"#)
        let input = RunRecord.InputRef(stage: "up", contentID: SHA256.digest("up"))
        let k1 = Builder.KeyMaterial(kind: "k", version: 1, parameters: p1, inputs: [input]).key
        let k2 = Builder.KeyMaterial(kind: "k", version: 1, parameters: p2, inputs: [input]).key
        #expect(k1 == k2)
        #expect(k1 != Builder.KeyMaterial(kind: "k", version: 2, parameters: p1, inputs: [input]).key)
        #expect(k1 != Builder.KeyMaterial(kind: "j", version: 1, parameters: p1, inputs: [input]).key)
        #expect(k1 != Builder.KeyMaterial(kind: "k", version: 1, parameters: p1, inputs: []).key)
        var h = SHA256()
        h.update("blendset-stage-key-v1\n")
        h.update("kind=k\nversion=1\nparams={\"a\":\"x\",\"b\":2}\n")
        h.update("input=up:\(SHA256.digest("up").hex)\n")
        #expect(k1 == h.finalize())
    }

    @Test("early cutoff: a stage that re-runs with identical output leaves its descendants cached")
    func earlyCutoff() throws {
        let dir = temporaryFolder()
        try build(chain, in: dir)
        let r = try build(chain, in: dir, overrides: ["b.ignored=5"])
        #expect(r.ran() == ["b"])
        #expect(r.status("c") == .cached)
    }

    @Test("run records bring back any earlier result, not only the last")
    func earlierResultsComeBack() throws {
        let dir = temporaryFolder()
        let one = try build(chain, in: dir, overrides: ["a.text=one"])
        let two = try build(chain, in: dir, overrides: ["a.text=two"])
        #expect(two.ran() == ["a", "b", "c"])
        let again = try build(chain, in: dir, overrides: ["a.text=one"])
        #expect(again.ran().isEmpty)
        #expect(again.version.id == one.version.id)
        #expect(again.version.id != two.version.id)
    }

    @Test("an input file's content, not its path, enters the key")
    func inputFilesAreKeyedByContent() throws {
        let dir = temporaryFolder()
        try "alpha".write(toFile: dir + "/input.txt", atomically: true, encoding: .utf8)
        let json = #"{ "version": 1, "stages": [ { "name": "f", "kind": "file" }, { "name": "g", "kind": "append", "inputs": ["f"] } ] }"#
        #expect(try build(json, in: dir).ran() == ["f", "g"])
        #expect(try build(json, in: dir).ran().isEmpty)
        // Same content elsewhere: same key.
        try "alpha".write(toFile: dir + "/copy.txt", atomically: true, encoding: .utf8)
        #expect(try build(json, in: dir, overrides: ["f.path=\(dir)/copy.txt"]).ran().isEmpty)
        // Edited in place: rebuilt.
        Thread.sleep(forTimeInterval: 0.01)
        try "beta".write(toFile: dir + "/input.txt", atomically: false, encoding: .utf8)
        #expect(try build(json, in: dir).ran() == ["f", "g"])
    }

    @Test("a missing input file is reported with its path and a hint")
    func missingInputFile() throws {
        let dir = temporaryFolder()
        let json = #"{ "version": 1, "stages": [ { "name": "f", "kind": "file", "params": { "path": "nope.txt" } } ] }"#
        #expect {
            try build(json, in: dir)
        } throws: { error in
            guard case .missingInput(let stage, let parameter, let path, let hint) = error as? PipelineError else { return false }
            return stage == "f" && parameter == "path" && path.hasSuffix("/nope.txt") && hint == "create it"
        }
    }

    @Test("independent stages run in parallel")
    func independentStagesRunInParallel() throws {
        let dir = temporaryFolder()
        let probe = "parallel-\(UUID().uuidString)"
        let json = """
        { "version": 1, "stages": [
          { "name": "a", "kind": "text" },
          { "name": "left", "kind": "append", "inputs": ["a"], "params": { "suffix": "L", "probe": "\(probe)" } },
          { "name": "right", "kind": "append", "inputs": ["a"], "params": { "suffix": "R", "probe": "\(probe)" } },
          { "name": "join", "kind": "append", "inputs": ["left", "right"] }
        ] }
        """
        // left and right meet at a rendezvous: neither can finish unless both run at once.
        ConcurrencyProbe.meet(probe, parties: 2, timeout: 60)
        let r = try build(json, in: dir, jobs: 2)
        #expect(r.ran().count == 4)
        #expect(!ConcurrencyProbe.timedOut(probe), "left and right never ran at the same time")
        #expect(ConcurrencyProbe.peak(probe) == 2)
        let out = try ArtifactStore(layout: CacheLayout(root: dir + "/cache")).read(r.stage("join").artifacts["out"]!)
        #expect(String(decoding: out, as: UTF8.self) == "helloLhelloR!")
    }

    @Test("with --jobs 1 stages run one at a time")
    func oneJobRunsSerially() throws {
        let dir = temporaryFolder()
        let probe = "serial-\(UUID().uuidString)"
        let json = """
        { "version": 1, "stages": [
          { "name": "a", "kind": "text" },
          { "name": "left", "kind": "append", "inputs": ["a"], "params": { "probe": "\(probe)" } },
          { "name": "right", "kind": "append", "inputs": ["a"], "params": { "suffix": "?", "probe": "\(probe)" } }
        ] }
        """
        // Each stage waits briefly for a partner that, with one job, never comes.
        ConcurrencyProbe.meet(probe, parties: 2, timeout: 0.2)
        try build(json, in: dir, jobs: 1)
        #expect(ConcurrencyProbe.timedOut(probe))
        #expect(ConcurrencyProbe.peak(probe) == 1)
    }

    @Test("a failing stage stops the build with its name; the stages before it stay cached")
    func failureKeepsEarlierResults() throws {
        let dir = temporaryFolder()
        let json = """
        { "version": 1, "stages": [
          { "name": "a", "kind": "text" },
          { "name": "boom", "kind": "failing", "inputs": ["a"] }
        ] }
        """
        #expect {
            try build(json, in: dir)
        } throws: { error in
            (error as? PipelineError)?.description.contains("stage 'boom' failed: asked to fail") == true
        }
        let r = try build(json, in: dir, overrides: ["boom.fail=false"])
        #expect(r.status("a") == .cached)
        #expect(r.status("boom") == .ran)
    }

    @Test("a crash in the middle of writing a run record leaves no partial record; the next build recovers")
    func crashMidWrite() throws {
        let dir = temporaryFolder()
        let first = try build(chain, in: dir)
        let layout = CacheLayout(root: dir + "/cache")
        let key = first.stage("c").key
        let recordPath = layout.run(key)
        let original = try readFileBytes(atPath: recordPath)
        // Simulate a build killed while rewriting c's record and c's head.
        #expect(throws: FormatError.self) {
            try AtomicFile.write(Array(repeating: 0x41, count: 500), to: recordPath, faultAfterBytes: 100)
        }
        #expect(try readFileBytes(atPath: recordPath) == original)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: layout.runs).filter { $0.hasPrefix(".tmp-") }
        #expect(leftovers.count == 1)
        // A killed stage whose record was never written: delete it, and the next build re-runs only that stage.
        try FileManager.default.removeItem(atPath: recordPath)
        let r = try build(chain, in: dir)
        #expect(r.ran() == ["c"])
        #expect(r.stage("c").contentID == first.stage("c").contentID)
        #expect(try FileManager.default.contentsOfDirectory(atPath: layout.runs).filter { $0.hasPrefix(".tmp-") }.isEmpty)
    }

    @Test("a damaged run record is reported, not trusted: the build moves it aside and re-runs the stage")
    func damagedRecord() throws {
        let dir = temporaryFolder()
        let first = try build(chain, in: dir)
        let path = CacheLayout(root: dir + "/cache").run(first.stage("b").key)
        try "{ not json".write(toFile: path, atomically: true, encoding: .utf8)
        expectPipelineError({ _ = try RunRecordStore(layout: CacheLayout(root: dir + "/cache")).record(for: first.stage("b").key) }) { error in
            if case .cacheCorrupt(path, _) = error { return true } else { return false }
        }
        let again = try build(chain, in: dir)
        #expect(again.ran() == ["b"] && again.quarantined == [path])
    }

    @Test("status explains what would run and why, without running anything")
    func statusExplains() throws {
        let dir = temporaryFolder()
        let fresh = try Builder(plan: try plan(chain, in: dir), cacheRoot: dir + "/cache", jobs: 1).status()
        #expect(fresh.allSatisfy { $0.action == .run && $0.reasons.first == "never built in this cache" })
        try build(chain, in: dir)
        let clean = try Builder(plan: try plan(chain, in: dir), cacheRoot: dir + "/cache", jobs: 1).status()
        #expect(clean.allSatisfy { $0.action == .cached })
        let changed = try Builder(plan: try plan(chain, in: dir, overrides: ["b.suffix=Z"]), cacheRoot: dir + "/cache", jobs: 1).status()
        #expect(changed.map(\.action) == [.cached, .run, .run])
        #expect(changed[1].reasons == ["param suffix: \"1\" → \"Z\""])
        #expect(changed[2].reasons.first?.contains("input 'b' will be rebuilt") == true)
        // Nothing was run by status.
        #expect(try build(chain, in: dir).ran().isEmpty)
    }

    @Test("the dag renders as text, dot and mermaid")
    func dagRendering() throws {
        let p = try plan(chain, in: temporaryFolder())
        #expect(DAGRenderer.text(p) == "a (text)\nb (append)  ← a\nc (append)  ← b")
        #expect(DAGRenderer.dot(p).contains("\"a\" -> \"b\";"))
        #expect(DAGRenderer.mermaid(p).contains("s_b --> s_c"))
    }
}

@Suite("Cache lock")
struct LockTests {
    @Test("a second build fails at once with --no-wait while the lock is held")
    func noWait() throws {
        let dir = temporaryFolder()
        let p = try plan(chain, in: dir)
        let held = try BuildLock(cacheRoot: dir + "/cache", wait: false)
        #expect {
            try Builder(plan: p, cacheRoot: dir + "/cache", jobs: 1).build(wait: false)
        } throws: { error in
            guard case .cacheLocked(_, let holder) = error as? PipelineError else { return false }
            return holder.contains("pid \(getpid())")
        }
        withExtendedLifetime(held) {}
    }

    @Test("a second build waits for the lock, says so, and then builds")
    func waits() throws {
        let dir = temporaryFolder()
        let p = try plan(chain, in: dir)
        let observer = RecordingObserver()
        observer.held = try BuildLock(cacheRoot: dir + "/cache", wait: false)
        // The observer lets go of the lock when the build says it waits. Should that never
        // happen, a generous timer releases it so the test fails instead of hanging.
        let failsafe = DispatchWorkItem { [observer] in _ = observer.release() }
        DispatchQueue.global().asyncAfter(deadline: .now() + 60, execute: failsafe)
        let r = try Builder(plan: p, cacheRoot: dir + "/cache", jobs: 1).build(observer: observer, wait: true)
        failsafe.cancel()
        #expect(r.ran().count == 3)
        #expect(observer.waited)
    }
}

// @unchecked: `held` and `waitedFlag` are only touched under `lock`.
final class RecordingObserver: BuildObserver, @unchecked Sendable {
    private let lock = NSLock()
    private var waitedFlag = false
    /// A lock this observer holds until the build reports that it waits.
    var held: BuildLock? {
        get { lock.withLock { heldLock } }
        set { lock.withLock { heldLock = newValue } }
    }
    private var heldLock: BuildLock?
    var waited: Bool { lock.withLock { waitedFlag } }

    /// Releases the held lock; true if it was still held.
    func release() -> Bool {
        let lock = self.lock.withLock { () -> BuildLock? in
            defer { heldLock = nil }
            return heldLock
        }
        return lock != nil
    }

    func waitingForLock(holder: String) {
        lock.withLock { waitedFlag = true }
        _ = release()
    }
    func stageStarted(_ stage: String, kind: String) {}
    func stageProgress(_ stage: String, done: Int, total: Int, unit: String, fromMemo: Int) {}
    func stageWarning(_ stage: String, _ message: String) {}
    func stageFinished(_ report: StageReport) {}
}
