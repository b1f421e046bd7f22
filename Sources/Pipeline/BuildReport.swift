import Formats

/// Receives build events, e.g. to draw progress lines. Called from worker threads.
public protocol BuildObserver: AnyObject, Sendable {
    func waitingForLock(holder: String)
    func stageStarted(_ stage: String, kind: String)
    /// `done` of `total` items are finished; `fromMemo` of them came from a memo (found, not
    /// computed), so a rate or ETA should be taken from the other `done - fromMemo`.
    func stageProgress(_ stage: String, done: Int, total: Int, unit: String, fromMemo: Int)
    func stageWarning(_ stage: String, _ message: String)
    func stageFinished(_ report: StageReport)
    /// The stage is expected to take `secondsPerItem` × its progress total after its last
    /// progress report (measured on its kind's last run in this cache): an ETA adds it.
    func stageFinishingEstimate(_ stage: String, secondsPerItem: Double)
}

extension BuildObserver {
    public func stageFinishingEstimate(_ stage: String, secondsPerItem: Double) {}
}

public enum StageStatus: String, Sendable, Codable {
    case ran, cached
}

/// What happened to one stage in a build.
public struct StageReport: Sendable {
    public var name: String
    public var kind: String
    public var status: StageStatus
    public var key: ContentDigest
    public var contentID: ContentDigest
    public var artifacts: [String: ContentDigest]
    public var seconds: Double
    public var rowsIn: Int?
    public var rowsOut: Int?
    public var stats: JSONValue
    /// What the stage warned about: when it ran, or (cached) when its result was made,
    /// as its run record's stats keep them.
    public var warnings: [String]
    /// Items a stage that ran counted (`StageContext.countItems`): computed, from the memo,
    /// left to other shards. Nil for a cached stage.
    public var items: ShardReport.StageItems? = nil
    /// False when the output lacks items: in a shard, this stage or one above it left items
    /// to the other shards or deferred work. Always true in a whole build.
    public var complete = true

    /// The warnings a stage's stats hold (the engine stores them under "warnings").
    public static func warnings(in stats: JSONValue?) -> [String] {
        stats?["warnings"]?.arrayValue?.compactMap(\.stringValue) ?? []
    }
}

/// The outcome of a whole build, stages in plan order.
public struct BuildReport: Sendable {
    public var stages: [StageReport]
    /// The version the build recorded; nil for a partial build (`build STAGE ...`) that
    /// does not reach every final stage of the pipeline.
    public var recordedVersion: DatasetVersion?
    public var seconds: Double
    /// Damaged cache files the build moved to `cache/quarantine/` (and recomputed).
    public var quarantined: [String] = []
    /// The stages asked for (`build STAGE ...`); empty for a whole build.
    public var targets: [String] = []
    /// The shard reports found for this plan's per-item stages, by shard count (a merge
    /// after `build --shard`); empty when no shard ran.
    public var shards: [ShardSummary] = []

    /// Items of the stages that ran: computed in this build, and found in a memo.
    public var itemsComputed: Int { stages.reduce(0) { $0 + ($1.items?.computed ?? 0) } }
    public var itemsFromMemo: Int { stages.reduce(0) { $0 + ($1.items?.fromMemo ?? 0) } }

    public init(stages: [StageReport], recordedVersion: DatasetVersion?, seconds: Double, targets: [String] = []) {
        self.stages = stages
        self.recordedVersion = recordedVersion
        self.seconds = seconds
        self.targets = targets
    }

    /// The version of a whole build. A partial build records none: use `recordedVersion` there.
    public var version: DatasetVersion {
        guard let recordedVersion else { preconditionFailure("a partial build (\(targets)) records no version") }
        return recordedVersion
    }

    /// Every stage's warnings, in plan order, cached stages included.
    public var warnings: [(stage: String, message: String)] {
        stages.flatMap { s in s.warnings.map { (s.name, $0) } }
    }
}
