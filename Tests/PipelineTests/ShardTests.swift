import Foundation
import Formats
import Testing
@testable import Pipeline

@Suite("Shards and the multi-writer memo")
struct ShardTests {
    @Test("K/N parses; a bad one says what is expected", arguments: ["4/4", "-1/2", "x", "1/0", "1/2/3"])
    func badShard(_ text: String) {
        #expect(throws: PipelineError.self) { try ShardSelection(parsing: text) }
    }

    @Test("--shard auto: Slurm arrays (count, or min and max) and Kubernetes Indexed Jobs")
    func environment() throws {
        #expect(try ShardSelection.fromEnvironment(["SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_COUNT": "4"]) == ShardSelection(index: 2, count: 4))
        // --array=1-4: task 3 is the third shard.
        #expect(try ShardSelection.fromEnvironment(["SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_MAX": "4"]) == ShardSelection(index: 2, count: 4))
        #expect(try ShardSelection.fromEnvironment(["JOB_COMPLETION_INDEX": "5", "BLENDSET_SHARD_COUNT": "8"]) == ShardSelection(index: 5, count: 8))
        #expect(try ShardSelection.fromEnvironment(["JOB_COMPLETION_INDEX": "1"], count: 3) == ShardSelection(index: 1, count: 3))
        #expect(throws: PipelineError.self) { try ShardSelection.fromEnvironment(["JOB_COMPLETION_INDEX": "1"]) }
        #expect(throws: PipelineError.self) { try ShardSelection.fromEnvironment([:]) }
        #expect(throws: PipelineError.self) { try ShardSelection.fromEnvironment(["SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_COUNT": "4", "SLURM_ARRAY_TASK_STEP": "2"]) }
    }

    @Test("every item has exactly one owner, and shards are balanced")
    func ownership() throws {
        let shards = try (0..<4).map { try ShardSelection(index: $0, count: 4) }
        var perShard = [0, 0, 0, 0]
        for i in 0..<8000 {
            let key = SHA256.digest("item \(i)")
            let owners = shards.filter { $0.owns(key) }
            #expect(owners.count == 1)
            perShard[owners[0].index] += 1
        }
        // 2000 expected each; a binomial's 5 sigma is about 190.
        #expect(perShard.allSatisfy { abs($0 - 2000) < 200 }, "\(perShard)")
        #expect(try ShardSelection(index: 0, count: 1).owns(SHA256.digest("anything")))
    }

