import Foundation
import Formats
import Pipeline

// Text rendering of a manifest for people (`blendset manifest`); `json` is the stable form.

extension Manifest {
    /// The manifest as text tables; `tags` and `ref` (e.g. `latest~1`) label the heading.
    public func text(tags: [String], ref: String?) -> String { renderManifest(self, tags: tags, ref: ref) }
}

extension DatasetVersion {
    /// `2026-11-25T08:10:02.123Z` → `2026-11-25 08:10:02`.
    public static func shortTime(_ iso: String) -> String {
        String(iso.replacingOccurrences(of: "T", with: " ").prefix(19))
    }
}

/// Text tables as the CLI prints them.
public enum TextTable {
    /// Left/right-aligned text table with a rule under the header.
    public static func render(_ rows: [[String]], rightAligned: Set<Int> = []) -> String {
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
}

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
    out.append("  created   \(DatasetVersion.shortTime(m.version.createdAt))   built \(DatasetVersion.shortTime(m.version.lastBuilt))   blendset \(m.version.blendsetVersion)")
    out.append("  pipeline  \(m.version.pipelineFile)   final table: stage '\(m.finalStage)'")
    out.append("")
    if !m.warnings.isEmpty {
        out.append("warnings (\(m.warnings.count)), as the stages reported them when they ran:")
        out += m.warnings.map { "  \($0.stage): \($0.message)" }
        out.append("")
    }
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
    out.append(indent(TextTable.render(grid, rightAligned: Set(1...(m.classes.count + 1)))))
    if !m.features.isEmpty {
        out.append("")
        let trainF = m.trainF
        let (d1, d2) = m.trainDegreesOfFreedom
        out.append("features per split (std is the population std; F = one-way ANOVA across classes, '-' when undefined;")
        out.append("◀ = no class signal to trust in train: F undefined or its p-value above \(Manifest.weakP)). --json has every figure.")
        var header = ["feature", "train min", "max", "mean", "std", "F"]
        for s in m.splits.dropFirst() { header += ["\(s) mean", "std", "F"] }
        var rows = [header + [""]]
        for (j, f) in m.features.enumerated() {
            let t = f.bySplit.first ?? nil
            var r = [f.name, fmt(t?.min), fmt(t?.max), fmt(t?.mean), fmt(t?.std), fmt(t?.anovaF)]
            for s in f.bySplit.dropFirst() { r += [fmt(s?.mean), fmt(s?.std), fmt(s?.anovaF)] }
            rows.append(r + [Manifest.isWeak(trainF[j], d1: d1, d2: d2) ? "◀" : ""])
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
        out.append(indent(TextTable.render(grid, rightAligned: [2, 3, 4])))
    }
    for a in m.augmentation {
        out.append("")
        out.append(renderStageStats("augmentation (stage '\(a.stage)')", a.stats, classes: m.classes))
    }
    out += renderDatasetStageStats(m)
    for l in m.lineage where l.stage.kind == TrainStage.kind {
        out.append("")
        out.append("model (stage '\(l.stage.name)'): \(l.stats["model"]?.stringValue ?? "trained")")
        out.append("  " + TrainResults.normalizationText(TrainResults.normalization(l.parameters["normalize"])))
    }
    out.append("")
    out.append("lineage")
    var lineage = [["stage", "kind", "key", "rows in", "rows out", "seconds"]]
    for l in m.lineage {
        lineage.append([l.stage.name, l.stage.kind, String(l.stage.key.hex.prefix(12)), l.stage.rowsIn.map(String.init) ?? "-",
                        l.stage.rowsOut.map(String.init) ?? "-", l.stage.seconds.map { String(format: "%.2f", $0) } ?? "-"])
    }
    out.append(indent(TextTable.render(lineage, rightAligned: [3, 4, 5])))
    out.append("")
    out.append("parameters (every one, as canonical JSON; --json has them as values)")
    out.append(renderParameters(m.lineage.map { ($0.stage.name, $0.parameters) }))
    out.append("")
    out.append("artifacts")
    var artifacts = [["stage", "artifact", "sha256", "bytes"]]
    for a in m.artifacts { artifacts.append([a.stage, a.name, a.id.hex, String(a.bytes)]) }
    out.append(indent(TextTable.render(artifacts, rightAligned: [3])))
    return out.joined(separator: "\n")
}

/// Each stage's parameters as `name=value` words after the stage name, filled into lines
/// of at most `width` columns with a hanging indent. Nothing is cut: a value longer than a
/// line continues on the next ones, broken after its commas where it can be.
func renderParameters(_ stages: [(name: String, parameters: JSONValue)], width: Int = 100) -> String {
    let nameWidth = min(24, stages.map(\.name.count).max() ?? 0)
    let hang = 2 + nameWidth + 2
    let room = max(20, width - hang)
    var lines: [String] = []
    let pad = String(repeating: " ", count: hang)
    for (name, parameters) in stages {
        var body: [String] = [], current = ""
        for (key, value) in parameters.objectValue ?? [] {
            // The pieces of a value too long for a line each start a line, so no space is added inside it.
            for (i, w) in pieces("\(key)=\(value.canonical)", room).enumerated() {
                if current.isEmpty { current = w }
                else if i == 0 && current.count + 1 + w.count <= room { current += " " + w }
                else { body.append(current); current = w }
            }
        }
        if !current.isEmpty { body.append(current) }
        if body.isEmpty { body = ["-"] }
        // A stage name longer than the column gets a line of its own, so the words keep their indent.
        if name.count > nameWidth {
            lines.append("  " + name)
            lines += body.map { pad + $0 }
        } else {
            lines.append("  " + name + String(repeating: " ", count: nameWidth - name.count + 2) + body[0])
            lines += body.dropFirst().map { pad + $0 }
        }
    }
    return lines.joined(separator: "\n")
}

/// `word` in pieces of at most `limit` characters, broken after a comma where one falls
/// in the second half of a piece, else at the limit.
func pieces(_ word: String, _ limit: Int) -> [String] {
    var rest = Substring(word), out: [String] = []
    while rest.count > limit {
        let head = rest.prefix(limit)
        var cut = head.endIndex
        if let comma = head.lastIndex(of: ","), head.distance(from: head.startIndex, to: comma) >= limit / 2 {
            cut = head.index(after: comma)
        }
        out.append(String(rest[..<cut]))
        rest = rest[cut...]
    }
    if !rest.isEmpty || out.isEmpty { out.append(String(rest)) }
    return out
}

/// `renderTable` for tables whose last column holds change marks: the column is dropped
/// when nothing is marked, so no empty column is drawn.
func renderMarked(_ rows: [[String]], rightAligned: Set<Int>) -> String {
    guard rows.dropFirst().allSatisfy({ $0.last?.isEmpty ?? true }) else { return TextTable.render(rows, rightAligned: rightAligned) }
    return TextTable.render(rows.map { Array($0.dropLast()) }, rightAligned: rightAligned)
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
            tables.append(indent(TextTable.render(grid, rightAligned: Set(1...max(1, columns.count)))))
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
