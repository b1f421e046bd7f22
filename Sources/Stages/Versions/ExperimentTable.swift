import Foundation
import Formats
import Pipeline

/// One row per trained dataset version, like `dvc exp show`: id and tags, the parameters
/// that differ from a baseline version, test and val metrics (mean ± sample std over the
/// seeds when the metrics artifact has `seeds`) and training seconds (`blendset compare`,
/// and the table `tune` prints).
public struct ExperimentTable: Sendable {
    /// A metric's value: the mean over the seeds (or the one value) and the sample std
    /// (nil without seeds).
    public struct Figure: Sendable, Equatable {
        public var mean: Double
        public var std: Double?
        public var n: Int
    }

    public struct Row: Sendable {
        public var version: DatasetVersion
        public var tags: [String]
        /// Extra leading label, e.g. a tune trial number.
        public var label: String?
        /// Every parameter of the version, as `stage.param` → value.
        public var parameters: [String: JSONValue]
        /// `test_accuracy`, `val_macro_f1`, `test_f1_<class>`, … (see `metricColumns`).
        public var metrics: [String: Figure]
        public var seconds: Double?
        public var seeds: Int
    }

    public var rows: [Row]
    public var baseline: DatasetVersion
    /// `stage.param` columns: those whose value differs from the baseline in some row.
    public var parameterColumns: [String]
    /// Class names in label order (from the first row that names them).
    public var classes: [String]
    /// The column rows are sorted by (nil: as given) and whether descending.
    public var sortColumn: String?
    public var descending = false
    /// What the label column is called (only shown when some row has a label).
    public var labelName = "trial"

    public static let schemaVersion = 1

    /// What one row is made of: a version, its metrics artifact and its tags.
    public struct Entry: Sendable {
        public var version: DatasetVersion
        public var metrics: JSONValue
        public var tags: [String]
        public var label: String?
        public init(version: DatasetVersion, metrics: JSONValue, tags: [String] = [], label: String? = nil) {
            self.version = version
            self.metrics = metrics
            self.tags = tags
            self.label = label
        }
    }

    /// The table of `versions` (in that order) against `baseline` (default: the first),
    /// reading each one's metrics artifact. A version without a train stage is an error naming it.
    public init(versions: [DatasetVersion], labels: [String?]? = nil, baseline: DatasetVersion? = nil, layout: CacheLayout) throws {
        let tags = TagStore(layout: layout).byVersion()
        let entries = try versions.enumerated().map { i, v in
            Entry(version: v, metrics: try JSONParser.parse(try TrainResults.artifact(TrainStage.Artifact.metrics, of: v, layout: layout)),
                  tags: tags[v.id] ?? [], label: labels?[i])
        }
        try self.init(entries: entries, baseline: baseline)
    }

    public init(entries: [Entry], baseline: DatasetVersion? = nil) throws {
        guard let first = entries.first?.version else {
            throw VersionError.unsupported("no trained versions to compare: add a 'train' stage to pipeline.json and run 'blendset build'")
        }
        var rows: [Row] = []
        var classes: [String] = []
        for e in entries {
            let train = try TrainResults.entry(e.version)
            if classes.isEmpty { classes = e.metrics["classes"]?.arrayValue?.compactMap(\.stringValue) ?? [] }
            let (figures, seeds) = Self.figures(e.metrics)
            rows.append(Row(version: e.version, tags: e.tags, label: e.label, parameters: Self.parameters(e.version), metrics: figures,
                            seconds: train.stats?["seconds"]?["total"]?.doubleValue, seeds: seeds))
        }
        if classes.isEmpty {
            classes = Array(Set(rows.flatMap { $0.metrics.keys }.filter { $0.hasPrefix("test_f1_") }.map { String($0.dropFirst(8)) })).sorted()
        }
        self.rows = rows
        self.baseline = baseline ?? first
        self.classes = classes
        let base = Self.parameters(self.baseline)
        let names = Set(rows.flatMap { $0.parameters.keys }).union(base.keys)
        parameterColumns = names.sorted().filter { n in rows.contains { $0.parameters[n] != base[n] } }
    }

    /// `stage.param` → value of every stage of a version. A relative path (a string that starts
    /// with `./` or `../`) is resolved from the pipeline file's folder: `pipelines/best.json`'s
    /// `../../shared/x` and `pipeline.json`'s `../shared/x` name one file and must not differ.
    static func parameters(_ v: DatasetVersion) -> [String: JSONValue] {
        let folder = v.pipelineFile.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        var out: [String: JSONValue] = [:]
        for s in v.stages {
            for (k, value) in s.parameters {
                if let path = value.stringValue, path.hasPrefix("./") || path.hasPrefix("../") {
                    out["\(s.name).\(k)"] = .string(lexicallyNormalized(folder.isEmpty ? path : folder + "/" + path))
                } else {
                    out["\(s.name).\(k)"] = value
                }
            }
        }
        return out
    }

