import Foundation
import Formats
import Learning
import Pipeline

/// Hand-written SVG for the trainer's outputs: learning curves and a confusion matrix.
public enum TrainingPlots {
    /// One epoch's figures, as the history holds them.
    public struct Epoch: Sendable, Equatable {
        public var loss: Double, accuracy: Double, macroF1: Double
        public var valLoss: Double?, valAccuracy: Double?, valMacroF1: Double?

        public init(loss: Double, accuracy: Double, macroF1: Double, valLoss: Double?, valAccuracy: Double?, valMacroF1: Double?) {
            (self.loss, self.accuracy, self.macroF1, self.valLoss, self.valAccuracy, self.valMacroF1) = (loss, accuracy, macroF1, valLoss, valAccuracy, valMacroF1)
        }

        public init(_ e: EpochRecord) {
            self.init(loss: e.loss, accuracy: e.accuracy, macroF1: e.macroF1, valLoss: e.valLoss, valAccuracy: e.valAccuracy, valMacroF1: e.valMacroF1)
        }
    }

    /// What a plot is about, for its heading: `subject` names the data (a version id, or
    /// the train stage's input before the version exists), `parameters` the training setup.
    public struct Heading: Sendable {
        public var subject: String
        public var parameters: String
        public init(subject: String, parameters: String) { (self.subject, self.parameters) = (subject, parameters) }
    }

    static let trainColor = "#1f77b4", valColor = "#ff7f0e"
    // Macro-F1 lies close to accuracy on balanced data: other colours, dashes and markers,
    // drawn after the accuracy lines, keep it visible on top of them.
    static let trainF1Color = "#7b3294", valF1Color = "#8c510a", f1Dash = "7,4", keptColor = "#1a9850"

    /// The parameters that shape a training run, in reading order, as `name=value`.
    public static func parameterSummary(_ values: [String: JSONValue]) -> String {
        let keys = ["model", "units", "activation", "dropout", "lr", "batch_size", "epochs", "early_stopping_patience",
                    "class_weights", "normalize", "clipnorm", "seed"]
        return keys.compactMap { k in values[k].map { "\(k)=\($0.canonical)" } }.joined(separator: " ")
    }

