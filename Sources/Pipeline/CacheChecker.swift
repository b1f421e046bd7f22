import Foundation
import Formats

/// Reads a whole cache back, like restic's and borg's `check`: every object against its
/// content id, every run record (parses, its key is its file name, its artifacts are
/// present), every memo pack's record checksums, every version record (parses, its id is
/// its file name, the objects it names are present), every tag and every head.
///
/// `repair` moves what is damaged to `cache/quarantine/` (a memo pack's good records are
/// copied to a new pack first), so the next build recomputes it. A version record whose
/// objects are missing is history and is not moved: building that configuration again
/// brings the objects back.
public struct CacheChecker: Sendable {
    public struct Finding: Sendable {
        public enum Kind: String, Sendable { case object, run, memo, version, tag, head }
        public var kind: Kind
        public var path: String
        public var problem: String
        /// Whether `repair` moves the file aside (false: a build must bring back what it needs).
        public var repairable: Bool
        /// Where `repair` moved it.
        public var movedTo: String?
    }

    public struct Report: Sendable {
        public var checked: [(kind: Finding.Kind, count: Int)] = []
        public var findings: [Finding] = []
        public var repaired: Bool = false
        /// Nothing damaged (or, after a repair, nothing left that a repair could not move).
        public var isClean: Bool { findings.allSatisfy { repaired && $0.movedTo != nil } }
    }

    public let layout: CacheLayout
    public init(cacheRoot: String) { layout = CacheLayout(root: cacheRoot) }

    /// The `check` command's help.
    public static let help = """
        Hashes every object, parses every run record, version record, tag and head, and verifies every
        memo pack checksum. Exits 0 when nothing is damaged, 70 otherwise (with --repair: 70 if damage
        is left that a build must bring back). --repair moves damaged files to cache/quarantine/
        (nothing is deleted) so that the next 'blendset build' recomputes them.
        """

