import Foundation
import Formats
import Pipeline
import Stages

// Commands on dataset versions: versions, tag, manifest, diff, export, gc.

/// The cache a version command reads: --cache, or cache/ beside --pipeline. The pipeline
/// file itself is not loaded, so versions stay readable when it is edited or broken.
func versionLayout(_ args: ParsedArguments) -> CacheLayout {
    if let cache = args.value("--cache") { return CacheLayout(root: cache) }
    let base = URL(fileURLWithPath: args.value("--pipeline") ?? "pipeline.json").deletingLastPathComponent().path
    return CacheLayout(root: base == "." || base.isEmpty ? "cache" : base + "/cache")
}

/// Runs a version command, turning `VersionError`s into the documented exit codes:
/// a bad reference or tag is a usage error (64), no versions or a removed artifact is
/// missing input (66), a version without what the command needs is bad data (65).
func versionCommand(_ name: String, _ body: @escaping @Sendable (ParsedArguments) throws -> Int32) -> @Sendable (ParsedArguments) throws -> Int32 {
    { args in
        do {
            return try body(args)
        } catch let e as VersionError {
            switch e {
            case .unknownVersion, .ambiguousVersion, .notThatManyVersions, .invalidTagName, .tagExists, .noSuchTag, .unknownStage:
                throw UsageError(message: e.description, command: name)
            case .noVersions, .missingArtifact:
                FileHandle.standardError.write("blendset: error: \(e.description)\n".data(using: .utf8)!)
                return ExitCode.noInput
            case .unsupported:
                FileHandle.standardError.write("blendset: error: \(e.description)\n".data(using: .utf8)!)
                return ExitCode.dataError
            }
        }
    }
}

let versionCacheOptions = [pipelineOption, cacheOption]

func printJSON(_ value: JSONValue) { print(value.pretty()) }

// MARK: versions

let versionsCommand = CommandSpec(
    name: "versions",
    summary: "list dataset versions, most recently built first, with tags",
    usage: "blendset versions [--cache DIR] [--pipeline FILE] [--json]",
    details: """
        Every successful build records a version: its id is the content hash of the final outputs,
        so rebuilding an identical pipeline gives the same id (and makes it the latest again).
        A version is addressed by a unique id prefix (4+ hex digits), by a tag, or as 'latest' /
        'latest~N' (N builds before the latest). The 'changes' column lists the parameters that
        differ from the version below it.

        --json prints {"versions": [{"ref", "id", "short_id", "created_at", "built_at", "tags",
        "rows", "final_stage", "blendset_version", "pipeline_file", "changes"}]}, newest first;
        "changes" is a list of "stage.param=value" strings.
        """,
    options: versionCacheOptions + [jsonOption],
    run: versionCommand("versions") { args in
        let layout = versionLayout(args)
        let versions = try VersionStore(layout: layout).all()
        let tags = TagStore(layout: layout).byVersion()
        func changes(_ i: Int) -> [String] {
            guard i + 1 < versions.count else { return [] }
            let (params, _) = DatasetDiff.pipelineChanges(versions[i + 1], versions[i])
            return params.map { p in p.parameter.map { "\(p.stage).\($0)=\(p.new ?? "(default)")" } ?? (p.new != nil ? "+\(p.stage)" : "-\(p.stage)") }
        }
        func rows(_ v: DatasetVersion) -> Int? { VersionDataset.finalStage(of: v)?.rowsOut }
        if args.flag("--json") {
            printJSON(.object([("versions", .array(versions.enumerated().map { i, v in
                .object([
                    ("ref", .string(i == 0 ? "latest" : "latest~\(i)")), ("id", .string(v.id.hex)), ("short_id", .string(v.shortID)),
                    ("created_at", .string(v.createdAt)), ("built_at", .string(v.lastBuilt)),
                    ("tags", .array((tags[v.id] ?? []).map { .string($0) })),
                    ("rows", rows(v).map { .int($0) } ?? .null),
                    ("final_stage", VersionDataset.finalStage(of: v).map { .string($0.name) } ?? .null),
                    ("blendset_version", .string(v.blendsetVersion)), ("pipeline_file", .string(v.pipelineFile)),
                    ("changes", .array(changes(i).map { .string($0) })),
                ])
            }))]))
            return 0
        }
        guard !versions.isEmpty else {
            print("no dataset versions in \(layout.root) yet; run 'blendset build'")
            return 0
        }
        var table = [["ref", "id", "built", "tags", "rows", "changes vs the version below"]]
        for (i, v) in versions.enumerated() {
            let c = changes(i)
            table.append([i == 0 ? "latest" : "latest~\(i)", v.shortID, shortTime(v.lastBuilt), (tags[v.id] ?? []).joined(separator: ","),
                          rows(v).map(String.init) ?? "-", i + 1 == versions.count ? "(oldest)" : c.isEmpty ? "-" : c.joined(separator: " ")])
        }
        print(renderTable(table, rightAligned: [4]))
        return 0
    })

