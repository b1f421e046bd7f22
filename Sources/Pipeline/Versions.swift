import Foundation
import Formats

/// A successful build's final outputs, with everything needed to say how they were made.
///
/// The id is the content hash of the final outputs, so rebuilding an identical pipeline
/// gives the same id. Rebuilding a version refreshes `builtAt` and `stages` (the latest
/// pipeline that produced it), so `latest` and `gc --keep-last` follow what was built last
/// and gc keeps exactly the keys the next build looks up.
public struct DatasetVersion: Codable, Sendable, Equatable {
    /// Content id of the final outputs (the stages nothing reads from).
    public var id: ContentDigest
    /// When this version was first built.
    public var createdAt: String
    /// When it was last built (absent in records written before this field existed).
    public var builtAt: String?
    public var blendsetVersion: String
    public var pipelineFile: String
    /// Every stage of the resolved pipeline, in plan order.
    public var stages: [StageEntry]
    /// Final stage name → content id.
    public var outputs: [String: ContentDigest]

    public struct StageEntry: Codable, Sendable, Equatable {
        public var name: String
        public var kind: String
        public var version: Int
        public var key: ContentDigest
        public var inputs: [String]
        /// Parameter → canonical JSON value as configured.
        public var parameters: [String: String]
        public var contentID: ContentDigest
        public var artifacts: [String: ContentDigest]
        public var rowsIn: Int?
        public var rowsOut: Int?
        /// Seconds the stage took when it last ran (a cached stage keeps its run's time).
        public var seconds: Double?
        /// The stage's statistics, canonical JSON (as in its run record).
        public var stats: String?

        public init(name: String, kind: String, version: Int, key: ContentDigest, inputs: [String],
                    parameters: [String: String], contentID: ContentDigest, artifacts: [String: ContentDigest],
                    rowsIn: Int?, rowsOut: Int?, seconds: Double? = nil, stats: String? = nil) {
            self.name = name
            self.kind = kind
            self.version = version
            self.key = key
            self.inputs = inputs
            self.parameters = parameters
            self.contentID = contentID
            self.artifacts = artifacts
            self.rowsIn = rowsIn
            self.rowsOut = rowsOut
            self.seconds = seconds
            self.stats = stats
        }
    }

    public var shortID: String { String(id.hex.prefix(12)) }
    /// The time used for ordering: the last build, or the first for old records.
    public var lastBuilt: String { builtAt ?? createdAt }

    public func stage(_ name: String) -> StageEntry? { stages.first { $0.name == name } }

    /// Stages no other stage reads from.
    public var sinks: [StageEntry] {
        let consumed = Set(stages.flatMap(\.inputs))
        return stages.filter { !consumed.contains($0.name) }
    }

    /// Every artifact the version's stages produced or forwarded; gc keeps these.
    public var allArtifacts: Set<ContentDigest> { Set(stages.flatMap(\.artifacts.values)) }
}

/// Version records under `cache/versions/`.
public struct VersionStore: Sendable {
    public let layout: CacheLayout
    public init(layout: CacheLayout) { self.layout = layout }

    public func path(_ id: ContentDigest) -> String { layout.versions + "/" + id.hex + ".json" }
    /// Where the manifest copy of a version is written, beside its record.
    public func manifestPath(_ id: ContentDigest) -> String { layout.versions + "/" + id.hex + ".manifest.json" }

    public func version(_ id: ContentDigest) throws(PipelineError) -> DatasetVersion? {
        let p = path(id)
        guard FileManager.default.fileExists(atPath: p) else { return nil }
        do {
            return try JSONDecoder().decode(DatasetVersion.self, from: Data(contentsOf: URL(fileURLWithPath: p)))
        } catch {
            throw .cacheCorrupt(path: p, message: "the version record does not parse (\(error))")
        }
    }

    public func write(_ version: DatasetVersion) throws(PipelineError) {
        try writeJSON(version, to: path(version.id))
    }

    /// All versions, most recently built first (ties broken by id, so the order is stable).
    public func all() throws(PipelineError) -> [DatasetVersion] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: layout.versions)) ?? []
        var result: [DatasetVersion] = []
        for n in names where n.hasSuffix(".json") {
            if let id = ContentDigest(hex: String(n.dropLast(5))), let v = try version(id) { result.append(v) }
        }
        return result.sorted { ($0.lastBuilt, $0.id.hex) > ($1.lastBuilt, $1.id.hex) }
    }
}
