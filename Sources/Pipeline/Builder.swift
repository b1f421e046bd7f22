import Foundation
import Formats

/// A stage with everything its key is made of resolved: the key material, the key, and
/// its input files (path and content digest). `Builder.resolve` is the one place that
/// computes these, for builds, `status` and `cachedRecords` alike.
public struct ResolvedStage: Sendable {
    public var material: Builder.KeyMaterial
    public var key: ContentDigest
    public var inputFiles: [String: InputFile]
}

/// Runs a `BuildPlan` against a cache.
public final class Builder: Sendable {
    public let plan: BuildPlan
    public let layout: CacheLayout
    public let jobs: Int
    let store: any BuildStore
    let digests: InputDigests

    /// A builder on the cache folder `cacheRoot`; `store` replaces its artifacts and run
    /// records (e.g. with an `InMemoryBuildStore`), while versions and the lock stay on disk.
    public init(plan: BuildPlan, cacheRoot: String, jobs: Int, store: (any BuildStore)? = nil) {
        self.plan = plan
        self.layout = CacheLayout(root: cacheRoot)
        self.jobs = max(1, jobs)
        self.store = store ?? FileBuildStore(layout: layout)
        self.digests = InputDigests(path: layout.fileDigests)
    }

    // MARK: keys

    /// What a stage key is computed from; also what `status` compares to explain a rebuild.
    public struct KeyMaterial: Sendable {
        public var kind: String
        public var version: Int
        public var parameters: JSONValue
        public var inputs: [RunRecord.InputRef]

        /// SHA-256 of kind, implementation version, canonical parameters and input content ids.
        public var key: ContentDigest {
            var h = SHA256()
            h.update("blendset-stage-key-v1\n")
            h.update("kind=\(kind)\nversion=\(version)\nparams=\(parameters.canonical)\n")
            for i in inputs { h.update("input=\(i.stage):\(i.contentID.hex)\n") }
            return h.finalize()
        }
    }

    /// Resolves a stage's key: its input files are checked and hashed (once, here), and
    /// enter the parameters as `"sha256:<hex>"` so moving a file changes nothing.
    public func resolve(_ stage: PlannedStage, inputs: [RunRecord.InputRef]) throws(PipelineError) -> ResolvedStage {
        var members: [(String, JSONValue)] = []
        var files: [String: InputFile] = [:]
        let pathParams = Set(stage.inputPathParameters)
        for (name, value) in stage.parameters.values.sorted(by: { $0.key < $1.key }) {
            guard pathParams.contains(name) else {
                members.append((name, value))
                continue
            }
            let path = try stage.parameters.path(name)
            guard FileManager.default.fileExists(atPath: path) else {
                let hint: String
                if case .inputPath(let h) = stage.type.parameters.first(where: { $0.name == name })?.role { hint = h } else { hint = "" }
                throw .missingInput(stage: stage.name, parameter: name, path: path, hint: hint)
            }
            let file = InputFile(path: path, digest: try digests.digest(of: path))
            files[name] = file
            let keysName = stage.type.parameters.first { $0.name == name }?.keysFileName ?? false
            let fileName = keysName ? " name:" + URL(fileURLWithPath: path).lastPathComponent : ""
            members.append((name, .string("sha256:" + file.digest.hex + fileName)))
        }
        let material = KeyMaterial(kind: stage.kind, version: stage.type.version, parameters: .object(members), inputs: inputs)
        return ResolvedStage(material: material, key: material.key, inputFiles: files)
    }

    static func contentID(_ artifacts: [String: ContentDigest]) -> ContentDigest {
        var h = SHA256()
        h.update("blendset-output-v1\n")
        for (name, id) in artifacts.sorted(by: { $0.key < $1.key }) { h.update("\(name)=\(id.hex)\n") }
        return h.finalize()
    }

    /// A cached result for this key, if its record and every artifact are present.
    func cachedRecord(_ key: ContentDigest) throws(PipelineError) -> RunRecord? {
        try cachedRecord(key, in: store)
    }

    func cachedRecord(_ key: ContentDigest, in store: any BuildStore) throws(PipelineError) -> RunRecord? {
        guard let r = try store.record(for: key) else { return nil }
        return r.artifacts.values.allSatisfy(store.contains) ? r : nil
    }

