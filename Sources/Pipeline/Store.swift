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
///       shards/<plan>-K-of-N.json  what each shard of a sharded build did (`build --shard`)
///       versions/<id>.json    one record per dataset version
///       files.json            digests of input files by (path, device, inode, size, mtime, ctime)
///       quarantine/           damaged files moved aside by a build or `check --repair`
///       LOCK
public struct CacheLayout: Sendable {
    public var root: String
    public init(root: String) { self.root = root }
    public var objects: String { root + "/objects" }
    public var runs: String { root + "/runs" }
    public var heads: String { root + "/heads" }
    public var memo: String { root + "/memo" }
    /// Shard reports (`build --shard`), one small JSON per shard.
    public var shards: String { root + "/shards" }
    public var versions: String { root + "/versions" }
    public var fileDigests: String { root + "/files.json" }
    /// Per stage kind, the seconds after its last progress report (see `FinishingTimes`).
    public var finishingTimes: String { root + "/finishing-times.json" }
    public var lock: String { root + "/LOCK" }
    /// Damaged files a build or `check --repair` moved aside (never deleted: they may be history).
    public var quarantine: String { root + "/quarantine" }
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

/// Where a build keeps artifacts and run records, like llbuild2's function cache:
/// `FileBuildStore` is the cache on disk, `InMemoryBuildStore` serves fast stage tests.
public protocol BuildStore: Sendable {
    /// Stores the bytes (once) and returns their content id.
    @discardableResult
    func write(_ bytes: [UInt8]) throws(PipelineError) -> ContentDigest
    /// Stores bytes whose SHA-256 the caller already took (`StageResult.digests`).
    func write(_ bytes: [UInt8], digest: ContentDigest) throws(PipelineError)
    func contains(_ id: ContentDigest) -> Bool
    /// The bytes of an artifact; `cacheCorrupt` when they are missing or do not hash to `id`.
    func read(_ id: ContentDigest) throws(PipelineError) -> [UInt8]
    /// `read`, and whether the bytes are sealed: they end in the SHA-256 of the bytes before
    /// them (as table files do). A file store checks both in one pass.
    func readSealed(_ id: ContentDigest) throws(PipelineError) -> (bytes: [UInt8], sealed: Bool)
    func record(for key: ContentDigest) throws(PipelineError) -> RunRecord?
    func writeRecord(_ record: RunRecord) throws(PipelineError)
    /// The key the last build used for a stage.
    func head(_ stage: String) -> ContentDigest?
    func setHead(_ stage: String, _ key: ContentDigest) throws(PipelineError)
}

extension BuildStore {
    public func write(_ bytes: [UInt8], digest: ContentDigest) throws(PipelineError) {
        _ = try write(bytes)
    }

    public func readSealed(_ id: ContentDigest) throws(PipelineError) -> (bytes: [UInt8], sealed: Bool) {
        (try read(id), false)
    }
}

/// Immutable artifacts addressed by the SHA-256 of their bytes.
public struct ArtifactStore: Sendable {
    public let layout: CacheLayout
    public init(layout: CacheLayout) { self.layout = layout }

    /// Stores the bytes (once) and returns their content id.
    @discardableResult
    public func write(_ bytes: [UInt8]) throws(PipelineError) -> ContentDigest {
        let id = SHA256.digest(bytes)
        try write(bytes, digest: id)
        return id
    }

    /// Stores bytes whose SHA-256 is `digest` (checked in debug builds only).
    public func write(_ bytes: [UInt8], digest id: ContentDigest) throws(PipelineError) {
        assert(SHA256.digest(bytes) == id, "bytes stored under a digest that is not theirs")
        let path = layout.object(id)
        if !FileManager.default.fileExists(atPath: path) {
            do { try AtomicFile.write(bytes, to: path) } catch { throw PipelineError(error) }
        }
    }

    public func contains(_ id: ContentDigest) -> Bool {
        FileManager.default.fileExists(atPath: layout.object(id))
    }

    /// The bytes of an artifact, checked against their id: a flipped byte or a truncated
    /// object is a damaged cache (`cacheCorrupt`), whichever format the bytes hold.
    public func read(_ id: ContentDigest) throws(PipelineError) -> [UInt8] {
        let path = layout.object(id)
        guard FileManager.default.fileExists(atPath: path) else {
            throw .cacheCorrupt(path: path, message: "is missing (artifact \(id.hex.prefix(12)))")
        }
        let bytes: [UInt8]
        do { bytes = try readFileBytes(atPath: path) } catch { throw PipelineError(error) }
        try verify(bytes, id: id, path: path)
        return bytes
    }