    /// Two panels side by side: loss, and accuracy with macro-F1, for train and val per
    /// epoch. A vertical line marks `keptEpoch`, the epoch whose weights the model holds
    /// (the best validation loss with early stopping, else the last epoch).
    public static func learningCurves(_ h: [Epoch], keptEpoch: Int, earlyStopping: Bool, heading: Heading) -> String {
        let width = 960.0, top = 112.0, ph = 260.0, pw = 370.0
        let title = "Learning curves — \(heading.subject)"
        let parameterLines = SVG.wrap(heading.parameters, limit: 150)
        let height = top + ph + 130
        var svg = SVG.header(width: width, height: height, title: title)
        var y = 46.0
        for l in parameterLines { svg += SVG.text(20, y, l, anchor: "start", size: 11, fill: "#444444"); y += 15 }
        let kept = keptEpoch >= 1 && keptEpoch <= h.count ? keptEpoch : 0
        if kept > 0 {
            let why = earlyStopping ? (kept < h.count ? "best validation loss; early stopping restored it" : "best validation loss")
                                    : "the last epoch; early stopping off"
            svg += SVG.text(20, y, "green line: the kept weights, epoch \(kept) of \(h.count) (\(why))", anchor: "start", size: 11, fill: keptColor, bold: true)
        }
        let epochs = Double(max(h.count, 1))
        let losses = h.flatMap { [$0.loss] + ($0.valLoss.map { [$0] } ?? []) }.filter(\.isFinite)
        let (lossMin, lossMax) = niceRange(losses.min() ?? 0, losses.max() ?? 1, within: 0...Double.greatestFiniteMagnitude)
        let scores = h.flatMap { [$0.accuracy, $0.macroF1] + [$0.valAccuracy, $0.valMacroF1].compactMap { $0 } }.filter(\.isFinite)
        let (scoreMin, scoreMax) = niceRange(scores.min() ?? 0, scores.max() ?? 1, within: 0...1)
        typealias Series = (name: String, color: String, dash: String?, marker: String?, values: [Double?])
        let panels: [(title: String, x0: Double, lo: Double, hi: Double, series: [Series])] = [
            ("Loss (categorical cross-entropy)", 70, lossMin, lossMax <= lossMin ? lossMin + 1 : lossMax, [
                ("train loss", trainColor, nil, nil, h.map { $0.loss }),
                ("val loss", valColor, nil, nil, h.map { $0.valLoss }),
            ]),
            ("Accuracy and macro-F1", 550, scoreMin, scoreMax <= scoreMin ? scoreMin + 0.1 : scoreMax, [
                ("train accuracy", trainColor, nil, nil, h.map { $0.accuracy }),
                ("val accuracy", valColor, nil, nil, h.map { $0.valAccuracy }),
                ("train macro-F1", trainF1Color, f1Dash, "circle", h.map { $0.macroF1 }),
                ("val macro-F1", valF1Color, f1Dash, "square", h.map { $0.valMacroF1 }),
            ]),
        ]
        let markEvery = max(1, Int((epochs / 12).rounded(.up)))
        for p in panels {
            func px(_ e: Double) -> Double { p.x0 + (epochs <= 1 ? pw / 2 : (e - 1) / (epochs - 1) * pw) }
            func py(_ v: Double) -> Double { top + ph - (v - p.lo) / (p.hi - p.lo) * ph }
            svg += SVG.text(p.x0 + pw / 2, top - 10, p.title, anchor: "middle", size: 14, bold: true)
            let step = SVG.niceStep((p.hi - p.lo) / 5)
            // As many decimals as the step needs, so neighbouring labels differ (1.1000, 1.1002, …).
            let decimals = max(1, Int(-floor(log10(step))))
            svg += SVG.yGrid(lo: p.lo, hi: p.hi, step: step, from: p.x0, to: p.x0 + pw, y: py) { String(format: "%.\(decimals)f", $0) }
            svg += "<rect x=\(SVG.q(p.x0)) y=\(SVG.q(top)) width=\(SVG.q(pw)) height=\(SVG.q(ph)) fill=\"none\" stroke=\"#444444\"/>\n"
            let eStep = max(1, SVG.niceStep(epochs / 6))
            var e = 1.0
            while e <= epochs {
                svg += SVG.line(px(e), top + ph, px(e), top + ph + 4, stroke: "#444444")
                svg += SVG.text(px(e), top + ph + 17, String(Int(e)), anchor: "middle", size: 11)
                e = e == 1 && eStep > 1 ? eStep : e + eStep
            }
            svg += SVG.text(p.x0 + pw / 2, top + ph + 34, "epoch", anchor: "middle", size: 12)
            if kept > 0 {
                svg += SVG.line(px(Double(kept)), top, px(Double(kept)), top + ph, stroke: keptColor, width: 1.5, dash: "3,3")
                let right = px(Double(kept)) > p.x0 + pw - 60
                svg += SVG.text(px(Double(kept)) + (right ? -4 : 4), top + 14, "kept: \(kept)", anchor: right ? "end" : "start", size: 11, fill: keptColor, bold: true)
            }
            for (i, s) in p.series.enumerated() {
                var points: [(epoch: Int, value: Double)] = []
                for (k, v) in s.values.enumerated() { if let v, v.isFinite { points.append((k + 1, min(max(v, p.lo), p.hi))) } }
                guard !points.isEmpty else { continue }
                let dash = s.dash.map { " stroke-dasharray=\"\($0)\"" } ?? ""
                let list = points.map { "\(SVG.f1(px(Double($0.epoch)))),\(SVG.f1(py($0.value)))" }.joined(separator: " ")
                svg += "<polyline fill=\"none\" stroke=\"\(s.color)\" stroke-width=\"\(s.dash == nil ? "1.8" : "2.2")\"\(dash) points=\"\(list)\"/>\n"
                if let shape = s.marker {
                    for (epoch, v) in points where (epoch - 1) % markEvery == 0 || epoch == h.count {
                        svg += marker(shape, x: px(Double(epoch)), y: py(v), color: s.color)
                    }
                }
                let ly = top + ph + 54 + Double(i / 2) * 18, lx = p.x0 + Double(i % 2) * 190
                svg += SVG.line(lx, ly - 4, lx + 30, ly - 4, stroke: s.color, width: 2.2, dash: s.dash)
                if let shape = s.marker { svg += marker(shape, x: lx + 15, y: ly - 4, color: s.color) }
                svg += SVG.text(lx + 36, ly, s.name, anchor: "start", size: 12)
            }
        }
        return svg + "</svg>\n"
    }

    static func marker(_ shape: String, x: Double, y: Double, color: String) -> String {
        shape == "square"
            ? "<rect x=\(SVG.q(x - 3)) y=\(SVG.q(y - 3)) width=\"6\" height=\"6\" fill=\"\(color)\"/>\n"
            : "<circle cx=\(SVG.q(x)) cy=\(SVG.q(y)) r=\"3.2\" fill=\"\(color)\"/>\n"
    }