    /// `a/./b/../c` → `a/c`; leading `..` stay (the path is relative to where blendset ran).
    static func lexicallyNormalized(_ path: String) -> String {
        var parts: [Substring] = []
        for p in path.split(separator: "/") where p != "." {
            if p == "..", let last = parts.last, last != ".." { parts.removeLast() } else { parts.append(p) }
        }
        return (path.hasPrefix("/") ? "/" : "") + parts.joined(separator: "/")
    }

    /// The figures of a metrics artifact: per seed when it has `seeds`, else its top level.
    static func figures(_ m: JSONValue) -> ([String: Figure], Int) {
        let runs: [JSONValue] = m["seeds"]?.arrayValue.flatMap { $0.isEmpty ? nil : $0 } ?? [m]
        var values: [String: [Double]] = [:]
        for run in runs {
            for split in ["test", "val"] {
                guard let s = run[split] else { continue }
                if let a = s["accuracy"]?.doubleValue { values["\(split)_accuracy", default: []].append(a) }
                if let f = s["macro_f1"]?.doubleValue { values["\(split)_macro_f1", default: []].append(f) }
                for (name, c) in s["per_class"]?.objectValue ?? [] {
                    if let f = c["f1"]?.doubleValue { values["\(split)_f1_\(name)", default: []].append(f) }
                }
            }
        }
        let seeded = m["seeds"]?.arrayValue.map { !$0.isEmpty } ?? false
        return (values.mapValues { Self.figure($0, seeded: seeded) }, seeded ? runs.count : 0)
    }

    static func figure(_ xs: [Double], seeded: Bool) -> Figure {
        let mean = xs.reduce(0, +) / Double(xs.count)
        guard seeded else { return Figure(mean: mean, std: nil, n: xs.count) }
        let ss = xs.reduce(0) { $0 + ($1 - mean) * ($1 - mean) }
        return Figure(mean: mean, std: xs.count > 1 ? (ss / Double(xs.count - 1)).squareRoot() : 0, n: xs.count)
    }

    /// The metric columns, in display order.
    public var metricColumns: [String] {
        ["test_accuracy", "test_macro_f1", "val_accuracy", "val_macro_f1"]
            + classes.map { "test_f1_\($0)" } + classes.map { "val_f1_\($0)" }
    }

    /// Every column name `sort` accepts.
    public var columns: [String] {
        (rows.contains { $0.label != nil } ? [labelName] : []) + ["id", "tags"] + parameterColumns + metricColumns + ["seconds", "seeds"]
    }

    enum SortKey: Equatable {
        case missing, number(Double), text(String)
        /// Numbers before text; only called on present keys.
        static func less(_ a: SortKey, _ b: SortKey) -> Bool {
            switch (a, b) {
            case (.number(let x), .number(let y)): x < y
            case (.text(let x), .text(let y)): x < y
            case (.number, .text): true
            default: false
            }
        }
    }

    func key(_ r: Row, _ column: String) -> SortKey {
        if column == labelName {
            guard let label = r.label else { return .missing }
            if let n = Double(label.filter { $0 != "#" }) { return .number(n) }
            return .text(label)
        }
        switch column {
        case "id": return .text(r.version.id.hex)
        case "tags": return r.tags.isEmpty ? .missing : .text(r.tags.joined(separator: ","))
        case "seconds":
            if let s = r.seconds { return .number(s) }
            return .missing
        case "seeds": return .number(Double(r.seeds))
        default: break
        }
        if let f = r.metrics[column] { return .number(f.mean) }
        guard let p = r.parameters[column] else { return .missing }
        if let d = p.doubleValue { return .number(d) }
        return .text(p.canonical)
    }

    /// Sorted by `column` (`-column` means descending); rows without a value go last.
    /// Ties keep the given order.
    public func sorted(by column: String, descending: Bool = false) throws -> ExperimentTable {
        var name = column, desc = descending
        if name.hasPrefix("-") { name.removeFirst(); desc = true }
        guard columns.contains(name) else {
            throw VersionError.unsupported("no column '\(name)' to sort by; columns: \(columns.joined(separator: ", "))")
        }
        var t = self
        let keyed = rows.enumerated().map { (i, r) in (i, key(r, name), r) }
        let present = keyed.filter { $0.1 != .missing }.sorted { a, b in
            if a.1 == b.1 { return a.0 < b.0 }
            return desc ? SortKey.less(b.1, a.1) : SortKey.less(a.1, b.1)
        }
        t.rows = (present + keyed.filter { $0.1 == .missing }).map(\.2)
        t.sortColumn = name
        t.descending = desc
        return t
    }

