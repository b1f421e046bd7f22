import Formats
import Pipeline

/// How two dataset versions differ: pipeline parameters, stage keys, rows per split and
/// class, rows matched by provenance id, labels, feature distributions and duplicates.
/// Its JSON form (`json`) is stable and described by `schemas/diff.schema.json`.
public struct DatasetDiff: Sendable {
    public static let formatVersion = 1

    public struct ParameterChange: Sendable, Equatable {
        public var stage: String
        /// Nil when the whole stage is added or removed.
        public var parameter: String?
        /// Canonical JSON, nil when absent on that side.
        public var old: String?
        public var new: String?
    }
    public struct StageChange: Sendable, Equatable {
        public enum Change: String, Sendable { case added, removed, key }
        public var stage: String
        public var kind: String
        public var change: Change
        public var oldKey: ContentDigest?
        public var newKey: ContentDigest?
        /// Whether the stage's output content differs (false: it re-ran to the same bytes).
        public var outputChanged: Bool
    }
    public struct CountChange: Sendable, Equatable { public var split: String; public var className: String; public var old: Int; public var new: Int }
    public struct Items: Sendable, Equatable {
        public var matchedBy: [String]
        public var added = 0, removed = 0, changed = 0, unchanged = 0
        public var labelChanged = 0, splitChanged = 0, featuresChanged = 0
        /// A few provenance ids of each kind, for a look with `blendset show`.
        public var examples: [String: [String]] = [:]
    }
    public struct FeatureShift: Sendable, Equatable {
        public var feature: String
        public var split: String
        public var old: FeatureSummary?
        public var new: FeatureSummary?
        public var ks: Double
    }
    public struct DuplicateCount: Sendable, Equatable { public var split: String; public var old: Int; public var new: Int }
    /// A stage's own duplicate report (e.g. truncate's `duplicate_rows` before → after).
    public struct StageDuplicates: Sendable, Equatable {
        public var stage: String
        public var column: String
        public var old: (before: Int, after: Int)?
        public var new: (before: Int, after: Int)?
        public static func == (a: Self, b: Self) -> Bool {
            a.stage == b.stage && a.column == b.column && a.old?.before == b.old?.before && a.old?.after == b.old?.after
                && a.new?.before == b.new?.before && a.new?.after == b.new?.after
        }
    }

    /// A numeric figure a stage reports in its stats that differs between the versions,
    /// e.g. `balance` `classes.sad.received` or `landmarks` `validity.train.sad.rate`.
    public struct StatChange: Sendable, Equatable {
        public var stage: String
        /// Dotted path into the stage's stats.
        public var path: String
        public var old: Double?
        public var new: Double?
    }

    /// One figure of the trained models of both versions: a split's accuracy or macro-F1
    /// (`className` nil), or a class's precision, recall or F1; nil where a side has no
    /// train stage or its stats predate the figure.
    public struct ScoreChange: Sendable, Equatable {
        public var split: String
        public var className: String?
        public var metric: String
        public var old: Double?
        public var new: Double?
    }

    public var old: DatasetVersion
    public var new: DatasetVersion
    public var parameters: [ParameterChange]
    public var stages: [StageChange]
    public var splits: [String]
    public var counts: [CountChange]
    public var items: Items
    public var oldLabels: [String]
    public var newLabels: [String]
    public var oldFeatures: [String]
    public var newFeatures: [String]
    public var shifts: [FeatureShift]
    public var duplicateBasis: String?
    public var duplicates: [DuplicateCount]
    public var stageDuplicates: [StageDuplicates]
    public var stageStats: [StatChange]
    /// Test and val figures of the two trained models side by side; empty when neither
    /// version was trained.
    public var training: [ScoreChange]

    public var identical: Bool { old.id == new.id }

