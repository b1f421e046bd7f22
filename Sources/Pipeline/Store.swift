import Foundation
import Formats

/// The on-disk cache: content-addressed artifacts, run records, per-item memos,
/// dataset versions and the lock.
///
///     cache/
///       objects/ab/cdef…      artifacts by content id (immutable)
///       runs/<stage key>.json run records: stage key → artifact ids + stats
///       heads/<stage name>    the key the last build used for that stage
///       memo/<namespace>/     per-item results (see `MemoStore`)
///       versions/<id>.json    one record per dataset version
///       files.json            digests of input files by (path, size, mtime, inode)
///       LOCK
public struct CacheLayout: Sendable {
    public var root: String
    public init(root: String) { self.root = root }
    public var objects: String { root + "/objects" }
    public var runs: String { root + "/runs" }
    public var heads: String { root + "/heads" }
    public var memo: String { root + "/memo" }
    public var versions: String { root + "/versions" }
    public var fileDigests: String { root + "/files.json" }
    public var lock: String { root + "/LOCK" }
    /// Tune summaries (`tune/<id>.json`); `gc` keeps the versions their trials name.
    public var tune: String { root + "/tune" }
    public func tuneResult(_ id: String) -> String { tune + "/" + id + ".json" }
    public func object(_ id: ContentDigest) -> String {
        let hex = id.hex
        return objects + "/" + hex.prefix(2) + "/" + hex.dropFirst(2)
    }
    public func run(_ key: ContentDigest) -> String { runs + "/" + key.hex + ".json" }
    public func head(_ stage: String) -> String { heads + "/" + stage }
}

/// Immutable artifacts addressed by the SHA-256 of their bytes.
public struct ArtifactStore: Sendable {
    public let layout: CacheLayout
    public init(layout: CacheLayout) { self.layout = layout }

    /// Stores the bytes (once) and returns their content id.
    @discardableResult
    public func write(_ bytes: [UInt8]) throws(PipelineError) -> ContentDigest {
        let id = SHA256.digest(bytes)
        let path = layout.object(id)
        if !FileManager.default.fileExists(atPath: path) {
            do { try AtomicFile.write(bytes, to: path) } catch { throw PipelineError(error) }
        }
        return id
    }

    public func contains(_ id: ContentDigest) -> Bool {
        FileManager.default.fileExists(atPath: layout.object(id))
    }

    public func read(_ id: ContentDigest) throws(PipelineError) -> [UInt8] {
        let path = layout.object(id)
        guard FileManager.default.fileExists(atPath: path) else {
            throw .cacheCorrupt(path: path, message: "artifact \(id.hex.prefix(12)) is missing")
        }
        do { return try readFileBytes(atPath: path) } catch { throw PipelineError(error) }
    }

    public func size(_ id: ContentDigest) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: layout.object(id)))?[.size] as? Int) ?? 0
    }
}

/// The constructive trace of one stage run: which key produced which artifacts.
public struct RunRecord: Codable, Sendable, Equatable {
    public var key: ContentDigest
    public var stage: String
    public var kind: String
    public var version: Int
    /// Canonical JSON of the resolved parameters (input paths replaced by digests).
    public var parameters: String
    /// Parameter values as the user wrote them (paths as paths), for display.
    public var displayParameters: [String: String]
    public var inputs: [InputRef]
    public var artifacts: [String: ContentDigest]
    public var contentID: ContentDigest
    public var rowsIn: Int?
    public var rowsOut: Int?
    public var seconds: Double
    public var finishedAt: String
    /// Stage-specific statistics, canonical JSON.
    public var stats: String

    public struct InputRef: Codable, Sendable, Equatable {
        public var stage: String
        public var contentID: ContentDigest
    }
}

/// Reads and writes run records and stage heads.
public struct RunRecordStore: Sendable {
    public let layout: CacheLayout
    public init(layout: CacheLayout) { self.layout = layout }

    public func record(for key: ContentDigest) throws(PipelineError) -> RunRecord? {
        let path = layout.run(key)
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        do {
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            return try JSONDecoder().decode(RunRecord.self, from: data)
        } catch {
            throw .cacheCorrupt(path: path, message: "the run record does not parse (\(error))")
        }
    }

    public func write(_ record: RunRecord) throws(PipelineError) {
        try writeJSON(record, to: layout.run(record.key))
    }

    public func head(_ stage: String) -> ContentDigest? {
        guard let text = try? String(contentsOfFile: layout.head(stage), encoding: .utf8) else { return nil }
        return ContentDigest(hex: text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    public func setHead(_ stage: String, _ key: ContentDigest) throws(PipelineError) {
        // Unchanged heads are not rewritten: a no-op build then writes (and syncs) nothing.
        if head(stage) == key { return }
        do { try AtomicFile.write(Array((key.hex + "\n").utf8), to: layout.head(stage)) } catch { throw PipelineError(error) }
    }
}

/// Writes a Codable value as sorted, pretty JSON through an atomic write.
func writeJSON<T: Encodable>(_ value: T, to path: String) throws(PipelineError) {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
    let data: Data
    do { data = try encoder.encode(value) } catch { throw .io("cannot encode \(path): \(error)") }
    do { try AtomicFile.write(Array(data) + [0x0A], to: path) } catch { throw PipelineError(error) }
}

func isoNow() -> String {
    let f = ISO8601DateFormatter()
    f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return f.string(from: Date())
}
