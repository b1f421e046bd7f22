#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Formats

/// One of `count` shards of a build (`build --shard index/count`): it computes only the
/// items it owns. An item belongs to the shard given by a stable hash of its content key,
/// so shards stay balanced and the assignment never depends on the order of items, the
/// machine or the thread count.
public struct ShardSelection: Sendable, Equatable, CustomStringConvertible {
    public let index: Int
    public let count: Int

    public init(index: Int, count: Int) throws(PipelineError) {
        guard count >= 1, count <= 100_000 else { throw .invalidShard("the shard count must be from 1 to 100000, found \(count)") }
        guard index >= 0, index < count else {
            throw .invalidShard("the shard index must be from 0 to \(count - 1) for \(count) shards, found \(index)")
        }
        self.index = index
        self.count = count
    }

    /// `K/N`, e.g. `0/4` … `3/4`.
    public init(parsing text: String) throws(PipelineError) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let k = Int(parts[0]), let n = Int(parts[1]) else {
            throw .invalidShard("expected K/N (shard K of N, counted from 0, e.g. 0/4) or 'auto', found '\(text)'")
        }
        try self.init(index: k, count: n)
    }

    /// The environment variable that gives the shard count of a Kubernetes Indexed Job
    /// (Kubernetes passes only the index, `JOB_COMPLETION_INDEX`).
    public static let countVariable = "BLENDSET_SHARD_COUNT"

    /// The shard of this task of a Slurm job array (`SLURM_ARRAY_TASK_ID` with
    /// `SLURM_ARRAY_TASK_COUNT`, or with `SLURM_ARRAY_TASK_MIN`/`MAX`) or of a Kubernetes
    /// Indexed Job (`JOB_COMPLETION_INDEX`, with `count` or `BLENDSET_SHARD_COUNT`).
    /// A Slurm array must have step 1 (`--array=0-3` or `1-4`); its first task is shard 0.
    public static func fromEnvironment(_ env: [String: String], count: Int? = nil) throws(PipelineError) -> ShardSelection {
        func int(_ name: String) throws(PipelineError) -> Int? {
            guard let text = env[name] else { return nil }
            guard let n = Int(text.trimmingCharacters(in: .whitespaces)) else { throw .invalidShard("\(name) is '\(text)', not a whole number") }
            return n
        }
        if let task = try int("SLURM_ARRAY_TASK_ID") {
            let min = try int("SLURM_ARRAY_TASK_MIN") ?? 0
            if let step = try int("SLURM_ARRAY_TASK_STEP"), step != 1 {
                throw .invalidShard("the Slurm array has step \(step); use a contiguous array such as --array=0-\(count.map { $0 - 1 } ?? 3)")
            }
            let n: Int
            let arrayCount = try int("SLURM_ARRAY_TASK_COUNT")
            if let c = count ?? arrayCount {
                n = c
            } else if let max = try int("SLURM_ARRAY_TASK_MAX") {
                n = max - min + 1
            } else {
                throw .invalidShard("SLURM_ARRAY_TASK_ID is set but neither SLURM_ARRAY_TASK_COUNT nor SLURM_ARRAY_TASK_MAX is; give the count with --shard-count N")
            }
            return try ShardSelection(index: task - min, count: n)
        }
        if let index = try int("JOB_COMPLETION_INDEX") {
            let variable = try int(countVariable)
            guard let n = count ?? variable else {
                throw .invalidShard("JOB_COMPLETION_INDEX is set but the shard count is not: set \(countVariable) to the Job's completions (or pass --shard-count N)")
            }
            return try ShardSelection(index: index, count: n)
        }
        throw .invalidShard("--shard auto needs a Slurm array task (SLURM_ARRAY_TASK_ID) or a Kubernetes Indexed Job (JOB_COMPLETION_INDEX) in the environment; neither is set. Use --shard K/N to choose one")
    }

    /// Whether this shard computes the item with content key `key` (a SHA-256, so its
    /// leading bytes are already uniform).
    public func owns(_ key: ContentDigest) -> Bool {
        guard count > 1 else { return true }
        var v: UInt64 = 0
        for b in key.bytes.prefix(8) { v = v << 8 | UInt64(b) }
        return Int(v % UInt64(count)) == index
    }

    public var description: String { "\(index)/\(count)" }
}