/// `2026-11-25T08:10:02.123Z` → `2026-11-25 08:10:02`.
func shortTime(_ iso: String) -> String {
    String(iso.replacingOccurrences(of: "T", with: " ").prefix(19))
}

// MARK: tag

let tagCommand = CommandSpec(
    name: "tag",
    summary: "name a dataset version (default: latest)",
    usage: "blendset tag NAME [VERSION] [--force] [--delete] [--cache DIR] [--pipeline FILE]",
    details: """
        Tags are kept in cache/tags/NAME. A name uses letters, digits, '.', '_' and '-'; it may not
        start with 'latest' or be all hex digits (it would read as an id prefix). An existing tag
        moves to another version only with --force. 'gc --keep-tagged' keeps tagged versions.
        """,
    options: versionCacheOptions + [OptionSpec(name: "--force", help: "move the tag if it already points at another version"),
                                    OptionSpec(name: "--delete", help: "remove the tag (VERSION is not given)")],
    positionals: 1...2,
    run: versionCommand("tag") { args in
        let layout = versionLayout(args)
        let name = args.positionals[0]
        let tags = TagStore(layout: layout)
        if args.flag("--delete") {
            guard args.positionals.count == 1 else { throw UsageError(message: "--delete takes only the tag name", command: "tag") }
            let id = try tags.delete(name)
            print("deleted tag \(name) (was \(id.hex.prefix(12)))")
            return 0
        }
        try TagStore.validate(name)
        let version = try VersionStore(layout: layout).resolve(args.positionals.count > 1 ? args.positionals[1] : "latest")
        let old = tags.get(name)
        try tags.set(name, to: version.id, force: args.flag("--force"))
        if let old, old != version.id {
            print("moved tag \(name): \(old.hex.prefix(12)) → \(version.shortID)")
        } else {
            print("tagged \(version.shortID) as \(name)")
        }
        return 0
    })

// MARK: manifest

let manifestCommand = CommandSpec(
    name: "manifest",
    summary: "describe a dataset version: schema, counts, feature statistics, lineage",
    usage: "blendset manifest [VERSION] [--json] [--plots DIR] [--cache DIR] [--pipeline FILE]",
    details: """
        VERSION defaults to latest. Shows the schema (feature and label names), rows per split and
        class, per-feature min / max / mean / std (population) per split with the one-way ANOVA F
        across classes (higher = more class signal; '-' when undefined), exact-duplicate rows per
        split, the face-validity rate per split and class and augmentation counts (when the
        pipeline has those stages), the lineage (each stage's kind, params, key, rows in → out and
        seconds) and the final artifacts' hashes.

        --json prints the manifest as stable JSON, documented by schemas/manifest.schema.json; the
        same JSON is written beside each version as cache/versions/<id>.manifest.json.
        --plots DIR also writes SVG charts: class-counts.svg and, with features,
        feature-distributions.svg (small multiples by class; low-signal features are greyed).
        """,
    options: versionCacheOptions + [jsonOption, OptionSpec(name: "--plots", valueName: "DIR", help: "also write SVG charts into DIR")],
    positionals: 0...1,
    run: versionCommand("manifest") { args in
        let layout = versionLayout(args)
        let store = VersionStore(layout: layout)
        let version = try store.resolve(args.positionals.first ?? "latest")
        let data = try VersionDataset(version: version, layout: layout)
        let manifest = Manifest(data, layout: layout)
        if !FileManager.default.fileExists(atPath: store.manifestPath(version.id)) { try manifest.write(layout: layout) }
        if let dir = args.value("--plots") {
            for (name, svg) in ManifestPlots.render(data, manifest: manifest) {
                try AtomicFile.write(Array(svg.utf8), to: dir + "/" + name)
                FileHandle.standardError.write("wrote \(dir)/\(name)\n".data(using: .utf8)!)
            }
            if data.features == nil {
                FileHandle.standardError.write("note: version \(version.shortID) has no features, so feature-distributions.svg is not drawn\n".data(using: .utf8)!)
            }
        }
        if args.flag("--json") {
            printJSON(manifest.json)
        } else {
            let versions = try store.all()
            print(renderManifest(manifest, tags: TagStore(layout: layout).byVersion()[version.id] ?? [],
                                 ref: store.relativeName(of: version.id, in: versions)))
        }
        return 0
    })

