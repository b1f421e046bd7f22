import Foundation
import Testing

/// Issue 10: whatever byte of the cache is damaged, blendset serves no wrong data, a build
/// recovers (or exits 70 naming the file), and `check --repair` plus a build restores the
/// clean version id.
@Suite("blendset CLI: cache you can trust", .serialized)
struct CacheTrustCLITests {
    static let fm = FileManager.default

    func flip(_ path: String) throws {
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes[bytes.count / 2] ^= 0x01
        try bytes.write(to: URL(fileURLWithPath: path))
    }

    func copy(_ from: String, _ to: String) throws {
        if Self.fm.fileExists(atPath: to) { try Self.fm.removeItem(atPath: to) }
        try Self.fm.copyItem(atPath: from, toPath: to)
    }

    func record(_ cache: String, key: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: cache + "/runs/\(key).json"))) as? [String: Any] ?? [:]
    }

    func key(_ json: [String: Any], _ stage: String) -> String {
        ((json["stages"] as? [[String: Any]] ?? []).first { $0["name"] as? String == stage }?["key"] as? String) ?? ""
    }

    func object(_ cache: String, _ id: String) -> String { cache + "/objects/" + id.prefix(2) + "/" + id.dropFirst(2) }

    /// The file of each kind to damage in a built cache.
    func targets(_ cache: String, _ json: [String: Any], version: String) throws -> [(kind: String, path: String)] {
        let select = try #require((try record(cache, key: key(json, "select"))["artifacts"] as? [String: String])?["table"])
        let memo = try #require(Self.fm.subpaths(atPath: cache + "/memo")?.filter { $0.hasSuffix(".pack") }.sorted().first)
        return [
            ("object", object(cache, select)),
            ("run record", cache + "/runs/\(key(json, "split")).json"),
            ("version record", cache + "/versions/\(version).json"),
            ("tag", cache + "/tags/keep"),
            ("memo pack", cache + "/memo/" + memo),
            ("head", cache + "/heads/landmarks"),
        ]
    }

    @Test("a flipped byte in each kind of cache file: build gives the clean id or exits 70 naming it; check --repair then build gives the clean id")
    func flippedByteInEachKind() throws {
        let root = CLI.folder()
        let clean = root + "/clean"
        let (r, json) = try CLI.buildJSON(cache: clean)
        try #require(r.status == 0, "\(r.stderr)")
        let version = try #require(json["version"] as? String)
        try #require(try CLI.run(["tag", "keep", "latest", "--cache", clean, "--pipeline", CLI.pipeline]).status == 0)
        #expect(try CLI.run(["check", "--cache", clean]).status == 0)

        for (kind, cleanPath) in try targets(clean, json, version: version) {
            let work = root + "/work"
            let path = work + cleanPath.dropFirst(clean.count)
            // 1. Build straight on the damaged cache.
            try copy(clean, work)
            try flip(path)
            let (b, bj) = try CLI.buildJSON(cache: work)
            if b.status == 0 {
                #expect(bj["version"] as? String == version, "\(kind): build gave another version id")
            } else {
                #expect(b.status == 70 && b.stderr.contains(path), "\(kind): exit \(b.status), \(b.stderr)")
            }
            // 2. check reports it, --repair moves it aside, and a build gives the clean id.
            try copy(clean, work)
            try flip(path)
            let check = try CLI.run(["check", "--json", "--cache", work])
            #expect(check.status == 70 && check.stdout.contains(path), "\(kind): check did not name it: \(check.stdout)")
            let repair = try CLI.run(["check", "--repair", "--cache", work])
            #expect(!Self.fm.fileExists(atPath: path) || kind == "memo pack", "\(kind): not moved aside: \(repair.stdout)")
            #expect(try Self.fm.contentsOfDirectory(atPath: work + "/quarantine").count >= 1, "\(kind)")
            let (after, aj) = try CLI.buildJSON(cache: work)
            #expect(after.status == 0 && aj["version"] as? String == version, "\(kind): \(after.stderr)")
        }
    }

    @Test("after swapping two object files, export, manifest, diff and show exit 70 naming the file, and build recovers")
    func swappedObjects() throws {
        let cache = CLI.folder() + "/cache"
        let (r, json) = try CLI.buildJSON(cache: cache)
        try #require(r.status == 0, "\(r.stderr)")
        let version = try #require(json["version"] as? String)
        let dataset = try #require((try record(cache, key: key(json, "dataset"))["artifacts"] as? [String: String])?["table"])
        let onehot = try #require((try record(cache, key: key(json, "onehot"))["artifacts"] as? [String: String])?["table"])
        let a = object(cache, dataset), b = object(cache, onehot)
        try Self.fm.moveItem(atPath: a, toPath: a + ".swap")
        try Self.fm.moveItem(atPath: b, toPath: a)
        try Self.fm.moveItem(atPath: a + ".swap", toPath: b)

        let common = ["--cache", cache, "--pipeline", CLI.pipeline]
        let out = CLI.folder() + "/x.npz"
        let runs: [(String, CLI.Result)] = [
            ("export", try CLI.run(["export", "--format", "npz", "--out", out] + common)),
            ("manifest", try CLI.run(["manifest"] + common)),
            ("diff", try CLI.run(["diff", "latest", "latest"] + common)),
            ("show", try CLI.run(["show", "dataset", "--set", "ingest.source=\(CLI.fixture)"] + CLI.fast + common)),
        ]
        for (name, result) in runs {
            #expect(result.status == 70 && (result.stderr.contains(a) || result.stderr.contains(b)), "\(name): exit \(result.status): \(result.stderr)")
        }
        #expect(!Self.fm.fileExists(atPath: out))

        let (rebuild, rj) = try CLI.buildJSON(cache: cache)
        #expect(rebuild.status == 0 && rj["version"] as? String == version, "\(rebuild.stderr)")
        #expect(rebuild.stderr.contains("moved to"))
        #expect(try CLI.run(["export", "--format", "npz", "--out", out] + common).status == 0)
        #expect(try CLI.run(["check"] + common).status == 0)
    }

    @Test("metrics on a damaged metrics artifact exits 70 naming it (it used to say 'missing', 66); build repairs it")
    func damagedMetrics() throws {
        let cache = CLI.folder() + "/cache"
        let (r, json) = try CLI.buildJSON(cache: cache)
        try #require(r.status == 0, "\(r.stderr)")
        let id = try #require((try record(cache, key: key(json, "train"))["artifacts"] as? [String: String])?["metrics"])
        let path = object(cache, id)
        try flip(path)
        let common = ["--cache", cache, "--pipeline", CLI.pipeline]
        let metrics = try CLI.run(["metrics"] + common)
        #expect(metrics.status == 70 && metrics.stderr.contains(path), "\(metrics.status): \(metrics.stderr)")
        #expect(try CLI.buildJSON(cache: cache).0.status == 0)
        #expect(try CLI.run(["metrics"] + common).status == 0)
    }

    @Test("the same source under another file name gives the id a clean cache gives, whatever the cache held")
    func sourceNameDoesNotLeakFromHistory() throws {
        let dir = CLI.folder()
        let renamed = dir + "/renamed.csv"
        try Self.fm.copyItem(atPath: CLI.fixture, toPath: renamed)
        // The ingest table records its source's file name; this pipeline's outputs carry it.
        let pipeline = dir + "/p.json"
        try Data(#"{ "version": 1, "stages": [ { "name": "ingest", "kind": "ingest" }, { "name": "select", "kind": "select", "inputs": ["ingest"] } ] }"#.utf8)
            .write(to: URL(fileURLWithPath: pipeline))
        func versionID(_ cache: String, _ source: String) throws -> String? {
            let r = try CLI.run(["build", "--json", "--pipeline", pipeline, "--cache", dir + "/" + cache, "--set", "ingest.source=\(source)"])
            #expect(r.status == 0, "\(r.stderr)")
            return ((try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8))) as? [String: Any])?["version"] as? String
        }
        _ = try versionID("shared", CLI.fixture)
        let afterHistory = try versionID("shared", renamed)
        let fresh = try versionID("fresh", renamed)
        #expect(afterHistory != nil && afterHistory == fresh)
        // And the folder the source sits in does not matter.
        try Self.fm.createDirectory(atPath: dir + "/elsewhere", withIntermediateDirectories: true)
        try Self.fm.copyItem(atPath: renamed, toPath: dir + "/elsewhere/renamed.csv")
        #expect(try versionID("third", dir + "/elsewhere/renamed.csv") == fresh)
    }

    @Test("gc --dry-run lists exactly the files gc then removes; a broken tag makes gc refuse (exit 70, naming it)")
    func gcDryRunAndBrokenTag() throws {
        let cache = CLI.folder() + "/cache"
        #expect(try CLI.buildJSON(cache: cache, ["--set", "balance.per_class=40"]).0.status == 0)
        #expect(try CLI.buildJSON(cache: cache).0.status == 0)
        let common = ["--cache", cache, "--pipeline", CLI.pipeline]
        #expect(try CLI.run(["tag", "keep", "latest~1"] + common).status == 0)
        #expect(truncate(cache + "/tags/keep", 20) == 0)
        let refused = try CLI.run(["gc", "--keep-last", "1", "--keep-tagged"] + common)
        #expect(refused.status == 70 && refused.stderr.contains(cache + "/tags/keep"), "\(refused.stderr)")
        #expect(try CLI.run(["tag", "keep", "latest~1", "--force"] + common).status == 0)

        let dry = try CLI.run(["gc", "--keep-last", "1", "--dry-run", "--json"] + common)
        let dryPaths = ((try? JSONSerialization.jsonObject(with: Data(dry.stdout.utf8))) as? [String: Any])?["paths"] as? [String] ?? []
        let before = Set(try allFiles(cache))
        let real = try CLI.run(["gc", "--keep-last", "1", "--json"] + common)
        #expect(real.status == 0, "\(real.stderr)")
        let removed = before.subtracting(try allFiles(cache))
        #expect(!dryPaths.isEmpty)
        #expect(Set(dryPaths) == removed)

        // A truncated record of another version wedges neither the listing nor the latest version.
        let (other, oj) = try CLI.buildJSON(cache: cache, ["--set", "balance.per_class=30"])
        #expect(other.status == 0)
        let (_, lj) = try CLI.buildJSON(cache: cache)
        let otherRecord = cache + "/versions/\(oj["version"] as? String ?? "").json"
        #expect(truncate(otherRecord, 20) == 0)
        let versions = try CLI.run(["versions"] + common)
        #expect(versions.status == 0 && versions.stderr.contains(otherRecord), "\(versions.stderr)")
        #expect(try CLI.run(["manifest", "latest"] + common).status == 0)
        #expect(try CLI.buildJSON(cache: cache).1["version"] as? String == lj["version"] as? String)
        #expect(Self.fm.fileExists(atPath: cache + "/quarantine") && !Self.fm.fileExists(atPath: otherRecord))
    }

    func allFiles(_ root: String) throws -> [String] {
        var out: [String] = []
        let e = Self.fm.enumerator(atPath: root)
        while let relative = e?.nextObject() as? String {
            var isDir: ObjCBool = false
            if Self.fm.fileExists(atPath: root + "/" + relative, isDirectory: &isDir), !isDir.boolValue { out.append(root + "/" + relative) }
        }
        return out
    }
}