/// What one shard did, kept as `cache/shards/<plan>-<K>-of-<N>.json` (written atomically,
/// updated while it runs). The merge build lists these to say which shards are missing.
public struct ShardReport: Sendable {
    public struct StageItems: Sendable {
        public var stage: String
        public var computed = 0
        public var fromMemo = 0
        /// Items this shard left to the others (not its own, not yet in the memo).
        public var skipped = 0
        /// Work it left out because it needs every shard's items (see `StageContext.deferWork`).
        public var deferred: [String] = []
    }

    public var plan: ContentDigest
    public var shard: ShardSelection
    public var state: String
    public var host: String
    public var pid: Int32
    public var startedAt: String
    public var seconds: Double
    /// The stage running and its progress, while the shard runs.
    public var current: (stage: String, done: Int, total: Int, unit: String)?
    public var stages: [StageItems]
    /// Whether this shard saw every other shard's report and so finished the deferred work.
    public var finishedDeferred = false

    public var computed: Int { stages.reduce(0) { $0 + $1.computed } }
    public var fromMemo: Int { stages.reduce(0) { $0 + $1.fromMemo } }
    public var skipped: Int { stages.reduce(0) { $0 + $1.skipped } }
    public var deferred: [String] { stages.flatMap(\.deferred) }

    public var json: JSONValue {
        var members: [(String, JSONValue)] = [
            ("plan", .string(plan.hex)), ("shard", .int(shard.index)), ("of", .int(shard.count)),
            ("state", .string(state)), ("host", .string(host)), ("pid", .int(Int(pid))),
            ("started_at", .string(startedAt)), ("seconds", .number((seconds * 100).rounded() / 100)),
            ("items_computed", .int(computed)), ("items_from_memo", .int(fromMemo)), ("items_left_to_others", .int(skipped)),
            ("deferred", .array(deferred.map { .string($0) })), ("finished_deferred", .bool(finishedDeferred)),
        ]
        if let c = current {
            members.append(("current", .object([("stage", .string(c.stage)), ("done", .int(c.done)), ("total", .int(c.total)), ("unit", .string(c.unit))])))
        }
        members.append(("stages", .array(stages.map { s in
            .object([("name", .string(s.stage)), ("items_computed", .int(s.computed)), ("items_from_memo", .int(s.fromMemo)),
                     ("items_left_to_others", .int(s.skipped)), ("deferred", .array(s.deferred.map { .string($0) }))])
        })))
        return .object(members)
    }

    /// `cache/shards/<plan>-<K>-of-<N>.json`.
    public static func path(_ layout: CacheLayout, plan: ContentDigest, shard: ShardSelection) -> String {
        layout.shards + "/\(plan.hex)-\(shard.index)-of-\(shard.count).json"
    }

    public func write(_ layout: CacheLayout) throws(PipelineError) {
        let path = Self.path(layout, plan: plan, shard: shard)
        do { try AtomicFile.write(Array((json.pretty() + "\n").utf8), to: path) } catch { throw .io("cannot write the shard report \(path): \(error)") }
    }

    /// The shards of `plan` that finished their own items (their report's state starts with
    /// "done"), for each shard count used. A report that says "running" is a shard that runs
    /// or was killed before its items were all in.
    public static func found(_ layout: CacheLayout, plan: ContentDigest) -> [Int: Set<Int>] {
        var found: [Int: Set<Int>] = [:]
        let prefix = plan.hex + "-"
        for name in (try? FileManager.default.contentsOfDirectory(atPath: layout.shards)) ?? [] where name.hasPrefix(prefix) && name.hasSuffix(".json") {
            let parts = name.dropFirst(prefix.count).dropLast(5).split(separator: "-")
            guard parts.count == 3, parts[1] == "of", let k = Int(parts[0]), let n = Int(parts[2]), k >= 0, k < n,
                  let bytes = try? readFileBytes(atPath: layout.shards + "/" + name), let json = try? JSONParser.parse(bytes),
                  json["state"]?.stringValue?.hasPrefix("done") == true else { continue }
            found[n, default: []].insert(k)
        }
        return found
    }
}

