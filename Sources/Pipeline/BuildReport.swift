import Formats

/// Receives build events, e.g. to draw progress lines. Called from worker threads.
public protocol BuildObserver: AnyObject, Sendable {
    func waitingForLock(holder: String)
    func stageStarted(_ stage: String, kind: String)
    func stageProgress(_ stage: String, done: Int, total: Int, unit: String)
    func stageWarning(_ stage: String, _ message: String)
    func stageFinished(_ report: StageReport)
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
    public var warnings: [String]
}

/// The outcome of a whole build, stages in plan order.
public struct BuildReport: Sendable {
    public var stages: [StageReport]
    public var version: DatasetVersion
    public var seconds: Double
    /// Damaged cache files the build moved to `cache/quarantine/` (and recomputed).
    public var quarantined: [String] = []
}
