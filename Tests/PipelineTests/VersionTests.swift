import Foundation
import Formats
import Testing
@testable import Pipeline

@Suite("Dataset versions and tags")
struct VersionTests {
    @Test("a rebuild keeps the id and creation time, and makes the version the latest again")
    func rebuildRefreshesVersion() throws {
        let dir = temporaryFolder()
        let one = try build(chain, in: dir)
        let two = try build(chain, in: dir, overrides: ["c.suffix=\"3\""])
        let store = VersionStore(layout: CacheLayout(root: dir + "/cache"))
        #expect(try store.resolve("latest").id == two.version.id)
        let again = try build(chain, in: dir)
        #expect(again.version.id == one.version.id && again.version.createdAt == one.version.createdAt)
        #expect(try store.resolve("latest").id == one.version.id)
        #expect(try store.resolve("latest~1").id == two.version.id)
        // The record carries every stage's params, key, rows and time.
        // A no-op rebuild of the latest version does not rewrite its record.
        let path = store.path(one.version.id)
        let stamp = try FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as! Date
        Thread.sleep(forTimeInterval: 0.05)
        #expect(try build(chain, in: dir).version.builtAt == again.version.builtAt)
        #expect(try FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as! Date == stamp)
        let c = again.version.stage("c")!
        #expect(c.parameters["suffix"] == .string("2") && c.key == again.stage("c").key && c.seconds != nil && c.stats == .object([]))
    }

    @Test("references: latest, latest~N, tags and unique id prefixes; clear errors otherwise")
    func references() throws {
        let dir = temporaryFolder()
        let layout = CacheLayout(root: dir + "/cache")
        let store = VersionStore(layout: layout)
        #expect(throws: VersionError.noVersions(cache: layout.root)) { try store.resolve("latest") }
        let one = try build(chain, in: dir)
        let two = try build(chain, in: dir, overrides: ["c.suffix=\"3\""])
        #expect(try store.resolve(String(one.version.id.hex.prefix(6))).id == one.version.id)
        #expect(try store.resolve(two.version.id.hex.uppercased()).id == two.version.id)
        #expect(throws: VersionError.notThatManyVersions(reference: "latest~2", count: 2)) { try store.resolve("latest~2") }
        #expect(throws: VersionError.self) { try store.resolve("latest~x") }
        #expect(throws: VersionError.unknownVersion(reference: "abc", tags: [])) { try store.resolve("abc") }
        let tags = TagStore(layout: layout)
        try tags.set("baseline", to: one.version.id, force: false)
        #expect(try store.resolve("baseline").id == one.version.id)
        #expect(throws: VersionError.tagExists(name: "baseline", id: one.version.shortID)) {
            try tags.set("baseline", to: two.version.id, force: false)
        }
        try tags.set("baseline", to: two.version.id, force: true)
        #expect(tags.byVersion()[two.version.id] == ["baseline"])
        #expect(try tags.delete("baseline") == two.version.id)
        #expect(throws: VersionError.noSuchTag(name: "baseline", tags: [])) { try tags.delete("baseline") }
        let message = "\(VersionError.unknownVersion(reference: "zz", tags: ["v1"]))"
        #expect(message.contains("tags: v1") && message.contains("blendset versions"))
    }

    @Test("tag names that would be ambiguous or unsafe are refused", arguments: ["", "latest", "latest~1", "cafe12", "-x", ".x", "a/b", "a b"])
    func badTagNames(name: String) {
        #expect(throws: VersionError.self) { try TagStore.validate(name) }
    }

    @Test("good tag names", arguments: ["v1", "baseline", "trunc-2_digits.v3", "final"])
    func goodTagNames(name: String) throws {
        try TagStore.validate(name)
    }
}

@Suite("Garbage collection")
struct GarbageCollectorTests {
    func objectCount(_ dir: String) -> Int {
        let objects = dir + "/cache/objects"
        return ((try? FileManager.default.contentsOfDirectory(atPath: objects)) ?? []).reduce(0) {
            $0 + ((try? FileManager.default.contentsOfDirectory(atPath: objects + "/" + $1)) ?? []).count
        }
    }