/// What the merge build found of the shards that ran before it.
public struct ShardSummary: Sendable, Equatable {
    /// The shard count (`N` of `--shard K/N`).
    public var count: Int
    public var found: [Int]
    public var missing: [Int]
}

/// Keeps a running shard's report: forwards build events to the user's observer, counts
/// items per stage, and rewrites the report (at most every few seconds) as progress comes.
// @unchecked: every field is touched only under `lock`.
final class ShardTracker: BuildObserver, @unchecked Sendable {
    private let lock = NSLock()
    private let inner: (any BuildObserver)?
    private let layout: CacheLayout
    private var report: ShardReport
    private var contentIDs: [String: ContentDigest] = [:]
    private var planKnown = false
    private var secondPass = false
    private var lastWrite = Date.distantPast
    private let started = Date()
    /// Seconds between progress rewrites of the report.
    static let writeInterval = 5.0

    init(shard: ShardSelection, layout: CacheLayout, inner: (any BuildObserver)?) {
        self.inner = inner
        self.layout = layout
        let host = MemoStore.hostName()
        report = ShardReport(plan: SHA256.digest([UInt8]()), shard: shard, state: "running", host: host, pid: getpid(),
                             startedAt: isoNow(), seconds: 0, current: nil, stages: [])
    }

    func waitingForLock(holder: String) { inner?.waitingForLock(holder: holder) }
    func stageStarted(_ stage: String, kind: String) { inner?.stageStarted(stage, kind: kind) }
    func stageWarning(_ stage: String, _ message: String) { inner?.stageWarning(stage, message) }
    func stageFinished(_ report: StageReport) { inner?.stageFinished(report) }

    func stageProgress(_ stage: String, done: Int, total: Int, unit: String, fromMemo: Int) {
        inner?.stageProgress(stage, done: done, total: total, unit: unit, fromMemo: fromMemo)
        lock.lock()
        defer { lock.unlock() }
        report.current = (stage, done, total, unit)
        if planKnown && Date().timeIntervalSince(lastWrite) >= Self.writeInterval { writeLocked() }
    }

    /// Records a finished stage; once the stages the plan key needs are done, the key is set.
    func finished(_ stage: StageReport, perItem: Bool, planKey: ([String: ContentDigest]) throws(PipelineError) -> ContentDigest?) throws(PipelineError) {
        lock.lock()
        defer { lock.unlock() }
        contentIDs[stage.name] = stage.contentID
        if !planKnown, let key = try planKey(contentIDs) {
            report.plan = key
            planKnown = true
            writeLocked()
        }
        guard perItem else { return }
        let items = stage.items ?? ShardReport.StageItems(stage: stage.name)
        if let i = report.stages.firstIndex(where: { $0.stage == stage.name }) {
            // The second pass adds what it computed and replaces what is still deferred.
            report.stages[i].computed += items.computed
            report.stages[i].deferred = items.deferred
        } else {
            report.stages.append(items)
        }
    }

    func startSecondPass() {
        lock.lock()
        secondPass = true
        report.state = "done, running the deferred work"
        lock.unlock()
    }

    /// Writes the report with `state` and returns it.
    func publish(state: String) throws(PipelineError) -> ShardReport {
        lock.lock()
        defer { lock.unlock() }
        report.state = state
        report.current = nil
        if secondPass { report.finishedDeferred = report.deferred.isEmpty }
        report.seconds = Date().timeIntervalSince(started)
        guard planKnown else { throw .io("the shard finished without reaching its per-item stages; nothing to report") }
        try report.write(layout)
        lastWrite = Date()
        return report
    }

    private func writeLocked() {
        report.seconds = Date().timeIntervalSince(started)
        // Progress only: a failed rewrite is retried at the next step, the final write throws.
        try? report.write(layout)
        lastWrite = Date()
    }
}