    public init(_ a: VersionDataset, _ b: VersionDataset) {
        old = a.version
        new = b.version
        (parameters, stages) = Self.pipelineChanges(a.version, b.version)
        splits = b.splits.count >= a.splits.count ? b.splits : a.splits

        // Rows per split and class, over the union of class names (matched by name).
        let ca = a.counts, cb = b.counts
        var classNames = a.classes
        for c in b.classes where !classNames.contains(c) { classNames.append(c) }
        counts = []
        for (s, split) in splits.enumerated() {
            for name in classNames {
                let o = s < ca.count ? a.classes.firstIndex(of: name).map { ca[s][$0] } ?? 0 : 0
                let n = s < cb.count ? b.classes.firstIndex(of: name).map { cb[s][$0] } ?? 0 : 0
                counts.append(CountChange(split: split, className: name, old: o, new: n))
            }
        }
        oldLabels = a.classes
        newLabels = b.classes
        oldFeatures = a.featureNames
        newFeatures = b.featureNames
        items = Self.matchItems(a, b)
        shifts = Self.featureShifts(a, b, splits: b.splits.count >= a.splits.count ? b.splits : a.splits)
        let ma = Manifest.duplicateCounts(a), mb = Manifest.duplicateCounts(b)
        let basis = ma.basis == mb.basis ? ma.basis : nil
        let splitNames = splits
        duplicateBasis = basis
        duplicates = basis == nil ? [] : splitNames.indices.map { s in
            DuplicateCount(split: splitNames[s], old: s < ma.counts.count ? ma.counts[s] : 0, new: s < mb.counts.count ? mb.counts[s] : 0)
        }
        stageDuplicates = Self.stageDuplicates(a.version, b.version)
        stageStats = Self.statChanges(a.version, b.version)
        training = Self.trainingScores(a.version, b.version)
    }

    /// The train stages' test and val figures (from their stats: accuracy, macro_f1 and
    /// per-class precision, recall, f1), over the union of class names.
    static func trainingScores(_ a: DatasetVersion, _ b: DatasetVersion) -> [ScoreChange] {
        func stats(_ v: DatasetVersion) -> JSONValue? { v.stages.last { $0.kind == "train" }?.stats ?? nil }
        let sa = stats(a), sb = stats(b)
        guard sa != nil || sb != nil else { return [] }
        var out: [ScoreChange] = []
        for split in ["test", "val"] {
            let x = sa?[split], y = sb?[split]
            guard x != nil || y != nil else { continue }
            for metric in ["accuracy", "macro_f1"] {
                out.append(ScoreChange(split: split, className: nil, metric: metric, old: x?[metric]?.doubleValue, new: y?[metric]?.doubleValue))
            }
            var names: [String] = []
            for v in [x, y] { for (n, _) in v?["f1"]?.objectValue ?? [] where !names.contains(n) { names.append(n) } }
            for name in names {
                for metric in ["precision", "recall", "f1"] {
                    out.append(ScoreChange(split: split, className: name, metric: metric,
                                           old: x?[metric]?[name]?.doubleValue, new: y?[metric]?[name]?.doubleValue))
                }
            }
        }
        return out
    }

    /// Stats that describe the cache or the run rather than the data; they differ between
    /// identical datasets, so they are not compared.
    static let runDependentStats: Set<String> = ["memo_hits", "extracted", "warnings", "seconds"]

    /// Numeric leaves of every stage's stats, compared between stages of the same name.
    static func statChanges(_ a: DatasetVersion, _ b: DatasetVersion) -> [StatChange] {
        func leaves(_ v: JSONValue, _ prefix: String, into out: inout [(String, Double)]) {
            if let members = v.objectValue {
                for (k, x) in members where !runDependentStats.contains(k) { leaves(x, prefix.isEmpty ? k : prefix + "." + k, into: &out) }
            } else if let d = v.doubleValue {
                out.append((prefix, d))
            }
        }
        var out: [StatChange] = []
        for x in a.stages {
            guard let y = b.stage(x.name), x.kind == y.kind else { continue }
            var la: [(String, Double)] = [], lb: [(String, Double)] = []
            leaves(Manifest.parse(x.stats), "", into: &la)
            leaves(Manifest.parse(y.stats), "", into: &lb)
            let mb = Dictionary(lb, uniquingKeysWith: { f, _ in f })
            let ma = Dictionary(la, uniquingKeysWith: { f, _ in f })
            for (path, v) in la where mb[path] != v { out.append(StatChange(stage: x.name, path: path, old: v, new: mb[path])) }
            for (path, v) in lb where ma[path] == nil { out.append(StatChange(stage: x.name, path: path, old: nil, new: v)) }
        }
        return out
    }

    // MARK: pipeline

