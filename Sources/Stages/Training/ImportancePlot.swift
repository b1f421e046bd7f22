import Foundation

extension TrainingPlots {
    /// Horizontal bars of each feature's total split gain (gradient-boosted trees), largest
    /// first, with its share of the total; at most `limit` bars.
    public static func featureImportance(_ items: [(String, Double)], limit: Int = 40) -> String {
        let shown = Array(items.prefix(limit))
        let total = items.reduce(0) { $0 + max($1.1, 0) }
        let left = 230.0, barWidth = 520.0, rowHeight = 18.0, top = 60.0
        let width = left + barWidth + 110, height = top + Double(max(shown.count, 1)) * rowHeight + 50
        let title = "Feature importance (total split gain)"
        var svg = SVG.header(width: width, height: height, title: title, drawTitle: false)
        svg += SVG.text(width / 2, 26, title, anchor: "middle", size: 15, bold: true)
        let hidden = items.count - shown.count
        svg += SVG.text(width / 2, 44, "summed over every split of the kept trees" + (hidden > 0 ? "; \(hidden) smaller features not shown" : ""),
                    anchor: "middle", size: 11, fill: "#555")
        let maxGain = max(shown.first?.1 ?? 0, 1e-300)
        for (i, (name, gain)) in shown.enumerated() {
            let y = top + Double(i) * rowHeight
            let w = max(0, gain) / maxGain * barWidth
            svg += SVG.text(left - 8, y + rowHeight - 5, name, anchor: "end", size: 12)
            svg += "<rect x=\(SVG.q(left)) y=\(SVG.q(y + 2)) width=\(SVG.q(w)) height=\(SVG.q(rowHeight - 4)) fill=\"\(trainColor)\"/>\n"
            let share = total > 0 ? max(0, gain) / total * 100 : 0
            svg += SVG.text(left + w + 6, y + rowHeight - 5, String(format: "%.1f%%", share), anchor: "start", size: 11, fill: "#333")
        }
        svg += SVG.line(left, top, left, top + Double(shown.count) * rowHeight, stroke: "#444")
        return svg + "</svg>\n"
    }
}
