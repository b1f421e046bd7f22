import Foundation
import Formats
import Pipeline
import Stages

func printJSON(_ value: JSONValue) { print(value.pretty()) }

func writeError(_ text: String) { FileHandle.standardError.write(Data(text.utf8)) }

extension OptionSpec {
    static let noWait = OptionSpec(name: "--no-wait", help: "fail at once if another build holds the cache lock, instead of waiting")
    static let dot = OptionSpec(name: "--dot", help: "Graphviz dot")
    static let mermaid = OptionSpec(name: "--mermaid", help: "a Mermaid flowchart")
    static let showRows = OptionSpec(name: "--rows", valueName: "N", help: "rows to print (default 10)")
    static let strict = OptionSpec(name: "--strict", help: "fail (exit 65) when any stage warns, e.g. in CI")
    static let shard = OptionSpec(name: "--shard", valueName: "K/N|auto",
                                  help: "compute only shard K of N (from 0) of the per-item work and write memo entries only; 'auto' reads Slurm's or Kubernetes' array index")
    static let shardCount = OptionSpec(name: "--shard-count", valueName: "N",
                                       help: "the shard count for --shard auto (a Kubernetes Indexed Job's completions; default: $\(ShardSelection.countVariable))")
}

/// `build --strict` met warnings: the build finished, but main.swift exits 65 (bad data).
struct StrictWarningsError: Error, CustomStringConvertible {
    var warnings: [(stage: String, message: String)]
    var description: String {
        "--strict: the build has \(warnings.count) warning\(warnings.count == 1 ? "" : "s"), so it fails: "
            + warnings.map { "\($0.stage): \($0.message)" }.joined(separator: "; ")
    }
}

let buildCommand = CommandSpec(
    name: "build",
    summary: "build the dataset (or only STAGE and what it needs): run every stage that is not cached",
    usage: "blendset build [STAGE ...] [--pipeline FILE] [--cache DIR] [--set STAGE.PARAM=JSON ...] [--jobs N] [--no-wait] [--strict] [--shard K/N|auto [--shard-count N]] [--json]",
    details: """
        Each stage's key is the SHA-256 of its kind, code version, parameters and the content of its
        inputs; a stage whose key has a result in the cache is not run again. A stage that re-runs and
        produces the same bytes leaves the stages below it cached. Independent stages run in parallel.
        Progress goes to stderr; the summary table (or, with --json, one JSON object) to stdout.

        STAGE ... builds only those stages and what they read from (like 'dvc repro STAGE') and prints
        their stats after the summary: 'build split' shows rows per split and class, no faces run. A
        partial build records no version unless it includes every final stage (a version is named
        by their outputs); what it built stays cached.
        Warnings are repeated after the summary (cached stages' too) and kept in the version
        ('manifest' lists them, 'versions' counts them). --strict fails a build with any (exit 65;
        the version is still recorded).
        --json: {"version" (null for a partial build), "stages": [{"name", "kind", "status", "key",
        "seconds", "rows_in", "rows_out"}], "seconds", "targets", "warnings": [{"stage", "message"}]},
        plus "shards": [{"count", "found", "missing"}] when shard reports exist for this plan.

        --shard K/N (K from 0 to N-1) runs one shard of a build spread over many processes or hosts
        on one shared cache: the stages up to and including the per-item ones (landmarks,
        blendshapes, augment), computing only the items whose content hash falls to shard K. It
        writes memo entries and its report (cache/shards/<plan>-K-of-N.json: items computed, from
        the memo, left to others; progress while it runs) and no stage output or version. Shards
        take the cache lock shared, so they run at once. When every shard has finished, a plain
        'blendset build' (the merge) finds every item in the memo, writes the outputs and the
        version (the same id as a build without shards) and names any shard whose report is
        missing. Work that needs every shard's images (augment's filling of short classes) is
        done by the last shard to finish. A failed shard is rerun alone with the same K/N: it
        recomputes only what is missing.
        --shard auto takes K and N from a Slurm job array (SLURM_ARRAY_TASK_ID and
        SLURM_ARRAY_TASK_COUNT, or SLURM_ARRAY_TASK_MIN/MAX) or a Kubernetes Indexed Job
        (JOB_COMPLETION_INDEX, with N from --shard-count or $BLENDSET_SHARD_COUNT).
        With --json a shard prints its report.
        """,
    options: [.pipeline, .cache, .set, .jobs, .noWait, .strict, .shard, .shardCount, .json],
    positionals: 0...1000,
    run: { args in
        if let shard = try args.shardSelection() {
            let build = try args.datasetBuild()
            let report = try build.builder.buildShard(shard, observer: ProgressPrinter(), wait: !args.flag(.noWait))
            print(args.flag(.json) ? report.json.canonical : shardText(report, layout: build.layout))
            return
        }
        let report = try args.datasetBuild().run(observer: ProgressPrinter(), wait: !args.flag(.noWait), targets: args.positionals)
        print(args.flag(.json) ? report.json.canonical : report.text)
        if args.flag(.strict) && !report.warnings.isEmpty { throw StrictWarningsError(warnings: report.warnings) }
    })

