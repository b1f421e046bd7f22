import Basics
import Foundation

/// A `--set STAGE.PARAM=VALUE` override from the command line.
public struct ParameterOverride: Sendable, Equatable {
    public var stage: String
    public var parameter: String
    public var value: JSONValue
    public var text: String

    /// Parses `stage.param=value`. The value is JSON; anything that is not valid JSON is
    /// taken as a bare string, so `--set ingest.source=data/x.csv` works unquoted.
    public init(parsing text: String) throws(PipelineError) {
        self.text = text
        let loc = SourceLocation(file: "--set \(MessageText.field(text))", line: 0, column: 0)
        guard let eq = text.firstIndex(of: "=") else {
            throw .invalidPipeline(loc, "expected STAGE.PARAM=VALUE, e.g. balance.per_class=5000")
        }
        let target = text[..<eq]
        guard let dot = target.firstIndex(of: "."), dot != target.startIndex, target.index(after: dot) != target.endIndex else {
            throw .invalidPipeline(loc, "expected STAGE.PARAM before '=', e.g. balance.per_class=5000")
        }
        stage = String(target[..<dot])
        parameter = String(target[target.index(after: dot)...])
        let raw = String(text[text.index(after: eq)...])
        if let parsed = try? JSONParser.parse(raw) {
            value = parsed
        } else {
            value = .string(raw)
        }
        value.line = 0
        value.column = 0
    }
}

/// One stage of a pipeline after parsing, defaults, overrides and validation.
public struct PlannedStage: Sendable {
    public var name: String
    public var kind: String
    public var type: any Stage.Type
    public var implementation: any Stage
    public var inputs: [String]
    public var parameters: StageParameters
    public var location: SourceLocation

    /// Names of parameters whose content (not path) enters the key.
    public var inputPathParameters: [String] {
        type.parameters.compactMap { if case .inputPath = $0.role { return $0.name } else { return nil } }
    }
}

/// A validated pipeline in a topological order (file order where there is a choice).
public struct BuildPlan: Sendable {
    public static let currentVersion = 1
    public var file: String
    public var version: Int
    public var stages: [PlannedStage]

    public func stage(named name: String) -> PlannedStage? { stages.first { $0.name == name } }

    /// The named stages and every stage they read from, directly or not, in plan order:
    /// what `build STAGE ...` runs (as `dvc repro STAGE`). No names means the whole plan.
    public func restricted(to targets: [String]) throws(PipelineError) -> BuildPlan {
        guard !targets.isEmpty else { return self }
        var needed = Set<String>()
        var queue: [String] = []
        for t in targets {
            guard stage(named: t) != nil else { throw .unknownStage(t, known: stages.map(\.name)) }
            queue.append(t)
        }
        while let name = queue.popLast() {
            guard needed.insert(name).inserted, let s = stage(named: name) else { continue }
            queue += s.inputs
        }
        var copy = self
        copy.stages = stages.filter { needed.contains($0.name) }
        return copy
    }

    /// The stages nothing reads from: a dataset version is identified by their outputs.
    public var finalStages: [String] {
        let consumed = Set(stages.flatMap(\.inputs))
        return stages.map(\.name).filter { !consumed.contains($0) }
    }

    /// Parses and validates a pipeline file.
    public static func load(file: String, registry: StageRegistry, overrides: [ParameterOverride] = [],
                            workingDirectory: String = FileManager.default.currentDirectoryPath) throws(PipelineError) -> BuildPlan {
        guard FileManager.default.fileExists(atPath: file) else {
            throw .missingPipelineFile(path: file)
        }
        guard let data = FileManager.default.contents(atPath: file) else {
            throw .io("cannot read the pipeline file \(file)")
        }
        return try parse(Array(data), file: file, registry: registry, overrides: overrides, workingDirectory: workingDirectory)
    }

