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
    private weak var observer: (any BuildObserver)?
    private let lock = NSLock()
    private var collectedWarnings: [String] = []
    private var lastReport: (time: Date, total: Int)?

    init(stage: String, inputs: [StageInput], parameters: StageParameters, jobs: Int, inputFiles: [String: InputFile],
         memoRoot: String, observer: (any BuildObserver)?) {
        self.stage = stage
        self.inputFiles = inputFiles
        self.inputs = inputs
        self.parameters = parameters
        self.jobs = jobs
        self.memoRoot = memoRoot
        self.observer = observer
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
        let memo = try MemoStore(directory: memoRoot + "/" + namespace.hex, quarantine: Quarantine(layout: CacheLayout(root: root)))
        // About this cache, not the data: shown, but not kept with the stage's warnings
        // (every later cached build would repeat it, and --strict would fail on it).
        for q in memo.quarantined { observer?.stageWarning(stage, "damaged memo pack \(q.pack) moved to \(q.movedTo); its good records were kept") }
        return memo
    }
}