    /// Checks the cache; with `repair`, under the build lock, quarantines the damage.
    /// `progress` receives a short line now and then while objects are hashed.
    public func check(repair: Bool, wait: Bool = true, onWait: (String) -> Void = { _ in },
                      progress: (String) -> Void = { _ in }) throws -> Report {
        guard FileManager.default.fileExists(atPath: layout.root) else {
            throw PipelineError.io("there is no cache at \(layout.root); pass --cache DIR")
        }
        let lock = repair ? try BuildLock(cacheRoot: layout.root, wait: wait, onWait: onWait) : nil
        defer { withExtendedLifetime(lock) {} }
        var report = Report()
        let fm = FileManager.default
        func list(_ folder: String) -> [String] {
            ((try? fm.contentsOfDirectory(atPath: folder)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
        }
        func damage(_ kind: Finding.Kind, _ path: String, _ problem: String, repairable: Bool = true) {
            report.findings.append(Finding(kind: kind, path: path, problem: problem, repairable: repairable))
        }

        // Objects: the SHA-256 of the bytes is the name.
        let artifacts = ArtifactStore(layout: layout)
        var objects: [(ContentDigest, String)] = []
        for shard in list(layout.objects) {
            for name in list(layout.objects + "/" + shard) {
                if let id = ContentDigest(hex: shard + name) { objects.append((id, layout.objects + "/" + shard + "/" + name)) }
            }
        }
        var present = Set<ContentDigest>()
        var lastReport = Date()
        for (i, (id, path)) in objects.enumerated() {
            do throws(PipelineError) {
                _ = try artifacts.read(id)
                present.insert(id)
            } catch {
                damage(.object, path, Self.problem(error))
            }
            if Date().timeIntervalSince(lastReport) > 1 {
                progress("checked \(i + 1) of \(objects.count) objects")
                lastReport = Date()
            }
        }
        report.checked.append((.object, objects.count))
        func missing(_ ids: some Sequence<ContentDigest>) -> [ContentDigest] { ids.filter { !present.contains($0) } }

        // Run records.
        let records = RunRecordStore(layout: layout)
        let runNames = list(layout.runs).filter { $0.hasSuffix(".json") }
        for name in runNames {
            guard let key = ContentDigest(hex: String(name.dropLast(5))) else { continue }
            do throws(PipelineError) {
                guard let r = try records.record(for: key) else { continue }
                if let gone = missing(r.artifacts.values).first {
                    damage(.run, layout.run(key), "names artifact \(gone.hex.prefix(12)) of stage '\(r.stage)', which is missing or damaged")
                }
            } catch {
                damage(.run, layout.run(key), Self.problem(error))
            }
        }
        report.checked.append((.run, runNames.count))

        // Memo packs: every record's checksum.
        var packs = 0
        for namespace in list(layout.memo) {
            for name in list(layout.memo + "/" + namespace) where name.hasSuffix(".pack") {
                packs += 1
                let path = layout.memo + "/" + namespace + "/" + name
                guard let bytes = try? readFileBytes(atPath: path) else { damage(.memo, path, "cannot be read"); continue }
                let scan = MemoStore.scan(bytes)
                if scan.damaged > 0 { damage(.memo, path, "has \(scan.damaged) record(s) whose checksum fails") }
            }
        }
        report.checked.append((.memo, packs))

        // Version records and the objects they name.
        let versions = VersionStore(layout: layout)
        let listing = versions.scan()
        for error in listing.damaged { damage(.version, Self.path(error), Self.problem(error)) }
        for v in listing.versions {
            if let gone = missing(v.allArtifacts).first {
                damage(.version, versions.path(v.id), "names artifact \(gone.hex.prefix(12)), which is missing or damaged; build that configuration again to bring it back",
                       repairable: false)
            }
        }
        report.checked.append((.version, listing.versions.count + listing.damaged.count))

        // Tags: a version id, of a version whose record is here.
        let tags = TagStore(layout: layout)
        for error in tags.damaged() { damage(.tag, Self.path(error), Self.problem(error)) }
        let known = Set(listing.versions.map(\.id)).union(listing.damaged.compactMap { ContentDigest(hex: String(URL(fileURLWithPath: Self.path($0)).lastPathComponent.prefix(64))) })
        let allTags = tags.all()
        for (name, id) in allTags where !known.contains(id) {
            damage(.tag, layout.tag(name), "points at version \(id.hex.prefix(12)), which has no record in the cache")
        }
        report.checked.append((.tag, allTags.count + tags.damaged().count))

        // Heads: a stage key each.
        let heads = list(layout.heads)
        for name in heads {
            let path = layout.heads + "/" + name
            let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
            if let key = ContentDigest(hex: text.trimmingCharacters(in: .whitespacesAndNewlines)), text.hasSuffix("\n") {
                if !fm.fileExists(atPath: layout.run(key)) { damage(.head, path, "names stage key \(key.hex.prefix(12)), which has no run record") }
            } else {
                damage(.head, path, "does not hold a stage key")
            }
        }
        report.checked.append((.head, heads.count))

        guard repair else { return report }
        report.repaired = true
        let quarantine = Quarantine(layout: layout)
        for i in report.findings.indices where report.findings[i].repairable {
            let f = report.findings[i]
            guard fm.fileExists(atPath: f.path) else { continue }
            if f.kind == .memo {
                let memo = try MemoStore(directory: URL(fileURLWithPath: f.path).deletingLastPathComponent().path, quarantine: quarantine)
                report.findings[i].movedTo = memo.quarantined.first { $0.pack == f.path }?.movedTo
            } else {
                report.findings[i].movedTo = try quarantine.move(f.path)
            }
        }
        return report
    }

    static func path(_ error: PipelineError) -> String {
        if case .cacheCorrupt(let path, _) = error { return path }
        return ""
    }

    static func problem(_ error: PipelineError) -> String {
        if case .cacheCorrupt(_, let message) = error { return message }
        return error.description
    }
}

extension CacheChecker.Report {
    /// One line per damaged file, then a summary.
    public var text: String {
        var out = findings.map { f in
            "damaged \(f.kind.rawValue): \(f.path) \(f.problem)" + (f.movedTo.map { "\n  moved to \($0)" } ?? "")
        }
        out.append("checked " + checked.map { "\($0.count) \($0.kind.rawValue)\($0.kind == .memo ? " pack" : "")\($0.count == 1 ? "" : "s")" }.joined(separator: ", "))
        if findings.isEmpty {
            out.append("no damage found")
        } else if repaired {
            let moved = findings.filter { $0.movedTo != nil }.count
            out.append("\(findings.count) damaged file(s); moved \(moved) to quarantine; 'blendset build' recomputes what they held")
        } else {
            out.append("\(findings.count) damaged file(s); 'blendset check --repair' moves them to quarantine, then 'blendset build' recomputes them")
        }
        return out.joined(separator: "\n")
    }

    /// `{"clean", "repaired", "checked": {kind: count}, "damaged": [{"kind", "path", "problem", "moved_to"}]}`.
    public var json: JSONValue {
        .object([
            ("clean", .bool(isClean)), ("repaired", .bool(repaired)),
            ("checked", .object(checked.map { ($0.kind.rawValue, .int($0.count)) })),
            ("damaged", .array(findings.map { f in
                .object([("kind", .string(f.kind.rawValue)), ("path", .string(f.path)), ("problem", .string(f.problem)),
                         ("moved_to", f.movedTo.map { .string($0) } ?? .null)])
            })),
        ])
    }
}

/// `check` found damage (exit 70 through the default mapping); the report was printed.
public struct CacheDamageFound: Error, Sendable, CustomStringConvertible {
    public var report: CacheChecker.Report
    public init(_ report: CacheChecker.Report) { self.report = report }
    public var description: String {
        let left = report.findings.filter { $0.movedTo == nil }.count
        return report.repaired ? "\(left) damaged file(s) could not be moved aside; build their configuration again (see above)"
                               : "the cache holds \(report.findings.count) damaged file(s) (see above); run 'blendset check --repair'"
    }
}