    @Test("--keep-last 1 removes the other versions' results; the kept one still builds as a no-op")
    func keepLast() throws {
        let dir = temporaryFolder()
        let one = try build(chain, in: dir)
        try build(chain, in: dir, overrides: ["b.suffix=\"9\""])
        try build(chain, in: dir)   // the first version is the latest again
        let gc = GarbageCollector(cacheRoot: dir + "/cache")
        let before = objectCount(dir)
        let dry = try gc.collect(.init(keepLast: 1), dryRun: true)
        #expect(dry.removedVersions.count == 1 && dry.objects.files == 2 && dry.runs.files == 2 && dry.bytesFreed > 0)
        #expect(objectCount(dir) == before)
        let report = try gc.collect(.init(keepLast: 1), dryRun: false)
        #expect(report.kept.map(\.id) == [one.version.id])
        #expect(report.bytesFreed == dry.bytesFreed)
        #expect(objectCount(dir) == before - 2)
        #expect(try VersionStore(layout: CacheLayout(root: dir + "/cache")).all().map(\.id) == [one.version.id])
        #expect(try build(chain, in: dir).ran().isEmpty)
        // Nothing more to remove.
        #expect(try gc.collect(.init(keepLast: 1), dryRun: false).bytesFreed == 0)
    }

    @Test("a rebuild with a key-only change (same outputs) keeps the new keys, so the build stays a no-op")
    func keyOnlyChange() throws {
        let dir = temporaryFolder()
        try build(chain, in: dir)
        let changed = try build(chain, in: dir, overrides: ["b.ignored=1"])
        #expect(changed.ran() == ["b"])
        _ = try GarbageCollector(cacheRoot: dir + "/cache").collect(.init(keepLast: 1), dryRun: false)
        #expect(try build(chain, in: dir, overrides: ["b.ignored=1"]).ran().isEmpty)
    }

    @Test("--keep-tagged keeps tagged versions; tags on removed versions go with them")
    func keepTagged() throws {
        let dir = temporaryFolder()
        let layout = CacheLayout(root: dir + "/cache")
        let one = try build(chain, in: dir)
        let two = try build(chain, in: dir, overrides: ["c.suffix=\"3\""])
        try build(chain, in: dir, overrides: ["c.suffix=\"4\""])
        try TagStore(layout: layout).set("one", to: one.version.id, force: false)
        try TagStore(layout: layout).set("two", to: two.version.id, force: false)
        let report = try GarbageCollector(cacheRoot: layout.root).collect(.init(keepLast: 1, keepTagged: true), dryRun: false)
        #expect(report.kept.count == 3 && report.removedVersions.isEmpty)
        let tagsOnly = try GarbageCollector(cacheRoot: layout.root).collect(.init(keepLast: 0), dryRun: false)
        #expect(tagsOnly.kept.isEmpty && tagsOnly.removedTags == ["one", "two"])
        #expect(TagStore(layout: layout).all().isEmpty)
        #expect(try build(chain, in: dir).ran() == ["a", "b", "c"])
    }

    @Test("memo entries go only with --memo")
    func memo() throws {
        let dir = temporaryFolder()
        try build(chain, in: dir)
        let memo = try MemoStore(directory: dir + "/cache/memo/" + String(repeating: "ab", count: 32))
        try memo.put(SHA256.digest("k"), [1, 2, 3])
        memo.flush()
        let gc = GarbageCollector(cacheRoot: dir + "/cache")
        #expect(try gc.collect(.init(), dryRun: false).memo.files == 0)
        let report = try gc.collect(.init(memo: true), dryRun: false)
        #expect(report.memo.files == 1 && report.memo.bytes > 0)
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: dir + "/cache/memo")) ?? []).isEmpty)
        #expect(try build(chain, in: dir).ran().isEmpty)
    }
}
