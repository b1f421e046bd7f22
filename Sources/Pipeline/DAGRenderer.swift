import Foundation
import Formats

/// Renders the stage graph as text, Graphviz dot or Mermaid.
public enum DAGRenderer {
    public static func text(_ plan: BuildPlan) -> String {
        plan.stages.map { s in
            let from = s.inputs.isEmpty ? "" : "  ← " + s.inputs.joined(separator: ", ")
            return "\(s.name) (\(s.kind))\(from)"
        }.joined(separator: "\n")
    }

    public static func dot(_ plan: BuildPlan) -> String {
        var lines = ["digraph pipeline {", "  rankdir=TB;", "  node [shape=box, style=rounded];"]
        for s in plan.stages { lines.append("  \"\(s.name)\" [label=\"\(s.name)\\n(\(s.kind))\"];") }
        for s in plan.stages { for i in s.inputs { lines.append("  \"\(i)\" -> \"\(s.name)\";") } }
        lines.append("}")
        return lines.joined(separator: "\n")
    }

    public static func mermaid(_ plan: BuildPlan) -> String {
        func id(_ n: String) -> String { "s_" + n.map { $0.isLetter || $0.isNumber ? String($0) : "_" }.joined() }
        var lines = ["flowchart TD"]
        for s in plan.stages { lines.append("  \(id(s.name))[\"\(s.name) (\(s.kind))\"]") }
        for s in plan.stages { for i in s.inputs { lines.append("  \(id(i)) --> \(id(s.name))") } }
        return lines.joined(separator: "\n")
    }
}
