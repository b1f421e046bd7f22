import Pipeline
import Stages

let diffCommand = CommandSpec(
    name: "diff",
    summary: "compare two dataset versions",
    usage: "blendset diff [A [B]] [--json] [--cache DIR] [--pipeline FILE]",
    details: """
        A defaults to latest~1 and B to latest. Shows the parameters that differ (stage.param:
        old → new), the stages whose keys differ (and whether their output changed), rows per split
        and class side by side with deltas, rows added / removed / changed when matched by
        provenance id (item_id plus balance_copy and augmentation columns when present), label
        changes, duplicate-row counts, and per-feature distribution shift per split: mean and std
        deltas and the two-sample Kolmogorov-Smirnov statistic (0 = same distribution). For trained
        versions, the models' test and val accuracy, macro-F1 and per-class precision, recall and
        F1 side by side. Lines marked ◀ changed.

        --json prints stable JSON documented by schemas/diff.schema.json.
        """,
    options: [.pipeline, .cache, .json],
    positionals: 0...2,
    run: { args in
        let layout = args.layout
        let store = VersionStore(layout: layout)
        let refs = args.positionals.count == 2 ? args.positionals : args.positionals.count == 1 ? [args.positionals[0], "latest"] : ["latest~1", "latest"]
        let a = try store.resolve(refs[0]), b = try store.resolve(refs[1])
        let diff = DatasetDiff(try VersionDataset(version: a, layout: layout), try VersionDataset(version: b, layout: layout))
        if args.flag(.json) { printJSON(diff.json) } else { print(diff.text(refs: refs)) }
    })
