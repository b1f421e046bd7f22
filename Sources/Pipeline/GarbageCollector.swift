import Foundation
import Formats

/// Removes what no kept dataset version needs: artifacts, run records (and heads naming
/// them), the records (and manifests) of versions that are not kept, and tags on them.
/// Memo entries (per-item results) go only when asked, since they are not part of any
/// version but are costly to recompute.
///
/// A kept version needs every stage's run record and every artifact of every stage, not
/// only the final table: that is what makes the next `build` of it a no-op. The versions
/// that a stored tune summary (`CacheLayout.tune`) names in `trials[].version` are always
/// kept, so its trials stay cached and their metrics readable.
public struct GarbageCollector: Sendable {
    public struct Policy: Sendable, Equatable {
        /// Keep the N most recently built versions (nil: no limit from this rule).
        public var keepLast: Int?
        /// Keep every version that has a tag.
        public var keepTagged: Bool
        /// Also remove the per-item memo.
        public var memo: Bool
        public init(keepLast: Int? = nil, keepTagged: Bool = false, memo: Bool = false) {
            self.keepLast = keepLast
            self.keepTagged = keepTagged
            self.memo = memo
        }
        /// With neither rule, every version is kept and only unreferenced files go.
        var keepsEverything: Bool { keepLast == nil && !keepTagged }
    }

    /// What a collection removed (or, in a dry run, would remove).
    public struct Report: Sendable {
        public struct Category: Sendable {
            public var files = 0
            public var bytes: Int64 = 0
        }
        public var kept: [DatasetVersion] = []
        public var removedVersions: [DatasetVersion] = []
        public var removedTags: [String] = []
        public var objects = Category()
        public var runs = Category()
        public var versions = Category()
        public var memo = Category()
        public var temporaries = Category()
        public var dryRun = false
        /// Every file removed (or, in a dry run, that a real run would remove), in order.
        public var paths: [String] = []
        public var bytesFreed: Int64 { objects.bytes + runs.bytes + versions.bytes + memo.bytes + temporaries.bytes }
    }

    public let layout: CacheLayout
    public init(cacheRoot: String) { layout = CacheLayout(root: cacheRoot) }

