import Pipeline
import Stages

extension OptionSpec {
    static let keepLast = OptionSpec(name: "--keep-last", valueName: "N", help: "keep the N most recently built versions")
    static let keepTagged = OptionSpec(name: "--keep-tagged", help: "keep every tagged version")
    static let memo = OptionSpec(name: "--memo", help: "also remove the per-item memo (costly to recompute)")
    static let dryRun = OptionSpec(name: "--dry-run", help: "list every file a real run would remove; remove nothing")
}

let gcCommand = CommandSpec(
    name: "gc",
    summary: "remove cached results that no kept dataset version needs",
    usage: "blendset gc [--keep-last N] [--keep-tagged] [--memo] [--dry-run] [--json] [--cache DIR] [--pipeline FILE]",
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
        """,
    options: [.pipeline, .cache, .keepLast, .keepTagged, .memo, .dryRun, .json],
    run: { args in
        let layout = args.layout
        let policy = GarbageCollector.Policy(keepLast: try args.int(.keepLast, in: 0...1_000_000), keepTagged: args.flag(.keepTagged), memo: args.flag(.memo))
        let r = try GarbageCollector(cacheRoot: layout.root).collect(policy, dryRun: args.flag(.dryRun)) { holder in
            writeError("blendset: the cache is locked by a build (\(holder)); waiting for it to finish…\n")
        }
        print(args.flag(.json) ? r.json.pretty() : r.text)
    })