    // MARK: build

    /// Builds every stage, or with `targets` only those stages and what they read from,
    /// running independent stages in parallel (up to `jobs` at once). A version is recorded
    /// only when the stages built include every final stage of the plan.
    public func build(observer: (any BuildObserver)? = nil, wait: Bool = true, targets: [String] = []) throws -> BuildReport {
        let started = Date()
        let subset = try plan.restricted(to: targets)
        let lock = try BuildLock(cacheRoot: layout.root, wait: wait) { holder in observer?.waitingForLock(holder: holder) }
        defer { withExtendedLifetime(lock) {} }
        removeStaleTemporaries()
        // A damaged file the build meets is moved to quarantine and the build starts over:
        // its record or object is then missing, so whatever needed it is recomputed, and
        // everything else is found cached. Each round moves one file away, so this ends.
        let quarantine = Quarantine(layout: layout)
        var quarantined: [String] = []
        while true {
            do {
                var report = try buildOnce(subset, observer: observer, started: started)
                report.targets = targets
                report.quarantined = quarantined
                report.shards = shardSummaries(report.stages)
                return report
            } catch {
                guard quarantined.count < 1000, let path = quarantine.damagedFile(in: error) else { throw error }
                let target = try quarantine.move(path)
                quarantined.append(path)
                observer?.stageWarning("cache", "damaged file \(path) moved to \(target); recomputing what it held")
            }
        }
    }

    private func buildOnce(_ subset: BuildPlan, observer: (any BuildObserver)?, started: Date) throws -> BuildReport {
        let byName = Dictionary(uniqueKeysWithValues: subset.stages.map { ($0.name, $0) })
        let memos = MemoStores()
        let reportsByName = try schedule(subset) { s, inputReports in
            try self.runOrReuse(s, inputReports, observer: observer, store: self.store, memos: memos)
        }
        try digests.save()
        let reports = subset.stages.map { reportsByName[$0.name]! }
        // Version commands (export, manifest, diff, show) serve the final stages' outputs
        // and what they were made from: a cached one that no longer verifies is found here,
        // quarantined and rebuilt, not left for them to trip over. (Other cached objects
        // are verified when a stage reads them; `check` reads them all.)
        let sinks = Set(subset.finalStages)
        let finals = sinks.union(subset.stages.filter { sinks.contains($0.name) }.flatMap(\.inputs))
        for r in reports where r.status == .cached && finals.contains(r.name) {
            for id in r.artifacts.values.sorted(by: { $0.hex < $1.hex }) { _ = try store.read(id) }
        }
        // A partial build that stops short of a final stage has no version to record: a
        // version is named by the final stages' outputs.
        let whole = Set(plan.finalStages).isSubset(of: byName.keys)
        let version = whole ? try recordVersion(reports, byName: byName) : nil
        return BuildReport(stages: reports, recordedVersion: version, seconds: Date().timeIntervalSince(started))
    }

    /// Runs `run` for every stage of `subset` once its inputs are done, independent stages
    /// in parallel (up to `jobs` at once); the stage reports by name.
    private func schedule(_ subset: BuildPlan, _ run: @escaping @Sendable (PlannedStage, [StageReport]) throws -> StageReport) throws -> [String: StageReport] {
        let state = SchedulerState()

        state.condition.lock()
        while true {
            if state.failure == nil {
                for s in subset.stages where state.reports[s.name] == nil && !state.running.contains(s.name) && state.running.count < jobs {
                    guard s.inputs.allSatisfy({ state.reports[$0] != nil }) else { continue }
                    let inputReports = s.inputs.map { state.reports[$0]! }
                    state.running.insert(s.name)
                    // A thread per running stage: a stage may block (I/O, its own worker
                    // pool), and a shared pool could then starve its siblings.
                    let thread = Thread {
                        let outcome = Result { try run(s, inputReports) }
                        state.condition.lock()
                        state.running.remove(s.name)
                        switch outcome {
                        case .success(let report): state.reports[s.name] = report
                        case .failure(let error): if state.failure == nil { state.failure = error }
                        }
                        state.condition.signal()
                        state.condition.unlock()
                    }
                    thread.stackSize = 8 << 20
                    thread.start()
                }
            }
            if state.running.isEmpty && (state.failure != nil || state.reports.count == subset.stages.count) { break }
            state.condition.wait()
        }
        state.condition.unlock()
        if let failure = state.failure { throw failure }
        return state.reports

    }