    public static func parse(_ bytes: [UInt8], file: String, registry: StageRegistry, overrides: [ParameterOverride] = [],
                             workingDirectory: String = FileManager.default.currentDirectoryPath) throws(PipelineError) -> BuildPlan {
        func loc(_ v: JSONValue) -> SourceLocation { SourceLocation(file: file, line: v.line, column: v.column) }
        let root: JSONValue
        do { root = try JSONParser.parse(bytes) } catch {
            throw .invalidPipeline(SourceLocation(file: file, line: error.line, column: error.column), error.message)
        }
        guard let members = root.objectValue else {
            throw .invalidPipeline(loc(root), "expected an object with \"version\" and \"stages\", found \(root.typeName)")
        }
        var version = currentVersion
        var stageList: [JSONValue]?
        for m in members {
            switch m.key {
            case "version":
                guard let v = m.value.intValue else { throw .invalidPipeline(loc(m.value), "\"version\" must be an integer") }
                guard v == currentVersion else {
                    throw .invalidPipeline(loc(m.value), "pipeline format version \(v) is not supported; this blendset reads version \(currentVersion)")
                }
                version = v
            case "stages":
                guard let a = m.value.arrayValue else { throw .invalidPipeline(loc(m.value), "\"stages\" must be an array of stage objects") }
                stageList = a
            default:
                throw .invalidPipeline(loc(m.value), "unknown key \"\(m.key)\" at the top level; expected \"version\" or \"stages\"")
            }
        }
        guard let stageList, !stageList.isEmpty else {
            throw .invalidPipeline(loc(root), "the pipeline has no stages; add a \"stages\" array")
        }
        let baseDirectory = URL(fileURLWithPath: file).deletingLastPathComponent().path

        struct RawStage { var name: String; var kind: String; var inputs: [String]; var inputLocs: [JSONValue]; var params: [(key: String, value: JSONValue)]; var node: JSONValue }
        var raw: [RawStage] = []
        for (index, node) in stageList.enumerated() {
            guard let fields = node.objectValue else { throw .invalidPipeline(loc(node), "stage \(index + 1) must be an object") }
            var name: String?, kind: String?, inputs: [String]?, inputLocs: [JSONValue] = [], params: [(key: String, value: JSONValue)] = []
            for f in fields {
                switch f.key {
                case "name":
                    guard let s = f.value.stringValue else { throw .invalidPipeline(loc(f.value), "a stage name must be a string") }
                    if let problem = stageNameProblem(s) { throw .invalidPipeline(loc(f.value), problem) }
                    name = s
                case "kind":
                    guard let s = f.value.stringValue else { throw .invalidPipeline(loc(f.value), "\"kind\" must be a string") }
                    kind = s
                case "inputs":
                    guard let a = f.value.arrayValue, a.allSatisfy({ $0.stringValue != nil }) else {
                        throw .invalidPipeline(loc(f.value), "\"inputs\" must be an array of stage names")
                    }
                    inputs = a.map { $0.stringValue! }
                    inputLocs = a
                case "params":
                    guard let o = f.value.objectValue else { throw .invalidPipeline(loc(f.value), "\"params\" must be an object") }
                    params = o
                default:
                    throw .invalidPipeline(loc(f.value), "unknown key \"\(f.key)\" in stage \(index + 1); expected \"name\", \"kind\", \"inputs\" or \"params\"")
                }
            }
            guard let name = name ?? kind else { throw .invalidPipeline(loc(node), "stage \(index + 1) needs a \"name\" or a \"kind\"") }
            // A stage named by its kind alone: the kind is then its name and must pass as one.
            if let problem = stageNameProblem(name) { throw .invalidPipeline(loc(node["kind"] ?? node), problem) }
            if raw.contains(where: { $0.name == name }) { throw .invalidPipeline(loc(node), "two stages are named '\(name)'; names must be unique") }
            let resolvedInputs = inputs ?? (raw.last.map { [$0.name] } ?? [])
            raw.append(RawStage(name: name, kind: kind ?? name, inputs: resolvedInputs, inputLocs: inputLocs, params: params, node: node))
        }

        // Overrides must name existing stages and parameters.
        var overridesByStage: [String: [ParameterOverride]] = [:]
        for o in overrides {
            // A bad parameter like any other (EX_CONFIG), not a bad command line.
            guard raw.contains(where: { $0.name == o.stage }) else {
                throw .invalidPipeline(SourceLocation(file: "--set \(MessageText.field(o.text))", line: 0, column: 0),
                                       "no stage named '\(MessageText.field(o.stage))' in the pipeline; stages: \(raw.map(\.name).joined(separator: ", "))")
            }
            overridesByStage[o.stage, default: []].append(o)
        }

        var planned: [PlannedStage] = []
        for r in raw {
            guard let type = registry.kinds[r.kind] else {
                throw .unknownStageKind(loc(r.node["kind"] ?? r.node), kind: r.kind, stage: r.name, known: registry.names)
            }
            let specs = type.parameters
            var values: [String: JSONValue] = [:]
            var locations: [String: SourceLocation] = [:]
            var paths: [String: String] = [:]
            for s in specs { values[s.name] = s.defaultValue }
            func resolvePath(_ name: String, _ value: JSONValue, base: String) {
                guard let p = value.stringValue else { return }
                paths[name] = p.hasPrefix("/") ? p : URL(fileURLWithPath: base).appendingPathComponent(p).standardizedFileURL.path
            }
            for s in specs where s.role != .value { resolvePath(s.name, s.defaultValue, base: baseDirectory) }
            for p in r.params {
                guard let spec = specs.first(where: { $0.name == p.key }) else {
                    throw type.unknownParameterError(p.key, stage: r.name, at: loc(p.value))
                }
                values[p.key] = p.value
                locations[p.key] = loc(p.value)
                if spec.role != .value { resolvePath(p.key, p.value, base: baseDirectory) }
            }
            for o in overridesByStage[r.name] ?? [] {
                let l = SourceLocation(file: "--set \(MessageText.field(o.text))", line: 0, column: 0)
                guard let spec = specs.first(where: { $0.name == o.parameter }) else {
                    throw type.unknownParameterError(o.parameter, stage: r.name, at: l)
                }
                values[o.parameter] = o.value
                locations[o.parameter] = l
                if spec.role != .value { resolvePath(o.parameter, o.value, base: workingDirectory) }
            }
            // An empty path would resolve to the base folder itself, and a stage would scan it.
            for s in specs where s.role != .value && values[s.name]?.stringValue == "" {
                throw .invalidParameter(locations[s.name] ?? loc(r.node), stage: r.name, parameter: s.name, message: "is empty; expected a file or folder path")
            }
            guard type.inputCount.contains(r.inputs.count) else {
                let want = type.inputCount.lowerBound == type.inputCount.upperBound ? "\(type.inputCount.lowerBound)" : "\(type.inputCount.lowerBound) to \(type.inputCount.upperBound)"
                throw .invalidPipeline(loc(r.node), "stage '\(r.name)' (\(r.kind)) takes \(want) input(s), found \(r.inputs.count): \(r.inputs)")
            }
            for (i, input) in r.inputs.enumerated() where !raw.contains(where: { $0.name == input }) {
                throw .unknownInput(i < r.inputLocs.count ? loc(r.inputLocs[i]) : loc(r.node), stage: r.name, input: input)
            }
            let parameters = StageParameters(stage: r.name, values: values, locations: locations, resolvedPaths: paths)
            let implementation = try type.init(parameters: parameters)
            planned.append(PlannedStage(name: r.name, kind: r.kind, type: type, implementation: implementation,
                                        inputs: r.inputs, parameters: parameters, location: loc(r.node)))
        }
        return BuildPlan(file: file, version: version, stages: try topologicalOrder(planned))
    }

