import Foundation

/// The drawing primitives shared by the hand-written plots (`TrainingPlots`,
/// `ManifestPlots`): plain SVG 1.1 with no scripts and no external fonts, so any browser
/// or `rsvg-convert` renders it.
enum SVG {
    /// The document start: a white background and, when given, the title drawn at the top left.
    static func header(width: Double, height: Double, title: String, drawTitle: Bool = true) -> String {
        var s = """
        <?xml version="1.0" encoding="UTF-8"?>
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">
        <title>\(escape(title))</title>
        <rect width="100%" height="100%" fill="#ffffff"/>

        """
        if drawTitle { s += text(20, 26, title, anchor: "start", size: 15, fill: "#111111", bold: true) }
        return s
    }

    static func text(_ x: Double, _ y: Double, _ t: String, anchor: String, size: Int, fill: String = "#222222", bold: Bool = false) -> String {
        "<text x=\(q(x)) y=\(q(y)) font-size=\"\(size)\" text-anchor=\"\(anchor)\" fill=\"\(fill)\"\(bold ? " font-weight=\"bold\"" : "")>\(escape(t))</text>\n"
    }

    static func line(_ x0: Double, _ y0: Double, _ x1: Double, _ y1: Double, stroke: String, width: Double = 1, dash: String? = nil) -> String {
        "<line x1=\(q(x0)) y1=\(q(y0)) x2=\(q(x1)) y2=\(q(y1)) stroke=\"\(stroke)\" stroke-width=\"\(f1(width))\"\(dash.map { " stroke-dasharray=\"\($0)\"" } ?? "")/>\n"
    }

    /// Horizontal grid lines with their values at the left, every `step` from the first
    /// multiple of `step` at or above `lo` up to `hi`; `y` maps a value to its position.
    static func yGrid(lo: Double, hi: Double, step: Double, from x0: Double, to x1: Double, y: (Double) -> Double,
                      label: (Double) -> String) -> String {
        guard step > 0, hi > lo else { return "" }
        var s = ""
        var k = (lo / step - 1e-9).rounded(.up)
        while k * step <= hi + step * 1e-6 {
            // k * step can be -0.0 or a hair off zero, which would print as "-0.0".
            let v = abs(k * step) < step * 1e-9 ? 0 : k * step
            s += line(x0, y(v), x1, y(v), stroke: "#e0e0e0")
            s += text(x0 - 6, y(v) + 4, label(v), anchor: "end", size: 11, fill: "#555555")
            k += 1
        }
        return s
    }

    static func q(_ v: Double) -> String { "\"\(f1(v))\"" }
    static func f1(_ v: Double) -> String { String(format: "%.1f", v) }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    /// The smallest of 1, 2, 5 × 10ⁿ that is at least `raw` (and at least `minimum`).
    static func niceStep(_ raw: Double, minimum: Double = 0) -> Double {
        guard raw > 0, raw.isFinite else { return max(1, minimum) }
        let magnitude = pow(10, floor(log10(raw)))
        let r = raw / magnitude
        let step = (r <= 1 ? 1 : r <= 2 ? 2 : r <= 5 ? 5 : 10) * magnitude
        return max(step, minimum)
    }

    /// `text` split into lines of at most `limit` characters at spaces (a longer word keeps
    /// its own line), for titles that would run past the picture.
    static func wrap(_ text: String, limit: Int) -> [String] {
        var lines: [String] = [], current = ""
        for word in text.split(separator: " ", omittingEmptySubsequences: true) {
            if current.isEmpty { current = String(word) }
            else if current.count + 1 + word.count <= limit { current += " " + word }
            else { lines.append(current); current = String(word) }
        }
        if !current.isEmpty { lines.append(current) }
        return lines
    }
}

/// Colours for text on a coloured background, by WCAG 2 relative luminance and contrast.
enum Contrast {
    /// Relative luminance of an sRGB colour given as 0…255 components.
    static func luminance(_ r: Int, _ g: Int, _ b: Int) -> Double {
        func channel(_ c: Int) -> Double {
            let s = Double(c) / 255
            return s <= 0.04045 ? s / 12.92 : pow((s + 0.055) / 1.055, 2.4)
        }
        return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)
    }

    /// Contrast ratio (1…21) of two luminances.
    static func ratio(_ a: Double, _ b: Double) -> Double { (max(a, b) + 0.05) / (min(a, b) + 0.05) }

    /// Black or white, whichever contrasts more with the background. One of the two always
    /// reaches at least 4.58:1, above the 4.5:1 WCAG asks of normal text.
    static func textColor(onRed r: Int, green g: Int, blue b: Int) -> String {
        let l = luminance(r, g, b)
        return ratio(l, 0) >= ratio(l, 1) ? "#000000" : "#ffffff"
    }
}