    /// `read`, and whether the bytes end in the SHA-256 of the bytes before them: both
    /// checked with one hash of the file.
    public func readSealed(_ id: ContentDigest) throws(PipelineError) -> (bytes: [UInt8], sealed: Bool) {
        let path = layout.object(id)
        guard FileManager.default.fileExists(atPath: path) else {
            throw .cacheCorrupt(path: path, message: "is missing (artifact \(id.hex.prefix(12)))")
        }
        let bytes: [UInt8]
        do { bytes = try readFileBytes(atPath: path) } catch { throw PipelineError(error) }
        let split = max(0, bytes.count - ContentDigest.byteCount)
        let (prefix, whole) = bytes.withUnsafeBytes { SHA256.digests($0, prefix: split) }
        guard whole == id else { throw damaged(path, bytes.count, whole, id) }
        return (bytes, bytes.count >= ContentDigest.byteCount && ContentDigest(bytes: bytes[split...]) == prefix)
    }

    public func size(_ id: ContentDigest) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: layout.object(id)))?[.size] as? Int) ?? 0
    }
}

/// Throws `cacheCorrupt` unless `bytes` hash to `id`.
func verify(_ bytes: [UInt8], id: ContentDigest, path: String) throws(PipelineError) {
    let actual = SHA256.digest(bytes)
    guard actual == id else { throw damaged(path, bytes.count, actual, id) }
}

private func damaged(_ path: String, _ count: Int, _ actual: ContentDigest, _ id: ContentDigest) -> PipelineError {
    .cacheCorrupt(path: path, message: "is damaged: its \(count) bytes hash to \(actual.hex.prefix(12)), not to the \(id.hex.prefix(12)) it is stored under (altered or truncated on disk)")
}

/// The constructive trace of one stage run: which key produced which artifacts.
///
/// Format 2 stores `parameters`, `displayParameters` and `stats` as JSON values. Records
/// written before (no `format` field) held them as strings of canonical JSON; they are
/// still read, so an upgrade keeps every cached result.
public struct RunRecord: Codable, Sendable, Equatable {
    public static let currentFormat = 2
    public var format: Int = RunRecord.currentFormat
    public var key: ContentDigest
    public var stage: String
    public var kind: String
    public var version: Int
    /// The resolved parameters as keyed (input paths replaced by `"sha256:<hex>"`).
    public var parameters: JSONValue
    /// Parameter values as the user wrote them (paths as paths), for display.
    public var displayParameters: [String: JSONValue]
    public var inputs: [InputRef]
    public var artifacts: [String: ContentDigest]
    public var contentID: ContentDigest
    public var rowsIn: Int?
    public var rowsOut: Int?
    public var seconds: Double
    public var finishedAt: String
    /// Stage-specific statistics.
    public var stats: JSONValue

    public struct InputRef: Codable, Sendable, Equatable {
        public var stage: String
        public var contentID: ContentDigest
    }

    public init(key: ContentDigest, stage: String, kind: String, version: Int, parameters: JSONValue,
                displayParameters: [String: JSONValue], inputs: [InputRef], artifacts: [String: ContentDigest],
                contentID: ContentDigest, rowsIn: Int?, rowsOut: Int?, seconds: Double, finishedAt: String, stats: JSONValue) {
        self.key = key
        self.stage = stage
        self.kind = kind
        self.version = version
        self.parameters = parameters
        self.displayParameters = displayParameters
        self.inputs = inputs
        self.artifacts = artifacts
        self.contentID = contentID
        self.rowsIn = rowsIn
        self.rowsOut = rowsOut
        self.seconds = seconds
        self.finishedAt = finishedAt
        self.stats = stats
    }

    private enum CodingKeys: String, CodingKey {
        case format, key, stage, kind, version, parameters, displayParameters, inputs, artifacts, contentID
        case rowsIn, rowsOut, seconds, finishedAt, stats
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        format = try c.decodeIfPresent(Int.self, forKey: .format) ?? 1
        key = try c.decode(ContentDigest.self, forKey: .key)
        stage = try c.decode(String.self, forKey: .stage)
        kind = try c.decode(String.self, forKey: .kind)
        version = try c.decode(Int.self, forKey: .version)
        inputs = try c.decode([InputRef].self, forKey: .inputs)
        artifacts = try c.decode([String: ContentDigest].self, forKey: .artifacts)
        contentID = try c.decode(ContentDigest.self, forKey: .contentID)
        rowsIn = try c.decodeIfPresent(Int.self, forKey: .rowsIn)
        rowsOut = try c.decodeIfPresent(Int.self, forKey: .rowsOut)
        seconds = try c.decode(Double.self, forKey: .seconds)
        finishedAt = try c.decode(String.self, forKey: .finishedAt)
        if format == 1 {
            parameters = try JSONValue(canonicalText: c.decode(String.self, forKey: .parameters), in: c, key: .parameters)
            displayParameters = try c.decode([String: String].self, forKey: .displayParameters).mapValues { text in
                try JSONValue(canonicalText: text, in: c, key: .displayParameters)
            }
            stats = try JSONValue(canonicalText: c.decode(String.self, forKey: .stats), in: c, key: .stats)
        } else {
            parameters = try c.decode(JSONValue.self, forKey: .parameters)
            displayParameters = try c.decode([String: JSONValue].self, forKey: .displayParameters)
            stats = try c.decode(JSONValue.self, forKey: .stats)
        }
        format = RunRecord.currentFormat
    }
}