    /// Clears `.tmp-` files that killed builds left; safe because we hold the lock.
    private func removeStaleTemporaries() {
        var folders = [layout.root, layout.runs, layout.heads, layout.versions]
        let shards = (try? FileManager.default.contentsOfDirectory(atPath: layout.objects)) ?? []
        folders += shards.map { layout.objects + "/" + $0 }
        for f in folders { AtomicFile.removeStaleTemporaries(in: f) }
    }

    // @unchecked: every field is guarded by `condition`.
    private final class SchedulerState: @unchecked Sendable {
        let condition = NSCondition()
        var reports: [String: StageReport] = [:]
        var running = Set<String>()
        var failure: (any Error)?
    }

    /// Runs a stage or reuses its cached result. In a shard, `onlyDeferredWork` and
    /// `outputUnused` are passed to the stage (see `StageContext`).
    private func runOrReuse(_ stage: PlannedStage, _ inputReports: [StageReport], observer: (any BuildObserver)?,
                            store: any BuildStore, memos: MemoStores, shard: ShardSelection? = nil,
                            onlyDeferredWork: Bool = false, outputUnused: Bool = false) throws -> StageReport {
        let resolved = try resolve(stage, inputs: inputReports.map { .init(stage: $0.name, contentID: $0.contentID) })
        let key = resolved.key
        // A shard's own per-item results are partial and live in memory only: only a whole
        // result that a build stored on disk is reused.
        let cacheStore = shard != nil && stage.type.perItem ? (store as? ShardBuildStore)?.disk ?? store : store
        if let r = try cachedRecord(key, in: cacheStore) {
            try store.setHead(stage.name, key)
            let report = StageReport(name: stage.name, kind: stage.kind, status: .cached, key: key, contentID: r.contentID,
                                     artifacts: r.artifacts, seconds: 0, rowsIn: r.rowsIn, rowsOut: r.rowsOut,
                                     stats: r.stats, warnings: StageReport.warnings(in: r.stats))
            observer?.stageFinished(report)
            return report
        }
        observer?.stageStarted(stage.name, kind: stage.kind)
        if let tail = FinishingTimes.load(layout.finishingTimes)[stage.kind] {
            observer?.stageFinishingEstimate(stage.name, secondsPerItem: tail)
        }
        let inputs = inputReports.map { StageInput(stage: $0.name, kind: $0.kind, artifacts: $0.artifacts, contentID: $0.contentID, store: store) }
        let inputsComplete = inputReports.allSatisfy(\.complete)
        let context = StageContext(stage: stage.name, inputs: inputs, parameters: stage.parameters, jobs: jobs,
                                   inputFiles: resolved.inputFiles, memoRoot: layout.memo, observer: observer,
                                   shard: shard, inputsComplete: inputsComplete,
                                   onlyDeferredWork: onlyDeferredWork && stage.type.perItem,
                                   outputUnused: outputUnused, memos: memos)
        let clock = Date()
        let (result, ids) = try Builder.execute(stage.implementation, context, store: store)
        let seconds = Date().timeIntervalSince(clock)
        if let last = context.lastProgress, last.total > 0 {
            FinishingTimes.record(stage.kind, secondsPerItem: Date().timeIntervalSince(last.time) / Double(last.total), at: layout.finishingTimes)
        }
        let contentID = Builder.contentID(ids)
        var stats = result.stats
        let warnings = context.warnings
        // Kept in the run record, so a cached rebuild still reports them.
        if !warnings.isEmpty {
            var members = stats.objectValue ?? []
            members.removeAll { $0.key == "warnings" }
            members.append((key: "warnings", value: .array(warnings.map { .string($0) })))
            stats = JSONValue(.object(members))
        }
        let record = RunRecord(key: key, stage: stage.name, kind: stage.kind, version: stage.type.version,
                               parameters: resolved.material.parameters,
                               displayParameters: stage.parameters.values,
                               inputs: resolved.material.inputs, artifacts: ids, contentID: contentID,
                               rowsIn: result.rowsIn, rowsOut: result.rowsOut, seconds: seconds,
                               finishedAt: isoNow(), stats: stats)
        try store.writeRecord(record)
        try store.setHead(stage.name, key)
        let items = context.itemCounts
        var report = StageReport(name: stage.name, kind: stage.kind, status: .ran, key: key, contentID: contentID,
                                 artifacts: ids, seconds: seconds, rowsIn: result.rowsIn, rowsOut: result.rowsOut,
                                 stats: stats, warnings: warnings)
        report.items = items
        report.complete = inputsComplete && items.skipped == 0 && items.deferred.isEmpty
        observer?.stageFinished(report)
        return report
    }

