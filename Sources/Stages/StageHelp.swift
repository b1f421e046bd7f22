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
            }
            if t.parameters.isEmpty { out.append("    (no parameters)") }
            out.append("")
        }
        return out.joined(separator: "\n")
    }
}
