import Foundation
import Learning

/// Hand-written SVG for the trainer's outputs: learning curves and a confusion matrix.
/// Plain SVG 1.1 with no scripts or external fonts, so any browser or rsvg renders it.
public enum TrainingPlots {
    static let trainColor = "#1f77b4", valColor = "#ff7f0e", f1Dash = "5,3"

    /// Two panels side by side: loss, and accuracy with macro-F1, for train and val per
    /// epoch; a dashed vertical line marks the epoch whose weights were kept.
    public static func learningCurves(_ h: [EpochRecord], bestEpoch: Int) -> String {
        let width = 960.0, height = 400.0
        var svg = header(width: width, height: height, title: "Learning curves")
        let epochs = Double(max(h.count, 1))
        let losses = h.flatMap { [$0.loss] + ($0.valLoss.map { [$0] } ?? []) }
        let lossMax = niceCeil(losses.max() ?? 1), lossMin = max(0, niceFloor(losses.min() ?? 0))
        let scores = h.flatMap { [$0.accuracy, $0.macroF1] + [$0.valAccuracy, $0.valMacroF1].compactMap { $0 } }
        let scoreMin = max(0, niceFloor((scores.min() ?? 0) - 0.02)), scoreMax = min(1, niceCeil((scores.max() ?? 1) + 0.02))
        let panels: [(title: String, x0: Double, lo: Double, hi: Double, series: [(String, String, String?, [Double?])])] = [
            ("Loss (categorical cross-entropy)", 70, lossMin, lossMax == lossMin ? lossMin + 1 : lossMax, [
                ("train loss", trainColor, nil, h.map { $0.loss }),
                ("val loss", valColor, nil, h.map { $0.valLoss }),
            ]),
            ("Accuracy and macro-F1", 550, scoreMin, scoreMax == scoreMin ? scoreMin + 0.1 : scoreMax, [
                ("train accuracy", trainColor, nil, h.map { $0.accuracy }),
                ("val accuracy", valColor, nil, h.map { $0.valAccuracy }),
                ("train macro-F1", trainColor, f1Dash, h.map { $0.macroF1 }),
                ("val macro-F1", valColor, f1Dash, h.map { $0.valMacroF1 }),
            ]),
        ]
        let pw = 370.0, top = 60.0, ph = 260.0
        for p in panels {
            func px(_ e: Double) -> Double { p.x0 + (epochs <= 1 ? pw / 2 : (e - 1) / (epochs - 1) * pw) }
            func py(_ v: Double) -> Double { top + ph - (v - p.lo) / (p.hi - p.lo) * ph }
            svg += text(p.x0 + pw / 2, top - 12, p.title, anchor: "middle", size: 14, bold: true)
            svg += "<rect x=\(q(p.x0)) y=\(q(top)) width=\(q(pw)) height=\(q(ph)) fill=\"none\" stroke=\"#444\"/>\n"
            let step = niceStep((p.hi - p.lo) / 5)
            var v = (p.lo / step - 1e-9).rounded(.up) * step
            while v <= p.hi + step * 1e-6 {
                svg += line(p.x0, py(v), p.x0 + pw, py(v), stroke: "#e5e5e5")
                svg += text(p.x0 - 6, py(v) + 4, String(format: step < 0.1 ? "%.2f" : "%.1f", v), anchor: "end", size: 11)
                v += step
            }
            let eStep = max(1, niceStep(epochs / 6))
            var e = 1.0
            while e <= epochs {
                svg += line(px(e), top + ph, px(e), top + ph + 4, stroke: "#444")
                svg += text(px(e), top + ph + 17, String(Int(e)), anchor: "middle", size: 11)
                e = e == 1 && eStep > 1 ? eStep : e + eStep
            }
            svg += text(p.x0 + pw / 2, top + ph + 36, "epoch", anchor: "middle", size: 12)
            if bestEpoch >= 1, bestEpoch < h.count {
                svg += "<line x1=\(q(px(Double(bestEpoch)))) y1=\(q(top)) x2=\(q(px(Double(bestEpoch)))) y2=\(q(top + ph)) stroke=\"#2ca02c\" stroke-dasharray=\"2,3\"/>\n"
            }
            for (i, s) in p.series.enumerated() {
                let points = s.3.enumerated().compactMap { (k, v) in v.map { "\(f2(px(Double(k + 1)))),\(f2(py(min(max($0, p.lo), p.hi))))" } }
                guard !points.isEmpty else { continue }
                let dash = s.2.map { " stroke-dasharray=\"\($0)\"" } ?? ""
                svg += "<polyline fill=\"none\" stroke=\"\(s.1)\" stroke-width=\"1.8\"\(dash) points=\"\(points.joined(separator: " "))\"/>\n"
                let ly = top + ph + 56 + Double(i / 2) * 18, lx = p.x0 + Double(i % 2) * 190
                svg += "<line x1=\(q(lx)) y1=\(q(ly - 4)) x2=\(q(lx + 26)) y2=\(q(ly - 4)) stroke=\"\(s.1)\" stroke-width=\"2\"\(dash)/>\n"
                svg += text(lx + 32, ly, s.0, anchor: "start", size: 12)
            }
        }
        if bestEpoch >= 1, bestEpoch < h.count {
            svg += text(width - 10, 22, "dotted green: kept epoch \(bestEpoch)", anchor: "end", size: 11, fill: "#2ca02c")
        }
        return svg + "</svg>\n"
    }

