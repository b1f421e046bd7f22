import Pipeline
import Stages

let versionsCommand = CommandSpec(
    name: "versions",
    summary: "list dataset versions, most recently built first, with tags",
    usage: "blendset versions [--cache DIR] [--pipeline FILE] [--json]",
    details: """
        Every successful build records a version: its id is the content hash of the final outputs,
        so rebuilding an identical pipeline gives the same id (and makes it the latest again).
        A version is addressed by a unique id prefix (4+ hex digits), by a tag, or as 'latest' /
        'latest~N' (N builds before the latest). The 'warnings' column counts what its stages
        warned about ('blendset manifest VERSION' lists them); the 'changes' column lists the
        parameters that differ from the version below it.

        --json prints {"versions": [{"ref", "id", "short_id", "created_at", "built_at", "tags",
        "rows", "final_stage", "blendset_version", "pipeline_file", "changes", "warnings"}]}, newest first;
        "changes" is a list of "stage.param=value" strings, "warnings" a count.
        """,
    options: [.pipeline, .cache, .json],
    run: { args in
        let listing = try VersionListing(layout: args.layout)
        print(args.flag(.json) ? listing.json.pretty() : listing.text)
    })