    /// Parameter and stage-key differences between two versions' pipelines, stages matched by name.
    public static func pipelineChanges(_ a: DatasetVersion, _ b: DatasetVersion) -> ([ParameterChange], [StageChange]) {
        var params: [ParameterChange] = []
        var stages: [StageChange] = []
        var names = a.stages.map(\.name)
        for s in b.stages where !names.contains(s.name) { names.append(s.name) }
        for name in names {
            let x = a.stage(name), y = b.stage(name)
            switch (x, y) {
            case let (x?, y?):
                if x.kind != y.kind { params.append(ParameterChange(stage: name, parameter: "kind", old: "\"\(x.kind)\"", new: "\"\(y.kind)\"")) }
                for p in Set(x.parameters.keys).union(y.parameters.keys).sorted() where x.parameters[p]?.canonical != y.parameters[p]?.canonical {
                    params.append(ParameterChange(stage: name, parameter: p, old: x.parameters[p]?.canonical, new: y.parameters[p]?.canonical))
                }
                if x.key != y.key {
                    stages.append(StageChange(stage: name, kind: y.kind, change: .key, oldKey: x.key, newKey: y.key, outputChanged: x.contentID != y.contentID))
                }
            case let (x?, nil):
                params.append(ParameterChange(stage: name, parameter: nil, old: x.kind, new: nil))
                stages.append(StageChange(stage: name, kind: x.kind, change: .removed, oldKey: x.key, newKey: nil, outputChanged: true))
            case let (nil, y?):
                params.append(ParameterChange(stage: name, parameter: nil, old: nil, new: y.kind))
                stages.append(StageChange(stage: name, kind: y.kind, change: .added, oldKey: nil, newKey: y.key, outputChanged: true))
            case (nil, nil): break
            }
        }
        return (params, stages)
    }

    // MARK: rows

    static func matchItems(_ a: VersionDataset, _ b: VersionDataset) -> Items {
        var items = Items(matchedBy: a.provenanceColumns.filter { b.provenanceColumns.contains($0) })
        let ida = a.provenanceIDs(), idb = b.provenanceIDs()
        // Multiset matching: the k-th occurrence of an id in A pairs with the k-th in B.
        var rowsB: [String: [Int]] = [:]
        for (r, id) in idb.enumerated() { rowsB[id, default: []].append(r) }
        var used: [String: Int] = [:]
        var examples: [String: [String]] = ["added": [], "removed": [], "changed": []]
        func note(_ kind: String, _ id: String) {
            if examples[kind]!.count < 5 { examples[kind]!.append(readable(id)) }
        }
        // "item_id" alone for an original row; "#copy" and "+augmentation" only when present.
        let names = a.provenanceColumns
        func readable(_ id: String) -> String {
            var out = ""
            for (name, part) in zip(names, id.split(separator: "\u{1F}", omittingEmptySubsequences: false)) where !part.isEmpty {
                switch name {
                case ColumnName.itemID: out += part
                case ColumnName.balanceCopy: if part != "0" { out += "#" + part }
                case "augment_recipe": out += " +aug(" + part + ")"
                case "augment_seed", "augment_source": break
                default: out += " " + part
                }
            }
            return out
        }
        let fa = a.features, fb = b.features
        let sameFeatures = a.featureNames == b.featureNames
        for (r, id) in ida.enumerated() {
            let k = used[id, default: 0]
            guard let candidates = rowsB[id], k < candidates.count else { items.removed += 1; note("removed", id); continue }
            used[id] = k + 1
            let q = candidates[k]
            var changed = false
            if a.classes.indices.contains(Int(a.labels[r])) && b.classes.indices.contains(Int(b.labels[q])) {
                if a.classes[Int(a.labels[r])] != b.classes[Int(b.labels[q])] { items.labelChanged += 1; changed = true }
            } else if a.labels[r] != b.labels[q] { items.labelChanged += 1; changed = true }
            if a.split[r] != b.split[q] { items.splitChanged += 1; changed = true }
            if let fa, let fb, sameFeatures, fa.width == fb.width {
                let w = fa.width
                if fa.values[(r * w)..<((r + 1) * w)] != fb.values[(q * w)..<((q + 1) * w)] { items.featuresChanged += 1; changed = true }
            } else if (fa == nil) != (fb == nil) || !sameFeatures {
                items.featuresChanged += 1; changed = true
            }
            if changed { items.changed += 1; note("changed", id) } else { items.unchanged += 1 }
        }
        for (id, rows) in rowsB {
            let extra = rows.count - used[id, default: 0]
            if extra > 0 { items.added += extra; note("added", id) }
        }
        examples["added"]!.sort()
        items.examples = examples
        return items
    }

    // MARK: features