    /// Rows are the true class, columns the predicted class; each cell shows the count and
    /// its share of the row (the recall), shaded by that share.
    public static func confusionMatrix(_ m: ClassificationMetrics, classes: [String], title: String) -> String {
        let k = max(classes.count, 1), cell = 110.0, left = 150.0, top = 90.0
        let width = left + Double(k) * cell + 100, height = top + Double(k) * cell + 80
        var svg = header(width: width, height: height, title: title)
        svg += text(width / 2, 26, title + String(format: " — accuracy %.3f, macro-F1 %.3f", m.accuracy, m.macroF1), anchor: "middle", size: 15, bold: true)
        svg += text(left + Double(k) * cell / 2, top - 32, "predicted", anchor: "middle", size: 13)
        svg += "<text x=\(q(30)) y=\(q(top + Double(k) * cell / 2)) font-family=\"sans-serif\" font-size=\"13\" text-anchor=\"middle\" transform=\"rotate(-90 30 \(f2(top + Double(k) * cell / 2)))\">true</text>\n"
        for (c, name) in classes.enumerated() {
            svg += text(left + (Double(c) + 0.5) * cell, top - 10, name, anchor: "middle", size: 13, bold: true)
            svg += text(left - 10, top + (Double(c) + 0.5) * cell + 5, name, anchor: "end", size: 13, bold: true)
        }
        for r in 0..<m.classes {
            let rowTotal = max(1, m.confusion[r].reduce(0, +))
            for c in 0..<m.classes {
                let share = Double(m.confusion[r][c]) / Double(rowTotal)
                // White to deep blue; text turns white on dark cells.
                let shade = Int(255 - share * 200), color = String(format: "#%02x%02x%02x", shade, Int(255 - share * 130), 255)
                let x = left + Double(c) * cell, y = top + Double(r) * cell
                svg += "<rect x=\(q(x)) y=\(q(y)) width=\(q(cell)) height=\(q(cell)) fill=\"\(color)\" stroke=\"#fff\" stroke-width=\"2\"/>\n"
                let fg = share > 0.55 ? "#ffffff" : "#111111"
                svg += text(x + cell / 2, y + cell / 2, String(m.confusion[r][c]), anchor: "middle", size: 20, fill: fg, bold: r == c)
                svg += text(x + cell / 2, y + cell / 2 + 22, String(format: "%.1f%%", share * 100), anchor: "middle", size: 12, fill: fg)
            }
        }
        svg += text(width / 2, height - 24, "rows: true class; cells: count and share of the row (recall on the diagonal)", anchor: "middle", size: 11, fill: "#555")
        return svg + "</svg>\n"
    }

    static func header(width: Double, height: Double, title: String) -> String {
        """
        <?xml version="1.0" encoding="UTF-8"?>
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))">
        <title>\(escape(title))</title>
        <rect width="100%" height="100%" fill="#ffffff"/>

        """
    }

    static func text(_ x: Double, _ y: Double, _ t: String, anchor: String, size: Int, fill: String = "#222222", bold: Bool = false) -> String {
        "<text x=\(q(x)) y=\(q(y)) font-family=\"sans-serif\" font-size=\"\(size)\" text-anchor=\"\(anchor)\" fill=\"\(fill)\"\(bold ? " font-weight=\"bold\"" : "")>\(escape(t))</text>\n"
    }

    static func line(_ x0: Double, _ y0: Double, _ x1: Double, _ y1: Double, stroke: String) -> String {
        "<line x1=\(q(x0)) y1=\(q(y0)) x2=\(q(x1)) y2=\(q(y1)) stroke=\"\(stroke)\"/>\n"
    }

    static func q(_ v: Double) -> String { "\"\(f2(v))\"" }
    static func f2(_ v: Double) -> String { String(format: "%.1f", v) }
    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
    static func niceStep(_ raw: Double) -> Double {
        guard raw > 0, raw.isFinite else { return 1 }
        let p = pow(10, floor(log10(raw))), f = raw / p
        return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p
    }
    static func niceCeil(_ v: Double) -> Double { let s = niceStep(abs(v) / 5); return (v / s).rounded(.up) * s }
    static func niceFloor(_ v: Double) -> Double { let s = niceStep(abs(v) / 5); return (v / s).rounded(.down) * s }
}