    func cell(_ r: Row, _ column: String) -> String {
        switch column {
        case labelName: return r.label ?? ""
        case "id": return r.version.shortID + (r.version.id == baseline.id ? "*" : "")
        case "tags": return r.tags.joined(separator: ",")
        case "seconds": return r.seconds.map { String(format: "%.1f", $0) } ?? "-"
        case "seeds": return String(r.seeds)
        default:
            if metricColumns.contains(column) {
                guard let f = r.metrics[column] else { return "-" }
                return f.std.map { String(format: "%.4f ± %.4f", f.mean, $0) } ?? String(format: "%.4f", f.mean)
            }
            let value = r.parameters[column]?.canonical ?? "(none)"
            // A long value (a feature list) would push the metrics off screen; --json and --csv have it whole.
            return value.count > 40 ? value.prefix(39) + "…" : value
        }
    }

    /// The table for people; `*` marks the baseline. Per-class F1 is shown for test only
    /// (--json and --csv have val too).
    public var text: String {
        let shown = columns.filter { !$0.hasPrefix("val_f1_") && $0 != "seeds" }
        let header = shown.map { c -> String in
            let name = c.replacingOccurrences(of: "_accuracy", with: " acc").replacingOccurrences(of: "_macro_f1", with: " F1")
                .replacingOccurrences(of: "test_f1_", with: "F1 ")
            return c == sortColumn ? name + (descending ? " ▼" : " ▲") : name
        }
        let numeric = Set(shown.enumerated().filter { metricColumns.contains($0.1) || $0.1 == "seconds" }.map(\.0))
        var out = TextTable.render([header] + rows.map { r in shown.map { cell(r, $0) } }, rightAligned: numeric)
        let seeds = Set(rows.map(\.seeds))
        out += "\n* baseline \(baseline.shortID); parameters shown are those that differ from it"
        out += seeds.contains { $0 > 1 } ? "; metrics are mean ± sample std over each version's seeds" : ""
        return out
    }

    /// `--csv`: one column per figure, with `_std` columns beside the metrics (empty without seeds).
    public var csv: String {
        let cols = columns.filter { $0 != "id" }
        var header = ["id"]
        for c in cols { header.append(c); if metricColumns.contains(c) { header.append(c + "_std") } }
        func quote(_ s: String) -> String { s.contains(where: { ",\"\n".contains($0) }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s }
        var lines = [header.joined(separator: ",")]
        for r in rows {
            var f = [r.version.id.hex]
            for c in cols {
                if metricColumns.contains(c) {
                    let m = r.metrics[c]
                    f += [m.map { JSONValue.number($0.mean).canonical } ?? "", m?.std.map { JSONValue.number($0).canonical } ?? ""]
                } else if c == "seconds" {
                    f.append(r.seconds.map { JSONValue.number($0).canonical } ?? "")
                } else if c == "tags" {
                    f.append(quote(r.tags.joined(separator: " ")))
                } else if parameterColumns.contains(c) {
                    f.append(quote(r.parameters[c]?.canonical ?? ""))
                } else {
                    f.append(quote(cell(r, c)))
                }
            }
            lines.append(f.joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// `--json`, described by schemas/compare.schema.json.
    public var json: JSONValue {
        func figure(_ f: Figure?) -> JSONValue {
            guard let f else { return .null }
            return .object([("mean", .number(f.mean)), ("std", f.std.map(JSONValue.number) ?? .null), ("n", .int(f.n))])
        }
        return .object([
            ("compare_version", .int(Self.schemaVersion)),
            ("baseline", .string(baseline.id.hex)),
            ("parameters", .array(parameterColumns.map { .string($0) })),
            ("classes", .array(classes.map { .string($0) })),
            ("sort", sortColumn.map { .object([("column", .string($0)), ("descending", .bool(descending))]) } ?? .null),
            ("rows", .array(rows.map { r in
                var fields: [(String, JSONValue)] = [
                    ("id", .string(r.version.id.hex)), ("short_id", .string(r.version.shortID)),
                    ("tags", .array(r.tags.map { .string($0) })),
                ]
                if let l = r.label { fields.append((labelName, .string(l))) }
                fields += [
                    ("parameters", .object(parameterColumns.map { ($0, r.parameters[$0] ?? .null) })),
                    ("metrics", .object(metricColumns.map { ($0, figure(r.metrics[$0])) })),
                    ("seconds", r.seconds.map(JSONValue.number) ?? .null),
                    ("seeds", .int(r.seeds)),
                ]
                return .object(fields)
            })),
        ])
    }
}

extension VersionStore {
    /// Every version with a train stage, oldest (first built) first.
    public func trained() throws -> [DatasetVersion] {
        try all().filter { v in v.stages.contains { $0.kind == TrainStage.kind } }
            .sorted { ($0.createdAt, $0.id.hex) < ($1.createdAt, $1.id.hex) }
    }
}
