import Foundation
import Formats
import Pipeline

// The manifest's text sections for the balance and truncate stages: how many rows each
// source emotion gave each class, class shares per split, and what truncation did per class.

/// The balance and truncate sections of a manifest's text, from the stages' stats.
func renderDatasetStageStats(_ m: Manifest) -> [String] {
    var out: [String] = []
    for l in m.lineage where l.stage.kind == BalanceStage.kind {
        out.append("")
        out.append(renderBalanceStats(l.stage.name, l.stats, classes: m.classes))
    }
    for l in m.lineage where l.stage.kind == TruncateStage.kind && l.stats["classes"] != nil {
        out.append("")
        out.append(renderTruncateStats(l.stage.name, l.stats, classes: m.classes))
    }
    return out
}

/// Members of a stats object in `order` first (stats come back with keys sorted).
private func ordered(_ value: JSONValue?, _ order: [String]) -> [(key: String, value: JSONValue)] {
    let members = value?.objectValue ?? []
    return members.sorted { (order.firstIndex(of: $0.key) ?? Int.max, $0.key) < (order.firstIndex(of: $1.key) ?? Int.max, $1.key) }
}

func renderBalanceStats(_ stage: String, _ stats: JSONValue, classes: [String]) -> String {
    var perClass = "-"
    if let v = stats["per_class"] {
        if v.objectValue != nil {
            perClass = ordered(v, classes).map { "\($0.key) \($0.value.canonical)" }.joined(separator: ", ")
        } else {
            perClass = v.canonical
        }
    }
    let stratify = stats["stratify_by"]?.stringValue ?? "none"
    var out = ["balance (stage '\(stage)'): per_class \(perClass); stratify_by \(stratify)"]
    var grid = [["class", "emotion", "available", "equal share", "received", "note"]]
    for (name, figures) in ordered(stats["classes"], classes) {
        guard let byEmotion = figures["by_emotion"] else { continue }
        var short: Set<String> = []
        for e in figures["short_emotions"]?.arrayValue ?? [] { if let n = e.stringValue { short.insert(n) } }
        for (emotion, e) in ordered(byEmotion, Emotion.names) {
            let available = e["available"]?.canonical ?? "-"
            let share = e["equal_share"]?.canonical ?? "-"
            let received = e["received"]?.canonical ?? "-"
            grid.append([name, emotion, available, share, received, short.contains(emotion) ? "short" : ""])
        }
    }
    if grid.count > 1 {
        out.append("  rows each source emotion gave each class (train; short = fewer rows than an equal share)")
        out.append(indent(renderMarked(grid, rightAligned: [2, 3, 4])))
    }
    if let shares = stats["class_shares"] {
        var table = [["split"] + classes]
        for (split, s) in ordered(shares, Split.allCases.map(\.name)) where s.objectValue != nil {
            var row = [split]
            for c in classes {
                if let x = s[c]?.doubleValue { row.append(String(format: "%.1f%%", 100 * x)) } else { row.append("-") }
            }
            table.append(row)
        }
        out.append("  class shares per split after balancing")
        out.append(indent(TextTable.render(table, rightAligned: Set(1...max(1, classes.count)))))
    }
    for w in stats["share_warnings"]?.arrayValue ?? [] {
        if let text = w.stringValue { out.append("  warning: \(text)") }
    }
    return out.joined(separator: "\n")
}

func renderTruncateStats(_ stage: String, _ stats: JSONValue, classes: [String]) -> String {
    func text(_ v: JSONValue?) -> String { v?.canonical ?? "-" }
    var out = ["truncation (stage '\(stage)'): \(text(stats["digits"])) digits; on_class_change \(stats["on_class_change"]?.stringValue ?? "-"), max_duplicate_share \(text(stats["max_duplicate_share"]))"]
    var grid = [["class", "rows in", "rows out", "duplicates before", "after", "created", "largest share", "collisions created"]]
    for (name, f) in ordered(stats["classes"], classes) {
        var row = [name]
        for key in ["rows_in", "rows_out", "duplicates_before", "duplicates_after", "duplicates_created"] { row.append(text(f[key])) }
        row.append(percent(f["largest_duplicate_share"]))
        row.append(text(f["collisions_created"]))
        grid.append(row)
    }
    out.append(indent(TextTable.render(grid, rightAligned: Set(1...7))))
    for p in stats["class_problems"]?.arrayValue ?? [] {
        if let message = p.stringValue { out.append("  warning: \(message)") }
    }
    return out.joined(separator: "\n")
}

/// A 0-1 share as a percentage with two decimals, "-" when absent.
private func percent(_ value: JSONValue?) -> String {
    guard let value, let x = value.doubleValue else { return "-" }
    return String(format: "%.2f%%", 100 * x)
}
