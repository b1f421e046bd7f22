import Foundation
import Formats

/// The per-stage context handed to `Stage.run`.
// @unchecked: the warnings list is mutable (touched only under `lock`), and the observer is a weak reference.
public final class StageContext: @unchecked Sendable {
    public let stage: String
    public let inputs: [StageInput]
    public let parameters: StageParameters
    /// Worker threads the stage may use for data-parallel work.
    public let jobs: Int
    /// The stage's `inputPath` parameters, resolved once by the engine; see `inputFile(_:)`.
    let inputFiles: [String: InputFile]
    /// Root folder of the per-item memos.
    let memoRoot: String
    /// The shard this build computes (`build --shard K/N`), or nil for a whole build.
    public let shard: ShardSelection?
    /// False in a shard whose input lacks items other shards have not computed yet; always
    /// true in a whole build.
    public let inputsComplete: Bool
    /// True in a shard's second pass (see `Builder.buildShard`), which runs only to finish
    /// the work deferred with `deferWork`: the output is read by the per-item stages below
    /// this one in the same pass, then thrown away. A stage that deferred nothing may then
    /// pass on only the rows it keeps, without the columns it computes.
    public let onlyDeferredWork: Bool
    /// True in a shard for a stage that no stage of the shard reads: its output is thrown
    /// away, so the stage may skip building it. Its memo entries are what count.
    public let outputUnused: Bool
    /// The memo folders this build has open, shared by its stages (and a shard's passes).
    let memos: MemoStores
    private weak var observer: (any BuildObserver)?
    private let lock = NSLock()
    private var collectedWarnings: [String] = []
    private var lastReport: (time: Date, total: Int)?
    private(set) var items = ShardReport.StageItems(stage: "")

    init(stage: String, inputs: [StageInput], parameters: StageParameters, jobs: Int, inputFiles: [String: InputFile],
         memoRoot: String, observer: (any BuildObserver)?, shard: ShardSelection? = nil, inputsComplete: Bool = true,
         onlyDeferredWork: Bool = false, outputUnused: Bool = false, memos: MemoStores = MemoStores()) {
        self.shard = shard
        self.inputsComplete = inputsComplete
        self.onlyDeferredWork = onlyDeferredWork
        self.outputUnused = outputUnused
        self.memos = memos
        self.stage = stage
        self.inputFiles = inputFiles
        self.inputs = inputs
        self.parameters = parameters
        self.jobs = jobs
        self.memoRoot = memoRoot
        self.observer = observer
        items.stage = stage
    }

    /// The single input of a one-input stage.
    public var input: StageInput { inputs[0] }

    /// `done` of `total` items are finished, `fromMemo` of them found in a memo rather than
    /// computed: progress lines estimate the time left from the computed ones only.
    public func progress(done: Int, total: Int, unit: String = "rows", fromMemo: Int = 0) {
        lock.lock()
        lastReport = (Date(), total)
        lock.unlock()
        observer?.stageProgress(stage, done: done, total: total, unit: unit, fromMemo: fromMemo)
    }

    /// When the stage last reported progress, and that report's total.
    var lastProgress: (time: Date, total: Int)? {
        lock.lock()
        defer { lock.unlock() }
        return lastReport
    }

    /// Whether this build computes the item with content key `item`: always in a whole
    /// build; in a shard, only for the items the shard owns. A per-item stage asks this for
    /// each item it does not find in its memo, and leaves the others out of its (in-memory)
    /// output, counted with `countItems(skipped:)`.
    public func owns(_ item: ContentDigest) -> Bool {
        shard?.owns(item) ?? true
    }

    /// Counts items for the build summary and the shard report: computed here, found in a
    /// memo, or (in a shard) left to the other shards.
    public func countItems(computed: Int = 0, fromMemo: Int = 0, skipped: Int = 0) {
        lock.lock()
        items.computed += computed
        items.fromMemo += fromMemo
        items.skipped += skipped
        lock.unlock()
    }

    /// In a shard: says that the stage left out `work` because it needs every shard's
    /// items (`inputsComplete` is false). The last shard to finish does it (see `Builder`).
    public func deferWork(_ work: String) {
        lock.lock()
        items.deferred.append(work)
        lock.unlock()
    }

    var itemCounts: ShardReport.StageItems {
        lock.lock()
        defer { lock.unlock() }
        return items
    }

    /// A warning shown in the build output and kept in the run record.
    public func warn(_ message: String) {
        lock.lock()
        collectedWarnings.append(message)
        lock.unlock()
        observer?.stageWarning(stage, message)
    }

    var warnings: [String] {
        lock.lock()
        defer { lock.unlock() }
        return collectedWarnings
    }

    /// The per-item memo for one namespace (e.g. an extractor and model version).
    public func memo(namespace: ContentDigest) throws(PipelineError) -> MemoStore {
        let root = memoRoot.hasSuffix("/memo") ? String(memoRoot.dropLast(5)) : URL(fileURLWithPath: memoRoot).deletingLastPathComponent().path
        let (memo, opened) = try memos.open(memoRoot + "/" + namespace.hex, quarantine: Quarantine(layout: CacheLayout(root: root)), jobs: jobs)
        // About this cache, not the data: shown, but not kept with the stage's warnings
        // (every later cached build would repeat it, and --strict would fail on it).
        if opened {
            for q in memo.quarantined { observer?.stageWarning(stage, "damaged memo pack \(q.pack) moved to \(q.movedTo); its good records were kept") }
        }
        return memo
    }
}

/// The memo folders one build (or one shard, over both its passes) has open. Each folder is
/// read once; a later stage refreshes it (loads only the packs published since) instead of
/// reading and verifying every pack again.
// @unchecked: `stores` is only touched under `lock`.
final class MemoStores: @unchecked Sendable {
    private let lock = NSLock()
    private var stores: [String: MemoStore] = [:]

    init() {}

    /// The store of `directory`, and whether this call opened it (false: refreshed).
    func open(_ directory: String, quarantine: Quarantine?, jobs: Int = 1) throws(PipelineError) -> (MemoStore, Bool) {
        lock.lock()
        defer { lock.unlock() }
        // A folder compacted or removed meanwhile (a pack this store read is gone) is read afresh.
        if let memo = stores[directory], memo.packsStillPresent() {
            try memo.refresh()
            return (memo, false)
        }
        let memo = try MemoStore(directory: directory, quarantine: quarantine, jobs: jobs)
        stores[directory] = memo
        return (memo, true)
    }
}