    @Test("a writer publishes by rename: readers see whole packs only, and refresh picks up new ones")
    func publishing() throws {
        let dir = temporaryFolder()
        let writer = try MemoStore(directory: dir)
        writer.publishRecords = 2
        writer.publishSeconds = 3600
        for i in 0..<3 { try writer.put(SHA256.digest("k\(i)"), [UInt8(i)]) }
        let names = try FileManager.default.contentsOfDirectory(atPath: dir)
        #expect(names.filter { $0.hasSuffix(".pack") }.count == 1)
        #expect(names.filter { $0.hasPrefix(".tmp-") && $0.hasSuffix(".partial") }.count == 1)
        let reader = try MemoStore(directory: dir)
        #expect(reader.count == 2)
        #expect(reader.get(SHA256.digest("k2")) == nil)
        writer.flush()
        try reader.refresh()
        #expect(reader.count == 3)
        #expect(reader.get(SHA256.digest("k2")) == [2])
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).allSatisfy { !$0.hasPrefix(".tmp-") })
    }

    @Test("many writers at once on the same and different keys: nothing damaged, nothing lost")
    func concurrentWriters() throws {
        let dir = temporaryFolder()
        let writers = 12, shared = 150, own = 150
        DispatchQueue.concurrentPerform(iterations: writers) { w in
            // A store per writer, as each process has its own; small packs to publish often.
            let memo = try! MemoStore(directory: dir)
            memo.publishRecords = 7
            for i in 0..<max(shared, own) {
                if i < shared { try! memo.put(SHA256.digest("shared \(i)"), Array(repeating: UInt8(i & 0xFF), count: 300 + i)) }
                if i < own { try! memo.put(SHA256.digest("writer \(w) item \(i)"), Array("\(w):\(i)".utf8)) }
                if i % 40 == 0 { try! memo.refresh() }
            }
            memo.flush()
        }
        var damaged = 0
        for name in try FileManager.default.contentsOfDirectory(atPath: dir) {
            #expect(name.hasSuffix(".pack"), "left behind: \(name)")
            damaged += MemoStore.scan(try readFileBytes(atPath: dir + "/" + name)).damaged
        }
        #expect(damaged == 0)
        let memo = try MemoStore(directory: dir)
        #expect(memo.count == shared + writers * own)
        #expect(memo.get(SHA256.digest("shared 149")) == Array(repeating: 149, count: 449))
        #expect(memo.get(SHA256.digest("writer 11 item 3")) == Array("11:3".utf8))
        // Compaction merges them into one pack with every record once.
        let c = try MemoStore.compact(directory: dir)
        #expect(c.records == shared + writers * own && c.damagedRecords == 0)
        let after = try FileManager.default.contentsOfDirectory(atPath: dir)
        #expect(after.count == 1 && after[0].hasSuffix(".pack"))
        #expect(try MemoStore(directory: dir).count == shared + writers * own)
    }

    @Test("compaction salvages an abandoned temporary (a killed writer's) and leaves a young one alone")
    func compactionSalvages() throws {
        let dir = temporaryFolder()
        let memo = try MemoStore(directory: dir)
        try memo.put(SHA256.digest("published"), [1])
        memo.flush()
        let old = dir + "/.tmp-deadhost-1-ab-0.partial", young = dir + "/.tmp-livehost-2-cd-0.partial"
        try AtomicFile.write(MemoStore.encodeRecord(SHA256.digest("salvaged"), [2]) + [9, 9, 9], to: old)
        try AtomicFile.write(MemoStore.encodeRecord(SHA256.digest("in flight"), [3]), to: young)
        var times = [timeval(tv_sec: 1_000_000, tv_usec: 0), timeval(tv_sec: 1_000_000, tv_usec: 0)]
        #expect(utimes(old, &times) == 0)
        let dry = try MemoStore.compact(directory: dir, dryRun: true)
        #expect(dry.salvagedTemporaries == 1 && FileManager.default.fileExists(atPath: old))
        let c = try MemoStore.compact(directory: dir)
        #expect(c.records == 2 && c.salvagedTemporaries == 1 && c.packsBefore == 1)
        #expect(!FileManager.default.fileExists(atPath: old) && FileManager.default.fileExists(atPath: young))
        let reopened = try MemoStore(directory: dir)
        #expect(reopened.get(SHA256.digest("salvaged")) == [2] && reopened.get(SHA256.digest("in flight")) == nil)
    }

    @Test("a build reads a memo folder once and then only its new packs; a compacted folder is read afresh")
    func memoFoldersOpenOnce() throws {
        let dir = temporaryFolder() + "/memo/namespace"
        let writer = try MemoStore(directory: dir)
        try writer.put(SHA256.digest("a"), [1])
        writer.flush()
        let memos = MemoStores()
        let (first, opened) = try memos.open(dir, quarantine: nil)
        #expect(opened && first.get(SHA256.digest("a")) == [1])
        try writer.put(SHA256.digest("b"), [2])
        writer.flush()
        let (again, openedAgain) = try memos.open(dir, quarantine: nil)
        #expect(again === first && !openedAgain && again.get(SHA256.digest("b")) == [2])
        #expect(try MemoStore.compact(directory: dir).records == 2)
        let (fresh, openedFresh) = try memos.open(dir, quarantine: nil)
        #expect(fresh !== first && openedFresh && fresh.count == 2)
    }

    @Test("the last shard's second pass runs only for the deferred work; a stage no stage of the shard reads is told so")
    func secondPass() throws {
        let dir = temporaryFolder()
        let log = "secondPass-\(UUID().uuidString)"
        let file = dir + "/pipeline.json"
        try """
            { "version": 1, "stages": [
              { "name": "source", "kind": "text", "params": { "text": "x" } },
              { "name": "p1", "kind": "shard-probe", "inputs": ["source"], "params": { "log": "\(log)" } },
              { "name": "p2", "kind": "shard-probe", "inputs": ["p1"], "params": { "log": "\(log)" } }
            ] }
            """.write(toFile: file, atomically: true, encoding: .utf8)
        let p = try BuildPlan.load(file: file, registry: StageRegistry([TextSource.self, ShardProbe.self]), workingDirectory: dir)
        let builder = Builder(plan: p, cacheRoot: dir + "/cache", jobs: 1)
        // Shard 1 finishes first: the other's report is missing, so it leaves the deferred work.
        let one = try builder.buildShard(try ShardSelection(index: 1, count: 2))
        #expect(!one.finishedDeferred && one.deferred.count == 1)
        let firstPass = ["p1 onlyDeferredWork=false outputUnused=false inputsComplete=true",
                         "p2 onlyDeferredWork=false outputUnused=true inputsComplete=false"]
        #expect(ShardProbe.lines(log) == firstPass)
        // Shard 0 finishes last: it runs the per-item stages once more, for the deferred work only.
        let zero = try builder.buildShard(try ShardSelection(index: 0, count: 2))
        #expect(zero.finishedDeferred && zero.deferred.isEmpty)
        #expect(ShardProbe.lines(log) == firstPass + firstPass + [
            "p1 onlyDeferredWork=true outputUnused=false inputsComplete=true",
            "p2 onlyDeferredWork=true outputUnused=true inputsComplete=true"])
        // A whole build: every output is used, and nothing is deferred.
        let whole = try builder.build()
        #expect(whole.recordedVersion != nil)
        #expect(Array(ShardProbe.lines(log).suffix(2)) == ["p1 onlyDeferredWork=false outputUnused=false inputsComplete=true",
                                                           "p2 onlyDeferredWork=false outputUnused=false inputsComplete=true"])
    }

    @Test("shards share the cache lock; a build waits for them")
    func sharedLock() throws {
        let root = temporaryFolder()
        let a = try BuildLock(cacheRoot: root, wait: false, shared: true)
        let b = try BuildLock(cacheRoot: root, wait: false, shared: true)
        #expect(throws: PipelineError.self) { try BuildLock(cacheRoot: root, wait: false) }
        withExtendedLifetime((a, b)) {}
    }

    @Test("shard reports are found by plan and count; the missing ones are named")
    func reports() throws {
        let layout = CacheLayout(root: temporaryFolder())
        let plan = SHA256.digest("plan")
        for k in [0, 1, 2] {
            // Shard 1 still runs (or was killed): it does not count as found.
            let r = ShardReport(plan: plan, shard: try ShardSelection(index: k, count: 3), state: k == 1 ? "running" : "done", host: "h", pid: 1,
                                startedAt: "now", seconds: 1, current: nil, stages: [.init(stage: "landmarks", computed: 5)])
            try r.write(layout)
        }
        #expect(ShardReport.found(layout, plan: plan) == [3: [0, 2]])
        #expect(ShardReport.found(layout, plan: SHA256.digest("other")).isEmpty)
        let text = try String(contentsOfFile: ShardReport.path(layout, plan: plan, shard: try ShardSelection(index: 2, count: 3)), encoding: .utf8)
        #expect(text.contains("\"items_computed\": 5"))
    }
}