    static func featureShifts(_ a: VersionDataset, _ b: VersionDataset, splits: [String]) -> [FeatureShift] {
        guard let (va, wa) = a.features, let (vb, wb) = b.features else { return [] }
        let ra = a.rowsBySplit, rb = b.rowsBySplit
        var out: [FeatureShift] = []
        for (jb, name) in b.featureNames.enumerated() {
            guard let ja = a.featureNames.firstIndex(of: name) else { continue }
            for (s, split) in splits.enumerated() {
                let rowsA = s < ra.count ? ra[s] : [], rowsB = s < rb.count ? rb[s] : []
                let sa = DatasetStatistics.summary(va, width: wa, feature: ja, rows: rowsA, labels: a.labels, classCount: a.classes.count)
                let sb = DatasetStatistics.summary(vb, width: wb, feature: jb, rows: rowsB, labels: b.labels, classCount: b.classes.count)
                let ks = DatasetStatistics.kolmogorovSmirnov(DatasetStatistics.column(va, width: wa, feature: ja, rows: rowsA),
                                                             DatasetStatistics.column(vb, width: wb, feature: jb, rows: rowsB))
                out.append(FeatureShift(feature: name, split: split, old: sa, new: sb, ks: ks))
            }
        }
        return out
    }

    /// Duplicate reports stages make themselves: `duplicate_rows: {column: {before, after}}`
    /// in their stats (truncate does this).
    static func stageDuplicates(_ a: DatasetVersion, _ b: DatasetVersion) -> [StageDuplicates] {
        func reports(_ v: DatasetVersion) -> [String: [String: (Int, Int)]] {
            var out: [String: [String: (Int, Int)]] = [:]
            for s in v.stages {
                guard let d = Manifest.parse(s.stats)["duplicate_rows"]?.objectValue else { continue }
                for (column, figures) in d {
                    if let before = figures["before"]?.intValue, let after = figures["after"]?.intValue { out[s.name, default: [:]][column] = (before, after) }
                }
            }
            return out
        }
        let ra = reports(a), rb = reports(b)
        var out: [StageDuplicates] = []
        for stage in Set(ra.keys).union(rb.keys).sorted() {
            for column in Set((ra[stage] ?? [:]).keys).union((rb[stage] ?? [:]).keys).sorted() {
                out.append(StageDuplicates(stage: stage, column: column, old: ra[stage]?[column].map { (before: $0.0, after: $0.1) },
                                           new: rb[stage]?[column].map { (before: $0.0, after: $0.1) }))
            }
        }
        return out
    }

    // MARK: JSON

