import Foundation
import Formats

/// What a build would do for one stage, and why.
public struct StagePlanStatus: Sendable {
    public enum Action: String, Sendable { case cached, run }
    public var name: String
    public var kind: String
    public var action: Action
    /// Human-readable reasons a stage would run (empty when cached).
    public var reasons: [String]

    /// `{"stages": [{"name", "kind", "action", "reasons"}], "would_run": N}`, stages in plan order.
    public static func json(_ statuses: [StagePlanStatus]) -> JSONValue {
        .object([
            ("stages", .array(statuses.map { s in
                .object([("name", .string(s.name)), ("kind", .string(s.kind)), ("action", .string(s.action.rawValue)),
                         ("reasons", .array(s.reasons.map { .string($0) }))])
            })),
            ("would_run", .int(statuses.filter { $0.action == .run }.count)),
        ])
    }

    /// One line per stage, then how many would run.
    public static func text(_ statuses: [StagePlanStatus]) -> String {
        var lines = statuses.map { s in s.action == .cached ? "  cached     \(s.name)" : "  would run  \(s.name): \(s.reasons.joined(separator: "; "))" }
        let n = statuses.filter { $0.action == .run }.count
        lines.append(n == 0 ? "\nup to date: a build would run nothing" : "\n\(n) of \(statuses.count) stages would run")
        return lines.joined(separator: "\n")
    }
}

extension Builder {
    /// A dry run: decides for each stage whether it is cached or would run, and why,
    /// by comparing its key material with the run record the last build used. With
    /// `targets`, only those stages and what they read from (what `build STAGE ...` runs).
    public func status(targets: [String] = []) throws(PipelineError) -> [StagePlanStatus] {
        var outputs: [String: ContentDigest] = [:]   // known content ids of cached stages
        var result: [StagePlanStatus] = []
        for stage in try plan.restricted(to: targets).stages {
            let unknownInputs = stage.inputs.filter { outputs[$0] == nil }
            // With an input still unknown, its content id is not: compare what is known.
            let inputs: [RunRecord.InputRef] = unknownInputs.isEmpty ? stage.inputs.map { .init(stage: $0, contentID: outputs[$0]!) } : []
            let resolved = try resolve(stage, inputs: inputs)
            var reasons: [String] = []
            let head = store.head(stage.name).flatMap { try? store.record(for: $0) }
            if unknownInputs.isEmpty {
                if let r = try cachedRecord(resolved.key) {
                    outputs[stage.name] = r.contentID
                    result.append(StagePlanStatus(name: stage.name, kind: stage.kind, action: .cached, reasons: []))
                    continue
                }
                if let head {
                    reasons += differences(head: head, material: resolved.material, stage: stage)
                    if reasons.isEmpty { reasons.append("its cached output is missing from the cache") }
                }
            } else {
                for i in unknownInputs { reasons.append("input '\(i)' will be rebuilt (it may stay cached if that output comes out unchanged)") }
                if let head {
                    reasons += differences(head: head, material: resolved.material, stage: stage).filter { !$0.hasPrefix("input ") }
                }
            }
            if head == nil { reasons.insert("never built in this cache", at: 0) }
            result.append(StagePlanStatus(name: stage.name, kind: stage.kind, action: .run, reasons: reasons))
        }
        return result
    }

    private func differences(head: RunRecord, material: KeyMaterial, stage: PlannedStage) -> [String] {
        var reasons: [String] = []
        if head.kind != material.kind { reasons.append("kind changed: \(head.kind) → \(material.kind)") }
        if head.version != material.version {
            reasons.append("code version of '\(material.kind)' changed: \(head.version) → \(material.version)")
        }
        let old = head.parameters.objectValue ?? []
        let new = material.parameters.objectValue ?? []
        let names = Set(old.map(\.key)).union(new.map(\.key)).sorted()
        for n in names {
            let a = old.first { $0.key == n }?.value
            let b = new.first { $0.key == n }?.value
            // Canonical text, as the key hashes it: key order and 0.8 vs 0.80 are no change.
            guard a?.canonical != b?.canonical else { continue }
            let isPath = stage.inputPathParameters.contains(n)
            if isPath {
                reasons.append("the content of \(n) (\(stage.parameters.values[n]?.stringValue ?? "?")) changed")
            } else {
                reasons.append("param \(n): \(a?.canonical ?? "(none)") → \(b?.canonical ?? "(none)")")
            }
        }
        for input in material.inputs {
            let previous = head.inputs.first { $0.stage == input.stage }
            if previous?.contentID != input.contentID { reasons.append("input '\(input.stage)' changed") }
        }
        return reasons
    }
}

extension Builder {
    /// The run records of every stage that is cached for this plan (or, with `targets`, of
    /// those stages and what they read from), by stage name. Stages below one that is not
    /// cached are absent.
    public func cachedRecords(targets: [String] = []) throws(PipelineError) -> [String: RunRecord] {
        var found: [String: RunRecord] = [:]
        for stage in try plan.restricted(to: targets).stages {
            guard stage.inputs.allSatisfy({ found[$0] != nil }) else { continue }
            let resolved = try resolve(stage, inputs: stage.inputs.map { .init(stage: $0, contentID: found[$0]!.contentID) })
            if let r = try cachedRecord(resolved.key) { found[stage.name] = r }
        }
        return found
    }
}