    /// Runs a stage and stores what it wrote. A `PipelineError` passes through as it is
    /// (a damaged input object stays `cacheCorrupt`); any other error is wrapped in
    /// `stageFailed` with its type kept.
    static func execute(_ implementation: any Stage, _ context: StageContext, store: any BuildStore) throws(PipelineError) -> (StageResult, [String: ContentDigest]) {
        let result: StageResult
        do {
            result = try implementation.run(context)
        } catch let error as PipelineError {
            throw error
        } catch {
            throw .stageFailed(stage: context.stage, underlying: error)
        }
        var ids: [String: ContentDigest] = [:]
        for (name, bytes) in result.artifacts {
            if let digest = result.digests[name] {
                try store.write(bytes, digest: digest)
                ids[name] = digest
            } else {
                ids[name] = try store.write(bytes)
            }
        }
        for (name, id) in result.forwarded {
            guard ids[name] == nil, context.inputs.contains(where: { $0.artifacts.values.contains(id) }) else {
                throw .stageFailed(stage: context.stage, message: "forwarded artifact '\(name)' is not an input artifact or clashes with a written one")
            }
            ids[name] = id
        }
        return (result, ids)
    }

    // MARK: shards

    /// Names the per-item part of the plan and its input: the per-item stages' kinds,
    /// versions and parameters, and the content of the whole-build stages they read. Shards
    /// and the merge compute the same key; their reports are filed under it. Nil when the
    /// plan has no per-item stage or `contentIDs` lacks one of those inputs.
    func shardPlanKey(_ contentIDs: [String: ContentDigest]) throws(PipelineError) -> ContentDigest? {
        let perItem = plan.stages.filter { $0.type.perItem }
        guard !perItem.isEmpty else { return nil }
        let names = Set(perItem.map(\.name))
        var h = SHA256()
        h.update("blendset-shard-plan-v1\n")
        for s in perItem {
            let parameters = try resolve(s, inputs: []).material.parameters
            h.update("stage=\(s.name) kind=\(s.kind) version=\(s.type.version) params=\(parameters.canonical)\n")
            for input in s.inputs where !names.contains(input) {
                guard let id = contentIDs[input] else { return nil }
                h.update("input=\(input):\(id.hex)\n")
            }
        }
        return h.finalize()
    }

    /// The shard reports a merge finds for its plan, by shard count.
    func shardSummaries(_ stages: [StageReport]) -> [ShardSummary] {
        let ids = Dictionary(stages.map { ($0.name, $0.contentID) }, uniquingKeysWith: { a, _ in a })
        guard let key = try? shardPlanKey(ids) else { return [] }
        return ShardReport.found(layout, plan: key).sorted { $0.key < $1.key }.map { n, found in
            ShardSummary(count: n, found: found.sorted(), missing: (0..<n).filter { !found.contains($0) })
        }
    }

