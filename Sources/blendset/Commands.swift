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
}

let buildCommand = CommandSpec(
    name: "build",
    summary: "build the dataset: run every stage that is not cached",
    usage: "blendset build [--pipeline FILE] [--cache DIR] [--set STAGE.PARAM=JSON ...] [--jobs N] [--no-wait] [--json]",
    details: """
        Each stage's key is the SHA-256 of its kind, code version, parameters and the content of its
        inputs; a stage whose key has a result in the cache is not run again. A stage that re-runs and
        produces the same bytes leaves the stages below it cached. Independent stages run in parallel.
        Progress goes to stderr; the summary table (or, with --json, one JSON object) to stdout.
        """,
    options: [.pipeline, .cache, .set, .jobs, .noWait, .json],
    run: { args in
        let report = try args.datasetBuild().run(observer: ProgressPrinter(), wait: !args.flag(.noWait))
        print(args.flag(.json) ? report.json.canonical : report.text)
    })

let statusCommand = CommandSpec(
    name: "status",
    summary: "dry run: say which stages would run and why",
    usage: "blendset status [--pipeline FILE] [--cache DIR] [--set STAGE.PARAM=JSON ...] [--json]",
    details: "Nothing is run or written. Reasons compare with what the last build of each stage used: a parameter, an input's content, or the stage's code version.",
    options: [.pipeline, .cache, .set, .json],
    run: { args in
        let statuses = try args.datasetBuild().builder.status()
        print(args.flag(.json) ? StagePlanStatus.json(statuses).canonical : StagePlanStatus.text(statuses))
    })

let dagCommand = CommandSpec(
    name: "dag",
    summary: "print the stage graph (text, Graphviz dot or Mermaid)",
    usage: "blendset dag [--pipeline FILE] [--dot | --mermaid]",
    options: [.pipeline, .dot, .mermaid],
    run: { args in
        if args.flag(.dot) && args.flag(.mermaid) { throw UsageError(message: "choose one of --dot and --mermaid", command: "dag") }
        let plan = try BuildPlan.load(file: args.pipelineFile, registry: standardStages)
        print(args.flag(.dot) ? DAGRenderer.dot(plan) : args.flag(.mermaid) ? DAGRenderer.mermaid(plan) : DAGRenderer.text(plan))
    })

let showCommand = CommandSpec(
    name: "show",
    summary: "print rows of a stage's output",
    usage: "blendset show STAGE [--rows N] [--pipeline FILE] [--cache DIR] [--set STAGE.PARAM=JSON ...]",
    details: "Shows the schema and the first N rows (default 10) of the stage's output for the current configuration, which must have been built.",
    options: [.pipeline, .cache, .set, .showRows],
    positionals: 1...1,
    run: { args in
        let build = try args.datasetBuild()
        let name = args.positionals[0]
        guard build.plan.stage(named: name) != nil else { throw PipelineError.unknownStage(name, known: build.plan.stages.map(\.name)) }
        let rows = try args.int(.showRows, in: 0...1_000_000) ?? 10
        guard let record = try build.builder.cachedRecords()[name] else {
            throw PipelineError.io("stage '\(name)' has not been built for this configuration; run 'blendset build' first (see 'blendset status')")
        }
        guard let id = record.artifacts[tableArtifact] else {
            print("stage '\(name)' produced: " + record.artifacts.keys.sorted().joined(separator: ", "))
            return
        }
        let table = try TableFile.decode(try ArtifactStore(layout: build.layout).read(id), source: "output of stage '\(name)'")
        print(TextTable.describe(table, rows: rows))
    })
