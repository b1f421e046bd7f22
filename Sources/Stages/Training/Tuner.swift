import Basics
import Foundation
import Formats
import Learning
import Pipeline

/// Why a tuning grid cannot be read.
public struct TuneError: Error, Sendable, CustomStringConvertible {
    public var description: String
}

/// Hyper-parameter search: each trial is a `DatasetBuild` with the grid values as extra
/// overrides, so the dataset is built once and a trial run before comes from the cache.
/// Trials are ranked by validation accuracy, the mean over the seeds with `train.seeds` (ties:
/// validation macro-F1, then trial number) and the summary is stored under `CacheLayout.tune`, where `gc` finds the
/// versions it references.
public struct Tuner: Sendable {
    public struct Axis: Sendable {
        public var name: String
        public var values: [ParameterOverride]
    }

    public struct Trial: Sendable {
        public var trial: Int
        public var overrides: [ParameterOverride]
        public var version: DatasetVersion
        public var metrics: JSONValue
        /// Whether the train stage ran (false: the whole trial came from the cache).
        public var ran: Bool

        public func score(_ split: String, _ key: String) -> Double { metrics[split]?[key]?.doubleValue ?? -1 }
    }

    public struct Result: Sendable {
        /// Best first.
        public var trials: [Trial]
        public var json: JSONValue
        /// Where the summary was stored.
        public var path: String
        /// The trials as `blendset compare` shows them, best first, against trial 1.
        public var table: ExperimentTable

        /// The ranking for people, best first.
        public var text: String {
            "Objective: val accuracy (descending), ties by val macro-F1; stored in \(path)\n"
                + table.text + (trials.contains { !$0.ran } ? "\ncached: " + trials.filter { !$0.ran }.map { "#\($0.trial)" }.joined(separator: " ") : "")
        }
    }

    public var pipelineFile: String
    public var cacheRoot: String?
    public var base: [ParameterOverride]
    public var grid: [String]
    public var jobs: Int

    public init(pipelineFile: String, cacheRoot: String?, base: [ParameterOverride], grid: [String], jobs: Int) {
        self.pipelineFile = pipelineFile
        self.cacheRoot = cacheRoot
        self.base = base
        self.grid = grid
        self.jobs = jobs
    }

    /// Parses `STAGE.PARAM=V1,V2,...` strings; values are JSON (arrays too).
    public static func axes(_ grid: [String]) throws -> [Axis] {
        guard !grid.isEmpty else { throw TuneError(description: "give at least one --grid STAGE.PARAM=V1,V2,...") }
        return try grid.map { g in
            guard let eq = g.firstIndex(of: "=") else { throw TuneError(description: "--grid expects STAGE.PARAM=V1,V2,..., found '\(g)'") }
            let name = String(g[..<eq])
            let values = splitValues(String(g[g.index(after: eq)...]))
            guard !values.isEmpty else { throw TuneError(description: "--grid \(name) has no values") }
            return Axis(name: name, values: try values.map { v throws(PipelineError) in try ParameterOverride(parsing: name + "=" + v) })
        }
    }

    /// Splits `a,b,[1,2],c` at top-level commas (not inside brackets, braces or quotes).
    static func splitValues(_ s: String) -> [String] {
        var out: [String] = [], cur = "", depth = 0, quoted = false
        for ch in s {
            if ch == "\"" { quoted.toggle() }
            if !quoted { if "[{".contains(ch) { depth += 1 } else if "]}".contains(ch) { depth -= 1 } }
            if ch == ",", depth == 0, !quoted { out.append(cur); cur = "" } else { cur.append(ch) }
        }
        out.append(cur)
        return out.filter { !$0.isEmpty }
    }

    /// Every combination of the axes, in grid order; with `random`, that many of them
    /// drawn without replacement by a generator seeded with `seed`.
    public static func combinations(_ axes: [Axis], random: Int? = nil, seed: UInt64 = 42) -> [[ParameterOverride]] {
        var combos: [[ParameterOverride]] = [[]]
        for axis in axes { combos = combos.flatMap { c in axis.values.map { c + [$0] } } }
        if let n = random {
            var rng = SeededRandom(seed: seed)
            rng.shuffle(&combos)
            combos = Array(combos.prefix(n))
        }
        return combos
    }