    /// Rows are the true class, columns the predicted class; each cell shows the count and
    /// its share of the row (the recall on the diagonal), and is shaded by that share, so
    /// an imbalanced test set does not make its biggest class look best.
    public static func confusionMatrix(_ m: ClassificationMetrics, classes: [String], title: String, heading: Heading) -> String {
        let k = max(classes.count, 1), cell = 110.0, left = 150.0
        let width = max(left + Double(k) * cell + 100, 600)
        let lines = SVG.wrap(heading.parameters, limit: Int((width - 40) / 6.3))
        let top = 112.0 + Double(lines.count) * 15
        let height = top + Double(k) * cell + 70
        var svg = SVG.header(width: width, height: height, title: "\(title) — \(heading.subject)", drawTitle: false)
        svg += SVG.text(width / 2, 26, "\(title) — \(heading.subject)", anchor: "middle", size: 15, bold: true)
        svg += SVG.text(width / 2, 46, String(format: "accuracy %.3f, macro-F1 %.3f, %d rows", m.accuracy, m.macroF1, m.total), anchor: "middle", size: 13)
        var y = 64.0
        for l in lines { svg += SVG.text(width / 2, y, l, anchor: "middle", size: 11, fill: "#444444"); y += 15 }
        let gridLeft = left + (width - left - 100 - Double(k) * cell) / 2
        svg += SVG.text(gridLeft + Double(k) * cell / 2, top - 32, "predicted", anchor: "middle", size: 13)
        let midY = top + Double(k) * cell / 2
        svg += "<text x=\(SVG.q(30)) y=\(SVG.q(midY)) font-size=\"13\" text-anchor=\"middle\" fill=\"#222222\" transform=\"rotate(-90 30 \(SVG.f1(midY)))\">true</text>\n"
        for (c, name) in classes.enumerated() {
            svg += SVG.text(gridLeft + (Double(c) + 0.5) * cell, top - 10, name, anchor: "middle", size: 13, bold: true)
            svg += SVG.text(gridLeft - 10, top + (Double(c) + 0.5) * cell + 5, name, anchor: "end", size: 13, bold: true)
        }
        for r in 0..<m.classes {
            let rowTotal = m.confusion[r].reduce(0, +)
            for c in 0..<m.classes {
                let share = rowTotal > 0 ? Double(m.confusion[r][c]) / Double(rowTotal) : 0
                let (red, green, blue) = cellColor(share: share)
                let x = gridLeft + Double(c) * cell, y = top + Double(r) * cell
                svg += "<rect x=\(SVG.q(x)) y=\(SVG.q(y)) width=\(SVG.q(cell)) height=\(SVG.q(cell)) fill=\"\(hex(red, green, blue))\" stroke=\"#ffffff\" stroke-width=\"2\"/>\n"
                let fg = Contrast.textColor(onRed: red, green: green, blue: blue)
                svg += SVG.text(x + cell / 2, y + cell / 2 - 2, String(format: "%.1f%%", share * 100), anchor: "middle", size: 20, fill: fg, bold: r == c)
                svg += SVG.text(x + cell / 2, y + cell / 2 + 20, "\(m.confusion[r][c]) of \(rowTotal)", anchor: "middle", size: 12, fill: fg)
            }
        }
        svg += SVG.text(width / 2, height - 34, "rows: true class, columns: predicted class; each cell: its share of the row", anchor: "middle", size: 11, fill: "#555555")
        svg += SVG.text(width / 2, height - 19, "(the recall on the diagonal), which shades it, and its count of the row's total", anchor: "middle", size: 11, fill: "#555555")
        return svg + "</svg>\n"
    }

