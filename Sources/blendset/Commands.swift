import Foundation
import Formats
import Pipeline
import Stages

let pipelineOption = OptionSpec(name: "--pipeline", valueName: "FILE", help: "the pipeline file (default: pipeline.json)")
let cacheOption = OptionSpec(name: "--cache", valueName: "DIR", help: "the cache folder (default: cache/ beside the pipeline file)")
let setOption = OptionSpec(name: "--set", valueName: "STAGE.PARAM=JSON", repeatable: true,
                           help: "override a parameter, e.g. --set balance.per_class=5000; a value that is not JSON is a string")
let jobsOption = OptionSpec(name: "--jobs", valueName: "N", help: "worker threads (default: the number of cores)")
let jsonOption = OptionSpec(name: "--json", help: "print one JSON object on stdout")

/// The pipeline, cache and overrides a command works on.
struct Workspace {
    var plan: BuildPlan
    var cacheRoot: String
    var jobs: Int

    init(_ args: ParsedArguments, command: String) throws {
        let file = args.value("--pipeline") ?? "pipeline.json"
        let overrides = try args.all("--set").map { text throws(PipelineError) in try ParameterOverride(parsing: text) }
        plan = try BuildPlan.load(file: file, registry: standardStages, overrides: overrides)
        let base = URL(fileURLWithPath: file).deletingLastPathComponent().path
        cacheRoot = args.value("--cache") ?? (base == "." || base.isEmpty ? "cache" : base + "/cache")
        jobs = try args.int("--jobs", in: 1...256, command: command) ?? ProcessInfo.processInfo.activeProcessorCount
    }

    var builder: Builder { Builder(plan: plan, cacheRoot: cacheRoot, jobs: jobs) }
}

// MARK: build

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
    options: [pipelineOption, cacheOption, setOption, jobsOption,
              OptionSpec(name: "--no-wait", help: "fail at once if another build holds the cache lock, instead of waiting"),
              jsonOption],
    run: { args in
        let ws = try Workspace(args, command: "build")
        let json = args.flag("--json")
        let builder = ws.builder
        let report = try builder.build(observer: ProgressPrinter(), wait: !args.flag("--no-wait"))
        // The manifest copy beside the version record (see 'blendset manifest').
        // Written only when missing or older than the version record (a rebuild by another
        // pipeline with the same outputs updates the lineage); a no-op build writes nothing.
        try Manifest.record(report.version, layout: builder.layout)
        if json {
            let stages = JSONValue.array(report.stages.map { s in
                .object([
                    ("name", .string(s.name)), ("kind", .string(s.kind)), ("status", .string(s.status.rawValue)),
                    ("key", .string(s.key.hex)), ("seconds", .number((s.seconds * 1000).rounded() / 1000)),
                    ("rows_in", s.rowsIn.map { .int($0) } ?? .null), ("rows_out", s.rowsOut.map { .int($0) } ?? .null),
                ])
            })
            print(JSONValue.object([("version", .string(report.version.id.hex)), ("stages", stages),
                                    ("seconds", .number((report.seconds * 1000).rounded() / 1000))]).canonical)
        } else {
            var rows = [["stage", "kind", "status", "rows in", "rows out", "seconds"]]
            for s in report.stages {
                rows.append([s.name, s.kind, s.status.rawValue, s.rowsIn.map(String.init) ?? "-", s.rowsOut.map(String.init) ?? "-",
                             s.status == .ran ? String(format: "%.2f", s.seconds) : "-"])
            }
            print(renderTable(rows, rightAligned: [3, 4, 5]))
            let ran = report.stages.filter { $0.status == .ran }.count
            print("\nversion \(report.version.shortID)  (\(ran) ran, \(report.stages.count - ran) cached, \(String(format: "%.2f", report.seconds)) s)")
        }
        return 0
    })

// MARK: status