func fmt(_ d: Double?) -> String {
    guard let d, d.isFinite else { return "-" }
    if d != 0 && (abs(d) >= 1e6 || abs(d) < 1e-3) { return String(format: "%.3e", d) }
    return String(format: "%.4f", d)
}

func renderManifest(_ m: Manifest, tags: [String], ref: String?) -> String {
    var out: [String] = []
    let labels = [ref, tags.isEmpty ? nil : "tags: " + tags.joined(separator: ", ")].compactMap { $0 }
    out.append("dataset version \(m.version.shortID)" + (labels.isEmpty ? "" : "  (\(labels.joined(separator: "; ")))"))
    out.append("  id        \(m.version.id.hex)")
    out.append("  created   \(shortTime(m.version.createdAt))   built \(shortTime(m.version.lastBuilt))   blendset \(m.version.blendsetVersion)")
    out.append("  pipeline  \(m.version.pipelineFile)   final table: stage '\(m.finalStage)'")
    out.append("")
    out.append("schema: \(m.rowCount) rows; labels: \(m.classes.joined(separator: ", "))")
    out.append(m.featureNames.isEmpty ? "  no features (the images are kept; add feature stages to get some)"
                                      : "  \(m.featureNames.count) features (float32): \(m.featureNames.joined(separator: ", "))")
    out.append("  columns: " + m.columns.map { "\($0.name) \($0.dtype)\($0.width > 1 ? "×\($0.width)" : "")" }.joined(separator: ", "))
    out.append("")
    out.append("rows per split and class")
    var grid = [["split"] + m.classes + ["total"]]
    var totals = [Int](repeating: 0, count: m.classes.count)
    for (s, split) in m.splits.enumerated() {
        let c = s < m.counts.count ? m.counts[s] : []
        for (i, n) in c.enumerated() { totals[i] += n }
        grid.append([split] + c.map(String.init) + [String(c.reduce(0, +))])
    }
    grid.append(["all"] + totals.map(String.init) + [String(totals.reduce(0, +))])
    out.append(indent(renderTable(grid, rightAligned: Set(1...(m.classes.count + 1)))))
    if !m.features.isEmpty {
        out.append("")
        let trainF = m.trainF
        let best = trainF.compactMap { $0 }.max() ?? 0
        out.append("features per split (std is the population std; F = one-way ANOVA across classes, '-' when undefined;")
        out.append("◀ = little class signal in train: F not significant at p = 0.001 or under 1% of the best). --json has every figure.")
        var header = ["feature", "train min", "max", "mean", "std", "F"]
        for s in m.splits.dropFirst() { header += ["\(s) mean", "std", "F"] }
        var rows = [header + [""]]
        for (j, f) in m.features.enumerated() {
            let t = f.bySplit.first ?? nil
            var r = [f.name, fmt(t?.min), fmt(t?.max), fmt(t?.mean), fmt(t?.std), fmt(t?.anovaF)]
            for s in f.bySplit.dropFirst() { r += [fmt(s?.mean), fmt(s?.std), fmt(s?.anovaF)] }
            rows.append(r + [Manifest.isWeak(trainF[j], best: best, classCount: m.classes.count) ? "◀" : ""])
        }
        out.append(indent(renderMarked(rows, rightAligned: Set(1..<header.count))))
    }
    out.append("")
    switch m.duplicateBasis {
    case "features"?: out.append("exact-duplicate feature rows: " + zip(m.splits, m.duplicates).map { "\($0) \($1)" }.joined(separator: ", "))
    case "image_hash"?: out.append("duplicate rows (same image; no features yet): " + zip(m.splits, m.duplicates).map { "\($0) \($1)" }.joined(separator: ", "))
    default: out.append("duplicates: not computed (no features and no image hashes)")
    }
    if let v = m.validity {
        out.append("")
        out.append("face validity (stage '\(v.stage)'): faces found / images")
        var grid = [["split", "class", "faces", "images", "rate"]]
        for r in v.rows { grid.append([r.split, r.className, String(r.faces), String(r.images), r.images > 0 ? String(format: "%.1f%%", 100 * Double(r.faces) / Double(r.images)) : "-"]) }
        out.append(indent(renderTable(grid, rightAligned: [2, 3, 4])))
    }
    for a in m.augmentation {
        out.append("")
        out.append(renderStageStats("augmentation (stage '\(a.stage)')", a.stats, classes: m.classes))
    }
    out.append("")
    out.append("lineage")
    var lineage = [["stage", "kind", "key", "rows in", "rows out", "seconds", "params"]]
    for l in m.lineage {
        // Long parameter lists (augment has ~20) are cut; --json has them all.
        let params = abbreviate((l.parameters.objectValue ?? []).map { "\($0.key)=\(abbreviate($0.value.canonical, 40))" }.joined(separator: " "), 100)
        lineage.append([l.stage.name, l.stage.kind, String(l.stage.key.hex.prefix(12)), l.stage.rowsIn.map(String.init) ?? "-",
                        l.stage.rowsOut.map(String.init) ?? "-", l.stage.seconds.map { String(format: "%.2f", $0) } ?? "-", params])
    }
    out.append(indent(renderTable(lineage, rightAligned: [3, 4, 5])))
    out.append("")
    out.append("artifacts")
    var artifacts = [["stage", "artifact", "sha256", "bytes"]]
    for a in m.artifacts { artifacts.append([a.stage, a.name, a.id.hex, String(a.bytes)]) }
    out.append(indent(renderTable(artifacts, rightAligned: [3])))
    return out.joined(separator: "\n")
}