extension ParsedArguments {
    /// The shard of `--shard K/N` or `--shard auto`; nil without --shard.
    func shardSelection() throws -> ShardSelection? {
        let count = try int(.shardCount, in: 1...100_000)
        guard let text = self[.shard] else {
            if count != nil { throw UsageError(message: "--shard-count goes with --shard auto", command: command) }
            return nil
        }
        if !positionals.isEmpty {
            throw UsageError(message: "--shard runs the per-item stages and what they read from; it takes no STAGE (found '\(positionals[0])')", command: command)
        }
        if text == "auto" { return try ShardSelection.fromEnvironment(ProcessInfo.processInfo.environment, count: count) }
        if count != nil { throw UsageError(message: "--shard-count goes with --shard auto; --shard K/N gives the count itself", command: command) }
        return try ShardSelection(parsing: text)
    }
}

/// A shard's summary: its items, where its report is, and what comes next.
func shardText(_ r: ShardReport, layout: CacheLayout) -> String {
    var out = "shard \(r.shard) of plan \(r.plan.hex.prefix(12)): \(r.computed) items computed, \(r.fromMemo) from the memo, "
        + "\(r.skipped) left to the other shards (\(String(format: "%.1f", r.seconds)) s)"
    for s in r.stages { out += "\n  \(s.stage): \(s.computed) computed, \(s.fromMemo) from the memo, \(s.skipped) left to others" }
    if r.finishedDeferred { out += "\nevery other shard had finished, so this one also did: " + "the work deferred until every shard's items were in" }
    if !r.deferred.isEmpty { out += "\ndeferred to the last shard (or the merge): " + r.deferred.joined(separator: "; ") }
    out += "\nreport: \(ShardReport.path(layout, plan: r.plan, shard: r.shard))"
    out += "\nonly memo entries were written; when every shard has finished, 'blendset build' merges them into the outputs and the version"
    return out
}

let statusCommand = CommandSpec(
    name: "status",
    summary: "dry run: say which stages would run and why",
    usage: "blendset status [STAGE ...] [--pipeline FILE] [--cache DIR] [--set STAGE.PARAM=JSON ...] [--json]",
    details: """
        Nothing is run or written. Reasons compare with what the last build of each stage used: a
        parameter (compared by value: key order and 0.8 vs 0.80 are no change), an input's content,
        or the stage's code version. STAGE ... limits it to those stages and what they read from,
        as 'build STAGE ...' would run them.
        --json prints {"stages": [{"name", "kind", "action" ("cached" or "run"), "reasons"}], "would_run"}.
        """,
    options: [.pipeline, .cache, .set, .json],
    positionals: 0...1000,
    run: { args in
        let statuses = try args.datasetBuild().builder.status(targets: args.positionals)
        print(args.flag(.json) ? StagePlanStatus.json(statuses).canonical : StagePlanStatus.text(statuses))
    })

let dagCommand = CommandSpec(
    name: "dag",
    summary: "print the stage graph (text, Graphviz dot or Mermaid)",
    usage: "blendset dag [--pipeline FILE] [--cache DIR] [--set STAGE.PARAM=JSON ...] [--dot | --mermaid]",
    details: "The graph depends on the pipeline file only; --cache is accepted (and not read) so the common options work with every command, and --set is checked as a build would check it.",
    options: [.pipeline, .cache, .set, .dot, .mermaid],
    run: { args in
        if args.flag(.dot) && args.flag(.mermaid) { throw UsageError(message: "choose one of --dot and --mermaid", command: "dag") }
        let plan = try BuildPlan.load(file: args.pipelineFile, registry: standardStages, overrides: try args.overrides)
        print(args.flag(.dot) ? DAGRenderer.dot(plan) : args.flag(.mermaid) ? DAGRenderer.mermaid(plan) : DAGRenderer.text(plan))
    })

let showCommand = CommandSpec(
    name: "show",
    summary: "print rows of a stage's output",
    usage: "blendset show STAGE [--rows N] [--pipeline FILE] [--cache DIR] [--set STAGE.PARAM=JSON ...]",
    details: """
        Shows the schema and the first N rows (default 10) of the stage's output for the current
        configuration; STAGE and the stages it reads from must have been built ('blendset build STAGE'
        builds just those). A stage without a table (train) lists its artifacts with their paths in the
        cache and the command that writes them out.
        """,
    options: [.pipeline, .cache, .set, .showRows],
    positionals: 1...1,
    run: { args in
        let build = try args.datasetBuild()
        let name = args.positionals[0]
        guard build.plan.stage(named: name) != nil else { throw PipelineError.unknownStage(name, known: build.plan.stages.map(\.name)) }
        let rows = try args.int(.showRows, in: 0...1_000_000) ?? 10
        guard let record = try build.builder.cachedRecords(targets: [name])[name] else {
            throw PipelineError.io("stage '\(name)' has not been built for this configuration; run 'blendset build \(name)' first (see 'blendset status \(name)')")
        }
        guard let id = record.artifacts[tableArtifact] else {
            print(StageOutputs.text(stage: name, kind: record.kind, artifacts: record.artifacts, layout: build.layout))
            return
        }
        let table = try TableFile.decode(try ArtifactStore(layout: build.layout).read(id), source: "output of stage '\(name)'")
        print(TextTable.describe(table, rows: rows))
    })