    /// A matrix whose rows are the source FER2013 emotions and whose columns are the
    /// predicted classes; each cell is shaded by its share of the row.
    public static func emotionConfusion(_ rows: [(name: String, counts: [Int])], classes: [String], title: String, heading: Heading) -> String {
        let k = max(classes.count, 1), n = max(rows.count, 1), cellW = 110.0, cellH = 56.0, left = 150.0
        let width = max(left + Double(k) * cellW + 100, 600)
        let lines = SVG.wrap(heading.parameters, limit: Int((width - 40) / 6.3))
        let top = 112.0 + Double(lines.count) * 15
        let height = top + Double(n) * cellH + 55
        let total = rows.reduce(0) { $0 + $1.counts.reduce(0, +) }
        var svg = SVG.header(width: width, height: height, title: "\(title) — \(heading.subject)", drawTitle: false)
        svg += SVG.text(width / 2, 26, "\(title) — \(heading.subject)", anchor: "middle", size: 15, bold: true)
        svg += SVG.text(width / 2, 46, "\(total) rows by their FER2013 emotion before select merged them", anchor: "middle", size: 13)
        var y = 64.0
        for l in lines { svg += SVG.text(width / 2, y, l, anchor: "middle", size: 11, fill: "#444444"); y += 15 }
        let gridLeft = left + (width - left - 100 - Double(k) * cellW) / 2
        svg += SVG.text(gridLeft + Double(k) * cellW / 2, top - 32, "predicted class", anchor: "middle", size: 13)
        let midY = top + Double(n) * cellH / 2
        svg += "<text x=\(SVG.q(30)) y=\(SVG.q(midY)) font-size=\"13\" text-anchor=\"middle\" fill=\"#222222\" transform=\"rotate(-90 30 \(SVG.f1(midY)))\">source emotion</text>\n"
        for (c, name) in classes.enumerated() {
            svg += SVG.text(gridLeft + (Double(c) + 0.5) * cellW, top - 10, name, anchor: "middle", size: 13, bold: true)
        }
        for (r, row) in rows.enumerated() {
            let rowTotal = row.counts.reduce(0, +)
            svg += SVG.text(gridLeft - 10, top + (Double(r) + 0.5) * cellH + 5, row.name, anchor: "end", size: 13, bold: true)
            for c in 0..<min(k, row.counts.count) {
                let share = rowTotal > 0 ? Double(row.counts[c]) / Double(rowTotal) : 0
                let (red, green, blue) = cellColor(share: share)
                let x = gridLeft + Double(c) * cellW, y = top + Double(r) * cellH
                svg += "<rect x=\(SVG.q(x)) y=\(SVG.q(y)) width=\(SVG.q(cellW)) height=\(SVG.q(cellH)) fill=\"\(hex(red, green, blue))\" stroke=\"#ffffff\" stroke-width=\"2\"/>\n"
                let fg = Contrast.textColor(onRed: red, green: green, blue: blue)
                svg += SVG.text(x + cellW / 2, y + cellH / 2 - 2, String(format: "%.1f%%", share * 100), anchor: "middle", size: 16, fill: fg)
                svg += SVG.text(x + cellW / 2, y + cellH / 2 + 16, "\(row.counts[c]) of \(rowTotal)", anchor: "middle", size: 11, fill: fg)
            }
        }
        svg += SVG.text(width / 2, height - 19, "rows: source emotion, columns: predicted class; each cell: its share of the row and its count", anchor: "middle", size: 11, fill: "#555555")
        return svg + "</svg>\n"
    }

    /// The shade of a cell holding `share` of its row: a sequential blue ramp (ColorBrewer
    /// Blues) from near-white at 0 to deep blue at 1.
    static func cellColor(share: Double) -> (Int, Int, Int) {
        let stops: [(Int, Int, Int)] = [(0xf7, 0xfb, 0xff), (0xde, 0xeb, 0xf7), (0xc6, 0xdb, 0xef), (0x9e, 0xca, 0xe1), (0x6b, 0xae, 0xd6),
                                        (0x42, 0x92, 0xc6), (0x21, 0x71, 0xb5), (0x08, 0x51, 0x9c), (0x08, 0x30, 0x6b)]
        let t = min(max(share.isFinite ? share : 0, 0), 1) * Double(stops.count - 1)
        let i = min(Int(t), stops.count - 2), f = t - Double(i)
        func mix(_ a: Int, _ b: Int) -> Int { Int((Double(a) + (Double(b) - Double(a)) * f).rounded()) }
        return (mix(stops[i].0, stops[i + 1].0), mix(stops[i].1, stops[i + 1].1), mix(stops[i].2, stops[i + 1].2))
    }

    static func hex(_ r: Int, _ g: Int, _ b: Int) -> String { String(format: "#%02x%02x%02x", r, g, b) }

    /// An axis range around [lo, hi] that starts and ends on a round step (about five
    /// steps across the data's own spread, so flat curves are not squashed), kept within `bounds`.
    static func niceRange(_ lo: Double, _ hi: Double, within bounds: ClosedRange<Double>) -> (Double, Double) {
        // A flat curve gets a margin on both sides, so it runs through the middle, not along an edge.
        let margin = hi - lo > 1e-9 ? 0 : max(abs(hi), 1) * 0.05
        let (lo, hi) = (lo - margin, hi + margin)
        let step = SVG.niceStep((hi - lo) / 5)
        var a = (lo / step).rounded(.down) * step, b = (hi / step).rounded(.up) * step
        if b - a < step { b = a + step }
        a = max(a, bounds.lowerBound); b = min(b, bounds.upperBound)
        return b > a ? (a, b) : (bounds.lowerBound, min(bounds.upperBound, bounds.lowerBound + 1))
    }
}