    /// Runs the trials in order (`onTrial(number, count, overrides)` before each), ranks
    /// them and stores the summary as `tune/<id>.json`.
    public func run(_ combinations: [[ParameterOverride]], observer: (any BuildObserver)? = nil,
                    onTrial: (Int, Int, [ParameterOverride]) -> Void = { _, _, _ in }) throws -> Result {
        var trials: [Trial] = []
        var layout = CacheLayout(root: cacheRoot ?? DatasetBuild.defaultCacheRoot(pipelineFile: pipelineFile))
        // Every value, and every combination, is checked before the first trial trains:
        // a typo in the last value must not cost a full trial first.
        for axis in try Self.axes(grid) {
            for value in axis.values {
                _ = try DatasetBuild(pipelineFile: pipelineFile, cacheRoot: cacheRoot, overrides: base + [value], jobs: jobs)
            }
        }
        let builds = try combinations.map { combo in
            try DatasetBuild(pipelineFile: pipelineFile, cacheRoot: cacheRoot, overrides: base + combo, jobs: jobs)
        }
        for (i, (combo, build)) in zip(combinations, builds).enumerated() {
            onTrial(i + 1, combinations.count, combo)
            layout = build.layout
            let report = try build.run(observer: observer, wait: true)
            let ran = report.stages.contains { $0.kind == TrainStage.kind && $0.status == .ran }
            trials.append(Trial(trial: i + 1, overrides: combo, version: report.version,
                                metrics: try TrainResults.metrics(report.version, layout: layout), ran: ran))
        }
        var table = try ExperimentTable(versions: trials.map(\.version), labels: trials.map { "#\($0.trial)" },
                                        baseline: trials.first?.version, layout: layout)
        let order = Self.ranking(table)
        trials = order.map { trials[$0] }
        table.rows = order.map { table.rows[$0] }
        table.sortColumn = "val_accuracy"
        table.descending = true
        func figure(_ row: ExperimentTable.Row, _ column: String) -> JSONValue { .number(row.metrics[column]?.mean ?? -1) }
        let summary = JSONValue.object([
            ("grid", .array(grid.map { .string($0) })), ("base", .array(base.map { .string($0.text) })),
            ("objective", .string("val accuracy (the mean over the seeds with train.seeds)")),
            ("trials", .array(zip(trials, table.rows).map { r, row in
                .object([("trial", .int(r.trial)), ("overrides", .object(r.overrides.map { ("\($0.stage).\($0.parameter)", $0.value) })),
                         ("version", .string(r.version.id.hex)), ("cached", .bool(!r.ran)),
                         ("val_accuracy", figure(row, "val_accuracy")), ("val_macro_f1", figure(row, "val_macro_f1")),
                         ("test_accuracy", figure(row, "test_accuracy")), ("test_macro_f1", figure(row, "test_macro_f1")),
                         ("seeds", .int(row.seeds)), ("epochs", r.metrics["epochs"] ?? .null), ("seconds", r.metrics["seconds"] ?? .null)])
            })),
        ])
        let path = layout.tuneResult(String(SHA256.digest(summary.canonical).hex.prefix(12)))
        try FileManager.default.createDirectory(atPath: layout.tune, withIntermediateDirectories: true)
        try AtomicFile.write(Array((summary.pretty() + "\n").utf8), to: path)
        return Result(trials: trials, json: summary, path: path, table: table)
    }

    /// The order of `table`'s rows, best first: by the val accuracy the table shows (with
    /// train.seeds the mean over the seeds, not the ensemble's, so the ranking agrees with the
    /// column it is sorted by), ties by val macro-F1, then by row order.
    static func ranking(_ table: ExperimentTable) -> [Int] {
        func figure(_ i: Int, _ column: String) -> Double { table.rows[i].metrics[column]?.mean ?? -1 }
        return table.rows.indices.sorted { a, b in
            let x = (figure(a, "val_accuracy"), figure(a, "val_macro_f1")), y = (figure(b, "val_accuracy"), figure(b, "val_macro_f1"))
            return x != y ? x > y : a < b
        }
    }
}