/// `renderTable` for tables whose last column holds change marks: the column is dropped
/// when nothing is marked, so no empty column is drawn.
func renderMarked(_ rows: [[String]], rightAligned: Set<Int>) -> String {
    guard rows.dropFirst().allSatisfy({ $0.last?.isEmpty ?? true }) else { return renderTable(rows, rightAligned: rightAligned) }
    return renderTable(rows.map { Array($0.dropLast()) }, rightAligned: rightAligned)
}

/// A stage's stats for people: scalars as `key value` lines, an object of per-class
/// figures as a table (rows in label order), warnings last.
func renderStageStats(_ title: String, _ stats: JSONValue, classes: [String]) -> String {
    var out = [title]
    var tables: [String] = []
    var warnings: [String] = []
    for (key, value) in stats.objectValue ?? [] {
        if key == "warnings", let list = value.arrayValue {
            warnings += list.compactMap(\.stringValue)
        } else if let perClass = value.objectValue, !perClass.isEmpty, perClass.allSatisfy({ $0.value.objectValue != nil }) {
            var columns: [String] = []
            for (_, figures) in perClass { for (k, v) in figures.objectValue! where v.doubleValue != nil && !columns.contains(k) { columns.append(k) } }
            let ordered = perClass.sorted { (classes.firstIndex(of: $0.key) ?? Int.max, $0.key) < (classes.firstIndex(of: $1.key) ?? Int.max, $1.key) }
            var grid = [[key] + columns]
            for (name, figures) in ordered { grid.append([name] + columns.map { figures[$0]?.canonical ?? "-" }) }
            tables.append(indent(renderTable(grid, rightAligned: Set(1...max(1, columns.count)))))
        } else {
            out.append("  \(key): \(abbreviate(value.canonical, 100))")
        }
    }
    out += tables
    out += warnings.map { "  warning: \($0)" }
    return out.joined(separator: "\n")
}

func indent(_ s: String) -> String { s.split(separator: "\n", omittingEmptySubsequences: false).map { "  " + $0 }.joined(separator: "\n") }

