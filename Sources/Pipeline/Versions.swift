import Foundation
import Formats

/// A successful build's final outputs, with everything needed to say how they were made.
public struct DatasetVersion: Codable, Sendable, Equatable {
    /// Content id of the final outputs (the stages nothing reads from).
    public var id: ContentDigest
    public var createdAt: String
    public var blendsetVersion: String
    public var pipelineFile: String
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
    }

    public var shortID: String { String(id.hex.prefix(12)) }
}

/// Version records under `cache/versions/`.
public struct VersionStore: Sendable {
    public let layout: CacheLayout
    public init(layout: CacheLayout) { self.layout = layout }

    func path(_ id: ContentDigest) -> String { layout.versions + "/" + id.hex + ".json" }

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

    /// All versions, newest first.
    public func all() throws(PipelineError) -> [DatasetVersion] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: layout.versions)) ?? []
        var result: [DatasetVersion] = []
        for n in names where n.hasSuffix(".json") {
            if let id = ContentDigest(hex: String(n.dropLast(5))), let v = try version(id) { result.append(v) }
        }
        return result.sorted { ($0.createdAt, $0.id.hex) > ($1.createdAt, $1.id.hex) }
    }
}