    /// The stable JSON form; see `schemas/diff.schema.json`.
    public var json: JSONValue {
        func ref(_ v: DatasetVersion) -> JSONValue { .object([("id", .string(v.id.hex)), ("short_id", .string(v.shortID))]) }
        func value(_ text: String?) -> JSONValue { text.map { Manifest.parse($0) } ?? .null }
        func pair(_ x: (before: Int, after: Int)?) -> JSONValue {
            x.map { .object([("before", .int($0.before)), ("after", .int($0.after))]) } ?? .null
        }
        func summary(_ s: FeatureSummary?) -> JSONValue {
            s.map { .object([("mean", .number(round6($0.mean))), ("std", .number(round6($0.std)))]) } ?? .null
        }
        let params: [JSONValue] = parameters.map { p in
            let a: JSONValue = p.parameter == nil ? (p.old.map { .string($0) } ?? .null) : value(p.old)
            let b: JSONValue = p.parameter == nil ? (p.new.map { .string($0) } ?? .null) : value(p.new)
            return .object([("stage", .string(p.stage)), ("param", p.parameter.map { .string($0) } ?? .null), ("a", a), ("b", b)])
        }
        let stageList: [JSONValue] = stages.map { s in
            let a: JSONValue = s.oldKey.map { .string($0.hex) } ?? .null
            let b: JSONValue = s.newKey.map { .string($0.hex) } ?? .null
            return .object([("stage", .string(s.stage)), ("kind", .string(s.kind)), ("change", .string(s.change.rawValue)),
                            ("a_key", a), ("b_key", b), ("output_changed", .bool(s.outputChanged))])
        }
        let rows: [JSONValue] = counts.map { c in
            .object([("split", .string(c.split)), ("class", .string(c.className)), ("a", .int(c.old)), ("b", .int(c.new)),
                     ("delta", .int(c.new - c.old))])
        }
        let examples: [(String, JSONValue)] = ["added", "removed", "changed"].map { k in
            (k, .array((items.examples[k] ?? []).map { .string($0) }))
        }
        let itemsJSON: JSONValue = .object([
            ("matched_by", .array(items.matchedBy.map { .string($0) })),
            ("added", .int(items.added)), ("removed", .int(items.removed)), ("changed", .int(items.changed)),
            ("unchanged", .int(items.unchanged)), ("label_changed", .int(items.labelChanged)),
            ("split_changed", .int(items.splitChanged)), ("features_changed", .int(items.featuresChanged)),
            ("examples", .object(examples)),
        ])
        let labels: JSONValue = .object([
            ("a", .array(oldLabels.map { .string($0) })), ("b", .array(newLabels.map { .string($0) })),
            ("changed", .bool(oldLabels != newLabels)), ("rows_relabelled", .int(items.labelChanged)),
        ])
        let shiftList: [JSONValue] = shifts.map { f in
            var meanDelta: JSONValue = .null, stdDelta: JSONValue = .null
            if let o = f.old, let n = f.new {
                meanDelta = .number(round6(n.mean - o.mean))
                stdDelta = .number(round6(n.std - o.std))
            }
            return .object([("feature", .string(f.feature)), ("split", .string(f.split)), ("a", summary(f.old)), ("b", summary(f.new)),
                            ("mean_delta", meanDelta), ("std_delta", stdDelta), ("ks", .number(round6(f.ks)))])
        }
        let featuresJSON: JSONValue = .object([
            ("a", .array(oldFeatures.map { .string($0) })), ("b", .array(newFeatures.map { .string($0) })),
            ("added", .array(newFeatures.filter { !oldFeatures.contains($0) }.map { .string($0) })),
            ("removed", .array(oldFeatures.filter { !newFeatures.contains($0) }.map { .string($0) })),
            ("shift", .array(shiftList)),
        ])
        let duplicateSplits: [JSONValue] = duplicates.map { d in
            .object([("split", .string(d.split)), ("a", .int(d.old)), ("b", .int(d.new)), ("delta", .int(d.new - d.old))])
        }
        let duplicateStages: [JSONValue] = stageDuplicates.map { d in
            .object([("stage", .string(d.stage)), ("column", .string(d.column)), ("a", pair(d.old)), ("b", pair(d.new))])
        }
        let duplicatesJSON: JSONValue = .object([
            ("basis", duplicateBasis.map { .string($0) } ?? .null),
            ("splits", .array(duplicateSplits)), ("stages", .array(duplicateStages)),
        ])
        let statList: [JSONValue] = stageStats.map { c in
            .object([("stage", .string(c.stage)), ("path", .string(c.path)),
                     ("a", c.old.map { .number($0) } ?? .null), ("b", c.new.map { .number($0) } ?? .null)])
        }
        let trainingList: [JSONValue] = training.map { t in
            .object([("split", .string(t.split)), ("class", t.className.map { .string($0) } ?? .null), ("metric", .string(t.metric)),
                     ("a", t.old.map { .number($0) } ?? .null), ("b", t.new.map { .number($0) } ?? .null),
                     ("delta", t.old.flatMap { o in t.new.map { .number($0 - o) } } ?? .null)])
        }
        return .object([
            ("diff_version", .int(Self.formatVersion)),
            ("a", ref(old)), ("b", ref(new)), ("identical", .bool(identical)),
            ("params", .array(params)), ("stages", .array(stageList)), ("rows", .array(rows)),
            ("items", itemsJSON), ("labels", labels), ("features", featuresJSON), ("duplicates", duplicatesJSON),
            ("stage_stats", .array(statList)), ("training", .array(trainingList)),
        ])
    }
}

extension Manifest {
    /// Duplicate rows per split and what they are counted on, as in the manifest.
    static func duplicateCounts(_ data: VersionDataset) -> (basis: String?, counts: [Int]) {
        let bySplit = data.rowsBySplit
        if let (values, width) = data.features {
            return ("features", bySplit.map { DatasetStatistics.duplicateRows(values, width: width, rows: $0) })
        }
        if let hashes = try? data.table.uint8(ColumnName.imageHash).values {
            return ("image_hash", bySplit.map { DatasetStatistics.duplicateImages(hashes, rows: $0) })
        }
        return (nil, bySplit.map { _ in 0 })
    }
}