    /// Collects under the build lock, so no build writes while files are removed.
    public func collect(_ policy: Policy, dryRun: Bool, wait: Bool = true, onWait: (String) -> Void = { _ in }) throws -> Report {
        guard FileManager.default.fileExists(atPath: layout.root) else { throw VersionError.noVersions(cache: layout.root) }
        let lock = try BuildLock(cacheRoot: layout.root, wait: wait, onWait: onWait)
        defer { withExtendedLifetime(lock) {} }

        var report = Report()
        report.dryRun = dryRun
        let store = VersionStore(layout: layout)
        // Deciding what to keep from a partial view could delete what a damaged tag or
        // record protects: refuse until `check --repair` (or the user) has dealt with it.
        let listing = store.scan()
        let tags = TagStore(layout: layout)
        if let damaged = listing.damaged.first ?? tags.damaged().first { throw damaged }
        let versions = listing.versions
        let known = Set(versions.map(\.id))
        if let (name, id) = tags.all().first(where: { !known.contains($0.id) }) {
            throw PipelineError.cacheCorrupt(path: layout.tag(name), message: "is a tag on version \(id.hex.prefix(12)), which has no readable record; gc keeps nothing it cannot see. Delete the tag ('blendset tag --delete \(name)') or restore the record")
        }
        let tagged = Set(tags.all().map(\.id))
        let tuned = tuneReferences()
        for (i, v) in versions.enumerated() {
            let keep = policy.keepsEverything || (policy.keepLast.map { i < $0 } ?? false) || (policy.keepTagged && tagged.contains(v.id))
                || tuned.contains(v.id)
            if keep { report.kept.append(v) } else { report.removedVersions.append(v) }
        }
        let neededArtifacts = report.kept.reduce(into: Set<ContentDigest>()) { $0.formUnion($1.allArtifacts) }
        let neededKeys = Set(report.kept.flatMap { $0.stages.map(\.key) })

        var removedPaths: [String] = []
        func remove(_ path: String, into category: inout Report.Category) {
            var info = stat()
            guard lstat(path, &info) == 0 else { return }
            if !dryRun && unlink(path) != 0 { return }
            removedPaths.append(path)
            category.files += 1
            category.bytes += Int64(info.st_size)
        }

        // Version records first: a crash midway then leaves unneeded files, never a
        // version record whose files are gone.
        let removedIDs = Set(report.removedVersions.map(\.id))
        for v in report.removedVersions {
            remove(store.path(v.id), into: &report.versions)
            remove(store.manifestPath(v.id), into: &report.versions)
        }
        for (name, id) in tags.all() where removedIDs.contains(id) {
            report.removedTags.append(name)
            if dryRun || unlink(layout.tag(name)) == 0 { removedPaths.append(layout.tag(name)) }
        }
        for name in (try? FileManager.default.contentsOfDirectory(atPath: layout.runs)) ?? [] {
            if name.hasPrefix(".tmp-") { remove(layout.runs + "/" + name, into: &report.temporaries); continue }
            guard name.hasSuffix(".json"), let key = ContentDigest(hex: String(name.dropLast(5))) else { continue }
            if !neededKeys.contains(key) { remove(layout.runs + "/" + name, into: &report.runs) }
        }
        // A head naming a removed record would only look damaged to `check`.
        for name in (try? FileManager.default.contentsOfDirectory(atPath: layout.heads)) ?? [] where !name.hasPrefix(".") {
            let text = (try? String(contentsOfFile: layout.heads + "/" + name, encoding: .utf8)) ?? ""
            if let key = ContentDigest(hex: text.trimmingCharacters(in: .whitespacesAndNewlines)), !neededKeys.contains(key) {
                remove(layout.heads + "/" + name, into: &report.runs)
            }
        }
        for shard in (try? FileManager.default.contentsOfDirectory(atPath: layout.objects)) ?? [] {
            let folder = layout.objects + "/" + shard
            for name in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] {
                if name.hasPrefix(".tmp-") { remove(folder + "/" + name, into: &report.temporaries); continue }
                // Anything that is not an object name is left alone: gc removes only what it knows.
                guard let id = ContentDigest(hex: shard + name) else { continue }
                if !neededArtifacts.contains(id) { remove(folder + "/" + name, into: &report.objects) }
            }
            if !dryRun { _ = rmdir(folder) }   // only succeeds when the shard is empty
        }
        if policy.memo, let enumerator = FileManager.default.enumerator(atPath: layout.memo) {
            var files: [String] = []
            while let relative = enumerator.nextObject() as? String { files.append(layout.memo + "/" + relative) }
            for path in files {
                var isDirectory: ObjCBool = false
                if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue {
                    remove(path, into: &report.memo)
                }
            }
            if !dryRun {
                for path in files.reversed() { _ = rmdir(path) }
            }
        }
        report.paths = removedPaths
        return report
    }

    /// Merges each memo namespace's packs (one per writer and publish, after sharded builds)
    /// into one pack, with the good records of abandoned temporaries (`MemoStore.compact`).
    /// Takes the cache lock exclusively; shards on other hosts are not seen by it, so run
    /// this only when no shard is running. Never run as a side effect of another command.
    public func compactMemo(dryRun: Bool, wait: Bool = true, onWait: (String) -> Void = { _ in }) throws -> [(namespace: String, MemoStore.Compaction)] {
        guard FileManager.default.fileExists(atPath: layout.root) else { throw VersionError.noVersions(cache: layout.root) }
        let lock = try BuildLock(cacheRoot: layout.root, wait: wait, onWait: onWait)
        defer { withExtendedLifetime(lock) {} }
        var out: [(String, MemoStore.Compaction)] = []
        for name in ((try? FileManager.default.contentsOfDirectory(atPath: layout.memo)) ?? []).sorted() where !name.hasPrefix(".") {
            out.append((name, try MemoStore.compact(directory: layout.memo + "/" + name, dryRun: dryRun)))
        }
        return out
    }

    /// The versions named by the tune summaries; a file that does not parse names none.
    func tuneReferences() -> Set<ContentDigest> {
        var ids = Set<ContentDigest>()
        for name in (try? FileManager.default.contentsOfDirectory(atPath: layout.tune)) ?? [] where name.hasSuffix(".json") {
            guard let bytes = try? readFileBytes(atPath: layout.tune + "/" + name), let json = try? JSONParser.parse(bytes) else { continue }
            for trial in json["trials"]?.arrayValue ?? [] {
                if let hex = trial["version"]?.stringValue, let id = ContentDigest(hex: hex) { ids.insert(id) }
            }
        }
        return ids
    }
}
