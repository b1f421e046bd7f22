import Foundation
import Pipeline

// Text rendering of a diff for people (`blendset diff`); `json` is the stable form.

extension DatasetDiff {
    /// The diff as text; `refs` are the two references as the user gave them.
    public func text(refs: [String]) -> String { renderDiff(self, refs: refs) }
}

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
        out.append(indent(TextTable.render(grid)))
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
    if !d.training.isEmpty {
        for split in ["test", "val"] where d.training.contains(where: { $0.split == split }) {
            let rows = d.training.filter { $0.split == split }
            func f(_ x: Double?) -> String { x.map { String(format: "%.4f", $0) } ?? "-" }
            out.append("")
            out.append("trained model, \(split): A → B")
            var grid = [["class", "precision A", "B", "recall A", "B", "F1 A", "B", "ΔF1", ""]]
            let overall = rows.filter { $0.className == nil }
            for o in overall {
                let changed = o.old != o.new
                grid.append([o.metric == "macro_f1" ? "(macro-F1)" : "(accuracy)", "", "", "", "", f(o.old), f(o.new), signed(o.old.flatMap { a in o.new.map { $0 - a } }), changed ? mark : ""])
            }
            var names: [String] = []
            for r in rows { if let n = r.className, !names.contains(n) { names.append(n) } }
            for name in names {
                func pick(_ m: String) -> DatasetDiff.ScoreChange? { rows.first { $0.className == name && $0.metric == m } }
                let p = pick("precision"), r = pick("recall"), f1 = pick("f1")
                let changed = [p, r, f1].contains { $0?.old != $0?.new }
                grid.append([name, f(p?.old), f(p?.new), f(r?.old), f(r?.new), f(f1?.old), f(f1?.new),
                             signed(f1?.old.flatMap { a in f1?.new.map { $0 - a } }), changed ? mark : ""])
            }
            out.append(indent(renderMarked(grid, rightAligned: [1, 2, 3, 4, 5, 6, 7])))
        }
    }
    if !d.stageStats.isEmpty {
        out.append("")
        out.append("stage statistics that differ (\(d.stageStats.count))")
        var g = [["stage", "figure", "A", "B", "Δ"]]
        for c in d.stageStats.prefix(40) {
            let delta = c.old.flatMap { o in c.new.map { $0 - o } }
            g.append([c.stage, c.path, c.old.map { fmtStat($0) } ?? "-", c.new.map { fmtStat($0) } ?? "-", delta.map { ($0 > 0 ? "+" : "") + fmtStat($0) } ?? "-"])
        }
        out.append(indent(TextTable.render(g, rightAligned: [2, 3, 4])))
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
            out.append(indent(TextTable.render(g, rightAligned: Set(2...8))))
            if moved.count > shown.count { out.append("  … \(moved.count - shown.count) more (see --json)") }
        }
    }
    return out.joined(separator: "\n")
}
