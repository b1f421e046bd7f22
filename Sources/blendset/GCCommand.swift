import Formats
import Pipeline
import Stages

extension OptionSpec {
    static let keepLast = OptionSpec(name: "--keep-last", valueName: "N", help: "keep the N most recently built versions")
    static let keepTagged = OptionSpec(name: "--keep-tagged", help: "keep every tagged version")
    static let memo = OptionSpec(name: "--memo", help: "also remove the per-item memo (costly to recompute)")
    static let dryRun = OptionSpec(name: "--dry-run", help: "list every file a real run would remove; remove nothing")
    static let memoCompact = OptionSpec(name: "--memo-compact", help: "only merge each memo folder's packs into one (after sharded builds); remove nothing else")
}

let gcCommand = CommandSpec(
    name: "gc",
    summary: "remove cached results that no kept dataset version needs",
    usage: "blendset gc [--keep-last N] [--keep-tagged] [--memo] [--memo-compact] [--dry-run] [--json] [--cache DIR] [--pipeline FILE]",
    details: """
        Keeps the versions the rules select (with no rule, every version) and those a tune summary
        (cache/tune) lists, and everything they need: the run record and artifacts of each of their
        stages, so a build of a kept version stays a no-op. Removes other artifacts and run records,
        the records and manifests of versions not kept, and tags on them.
        Per-item memo entries (cache/memo) are removed only with --memo. Takes the cache lock, so it
        waits for a running build; refuses (exit 70) while a tag or version record is unreadable.
        To let tuned versions go, delete their file in cache/tune.

        --json prints {"dry_run", "kept": [ids], "removed_versions": [ids], "removed_tags": [names],
        "objects", "runs", "versions", "memo", "temporaries": {"files", "bytes"}, "bytes_freed", "paths"}.

        --memo-compact does only this: each memo folder's packs (every shard, and every writer of
        a long build, publishes several) are merged into one, keeping each item once, with the good
        records of temporaries that killed writers left (unchanged for an hour). It takes the cache
        lock; shards on other hosts do not see it, so run it when no shard runs. No build compacts.
        --json prints {"dry_run", "memo": [{"namespace", "packs_before", "records", "damaged_records",
        "salvaged_temporaries", "bytes_before", "bytes_after"}]}.
        """,
    options: [.pipeline, .cache, .keepLast, .keepTagged, .memo, .memoCompact, .dryRun, .json],
    run: { args in
        if args.flag(.memoCompact) {
            if args[.keepLast] != nil || args.flag(.keepTagged) || args.flag(.memo) {
                throw UsageError(message: "--memo-compact only compacts the memo; run it apart from --keep-last, --keep-tagged and --memo", command: "gc")
            }
            let done = try GarbageCollector(cacheRoot: args.layout.root).compactMemo(dryRun: args.flag(.dryRun)) { holder in
                writeError("blendset: the cache is locked by a build (\(holder)); waiting for it to finish…\n")
            }
            if args.flag(.json) {
                printJSON(.object([("dry_run", .bool(args.flag(.dryRun))), ("memo", .array(done.map { n, c in
                    .object([("namespace", .string(n)), ("packs_before", .int(c.packsBefore)), ("records", .int(c.records)),
                             ("damaged_records", .int(c.damagedRecords)), ("salvaged_temporaries", .int(c.salvagedTemporaries)),
                             ("bytes_before", .int(Int(c.bytesBefore))), ("bytes_after", .int(Int(c.bytesAfter)))])
                }))]))
            } else {
                let verb = args.flag(.dryRun) ? "would merge" : "merged"
                print(done.isEmpty ? "the memo is empty" : done.map { n, c in
                    "memo \(n.prefix(12)): \(verb) \(c.packsBefore) pack\(c.packsBefore == 1 ? "" : "s")"
                        + (c.salvagedTemporaries > 0 ? " and \(c.salvagedTemporaries) abandoned temporar\(c.salvagedTemporaries == 1 ? "y" : "ies")" : "")
                        + " into one: \(c.records) records" + (c.damagedRecords > 0 ? ", \(c.damagedRecords) damaged dropped" : "")
                }.joined(separator: "\n"))
            }
            return
        }
        let layout = args.layout
        let policy = GarbageCollector.Policy(keepLast: try args.int(.keepLast, in: 0...1_000_000), keepTagged: args.flag(.keepTagged), memo: args.flag(.memo))
        let r = try GarbageCollector(cacheRoot: layout.root).collect(policy, dryRun: args.flag(.dryRun)) { holder in
            writeError("blendset: the cache is locked by a build (\(holder)); waiting for it to finish…\n")
        }
        print(args.flag(.json) ? r.json.pretty() : r.text)
    })