extension JSONValue {
    /// Parses a field that older records stored as a string of canonical JSON.
    init<K: CodingKey>(canonicalText text: String, in container: KeyedDecodingContainer<K>, key: K) throws {
        do { self = try JSONParser.parse(text) } catch {
            throw DecodingError.dataCorruptedError(forKey: key, in: container, debugDescription: "not JSON: \(error)")
        }
    }
}

/// Reads and writes run records and stage heads.
public struct RunRecordStore: Sendable {
    public let layout: CacheLayout
    public init(layout: CacheLayout) { self.layout = layout }

    public func record(for key: ContentDigest) throws(PipelineError) -> RunRecord? {
        let path = layout.run(key)
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let record: RunRecord
        do {
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            _ = try RecordSeal.verified(Array(data), path: path, what: "run record")
            record = try JSONDecoder().decode(RunRecord.self, from: data)
        } catch let error as PipelineError {
            throw error
        } catch {
            throw .cacheCorrupt(path: path, message: "is a run record that does not parse (\(error))")
        }
        // A record is named by its key: an edited record (or one copied over another) is not served.
        guard record.key == key else {
            throw .cacheCorrupt(path: path, message: "is a run record for key \(record.key.hex.prefix(12)), not for the \(key.hex.prefix(12)) it is stored under")
        }
        // The content id is the hash of the artifact ids: an edited artifact id shows.
        guard Builder.contentID(record.artifacts) == record.contentID else {
            throw .cacheCorrupt(path: path, message: "is a run record whose artifact ids do not match its content id \(record.contentID.hex.prefix(12)) (edited on disk?)")
        }
        return record
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

/// The cache on disk: artifacts under `objects/`, run records under `runs/`, heads under `heads/`.
public struct FileBuildStore: BuildStore {
    public let artifacts: ArtifactStore
    public let records: RunRecordStore
    public init(layout: CacheLayout) {
        artifacts = ArtifactStore(layout: layout)
        records = RunRecordStore(layout: layout)
    }
    public func write(_ bytes: [UInt8]) throws(PipelineError) -> ContentDigest { try artifacts.write(bytes) }
    public func write(_ bytes: [UInt8], digest: ContentDigest) throws(PipelineError) { try artifacts.write(bytes, digest: digest) }
    public func contains(_ id: ContentDigest) -> Bool { artifacts.contains(id) }
    public func read(_ id: ContentDigest) throws(PipelineError) -> [UInt8] { try artifacts.read(id) }
    public func readSealed(_ id: ContentDigest) throws(PipelineError) -> (bytes: [UInt8], sealed: Bool) { try artifacts.readSealed(id) }
    public func record(for key: ContentDigest) throws(PipelineError) -> RunRecord? { try records.record(for: key) }
    public func writeRecord(_ record: RunRecord) throws(PipelineError) { try records.write(record) }
    public func head(_ stage: String) -> ContentDigest? { records.head(stage) }
    public func setHead(_ stage: String, _ key: ContentDigest) throws(PipelineError) { try records.setHead(stage, key) }
}

/// Artifacts and run records in memory, for tests that run stages without a cache folder.
// @unchecked: the dictionaries are only touched under `lock`.
public final class InMemoryBuildStore: BuildStore, @unchecked Sendable {
    private let lock = NSLock()
    private var objects: [ContentDigest: [UInt8]] = [:]
    private var records: [ContentDigest: RunRecord] = [:]
    private var heads: [String: ContentDigest] = [:]

    public init() {}

    private func locked<R>(_ body: () -> R) -> R {
        lock.lock()
        defer { lock.unlock() }
        return body()
    }

    public func write(_ bytes: [UInt8]) throws(PipelineError) -> ContentDigest {
        let id = SHA256.digest(bytes)
        locked { objects[id] = bytes }
        return id
    }
    public func contains(_ id: ContentDigest) -> Bool { locked { objects[id] != nil } }
    public func read(_ id: ContentDigest) throws(PipelineError) -> [UInt8] {
        guard let bytes = locked({ objects[id] }) else {
            throw .cacheCorrupt(path: "memory:\(id.hex)", message: "is missing (artifact \(id.hex.prefix(12)))")
        }
        return bytes
    }
    public func record(for key: ContentDigest) throws(PipelineError) -> RunRecord? { locked { records[key] } }
    public func writeRecord(_ record: RunRecord) throws(PipelineError) { locked { records[record.key] = record } }
    public func head(_ stage: String) -> ContentDigest? { locked { heads[stage] } }
    public func setHead(_ stage: String, _ key: ContentDigest) throws(PipelineError) { locked { heads[stage] = key } }

    /// Every artifact id held, for tests.
    public var artifactIDs: Set<ContentDigest> { locked { Set(objects.keys) } }
}

/// Writes a Codable value as sorted, pretty JSON through an atomic write.
/// Writes `value` as sorted, indented JSON whose last member is a seal: the SHA-256 of the
/// bytes without it (`RecordSeal`). Only run records and version records are written here.
func writeJSON<T: Encodable>(_ value: T, to path: String) throws(PipelineError) {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
    let data: Data
    do { data = try encoder.encode(value) } catch { throw .io("cannot encode \(path): \(error)") }
    do { try AtomicFile.write(RecordSeal.sealed(Array(data)) + [0x0A], to: path) } catch { throw PipelineError(error) }
}

/// A checksum inside a JSON record, so that damage that still parses (a flipped letter in a
/// stage name or a statistic) is found on read, as the objects' content hashes find theirs.
///
/// The encoder's object `{…\n}` becomes `{…,\n  "seal_sha256" : "<hex>"\n}`, where hex is the
/// SHA-256 of the unsealed bytes. Decoders ignore the extra member. Records written before
/// seals existed have none and are read as they are.
enum RecordSeal {
    static let marker = Array(",\n  \"seal_sha256\" : \"".utf8)

    static func sealed(_ json: [UInt8]) -> [UInt8] {
        guard json.count >= 2, json.last == UInt8(ascii: "}"), json[json.count - 2] == 0x0A, json.count > 3 else { return json }
        let digest = SHA256.digest(json).hex
        return Array(json[..<(json.count - 2)]) + marker + Array(digest.utf8) + Array("\"\n}".utf8)
    }

    /// The record's bytes, checked against its seal when it has one.
    static func verified(_ bytes: [UInt8], path: String, what: String) throws(PipelineError) -> [UInt8] {
        var end = bytes.count
        while end > 0 && (bytes[end - 1] == 0x0A || bytes[end - 1] == 0x20) { end -= 1 }
        let tail = marker.count + 64 + 3  // marker, hex, `"\n}`
        guard end >= tail, bytes[(end - tail)..<(end - 67)].elementsEqual(marker) else { return bytes }
        let hex = String(decoding: bytes[(end - 67)..<(end - 3)], as: UTF8.self)
        guard bytes[(end - 3)..<end].elementsEqual(Array("\"\n}".utf8)) else {
            throw .cacheCorrupt(path: path, message: "is a \(what) whose checksum line is damaged")
        }
        let unsealed = Array(bytes[..<(end - tail)]) + Array("\n}".utf8)
        let actual = SHA256.digest(unsealed).hex
        guard actual == hex else {
            throw .cacheCorrupt(path: path, message: "is a \(what) whose content does not match its checksum (\(actual.prefix(12)), not \(hex.prefix(12))): damaged or edited on disk")
        }
        return bytes
    }
}

func isoNow() -> String {
    let f = ISO8601DateFormatter()
    f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return f.string(from: Date())
}

/// A shard's view of the cache: it reads what the cache already holds (e.g. ingest results
/// of an earlier build) and keeps everything it makes in memory, so shards running at
/// once never write the same stage outputs, records or heads.
final class ShardBuildStore: BuildStore, @unchecked Sendable {
    let disk: FileBuildStore
    let memory = InMemoryBuildStore()

    init(layout: CacheLayout) { disk = FileBuildStore(layout: layout) }

    func write(_ bytes: [UInt8]) throws(PipelineError) -> ContentDigest { try memory.write(bytes) }
    func contains(_ id: ContentDigest) -> Bool { memory.contains(id) || disk.contains(id) }
    func read(_ id: ContentDigest) throws(PipelineError) -> [UInt8] {
        memory.contains(id) ? try memory.read(id) : try disk.read(id)
    }
    func record(for key: ContentDigest) throws(PipelineError) -> RunRecord? {
        if let r = try memory.record(for: key) { return r }
        return try disk.record(for: key)
    }
    func writeRecord(_ record: RunRecord) throws(PipelineError) { try memory.writeRecord(record) }
    func head(_ stage: String) -> ContentDigest? { memory.head(stage) ?? disk.head(stage) }
    func setHead(_ stage: String, _ key: ContentDigest) throws(PipelineError) { try memory.setHead(stage, key) }
}
