import Foundation
import Formats

/// Hand-written SVG charts for `blendset manifest --plots`: no dependencies, readable in
/// any browser.
public enum ManifestPlots {
    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]

    /// File name → SVG text: `class-counts.svg` always, `feature-distributions.svg` when
    /// the version has features.
    public static func render(_ data: VersionDataset, manifest: Manifest) -> [(name: String, svg: String)] {
        var out = [("class-counts.svg", classCounts(manifest))]
        if data.features != nil { out.append(("feature-distributions.svg", featureDistributions(data, manifest: manifest))) }
        return out
    }

    /// Grouped bars: one group per split, one bar per class, with the counts written on them.
    public static func classCounts(_ m: Manifest) -> String {
        let title = "Rows per split and class — version \(m.version.shortID)"
        let groupWidth = max(60, 28 * m.classes.count + 30), left = 70, top = 50, plotHeight = 260
        let width = max(left + groupWidth * m.splits.count + 30, 40 + title.count * 9), height = top + plotHeight + 80
        let maxCount = max(1, m.counts.flatMap { $0 }.max() ?? 1)
        let step = SVG.niceStep(Double(maxCount) / 5, minimum: 1)
        let axisMax = (Double(maxCount) / step).rounded(.up) * step
        var s = SVG.header(width: Double(width), height: Double(height), title: title)
        let y = { (v: Double) in Double(top + plotHeight) - v / axisMax * Double(plotHeight) }
        s += SVG.yGrid(lo: 0, hi: axisMax, step: step, from: Double(left), to: Double(width - 20), y: y, label: formatCount)
        let bar = 24
        for (si, split) in m.splits.enumerated() {
            let gx = left + si * groupWidth + 15
            for (ci, _) in m.classes.enumerated() {
                let n = si < m.counts.count ? m.counts[si][ci] : 0
                let h = Double(n) / axisMax * Double(plotHeight)
                let x = Double(gx + ci * (bar + 4))
                s += "<rect x=\"\(x)\" y=\(q(Double(top + plotHeight) - h)) width=\"\(bar)\" height=\(q(h)) fill=\"\(palette[ci % palette.count])\"/>\n"
                s += text(x + Double(bar) / 2, Double(top + plotHeight) - h - 4, String(n), anchor: "middle", size: 10, fill: "#333")
            }
            let total = si < m.counts.count ? m.counts[si].reduce(0, +) : 0
            let cx = Double(gx) + Double(m.classes.count * (bar + 4)) / 2
            s += text(cx, Double(top + plotHeight + 18), split, anchor: "middle", size: 13, fill: "#222")
            s += text(cx, Double(top + plotHeight + 34), "\(total) rows", anchor: "middle", size: 11, fill: "#666")
        }
        s += line(Double(left), Double(top + plotHeight), Double(width - 20), Double(top + plotHeight), stroke: "#333")
        s += legend(m.classes, x: left, y: height - 14)
        return s + "</svg>\n"
    }

    /// Small multiples, one panel per feature: the train split's distribution of each
    /// class (share of the class's rows per bin, on a square-root axis so the tails of
    /// spiky features show). Panels of features with little class signal
    /// (`Manifest.isWeak`) are greyed, so they stand out.
    public static func featureDistributions(_ data: VersionDataset, manifest m: Manifest) -> String {
        guard let (values, width) = data.features else { return "" }
        let bySplit = data.rowsBySplit
        let trainIndex = data.splits.firstIndex(of: "train") ?? 0
        let rows = bySplit.indices.contains(trainIndex) && !bySplit[trainIndex].isEmpty ? bySplit[trainIndex] : Array(0..<data.labels.count)
        let splitName = rows.count == data.labels.count && bySplit.count > 1 && bySplit[trainIndex].isEmpty ? "all rows" : data.splits[trainIndex]
        let columns = min(6, max(1, width)), panelW = 190, panelH = 140, gap = 14, left = 20
        let panelRows = (width + columns - 1) / columns
        let svgW = left * 2 + columns * panelW + (columns - 1) * gap
        let fs = m.trainF, ps = m.trainP
        let (d1, d2) = m.trainDegreesOfFreedom
        // About 6 px per character at 11 px: the caption wraps to the picture's width.
        let caption = SVG.wrap("Each panel: share of each class's rows per bin (square-root axis). F = one-way ANOVA across classes, p its p-value (df \(d1), \(d2)); grey panels: no class signal to trust (F undefined, or p > \(Manifest.weakP)).", limit: (svgW - 2 * left) / 6)
        let top = 44 + caption.count * 14 + 4
        let svgH = top + panelRows * (panelH + gap) + 30
        var s = SVG.header(width: Double(svgW), height: Double(svgH), title: "Feature distributions by class (\(splitName)) — version \(m.version.shortID)")
        for (i, l) in caption.enumerated() { s += text(Double(left), Double(44 + i * 14), l, anchor: "start", size: 11, fill: "#555") }
        let bins = 30
        for j in 0..<width {
            let px = left + (j % columns) * (panelW + gap), py = top + (j / columns) * (panelH + gap)
            let f = fs.indices.contains(j) ? fs[j] : nil
            let weak = Manifest.isWeak(f, d1: d1, d2: d2)
            s += "<g transform=\"translate(\(px),\(py))\">\n"
            s += "<rect x=\"0\" y=\"0\" width=\"\(panelW)\" height=\"\(panelH)\" fill=\"\(weak ? "#eeeeee" : "#ffffff")\" stroke=\"#bbb\"/>\n"
            let name = data.featureNames[j]
            s += text(6, 14, name.count > 28 ? String(name.prefix(27)) + "…" : name, anchor: "start", size: 11, fill: weak ? "#666" : "#111", bold: !weak)
            let p = ps.indices.contains(j) ? ps[j] : nil
            s += text(6, 27, f.map { "F = " + formatF($0) + (p.map { ", " + formatP($0) } ?? "") } ?? "F undefined", anchor: "start", size: 10, fill: weak ? "#666" : "#333")
            let column = DatasetStatistics.column(values, width: width, feature: j, rows: rows)
            let lo = Double(column.min() ?? 0), hi = Double(column.max() ?? 0)
            let span = hi > lo ? hi - lo : 1
            let plotX = 8.0, plotY = 34.0, plotW = Double(panelW - 16), plotH = Double(panelH - 52)
            var shares: [[Double]] = []
            for c in data.classes.indices {
                var h = [Double](repeating: 0, count: bins)
                var n = 0
                for r in rows where Int(data.labels[r]) == c {
                    let b = min(bins - 1, max(0, Int((Double(values[r * width + j]) - lo) / span * Double(bins))))
                    h[b] += 1; n += 1
                }
                shares.append(n > 0 ? h.map { ($0 / Double(n)).squareRoot() } : h)
            }
            let top = max(1e-9, shares.flatMap { $0 }.max() ?? 1)
            for (c, h) in shares.enumerated() {
                var points: [String] = []
                for b in 0..<bins {
                    let y = plotY + plotH - h[b] / top * plotH
                    let x0 = plotX + Double(b) / Double(bins) * plotW, x1 = plotX + Double(b + 1) / Double(bins) * plotW
                    points.append("\(f1(x0)),\(f1(y))"); points.append("\(f1(x1)),\(f1(y))")
                }
                s += "<polyline fill=\"none\" stroke=\"\(palette[c % palette.count])\" stroke-width=\"1.4\" stroke-opacity=\"0.9\" points=\"\(points.joined(separator: " "))\"/>\n"
            }
            s += line(plotX, plotY + plotH, plotX + plotW, plotY + plotH, stroke: "#666")
            s += text(plotX, Double(panelH - 6), formatValue(lo), anchor: "start", size: 9, fill: "#666")
            s += text(plotX + plotW, Double(panelH - 6), formatValue(hi), anchor: "end", size: 9, fill: "#666")
            s += "</g>\n"
        }
        s += legend(data.classes, x: left, y: svgH - 12)
        return s + "</svg>\n"
    }

    // MARK: drawing

    static func legend(_ classes: [String], x: Int, y: Int) -> String {
        var s = "", cx = Double(x)
        for (i, c) in classes.enumerated() {
            s += "<rect x=\(q(cx)) y=\"\(y - 10)\" width=\"12\" height=\"12\" fill=\"\(palette[i % palette.count])\"/>\n"
            s += text(cx + 16, Double(y), c, anchor: "start", size: 12, fill: "#222")
            cx += 16 + Double(c.count) * 7.5 + 18
        }
        return s
    }

    static func text(_ x: Double, _ y: Double, _ t: String, anchor: String, size: Int, fill: String, bold: Bool = false) -> String {
        SVG.text(x, y, t, anchor: anchor, size: size, fill: fill, bold: bold)
    }

    static func line(_ x0: Double, _ y0: Double, _ x1: Double, _ y1: Double, stroke: String) -> String {
        SVG.line(x0, y0, x1, y1, stroke: stroke)
    }

    static func q(_ v: Double) -> String { SVG.q(v) }
    static func f1(_ v: Double) -> String { SVG.f1(v) }

    static func formatCount(_ v: Double) -> String { v >= 10_000 ? String(format: "%.0fk", v / 1000) : String(Int(v)) }
    static func formatF(_ f: Double) -> String { f >= 100 ? String(format: "%.0f", f) : String(format: "%.2g", f) }
    static func formatValue(_ v: Double) -> String { String(format: "%.3g", v) }
    static func formatP(_ p: Double) -> String {
        p < 1e-300 ? "p < 1e-300" : "p = " + (p < 1e-4 ? String(format: "%.0e", p) : String(format: "%.4f", p))
    }
}
