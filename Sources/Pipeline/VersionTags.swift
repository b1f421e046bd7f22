import Foundation
import Formats

/// Why a version reference, tag or version operation failed. Each message says what to
/// type instead.
public enum VersionError: Error, Sendable, CustomStringConvertible, Equatable {
    /// The cache holds no dataset version yet.
    case noVersions(cache: String)
    /// A reference that is no tag, no id prefix and not `latest[~N]`.
    case unknownVersion(reference: String, tags: [String])
    /// An id prefix shared by several versions.
    case ambiguousVersion(reference: String, candidates: [String])
    /// `latest~N` beyond the oldest version.
    case notThatManyVersions(reference: String, count: Int)
    case invalidTagName(name: String, reason: String)
    /// The tag exists and points elsewhere; `--force` moves it.
    case tagExists(name: String, id: String)
    case noSuchTag(name: String, tags: [String])
    /// A stage that the version does not have (e.g. `export --stage`).
    case unknownStage(stage: String, version: String, stages: [String])
    /// A version's artifact is gone (removed by hand or by an older gc).
    case missingArtifact(version: String, stage: String, artifact: String)
    /// The version has nothing the command can work on (e.g. no final table).
    case unsupported(String)

    public var description: String {
        switch self {
        case let .noVersions(cache):
            return "no dataset versions in \(cache) yet; run 'blendset build' first (or pass --cache DIR)"
        case let .unknownVersion(reference, tags):
            let known = tags.isEmpty ? "there are no tags" : "tags: \(tags.joined(separator: ", "))"
            return "no version '\(reference)': expected an id prefix (4+ hex digits), a tag, 'latest' or 'latest~N'; \(known). See 'blendset versions'"
        case let .ambiguousVersion(reference, candidates):
            return "the id prefix '\(reference)' matches \(candidates.count) versions (\(candidates.joined(separator: ", "))); give more digits"
        case let .notThatManyVersions(reference, count):
            return count == 1 ? "no version '\(reference)': the cache has one version, 'latest'"
                              : "no version '\(reference)': the cache has \(count) versions, so latest~\(count - 1) is the oldest"
        case let .invalidTagName(name, reason):
            return "invalid tag name '\(name)': \(reason)"
        case let .tagExists(name, id):
            return "tag '\(name)' already points at \(id); use --force to move it, or --delete to remove it"
        case let .noSuchTag(name, tags):
            return "no tag '\(name)'" + (tags.isEmpty ? "; there are no tags" : "; tags: \(tags.joined(separator: ", "))")
        case let .unknownStage(stage, version, stages):
            return "version \(version) has no stage '\(stage)'; its stages: \(stages.joined(separator: ", "))"
        case let .missingArtifact(version, stage, artifact):
            return "version \(version): the '\(artifact)' artifact of stage '\(stage)' is missing from the cache (was it removed by gc?); rebuild that configuration with 'blendset build'"
        case let .unsupported(message):
            return message
        }
    }
}

extension CacheLayout {
    /// `cache/tags/<name>`: one small file per tag holding the version id.
    public var tags: String { root + "/tags" }
    public func tag(_ name: String) -> String { tags + "/" + name }
}

/// Named versions: `cache/tags/<name>` holds a version id. Tags are written atomically.
public struct TagStore: Sendable {
    public let layout: CacheLayout
    public init(layout: CacheLayout) { self.layout = layout }

