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
    usage: "blendset build [STAGE ...] [--pipeline FILE] [--cache DIR] [--set STAGE.PARAM=JSON ...] [--jobs N] [--no-wait] [--strict] [--json]",
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
        "seconds", "rows_in", "rows_out"}], "seconds", "targets", "warnings": [{"stage", "message"}]}.
        """,
    options: [.pipeline, .cache, .set, .jobs, .noWait, .strict, .json],
    positionals: 0...1000,
    run: { args in
        let report = try args.datasetBuild().run(observer: ProgressPrinter(), wait: !args.flag(.noWait), targets: args.positionals)
        print(args.flag(.json) ? report.json.canonical : report.text)
        if args.flag(.strict) && !report.warnings.isEmpty { throw StrictWarningsError(warnings: report.warnings) }
    })

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

