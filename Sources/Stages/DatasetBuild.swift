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

    /// Builds, then writes the manifest copy beside the version record (see `Manifest.record`):
    /// only when it is missing or older than the record, so a no-op build writes nothing.
    public func run(observer: (any BuildObserver)? = nil, wait: Bool = true) throws -> BuildReport {
        let builder = self.builder
        let report = try builder.build(observer: observer, wait: wait)
        try Manifest.record(report.version, layout: builder.layout)
        return report
    }
}

extension BuildReport {
    /// `{"version", "stages": [{"name", "kind", "status", "key", "seconds", "rows_in", "rows_out"}], "seconds"}`.
    public var json: JSONValue {
        let stages = JSONValue.array(stages.map { s in
            .object([
                ("name", .string(s.name)), ("kind", .string(s.kind)), ("status", .string(s.status.rawValue)),
                ("key", .string(s.key.hex)), ("seconds", .number((s.seconds * 1000).rounded() / 1000)),
                ("rows_in", s.rowsIn.map { .int($0) } ?? .null), ("rows_out", s.rowsOut.map { .int($0) } ?? .null),
            ])
        })
        return .object([("version", .string(version.id.hex)), ("stages", stages), ("seconds", .number((seconds * 1000).rounded() / 1000))])
    }

    /// The per-stage table and a closing line with the version id.
    public var text: String {
        var rows = [["stage", "kind", "status", "rows in", "rows out", "seconds"]]
        for s in stages {
            rows.append([s.name, s.kind, s.status.rawValue, s.rowsIn.map(String.init) ?? "-", s.rowsOut.map(String.init) ?? "-",
                         s.status == .ran ? String(format: "%.2f", s.seconds) : "-"])
        }
        let ran = stages.filter { $0.status == .ran }.count
        // Face stages that ran say how many images went through the face models and how many came from the memo.
        let face = stages.filter { $0.status == .ran && $0.stats["extracted"]?.intValue != nil }
        let extraction = face.isEmpty ? "" : "\nface models: \(face.reduce(0) { $0 + ($1.stats["extracted"]?.intValue ?? 0) }) images extracted, "
            + "\(face.reduce(0) { $0 + ($1.stats["memo_hits"]?.intValue ?? 0) }) from the memo (\(face.map(\.name).joined(separator: ", ")))"
        return TextTable.render(rows, rightAligned: [3, 4, 5]) + extraction
            + "\n\nversion \(version.shortID)  (\(ran) ran, \(stages.count - ran) cached, \(String(format: "%.2f", seconds)) s)"
    }
}
