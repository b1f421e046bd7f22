import Foundation
import Formats
import Pipeline
import Stages

extension OptionSpec {
    static let plots = OptionSpec(name: "--plots", valueName: "DIR", help: "also write SVG charts into DIR")
}

let manifestCommand = CommandSpec(
    name: "manifest",
    summary: "describe a dataset version: schema, counts, feature statistics, lineage",
    usage: "blendset manifest [VERSION] [--json] [--plots DIR] [--cache DIR] [--pipeline FILE]",
    details: """
        VERSION defaults to latest. Shows the warnings its stages reported when they ran (first, so
        they are not missed), the schema (feature and label names), rows per split and
        class, per-feature min / max / mean / std (population) per split with the one-way ANOVA F
        across classes (higher = more class signal; '-' when undefined), exact-duplicate rows per
        split, the face-validity rate per split and class and augmentation counts (when the
        pipeline has those stages), the lineage (each stage's kind, key, rows in → out and seconds),
        every stage's parameters (wrapped at 100 columns, never cut) and the final artifacts' hashes.
        A feature is marked ◀ when its train F is undefined or its p-value is above 0.01.

        --json prints the manifest as stable JSON, documented by schemas/manifest.schema.json; the
        same JSON is written beside each version as cache/versions/<id>.manifest.json.
        --plots DIR also writes SVG charts: class-counts.svg and, with features,
        feature-distributions.svg (small multiples by class, with F and its p-value; the ◀ features
        are greyed).
        """,
    options: [.pipeline, .cache, .json, .plots],
    positionals: 0...1,
    run: { args in
        let layout = args.layout
        let store = VersionStore(layout: layout)
        let version = try store.resolve(args.positionals.first ?? "latest")
        let data = try VersionDataset(version: version, layout: layout)
        let manifest = Manifest(data, layout: layout)
        if !FileManager.default.fileExists(atPath: store.manifestPath(version.id)) { try manifest.write(layout: layout) }
        if let dir = args[.plots] {
            for (name, svg) in ManifestPlots.render(data, manifest: manifest) {
                try AtomicFile.write(Array(svg.utf8), to: dir + "/" + name)
                writeError("wrote \(dir)/\(name)\n")
            }
            if data.features == nil {
                writeError("note: version \(version.shortID) has no features, so feature-distributions.svg is not drawn\n")
            }
        }
        if args.flag(.json) {
            printJSON(manifest.json)
        } else {
            let versions = try store.all()
            print(manifest.text(tags: TagStore(layout: layout).byVersion()[version.id] ?? [], ref: store.relativeName(of: version.id, in: versions)))
        }
    })