let statusCommand = CommandSpec(
    name: "status",
    summary: "dry run: say which stages would run and why",
    usage: "blendset status [--pipeline FILE] [--cache DIR] [--set STAGE.PARAM=JSON ...] [--json]",
    details: "Nothing is run or written. Reasons compare with what the last build of each stage used: a parameter, an input's content, or the stage's code version.",
    options: [pipelineOption, cacheOption, setOption, jsonOption],
    run: { args in
        let ws = try Workspace(args, command: "status")
        let statuses = try ws.builder.status()
        if args.flag("--json") {
            print(JSONValue.array(statuses.map { s in
                .object([("name", .string(s.name)), ("kind", .string(s.kind)), ("action", .string(s.action.rawValue)),
                         ("reasons", .array(s.reasons.map { .string($0) }))])
            }).canonical)
        } else {
            for s in statuses {
                if s.action == .cached {
                    print("  cached     \(s.name)")
                } else {
                    print("  would run  \(s.name): \(s.reasons.joined(separator: "; "))")
                }
            }
            let n = statuses.filter { $0.action == .run }.count
            print(n == 0 ? "\nup to date: a build would run nothing" : "\n\(n) of \(statuses.count) stages would run")
        }
        return 0
    })

// MARK: dag

let dagCommand = CommandSpec(
    name: "dag",
    summary: "print the stage graph (text, Graphviz dot or Mermaid)",
    usage: "blendset dag [--pipeline FILE] [--dot | --mermaid]",
    options: [pipelineOption, OptionSpec(name: "--dot", help: "Graphviz dot"), OptionSpec(name: "--mermaid", help: "a Mermaid flowchart")],
    run: { args in
        if args.flag("--dot") && args.flag("--mermaid") { throw UsageError(message: "choose one of --dot and --mermaid", command: "dag") }
        let plan = try BuildPlan.load(file: args.value("--pipeline") ?? "pipeline.json", registry: standardStages)
        print(args.flag("--dot") ? DAGRenderer.dot(plan) : args.flag("--mermaid") ? DAGRenderer.mermaid(plan) : DAGRenderer.text(plan))
        return 0
    })

// MARK: show

let showCommand = CommandSpec(
    name: "show",
    summary: "print rows of a stage's output",
    usage: "blendset show STAGE [--rows N] [--pipeline FILE] [--cache DIR] [--set STAGE.PARAM=JSON ...]",
    details: "Shows the schema and the first N rows (default 10) of the stage's output for the current configuration, which must have been built.",
    options: [pipelineOption, cacheOption, setOption, OptionSpec(name: "--rows", valueName: "N", help: "rows to print (default 10)")],
    positionals: 1...1,
    run: { args in
        let ws = try Workspace(args, command: "show")
        let name = args.positionals[0]
        guard ws.plan.stage(named: name) != nil else { throw PipelineError.unknownStage(name, known: ws.plan.stages.map(\.name)) }
        let rows = try args.int("--rows", in: 0...1_000_000, command: "show") ?? 10
        let builder = ws.builder
        guard let record = try builder.cachedRecords()[name] else {
            throw PipelineError.io("stage '\(name)' has not been built for this configuration; run 'blendset build' first (see 'blendset status')")
        }
        guard let id = record.artifacts[tableArtifact] else {
            print("stage '\(name)' produced: " + record.artifacts.keys.sorted().joined(separator: ", "))
            return 0
        }
        let table = try TableFile.decode(try ArtifactStore(layout: builder.layout).read(id), source: "output of stage '\(name)'")
        print(TablePrinter.describe(table, rows: rows))
        return 0
    })

/// Left/right-aligned text table with a rule under the header.
func renderTable(_ rows: [[String]], rightAligned: Set<Int> = []) -> String {
    guard let header = rows.first else { return "" }
    var widths = [Int](repeating: 0, count: header.count)
    for r in rows { for (i, c) in r.enumerated() { widths[i] = max(widths[i], c.count) } }
    func line(_ r: [String]) -> String {
        r.enumerated().map { i, c in
            let pad = String(repeating: " ", count: widths[i] - c.count)
            return rightAligned.contains(i) ? pad + c : c + pad
        }.joined(separator: "  ").replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
    }
    var out = [line(header), widths.map { String(repeating: "─", count: $0) }.joined(separator: "  ")]
    out += rows.dropFirst().map(line)
    return out.joined(separator: "\n")
}