    /// Letters, digits, `.`, `_`, `-`; not starting with `.` or `-`; not `latest…` (reserved
    /// for references) and not all hex digits (it would read as an id prefix).
    public static func validate(_ name: String) throws(VersionError) {
        guard !name.isEmpty, name.count <= 100 else { throw .invalidTagName(name: name, reason: "use 1 to 100 characters") }
        guard name.unicodeScalars.allSatisfy({ ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) || "._-".unicodeScalars.contains($0) }) else {
            throw .invalidTagName(name: name, reason: "use only letters, digits, '.', '_' and '-'")
        }
        guard !name.hasPrefix("."), !name.hasPrefix("-") else { throw .invalidTagName(name: name, reason: "it must not start with '.' or '-'") }
        guard !name.hasPrefix("latest") else { throw .invalidTagName(name: name, reason: "'latest' and 'latest~N' are reserved for the newest versions") }
        guard !name.allSatisfy(\.isHexDigit) else {
            throw .invalidTagName(name: name, reason: "a name made only of hex digits would read as a version id prefix")
        }
    }

    /// Tag name → version id, sorted by name. Unreadable tag files are skipped.
    public func all() -> [(name: String, id: ContentDigest)] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: layout.tags)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
        return names.compactMap { n in get(n).map { (n, $0) } }
    }

    /// Every tag file that does not hold a version id, as a `cacheCorrupt` error naming it.
    public func damaged() -> [PipelineError] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: layout.tags)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
        return names.filter { get($0) == nil }.map { n in
            .cacheCorrupt(path: layout.tag(n), message: "is a tag file that does not hold a version id")
        }
    }

    public func get(_ name: String) -> ContentDigest? {
        guard let text = try? String(contentsOfFile: layout.tag(name), encoding: .utf8) else { return nil }
        return ContentDigest(hex: text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Tags on each version id.
    public func byVersion() -> [ContentDigest: [String]] {
        var out: [ContentDigest: [String]] = [:]
        for (n, id) in all() { out[id, default: []].append(n) }
        return out
    }

    /// Points `name` at `id`. An existing tag pointing elsewhere moves only with `force`.
    public func set(_ name: String, to id: ContentDigest, force: Bool) throws {
        try Self.validate(name)
        if let old = get(name), old != id, !force { throw VersionError.tagExists(name: name, id: String(old.hex.prefix(12))) }
        do { try AtomicFile.write(Array((id.hex + "\n").utf8), to: layout.tag(name)) } catch { throw PipelineError.io(error.description) }
    }

    /// Removes a tag and returns the version it pointed at.
    @discardableResult
    public func delete(_ name: String) throws -> ContentDigest {
        guard let id = get(name) else { throw VersionError.noSuchTag(name: name, tags: all().map(\.name)) }
        guard unlink(layout.tag(name)) == 0 else { throw PipelineError.io("cannot remove the tag file \(layout.tag(name)): \(String(cString: strerror(errno)))") }
        return id
    }
}

extension VersionStore {
    /// Resolves a reference: `latest`, `latest~N` (N builds before the latest), a tag, or
    /// a unique prefix (4+ hex digits) of a version id. Tags win over id prefixes.
    public func resolve(_ reference: String) throws -> DatasetVersion {
        let versions = try all()
        guard !versions.isEmpty else { throw VersionError.noVersions(cache: layout.root) }
        let tags = TagStore(layout: layout)
        if reference == "latest" || reference.hasPrefix("latest~") {
            let n = reference == "latest" ? 0 : Int(reference.dropFirst("latest~".count))
            guard let n, n >= 0 else { throw VersionError.unknownVersion(reference: reference, tags: tags.all().map(\.name)) }
            guard n < versions.count else { throw VersionError.notThatManyVersions(reference: reference, count: versions.count) }
            return versions[n]
        }
        if let id = tags.get(reference) {
            guard let v = versions.first(where: { $0.id == id }) else {
                throw VersionError.unsupported("tag '\(reference)' points at \(id.hex.prefix(12)), which is no longer in the cache; delete it with 'blendset tag --delete \(reference)'")
            }
            return v
        }
        let prefix = reference.lowercased()
        guard prefix.count >= 4, prefix.allSatisfy(\.isHexDigit) else {
            throw VersionError.unknownVersion(reference: reference, tags: tags.all().map(\.name))
        }
        let matches = versions.filter { $0.id.hex.hasPrefix(prefix) }
        if matches.count > 1 { throw VersionError.ambiguousVersion(reference: reference, candidates: matches.map(\.shortID)) }
        guard let v = matches.first else { throw VersionError.unknownVersion(reference: reference, tags: tags.all().map(\.name)) }
        return v
    }

    /// `latest` or `latest~N` for a version, by build order.
    public func relativeName(of id: ContentDigest, in versions: [DatasetVersion]) -> String? {
        guard let i = versions.firstIndex(where: { $0.id == id }) else { return nil }
        return i == 0 ? "latest" : "latest~\(i)"
    }
}