func abbreviate(_ s: String, _ limit: Int = 60) -> String { s.count > limit ? String(s.prefix(limit - 1)) + "…" : s }

// MARK: diff

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
        deltas and the two-sample Kolmogorov-Smirnov statistic (0 = same distribution). Lines
        marked ◀ changed.

        --json prints stable JSON documented by schemas/diff.schema.json.
        """,
    options: versionCacheOptions + [jsonOption],
    positionals: 0...2,
    run: versionCommand("diff") { args in
        let layout = versionLayout(args)
        let store = VersionStore(layout: layout)
        let refs = args.positionals.count == 2 ? args.positionals : args.positionals.count == 1 ? [args.positionals[0], "latest"] : ["latest~1", "latest"]
        let a = try store.resolve(refs[0]), b = try store.resolve(refs[1])
        let diff = DatasetDiff(try VersionDataset(version: a, layout: layout), try VersionDataset(version: b, layout: layout))
        if args.flag("--json") { printJSON(diff.json) } else { print(renderDiff(diff, refs: refs)) }
        return 0
    })

func fmtStat(_ d: Double) -> String { d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : String(format: "%.4g", d) }

func signed(_ n: Int) -> String { n > 0 ? "+\(n)" : String(n) }
func signed(_ d: Double?) -> String {
    guard let d else { return "-" }
    return d > 0 ? "+" + fmt(d) : fmt(d)
}

func renderDiff(_ d: DatasetDiff, refs: [String]) -> String {
    let mark = "◀"
    var out: [String] = []
    out.append("diff \(d.old.shortID) (\(refs[0])) → \(d.new.shortID) (\(refs[1]))" + (d.identical ? ": the same version (identical outputs)" : ""))
    out.append("")
    if d.parameters.isEmpty {
        out.append("parameters: no differences")
    } else {
        out.append("parameters")
        for p in d.parameters {
            if let name = p.parameter {
                out.append("  \(p.stage).\(name): \(p.old ?? "(absent)") → \(p.new ?? "(absent)")  \(mark)")
            } else {
                out.append("  stage \(p.stage): " + (p.old == nil ? "added (\(p.new!))" : "removed (\(p.old!))") + "  \(mark)")
            }
        }
    }
    out.append("")
    let keyed = d.stages
    let all = d.new.stages.map(\.name)
    out.append(keyed.isEmpty ? "stage keys: all \(all.count) the same (everything cached between them)"
               : "stage keys: \(keyed.count) of \(all.count) differ: \(keyed.map(\.stage).joined(separator: ", "))")
    if !keyed.isEmpty {
        var grid = [["stage", "kind", "key A", "key B", "output"]]
        for s in keyed {
            grid.append([s.stage, s.kind, s.oldKey.map { String($0.hex.prefix(12)) } ?? "-", s.newKey.map { String($0.hex.prefix(12)) } ?? "-",
                         s.change == .key ? (s.outputChanged ? "changed" : "same bytes") : s.change.rawValue])
        }
        out.append(indent(renderTable(grid)))
    }
    out.append("")
    out.append("rows per split and class")
    var grid = [["split", "class", "A", "B", "Δ", ""]]
    for c in d.counts { grid.append([c.split, c.className, String(c.old), String(c.new), signed(c.new - c.old), c.new != c.old ? mark : ""]) }
    for split in d.splits {
        let o = d.counts.filter { $0.split == split }.reduce(0) { $0 + $1.old }, n = d.counts.filter { $0.split == split }.reduce(0) { $0 + $1.new }
        grid.append([split, "(total)", String(o), String(n), signed(n - o), n != o ? mark : ""])
    }
    out.append(indent(renderMarked(grid, rightAligned: [2, 3, 4])))
    out.append("")
    let i = d.items
    out.append("rows matched by provenance (\(i.matchedBy.isEmpty ? "row number" : i.matchedBy.joined(separator: " + "))): "
               + "\(i.unchanged) unchanged, \(i.changed) changed, \(i.added) added, \(i.removed) removed"
               + (i.changed + i.added + i.removed > 0 ? "  \(mark)" : ""))
    if i.changed > 0 { out.append("  changed: \(i.featuresChanged) in features, \(i.labelChanged) in label, \(i.splitChanged) in split") }
    for k in ["added", "removed", "changed"] where !(i.examples[k] ?? []).isEmpty {
        out.append("  e.g. \(k): \((i.examples[k] ?? []).joined(separator: ", "))")
    }
    out.append("")
    if d.oldLabels == d.newLabels {
        out.append("labels: the same (\(d.newLabels.joined(separator: ", "))); \(i.labelChanged) matched row(s) relabelled" + (i.labelChanged > 0 ? "  \(mark)" : ""))
    } else {
        out.append("labels: \(d.oldLabels.joined(separator: ", ")) → \(d.newLabels.joined(separator: ", ")); \(i.labelChanged) matched row(s) relabelled  \(mark)")
    }
    out.append("")
    if let basis = d.duplicateBasis {
        out.append(basis == "features" ? "exact-duplicate feature rows" : "duplicate rows (same image; no features)")
        var g = [["split", "A", "B", "Δ", ""]]
        for x in d.duplicates { g.append([x.split, String(x.old), String(x.new), signed(x.new - x.old), x.new != x.old ? mark : ""]) }
        out.append(indent(renderMarked(g, rightAligned: [1, 2, 3])))
    }
    for s in d.stageDuplicates {
        func text(_ p: (before: Int, after: Int)?) -> String { p.map { "\($0.before) → \($0.after)" } ?? "-" }
        let changed = s.old?.after != s.new?.after || s.old?.before != s.new?.before
        out.append("  stage \(s.stage) reports \(s.column) duplicates before → after: A \(text(s.old)), B \(text(s.new))" + (changed ? "  \(mark)" : ""))
    }
    if !d.stageStats.isEmpty {
        out.append("")
        out.append("stage statistics that differ (\(d.stageStats.count))")
        var g = [["stage", "figure", "A", "B", "Δ"]]
        for c in d.stageStats.prefix(40) {
            let delta = c.old.flatMap { o in c.new.map { $0 - o } }
            g.append([c.stage, c.path, c.old.map { fmtStat($0) } ?? "-", c.new.map { fmtStat($0) } ?? "-", delta.map { ($0 > 0 ? "+" : "") + fmtStat($0) } ?? "-"])
        }
        out.append(indent(renderTable(g, rightAligned: [2, 3, 4])))
        if d.stageStats.count > 40 { out.append("  … \(d.stageStats.count - 40) more (see --json)") }
    }
    out.append("")
    let added = d.newFeatures.filter { !d.oldFeatures.contains($0) }, removed = d.oldFeatures.filter { !d.newFeatures.contains($0) }
    if !added.isEmpty { out.append("features added: \(added.joined(separator: ", "))  \(mark)") }
    if !removed.isEmpty { out.append("features removed: \(removed.joined(separator: ", "))  \(mark)") }
    if d.shifts.isEmpty {
        out.append(d.newFeatures.isEmpty && d.oldFeatures.isEmpty ? "feature shift: no features in either version" : "feature shift: no features in common")
    } else {
        let moved = d.shifts.filter { s in s.ks > 0 || (s.old?.mean != s.new?.mean) || (s.old?.std != s.new?.std) }
        out.append("feature shift per split: \(moved.count) of \(d.shifts.count) (feature, split) pairs moved" + (moved.isEmpty ? "" : "; largest KS first"))
        if !moved.isEmpty {
            var g = [["feature", "split", "mean A", "mean B", "Δmean", "std A", "std B", "Δstd", "KS"]]
            let shown = moved.sorted { ($0.ks, $1.feature) > ($1.ks, $0.feature) }.prefix(30)
            for s in shown {
                let dm = s.old.flatMap { o in s.new.map { $0.mean - o.mean } }, ds = s.old.flatMap { o in s.new.map { $0.std - o.std } }
                g.append([s.feature, s.split, fmt(s.old?.mean), fmt(s.new?.mean), signed(dm), fmt(s.old?.std), fmt(s.new?.std), signed(ds), String(format: "%.4f", s.ks)])
            }
            out.append(indent(renderTable(g, rightAligned: Set(2...8))))
            if moved.count > shown.count { out.append("  … \(moved.count - shown.count) more (see --json)") }
        }
    }
    return out.joined(separator: "\n")
}

// MARK: export

let exportCommand = CommandSpec(
    name: "export",
    summary: "write a dataset version as NumPy .npz, CSV, or a stage's images as PNG",
    usage: "blendset export [VERSION] --format npz|csv|png --out PATH [--stage STAGE] [--rows N] [--augmented] [--cache DIR] [--pipeline FILE]",
    details: """
        VERSION defaults to latest.
          npz  --out FILE.npz: X_train, y_train, X_val, y_val, X_test, y_test, feature_names and
               label_names as plain .npy members; loads with numpy.load(f), no allow_pickle. X is
               float32 (rows, features); y is the float32 one-hot (rows, classes). A version without
               features exports its images as uint8 X (rows, height, width) instead.
          csv  --out DIR: train.csv, val.csv, test.csv with a header: provenance, label, label_name,
               one column per feature (or a 'pixels' column), onehot_<class>.
          png  --out DIR --stage STAGE: the images of an image-carrying stage (e.g. augment) as PNG
               files <row>-<class>-<item>.png, plus index.csv (with each row's augmentation recipe);
               --rows N limits them (default 100), --augmented keeps only augmented rows.
        Files are written atomically.
        """,
    options: versionCacheOptions + [
        OptionSpec(name: "--format", valueName: "npz|csv|png", help: "the output format"),
        OptionSpec(name: "--out", valueName: "PATH", help: "the .npz file, or the folder for csv and png"),
        OptionSpec(name: "--stage", valueName: "STAGE", help: "png: the stage whose images to write"),
        OptionSpec(name: "--rows", valueName: "N", help: "png: how many images (default 100)"),
        OptionSpec(name: "--augmented", help: "png: only rows made by augmentation"),
    ],
    positionals: 0...1,
    run: versionCommand("export") { args in
        guard let format = args.value("--format") else { throw UsageError(message: "--format is required (npz, csv or png)", command: "export") }
        guard ["npz", "csv", "png"].contains(format) else { throw UsageError(message: "--format expects npz, csv or png, found '\(format)'", command: "export") }
        guard let out = args.value("--out") else { throw UsageError(message: "--out is required (a .npz file for npz, a folder for csv and png)", command: "export") }
        if format != "png" && (args.value("--stage") != nil || args.value("--rows") != nil || args.flag("--augmented")) {
            throw UsageError(message: "--stage, --rows and --augmented apply to --format png only", command: "export")
        }
        if format == "png" && args.value("--stage") == nil {
            throw UsageError(message: "--format png needs --stage STAGE (a stage with images, e.g. ingest or augment)", command: "export")
        }
        let layout = versionLayout(args)
        let version = try VersionStore(layout: layout).resolve(args.positionals.first ?? "latest")
        switch format {
        case "npz":
            let data = try VersionDataset(version: version, layout: layout)
            let bytes = try DatasetExport.npz(data, layout: layout)
            try AtomicFile.write(bytes, to: out)
            let shapes = data.rowsBySplit.enumerated().map { "\(data.splits[$0.offset]) \($0.element.count)" }.joined(separator: ", ")
            print("wrote \(out) (\(bytes.count) bytes): version \(version.shortID), rows \(shapes), \(data.featureNames.count) features, \(data.classes.count) labels")
        case "csv":
            let data = try VersionDataset(version: version, layout: layout)
            for (split, bytes) in try DatasetExport.csv(data, layout: layout) {
                try AtomicFile.write(bytes, to: out + "/\(split).csv")
                print("wrote \(out)/\(split).csv (\(bytes.count) bytes)")
            }
        default:
            let name = args.value("--stage")!
            guard let stage = version.stage(name) else {
                throw VersionError.unknownStage(stage: name, version: version.shortID, stages: version.stages.map(\.name))
            }
            let rows = try args.int("--rows", in: 1...10_000_000, command: "export") ?? 100
            let files = try DatasetExport.png(stage: stage, of: version, layout: layout, rows: rows, augmentedOnly: args.flag("--augmented"))
            for (file, bytes) in files { try AtomicFile.write(bytes, to: out + "/" + file) }
            print("wrote \(files.count - 1) PNG image(s) of stage '\(name)' and index.csv to \(out)")
        }
        return 0
    })

// MARK: gc

let gcCommand = CommandSpec(
    name: "gc",
    summary: "remove cached results that no kept dataset version needs",
    usage: "blendset gc [--keep-last N] [--keep-tagged] [--memo] [--dry-run] [--json] [--cache DIR] [--pipeline FILE]",
    details: """
        Keeps the versions the rules select (with no rule, every version), and everything they need:
        the run record and artifacts of each of their stages, so a build of a kept version stays a
        no-op. Removes other artifacts and run records, the records and manifests of versions not
        kept, and tags on them. Per-item memo entries (cache/memo) are removed only with --memo.
        Takes the cache lock, so it waits for a running build.

        --json prints {"dry_run", "kept": [ids], "removed_versions": [ids], "removed_tags": [names],
        "objects", "runs", "versions", "memo", "temporaries": {"files", "bytes"}, "bytes_freed"}.
        """,
    options: versionCacheOptions + [
        OptionSpec(name: "--keep-last", valueName: "N", help: "keep the N most recently built versions"),
        OptionSpec(name: "--keep-tagged", help: "keep every tagged version"),
        OptionSpec(name: "--memo", help: "also remove the per-item memo (costly to recompute)"),
        OptionSpec(name: "--dry-run", help: "report what would be removed; remove nothing"),
        jsonOption,
    ],
    run: versionCommand("gc") { args in
        let layout = versionLayout(args)
        let policy = GarbageCollector.Policy(keepLast: try args.int("--keep-last", in: 0...1_000_000, command: "gc"),
                                             keepTagged: args.flag("--keep-tagged"), memo: args.flag("--memo"))
        let r = try GarbageCollector(cacheRoot: layout.root).collect(policy, dryRun: args.flag("--dry-run")) { holder in
            FileHandle.standardError.write("blendset: the cache is locked by a build (\(holder)); waiting for it to finish…\n".data(using: .utf8)!)
        }
        func category(_ c: GarbageCollector.Report.Category) -> JSONValue { .object([("files", .int(c.files)), ("bytes", .int(Int(c.bytes)))]) }
        if args.flag("--json") {
            printJSON(.object([
                ("dry_run", .bool(r.dryRun)), ("kept", .array(r.kept.map { .string($0.id.hex) })),
                ("removed_versions", .array(r.removedVersions.map { .string($0.id.hex) })),
                ("removed_tags", .array(r.removedTags.map { .string($0) })),
                ("objects", category(r.objects)), ("runs", category(r.runs)), ("versions", category(r.versions)),
                ("memo", category(r.memo)), ("temporaries", category(r.temporaries)), ("bytes_freed", .int(Int(r.bytesFreed))),
            ]))
            return 0
        }
        let verb = r.dryRun ? "would remove" : "removed"
        print("kept \(r.kept.count) version(s): " + (r.kept.isEmpty ? "none" : r.kept.map(\.shortID).joined(separator: ", ")))
        if !r.removedVersions.isEmpty { print("\(verb) \(r.removedVersions.count) version(s): \(r.removedVersions.map(\.shortID).joined(separator: ", "))") }
        if !r.removedTags.isEmpty { print("\(verb) tag(s) on them: \(r.removedTags.joined(separator: ", "))") }
        var grid = [["", "files", "bytes"]]
        for (name, c) in [("artifacts", r.objects), ("run records", r.runs), ("version records", r.versions), ("memo", r.memo), ("temporaries", r.temporaries)] {
            grid.append([name, String(c.files), formatBytes(c.bytes)])
        }
        grid.append(["total", String(r.objects.files + r.runs.files + r.versions.files + r.memo.files + r.temporaries.files), formatBytes(r.bytesFreed)])
        print(renderTable(grid, rightAligned: [1, 2]))
        print("\n\(r.dryRun ? "would free" : "freed") \(formatBytes(r.bytesFreed)) (\(r.bytesFreed) bytes)" + (r.dryRun ? " — dry run, nothing removed" : ""))
        return 0
    })

func formatBytes(_ n: Int64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var v = Double(n), u = 0
    while v >= 1024 && u < units.count - 1 { v /= 1024; u += 1 }
    return u == 0 ? "\(n) B" : String(format: "%.1f %@", v, units[u])
}

let versionCommands = [versionsCommand, tagCommand, manifestCommand, diffCommand, exportCommand, gcCommand]
