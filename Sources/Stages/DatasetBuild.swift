import Foundation
import Pipeline

/// One build of a pipeline file into a cache: load the plan (with `--set` overrides), run
/// the stages that are not cached, then record the version's manifest beside its record.
/// `build` and every `tune` trial go through here, so a version never lacks its manifest.
public struct DatasetBuild: Sendable {
    /// The pipeline file used when none is given.
    public static let defaultPipelineFile = "pipeline.json"
    /// The cache folder's name, beside the pipeline file, when no cache is given.
    public static let defaultCacheFolder = "cache"

    /// The cache beside a pipeline file (`cache`, or `dir/cache` for `dir/pipeline.json`).
    public static func defaultCacheRoot(pipelineFile: String) -> String {
        let base = URL(fileURLWithPath: pipelineFile).deletingLastPathComponent().path
        return base == "." || base.isEmpty ? defaultCacheFolder : base + "/" + defaultCacheFolder
    }

    public var plan: BuildPlan
    public var cacheRoot: String
    public var jobs: Int

    /// Loads and validates the pipeline; `cacheRoot` nil means the cache beside it.
    public init(pipelineFile: String = defaultPipelineFile, cacheRoot: String? = nil, overrides: [ParameterOverride] = [],
                jobs: Int = ProcessInfo.processInfo.activeProcessorCount) throws(PipelineError) {
        plan = try BuildPlan.load(file: pipelineFile, registry: standardStages, overrides: overrides)
        self.cacheRoot = cacheRoot ?? Self.defaultCacheRoot(pipelineFile: pipelineFile)
        self.jobs = jobs
    }

    public var builder: Builder { Builder(plan: plan, cacheRoot: cacheRoot, jobs: jobs) }
    public var layout: CacheLayout { CacheLayout(root: cacheRoot) }

    /// Builds (with `targets`, only those stages and what they read from), then writes the
    /// manifest copy beside the version record (see `Manifest.record`): only when it is
    /// missing or older than the record, so a no-op build writes nothing.
    public func run(observer: (any BuildObserver)? = nil, wait: Bool = true, targets: [String] = []) throws -> BuildReport {
        let builder = self.builder
        let report = try builder.build(observer: observer, wait: wait, targets: targets)
        if let version = report.recordedVersion { try Manifest.record(version, layout: builder.layout) }
        return report
    }
}

extension BuildReport {
    /// `{"version", "stages": [{"name", "kind", "status", "key", "seconds", "rows_in", "rows_out"}], "seconds",
    /// "targets", "warnings": [{"stage", "message"}]}`; "version" is null for a partial build.
    public var json: JSONValue {
        let stages = JSONValue.array(stages.map { s in
            .object([
                ("name", .string(s.name)), ("kind", .string(s.kind)), ("status", .string(s.status.rawValue)),
                ("key", .string(s.key.hex)), ("seconds", .number((s.seconds * 1000).rounded() / 1000)),
                ("rows_in", s.rowsIn.map { .int($0) } ?? .null), ("rows_out", s.rowsOut.map { .int($0) } ?? .null),
            ])
        })
        var members: [(String, JSONValue)] = [
            ("version", recordedVersion.map { .string($0.id.hex) } ?? .null), ("stages", stages),
            ("seconds", .number((seconds * 1000).rounded() / 1000)),
            ("targets", .array(targets.map { .string($0) })),
            ("warnings", .array(warnings.map { .object([("stage", .string($0.stage)), ("message", .string($0.message))]) }))]
        if !shards.isEmpty {
            members.append(("shards", .array(shards.map { s in
                .object([("count", .int(s.count)), ("found", .array(s.found.map { .int($0) })), ("missing", .array(s.missing.map { .int($0) }))])
            })))
        }
        return .object(members)
    }

