import Inference
import Pipeline

extension StageRegistry {
    /// Every stage kind with its version, summary and parameters (`blendset help stages`).
    public var help: String {
        var out = ["Stage kinds (pipeline.json: {\"name\", \"kind\", \"inputs\", \"params\"}):", ""]
        for name in names {
            let t = kinds[name]!
            out.append("\(name) (version \(t.version)) — \(t.summary)")
            for p in t.parameters {
                out.append("    \(p.name) = \(p.defaultValue.canonical)")
                out.append("        \(p.summary)")
                if let choices = Self.parameterChoices["\(name).\(p.name)"] {
                    out.append("        accepts any of these \(choices.count):")
                    out += wrapChoices(choices, width: 100, indent: "          ")
                }
            }
            if t.parameters.isEmpty { out.append("    (no parameters)") }
            out.append("")
        }
        return out.joined(separator: "\n")
    }

    /// Values a parameter accepts that are too many for its one-line summary, by `kind.param`.
    static let parameterChoices: [String: [String]] = ["blendshapes.features": Blendshapes.names]
}

/// `items` joined by ", " into lines of at most `width` characters (an item is never split).
private func wrapChoices(_ items: [String], width: Int, indent: String) -> [String] {
    var lines: [String] = []
    var line = indent
    for (i, item) in items.enumerated() {
        let piece = item + (i + 1 < items.count ? "," : "")
        if line != indent && line.count + 1 + piece.count > width {
            lines.append(line)
            line = indent
        }
        line += (line == indent ? "" : " ") + piece
    }
    if line != indent { lines.append(line) }
    return lines
}
