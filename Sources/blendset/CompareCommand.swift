import Pipeline
import Stages

extension OptionSpec {
    static let baseline = OptionSpec(name: "--baseline", valueName: "VERSION", help: "the version parameters are compared with (default: the first row)")
    static let sort = OptionSpec(name: "--sort", valueName: "COLUMN", help: "sort by a column (-COLUMN: descending), e.g. test_accuracy, train.lr, seconds")
    static let desc = OptionSpec(name: "--desc", help: "sort descending")
    static let csv = OptionSpec(name: "--csv", help: "print CSV (metrics as mean and _std columns)")
}

let compareCommand = CommandSpec(
    name: "compare",
    summary: "experiment table: one row per trained version, parameters that differ, metrics ± std",
    usage: "blendset compare [VERSION ...] [--baseline VERSION] [--sort COLUMN] [--desc] [--json | --csv] [--cache DIR] [--pipeline FILE]",
    details: """
        Without VERSION, every trained version, oldest first. Columns: id (* marks the baseline), tags,
        each stage.param whose value differs from the baseline's in some row (a relative path, ./ or ../,
        is resolved from its pipeline file's folder first), test and val accuracy and macro-F1, test F1
        per class, and training seconds. When a version was trained with train.seeds,
        each metric is the mean ± sample standard deviation over its seeds.
        --sort takes any column name: id, tags, a stage.param, test_accuracy, test_macro_f1,
        val_accuracy, val_macro_f1, test_f1_CLASS, val_f1_CLASS, seconds, seeds.
        --json prints stable JSON documented by schemas/compare.schema.json.
        """,
    options: [.pipeline, .cache, .json, .csv, .baseline, .sort, .desc],
    positionals: 0...1000,
    run: { args in
        let store = VersionStore(layout: args.layout)
        let versions = args.positionals.isEmpty ? try store.trained() : try args.positionals.map { try store.resolve($0) }
        let baseline = try args[.baseline].map { try store.resolve($0) }
        var table = try ExperimentTable(versions: versions, baseline: baseline, layout: args.layout)
        if let column = args[.sort] {
            guard table.columns.contains(column.hasPrefix("-") ? String(column.dropFirst()) : column) else {
                throw UsageError(message: "no column '\(column)' to sort by; columns: \(table.columns.joined(separator: ", "))", command: "compare")
            }
            table = try table.sorted(by: column, descending: args.flag(.desc))
        }
        if args.flag(.json) && args.flag(.csv) { throw UsageError(message: "give --json or --csv, not both", command: "compare") }
        if args.flag(.json) { return printJSON(table.json) }
        if args.flag(.csv) { return print(table.csv, terminator: "") }
        print(table.text)
    })
