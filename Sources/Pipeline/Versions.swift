import Foundation
import Formats

/// A successful build's final outputs, with everything needed to say how they were made.
///
/// The id is the content hash of the final outputs, so rebuilding an identical pipeline
/// gives the same id. Rebuilding a version refreshes `builtAt` and `stages` (the latest
/// pipeline that produced it), so `latest` and `gc --keep-last` follow what was built last
/// and gc keeps exactly the keys the next build looks up.
///
/// Format 2 stores stage parameters and statistics as JSON values. Records written by
/// earlier releases (no `format` field) held them as strings of canonical JSON; they are
/// the user's history, so they are still read.
public struct DatasetVersion: Codable, Sendable, Equatable {
    public static let currentFormat = 2
    public var format: Int = DatasetVersion.currentFormat
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
        /// Parameter → value as configured.
        public var parameters: [String: JSONValue]
        public var contentID: ContentDigest
        public var artifacts: [String: ContentDigest]
        public var rowsIn: Int?
        public var rowsOut: Int?
        /// Seconds the stage took when it last ran (a cached stage keeps its run's time).
        public var seconds: Double?
        /// The stage's statistics (as in its run record).
        public var stats: JSONValue?

        public init(name: String, kind: String, version: Int, key: ContentDigest, inputs: [String],
                    parameters: [String: JSONValue], contentID: ContentDigest, artifacts: [String: ContentDigest],
                    rowsIn: Int?, rowsOut: Int?, seconds: Double? = nil, stats: JSONValue? = nil) {
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

        private enum CodingKeys: String, CodingKey {
            case name, kind, version, key, inputs, parameters, contentID, artifacts, rowsIn, rowsOut, seconds, stats
        }

        /// The decoder's `userInfo[.legacyStageEntry]` says the record is format 1.
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            name = try c.decode(String.self, forKey: .name)
            kind = try c.decode(String.self, forKey: .kind)
            version = try c.decode(Int.self, forKey: .version)
            key = try c.decode(ContentDigest.self, forKey: .key)
            inputs = try c.decode([String].self, forKey: .inputs)
            contentID = try c.decode(ContentDigest.self, forKey: .contentID)
            artifacts = try c.decode([String: ContentDigest].self, forKey: .artifacts)
            rowsIn = try c.decodeIfPresent(Int.self, forKey: .rowsIn)
            rowsOut = try c.decodeIfPresent(Int.self, forKey: .rowsOut)
            seconds = try c.decodeIfPresent(Double.self, forKey: .seconds)
            if decoder.userInfo[.legacyStageEntry] as? Bool == true {
                parameters = try c.decode([String: String].self, forKey: .parameters).mapValues { text in
                    try JSONValue(canonicalText: text, in: c, key: .parameters)
                }
                stats = try c.decodeIfPresent(String.self, forKey: .stats).map { text in
                    try JSONValue(canonicalText: text, in: c, key: .stats)
                }
            } else {
                parameters = try c.decode([String: JSONValue].self, forKey: .parameters)
                stats = try c.decodeIfPresent(JSONValue.self, forKey: .stats)
            }
        }
    }

    private enum CodingKeys: String, CodingKey {
        case format, id, createdAt, builtAt, blendsetVersion, pipelineFile, stages, outputs
    }

    public init(id: ContentDigest, createdAt: String, builtAt: String?, blendsetVersion: String, pipelineFile: String,
                stages: [StageEntry], outputs: [String: ContentDigest]) {
        self.id = id
        self.createdAt = createdAt
        self.builtAt = builtAt
        self.blendsetVersion = blendsetVersion
        self.pipelineFile = pipelineFile
        self.stages = stages
        self.outputs = outputs
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let format = try c.decodeIfPresent(Int.self, forKey: .format) ?? 1
        guard format <= DatasetVersion.currentFormat else {
            throw DecodingError.dataCorruptedError(forKey: .format, in: c,
                debugDescription: "version record format \(format) is newer than this blendset reads (\(DatasetVersion.currentFormat)); upgrade blendset")
        }
        id = try c.decode(ContentDigest.self, forKey: .id)
        createdAt = try c.decode(String.self, forKey: .createdAt)
        builtAt = try c.decodeIfPresent(String.self, forKey: .builtAt)
        blendsetVersion = try c.decode(String.self, forKey: .blendsetVersion)
        pipelineFile = try c.decode(String.self, forKey: .pipelineFile)
        outputs = try c.decode([String: ContentDigest].self, forKey: .outputs)
        if format == 1 {
            // Stage entries cannot see the record's format field: decode them again with a flag.
            stages = try c.decode([LegacyStageEntry].self, forKey: .stages).map(\.entry)
        } else {
            stages = try c.decode([StageEntry].self, forKey: .stages)
        }
    }

    /// A format-1 stage entry, whose parameters and statistics are strings of canonical JSON.
    private struct LegacyStageEntry: Decodable {
        var entry: StageEntry
        init(from decoder: any Decoder) throws {
            entry = try StageEntry(from: LegacyDecoder(base: decoder))
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

extension CodingUserInfoKey {
    static let legacyStageEntry = CodingUserInfoKey(rawValue: "blendset.legacyStageEntry")!
}

/// A decoder that adds the legacy flag to another decoder's user info.
private struct LegacyDecoder: Decoder {
    let base: any Decoder
    var codingPath: [any CodingKey] { base.codingPath }
    var userInfo: [CodingUserInfoKey: Any] {
        var info = base.userInfo
        info[.legacyStageEntry] = true
        return info
    }
    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> { try base.container(keyedBy: type) }
    func unkeyedContainer() throws -> any UnkeyedDecodingContainer { try base.unkeyedContainer() }
    func singleValueContainer() throws -> any SingleValueDecodingContainer { try base.singleValueContainer() }
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
        let version: DatasetVersion
        do {
            let data = try Data(contentsOf: URL(fileURLWithPath: p))
            _ = try RecordSeal.verified(Array(data), path: p, what: "version record")
            version = try JSONDecoder().decode(DatasetVersion.self, from: data)
        } catch let error as PipelineError {
            throw error
        } catch {
            throw .cacheCorrupt(path: p, message: "is a version record that does not parse (\(error))")
        }
        guard version.id == id else {
            throw .cacheCorrupt(path: p, message: "is the record of version \(version.shortID), not of the \(id.hex.prefix(12)) it is stored under")
        }
        // A stage's content id is the hash of its artifact ids: an edited artifact id shows.
        if let s = version.stages.first(where: { Builder.contentID($0.artifacts) != $0.contentID }) {
            throw .cacheCorrupt(path: p, message: "is a version record whose stage '\(s.name)' lists artifact ids that do not match its content id (edited on disk?)")
        }
        return version
    }

    public func write(_ version: DatasetVersion) throws(PipelineError) {
        try writeJSON(version, to: path(version.id))
    }

    /// All readable versions, most recently built first (ties broken by id, so the order is
    /// stable). A damaged record does not wedge every command: it is left out, with a
    /// warning on stderr naming it. `gc` uses `scan()` and refuses to run past one.
    public func all() throws(PipelineError) -> [DatasetVersion] {
        let listing = scan()
        for d in listing.damaged { warnAboutCache("skipping a damaged version record: \(d)") }
        return listing.versions
    }

    /// The readable versions (newest first) and a `cacheCorrupt` error for each record that is not.
    public func scan() -> (versions: [DatasetVersion], damaged: [PipelineError]) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: layout.versions)) ?? []
        var result: [DatasetVersion] = []
        var damaged: [PipelineError] = []
        for n in names.sorted() where n.hasSuffix(".json") {
            guard let id = ContentDigest(hex: String(n.dropLast(5))) else { continue }
            do throws(PipelineError) {
                if let v = try version(id) { result.append(v) }
            } catch {
                damaged.append(error)
            }
        }
        return (result.sorted { ($0.lastBuilt, $0.id.hex) > ($1.lastBuilt, $1.id.hex) }, damaged)
    }
}

/// A warning about the cache for a command that goes on (e.g. a damaged record it skips).
public func warnAboutCache(_ message: String) {
    FileHandle.standardError.write(Data("blendset: warning: \(message); run 'blendset check --repair' to move it aside\n".utf8))
}