    /// The longest stage name accepted (it names files and appears in every message).
    public static let stageNameLimit = 100

    /// Why `name` cannot name a stage, or nil when it can.
    static func stageNameProblem(_ name: String) -> String? {
        if name.isEmpty { return "a stage name must not be empty" }
        if name.count > stageNameLimit {
            return "a stage name must be at most \(stageNameLimit) characters; found \(name.count): '\(MessageText.field(name))'"
        }
        if let bad = name.unicodeScalars.first(where: { $0.properties.generalCategory == .control || $0.properties.generalCategory == .format }) {
            return "a stage name must not contain control characters; found \(MessageText.escape(String(bad))) in '\(MessageText.field(name))'"
        }
        if name.contains(".") || name.contains("/") || name.contains("\\") {
            return "a stage name must not contain '.', '/' or '\\' (it names --set targets and files); found '\(MessageText.field(name))'"
        }
        return nil
    }

    /// Kahn's algorithm, taking ready stages in file order; a leftover means a cycle,
    /// which is then traced so the error names it.
    static func topologicalOrder(_ stages: [PlannedStage]) throws(PipelineError) -> [PlannedStage] {
        var remaining = stages
        var done = Set<String>()
        var ordered: [PlannedStage] = []
        while !remaining.isEmpty {
            guard let i = remaining.firstIndex(where: { $0.inputs.allSatisfy(done.contains) }) else {
                throw .cycle(findCycle(remaining))
            }
            let s = remaining.remove(at: i)
            done.insert(s.name)
            ordered.append(s)
        }
        return ordered
    }

    static func findCycle(_ stages: [PlannedStage]) -> [String] {
        let byName = Dictionary(uniqueKeysWithValues: stages.map { ($0.name, $0) })
        // Every stage left has an unfinished input among the leftovers, so walking
        // inputs must revisit a stage.
        var path: [String] = []
        var current = stages[0].name
        while !path.contains(current) {
            path.append(current)
            guard let next = byName[current]?.inputs.first(where: { byName[$0] != nil }) else { return path }
            current = next
        }
        let cycle = Array(path[path.firstIndex(of: current)!...])
        return cycle.reversed()
    }
}