    /// The per-stage table, a closing line with the version id, the warnings (cached stages'
    /// too, so they cannot scroll away) and, for `build STAGE ...`, the named stages' stats.
    public var text: String {
        var rows = [["stage", "kind", "status", "rows in", "rows out", "seconds"]]
        for s in stages {
            rows.append([s.name, s.kind, s.status.rawValue, s.rowsIn.map(String.init) ?? "-", s.rowsOut.map(String.init) ?? "-",
                         s.status == .ran ? String(format: "%.2f", s.seconds) : "-"])
        }
        let ran = stages.filter { $0.status == .ran }.count
        let counts = "(\(ran) ran, \(stages.count - ran) cached, \(String(format: "%.2f", seconds)) s)"
        // Face stages that ran say how many images went through the face models and how many came from the memo.
        let face = stages.filter { $0.status == .ran && $0.stats["extracted"]?.intValue != nil }
        let extraction = face.isEmpty ? "" : "\nface models: \(face.reduce(0) { $0 + ($1.stats["extracted"]?.intValue ?? 0) }) images extracted, "
            + "\(face.reduce(0) { $0 + ($1.stats["memo_hits"]?.intValue ?? 0) }) from the memo (\(face.map(\.name).joined(separator: ", ")))"
        var out = TextTable.render(rows, rightAligned: [3, 4, 5]) + extraction + shardsText + "\n\n"
        if let recordedVersion {
            out += "version \(recordedVersion.shortID)  \(counts)"
        } else {
            out += "no version recorded: a partial build up to \(targets.joined(separator: ", ")) \(counts); 'blendset build' builds and records one"
        }
        if !warnings.isEmpty { out += "\n\n" + warningsText }
        for name in targets {
            guard let s = stages.first(where: { $0.name == name }), let members = s.stats.objectValue,
                  members.contains(where: { $0.key != "warnings" }) else { continue }
            out += "\n\nstage '\(s.name)' (\(s.kind)) stats"
            for (key, value) in members where key != "warnings" {
                let rows = Self.statsRows(value, path: [])
                guard value.objectValue != nil, !rows.isEmpty else { out += "\n  \(key): \(value.canonical.count > 100 ? String(value.canonical.prefix(99)) + "…" : value.canonical)"; continue }
                // Nested figures (split → class → counts) as one table: the path, then the figures.
                let depth = rows.map(\.path.count).max() ?? 0
                var columns: [String] = []
                for r in rows { for (k, _) in r.figures where !columns.contains(k) { columns.append(k) } }
                var grid = [[key] + [String](repeating: "", count: max(0, depth - 1)) + columns]
                for r in rows {
                    let path = r.path + [String](repeating: "", count: depth - r.path.count)
                    grid.append((depth == 0 ? [""] : path) + columns.map { c in r.figures.first { $0.0 == c }?.1.canonical ?? "-" })
                }
                out += "\n" + TextTable.render(grid, rightAligned: Set(max(1, depth)..<(max(1, depth) + columns.count)))
                    .split(separator: "\n").map { "  " + $0 }.joined(separator: "\n")
            }
        }
        return out
    }

    /// After a sharded build: which shards' reports the merge found (`cache/shards/`).
    var shardsText: String {
        shards.map { s in
            s.missing.isEmpty ? "\nshards: all \(s.count) of \(s.count) reported"
                : "\nshards: \(s.found.count) of \(s.count) reported; missing: \(s.missing.map(String.init).joined(separator: ", ")) "
                    + "(this build computed their items; or rerun only those with --shard K/\(s.count), then this build)"
        }.joined()
    }

    /// The objects of scalars inside a stats value, each with the keys leading to it.
    static func statsRows(_ value: JSONValue, path: [String]) -> [(path: [String], figures: [(String, JSONValue)])] {
        guard let members = value.objectValue else { return [] }
        let scalars = members.filter { $0.value.objectValue == nil && $0.value.arrayValue == nil }.map { ($0.key, $0.value) }
        var rows = scalars.isEmpty ? [] : [(path: path, figures: scalars)]
        for m in members where m.value.objectValue != nil { rows += statsRows(m.value, path: path + [m.key]) }
        return rows
    }

    /// `N warning(s):` and one line per warning, naming its stage.
    public var warningsText: String {
        let list = warnings
        return "\(list.count) warning\(list.count == 1 ? "" : "s"):\n" + list.map { "  \($0.stage): \($0.message)" }.joined(separator: "\n")
    }
}