    /// Runs one shard (`build --shard K/N`): the plan up to and including its per-item
    /// stages, each computing only the items this shard owns, in memory. It writes memo
    /// packs and its report (`cache/shards/`), and no stage output, record, head or version.
    ///
    /// It takes the cache lock shared, so shards run side by side. Work that needs every
    /// shard's items (`StageContext.deferWork`) is done by the shard that finishes last: after
    /// writing its report, a shard that deferred work and finds every other shard's report
    /// runs its per-item stages once more, now with complete inputs from the memo, and only
    /// for that work (`StageContext.onlyDeferredWork`: the stages pass on their rows without
    /// rebuilding every item's columns). Two shards finishing at the same moment may both do
    /// it (the same results, written twice); if none sees the others, the merge does it.
    /// A stage that no stage of the shard reads is told its output is unused
    /// (`StageContext.outputUnused`), so it need not build it. The memo folders are read
    /// once for both passes and refreshed as other shards publish.
    public func buildShard(_ shard: ShardSelection, observer: (any BuildObserver)? = nil, wait: Bool = true) throws -> ShardReport {
        let perItem = plan.stages.filter { $0.type.perItem }.map(\.name)
        guard !perItem.isEmpty else {
            throw PipelineError.invalidShard("the pipeline \(plan.file) has no per-item stage (one that computes memoised items one by one), so there is nothing to shard; run 'blendset build' without --shard")
        }
        let subset = try plan.restricted(to: perItem)
        let lock = try BuildLock(cacheRoot: layout.root, wait: wait, shared: true) { holder in observer?.waitingForLock(holder: holder) }
        defer { withExtendedLifetime(lock) {} }
        let tracker = ShardTracker(shard: shard, layout: layout, inner: observer)
        let store = ShardBuildStore(layout: layout)
        let memos = MemoStores()
        let read = Set(subset.stages.flatMap(\.inputs))

        func pass(onlyDeferredWork: Bool) throws -> [String: StageReport] {
            try schedule(subset) { s, inputReports in
                let report = try self.runOrReuse(s, inputReports, observer: tracker, store: store, memos: memos, shard: shard,
                                                 onlyDeferredWork: onlyDeferredWork, outputUnused: !read.contains(s.name))
                try tracker.finished(report, perItem: s.type.perItem) { ids throws(PipelineError) in try self.shardPlanKey(ids) }
                return report
            }
        }
        _ = try pass(onlyDeferredWork: false)
        var report = try tracker.publish(state: "done")
        guard !report.deferred.isEmpty else { return report }
        let others = (0..<shard.count).filter { $0 != shard.index }
        let found = ShardReport.found(layout, plan: report.plan)[shard.count] ?? []
        guard others.allSatisfy(found.contains) else { return report }
        tracker.startSecondPass()
        _ = try pass(onlyDeferredWork: true)
        report = try tracker.publish(state: "done")
        return report
    }

    // MARK: versions

    private func recordVersion(_ reports: [StageReport], byName: [String: PlannedStage]) throws(PipelineError) -> DatasetVersion {
        // The version is identified by the final outputs: the stages nothing reads from.
        let consumed = Set(plan.stages.flatMap(\.inputs))
        let sinks = reports.filter { !consumed.contains($0.name) }
        var h = SHA256()
        h.update("blendset-version-v1\n")
        for s in sinks.sorted(by: { $0.name < $1.name }) { h.update("\(s.name)=\(s.contentID.hex)\n") }
        let id = h.finalize()
        let now = isoNow()
        var stages: [DatasetVersion.StageEntry] = []
        for r in reports {
            let s = byName[r.name]!
            // A cached stage reports 0 s; the lineage wants the time its result took to make.
            let seconds = r.status == .ran ? r.seconds : (try store.record(for: r.key))?.seconds
            stages.append(DatasetVersion.StageEntry(name: r.name, kind: r.kind, version: s.type.version, key: r.key,
                                                    inputs: s.inputs,
                                                    parameters: s.parameters.values,
                                                    contentID: r.contentID, artifacts: r.artifacts,
                                                    rowsIn: r.rowsIn, rowsOut: r.rowsOut,
                                                    seconds: seconds, stats: r.stats))
        }
        let versions = VersionStore(layout: layout)
        // A rebuild keeps the first creation time but records this pipeline and time, so
        // `latest` is what was built last and gc keeps the keys the next build looks up.
        let existing = try versions.version(id)
        let listing = versions.scan()
        if let damaged = listing.damaged.first { throw damaged }
        // Already the latest, made the same way: a no-op build then writes (and syncs) nothing.
        if let existing, existing.stages == stages, existing.pipelineFile == plan.file,
           existing.blendsetVersion == blendsetVersion, listing.versions.first?.id == id {
            return existing
        }
        let createdAt = existing?.createdAt ?? now
        let version = DatasetVersion(
            id: id, createdAt: createdAt, builtAt: now, blendsetVersion: blendsetVersion,
            pipelineFile: plan.file, stages: stages,
            outputs: Dictionary(uniqueKeysWithValues: sinks.map { ($0.name, $0.contentID) }))
        try versions.write(version)
        return version
    }
}
