import Foundation
import Formats
import Pipeline

/// What one dataset version holds: schema, rows per split and class, per-feature
/// statistics and separability, duplicates, validity and augmentation figures, the
/// lineage and the artifact hashes. Its JSON form (`json`) is stable and described by
/// `schemas/manifest.schema.json`; a copy is written beside each version record.
public struct Manifest: Sendable {
    /// Bumped when a field changes meaning or goes away (adding fields does not bump it).
    public static let formatVersion = 1

    public struct Column: Sendable { public var name: String; public var dtype: String; public var width: Int }
    public struct FeatureStats: Sendable { public var name: String; public var bySplit: [FeatureSummary?] }
    public struct Validity: Sendable {
        public var stage: String
        /// (split, class, images seen, faces found)
        public var rows: [(split: String, className: String, images: Int, faces: Int)]
    }
    public struct LineageEntry: Sendable {
        public var stage: DatasetVersion.StageEntry
        public var parameters: JSONValue
        public var stats: JSONValue
    }
    public struct Artifact: Sendable { public var stage: String; public var name: String; public var id: ContentDigest; public var bytes: Int }

    public var version: DatasetVersion
    public var finalStage: String
    public var rowCount: Int
    public var classes: [String]
    public var splits: [String]
    public var featureNames: [String]
    public var columns: [Column]
    /// Rows per split (outer, split-id order) and class (inner, label order).
    public var counts: [[Int]]
    public var features: [FeatureStats]
    /// "features" (exact duplicate feature rows) or "image_hash" (same image) or nil.
    public var duplicateBasis: String?
    /// Duplicate rows per split.
    public var duplicates: [Int]
    public var validity: Validity?
    /// The statistics of each augmentation stage, as it reported them.
    public var augmentation: [(stage: String, stats: JSONValue)]
    public var lineage: [LineageEntry]
    public var artifacts: [Artifact]
    /// What the stages warned about when their results were made, in stage order.
    public var warnings: [(stage: String, message: String)]

    public init(_ data: VersionDataset, layout: CacheLayout) {
        version = data.version
        finalStage = data.stage.name
        rowCount = data.table.rowCount
        classes = data.classes
        splits = data.splits
        featureNames = data.featureNames
        columns = data.table.columns.map { Column(name: $0.name, dtype: $0.data.kindName, width: $0.data.width) }
        counts = data.counts
        let bySplit = data.rowsBySplit
        if let (values, width) = data.features {
            features = data.featureNames.enumerated().map { j, name in
                FeatureStats(name: name, bySplit: bySplit.map {
                    DatasetStatistics.summary(values, width: width, feature: j, rows: $0, labels: data.labels, classCount: data.classes.count)
                })
            }
        } else {
            features = []
        }
        (duplicateBasis, duplicates) = Self.duplicateCounts(data)
        validity = Self.validity(in: data.version).map { v in
            // Stats objects come back in key order; show them in split and label order.
            let splitOrder = data.splits, classOrder = data.classes
            func rank(_ list: [String], _ x: String) -> Int { list.firstIndex(of: x) ?? list.count }
            var sorted = v
            sorted.rows.sort { (rank(splitOrder, $0.split), rank(classOrder, $0.className), $0.className) < (rank(splitOrder, $1.split), rank(classOrder, $1.className), $1.className) }
            return sorted
        }
        augmentation = data.version.stages.compactMap { s in
            guard s.kind == "augment" || s.kind.hasPrefix("augment") else { return nil }
            return (s.name, Self.parse(s.stats))
        }
        lineage = data.version.stages.map { s in
            let params = JSONValue.object(s.parameters.sorted { $0.key < $1.key }.map { ($0.key, Self.parse($0.value)) })
            return LineageEntry(stage: s, parameters: params, stats: Self.parse(s.stats))
        }
        warnings = Self.warnings(of: data.version)
        let store = ArtifactStore(layout: layout)
        artifacts = data.version.sinks.flatMap { s in
            s.artifacts.sorted { $0.key < $1.key }.map { Artifact(stage: s.name, name: $0.key, id: $0.value, bytes: store.size($0.value)) }
        }
    }

    /// A version record's statistics or parameter value, keys sorted as the canonical text
    /// older records held gave them, so manifests keep their bytes.
    static func parse(_ value: JSONValue?) -> JSONValue { value?.sortingKeys ?? .object([]) }

    static func parse(_ text: String?) -> JSONValue {
        guard let text, let v = try? JSONParser.parse(text) else { return .object([]) }
        return v
    }

    /// The warnings a version's stages recorded (their stats keep them under "warnings").
    public static func warnings(of version: DatasetVersion) -> [(stage: String, message: String)] {
        version.stages.flatMap { s in StageReport.warnings(in: s.stats).map { (s.name, $0) } }
    }

    /// Face-validity counts from the first stage whose stats hold a `validity` object of
    /// split → class → {images, faces}, as the landmarks stage reports it.
    static func validity(in version: DatasetVersion) -> Validity? {
        for s in version.stages {
            guard let v = parse(s.stats)["validity"]?.objectValue else { continue }
            var rows: [(String, String, Int, Int)] = []
            for (split, perClass) in v {
                for (name, figures) in perClass.objectValue ?? [] {
                    guard let images = figures["images"]?.intValue, let faces = figures["faces"]?.intValue else { continue }
                    rows.append((split, name, images, faces))
                }
            }
            if !rows.isEmpty { return Validity(stage: s.name, rows: rows) }
        }
        return nil
    }

    // MARK: JSON

    /// The stable JSON form; see `schemas/manifest.schema.json`.
    public var json: JSONValue {
        var members: [(String, JSONValue)] = [
            ("manifest_version", .int(Self.formatVersion)),
            ("version", .object([
                ("id", .string(version.id.hex)), ("short_id", .string(version.shortID)),
                ("created_at", .string(version.createdAt)), ("blendset_version", .string(version.blendsetVersion)),
                ("pipeline_file", .string(version.pipelineFile)), ("final_stage", .string(finalStage)),
            ])),
            ("schema", .object([
                ("rows", .int(rowCount)),
                ("labels", .array(classes.map { .string($0) })),
                ("splits", .array(splits.map { .string($0) })),
                ("features", .array(featureNames.map { .string($0) })),
                ("feature_dtype", featureNames.isEmpty ? .null : .string("float32")),
                ("columns", .array(columns.map { .object([("name", .string($0.name)), ("dtype", .string($0.dtype)), ("width", .int($0.width))]) })),
            ])),
            ("rows", .object(splits.enumerated().map { s, name in
                (name, .object([("total", .int(counts[s].reduce(0, +))),
                                ("classes", .object(zip(classes, counts[s]).map { ($0, .int($1)) }))]))
            })),
        ]
        members.append(("features", .array(features.map { f in
            .object([("name", .string(f.name)),
                     ("splits", .object(zip(splits, f.bySplit).map { name, s in (name, s.map(Self.json) ?? .null) }))])
        })))
        members.append(("duplicates", .object([("basis", duplicateBasis.map { .string($0) } ?? .null)]
                                                + zip(splits, duplicates).map { ($0, .int($1)) })))
        members.append(("validity", validity.map { v in
            .object([("stage", .string(v.stage)),
                     ("rows", .array(v.rows.map { r in
                         .object([("split", .string(r.split)), ("class", .string(r.className)), ("images", .int(r.images)),
                                  ("faces", .int(r.faces)), ("rate", r.images > 0 ? .number(round6(Double(r.faces) / Double(r.images))) : .null)])
                     }))])
        } ?? .null))
        members.append(("augmentation", augmentation.isEmpty ? .null : .array(augmentation.map {
            .object([("stage", .string($0.stage)), ("stats", $0.stats)])
        })))
        members.append(("lineage", .array(lineage.map { l in
            .object([
                ("stage", .string(l.stage.name)), ("kind", .string(l.stage.kind)), ("version", .int(l.stage.version)),
                ("key", .string(l.stage.key.hex)), ("inputs", .array(l.stage.inputs.map { .string($0) })),
                ("params", l.parameters),
                ("rows_in", l.stage.rowsIn.map { .int($0) } ?? .null), ("rows_out", l.stage.rowsOut.map { .int($0) } ?? .null),
                ("seconds", l.stage.seconds.map { .number(($0 * 1000).rounded() / 1000) } ?? .null),
                ("content_id", .string(l.stage.contentID.hex)),
                ("artifacts", .object(l.stage.artifacts.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value.hex)) })),
                ("stats", l.stats),
            ])
        })))
        members.append(("warnings", .array(warnings.map { .object([("stage", .string($0.stage)), ("message", .string($0.message))]) })))
        members.append(("artifacts", .array(artifacts.map {
            .object([("stage", .string($0.stage)), ("name", .string($0.name)), ("id", .string($0.id.hex)), ("bytes", .int($0.bytes))])
        })))
        return .object(members)
    }

    static func json(_ s: FeatureSummary) -> JSONValue {
        .object([("count", .int(s.count)), ("min", .number(round6(s.min))), ("max", .number(round6(s.max))),
                 ("mean", .number(round6(s.mean))), ("std", .number(round6(s.std))),
                 ("anova_f", s.anovaF.map { .number(round6($0)) } ?? .null)])
    }

    /// Writes the manifest beside the version record (`versions/<id>.manifest.json`).
    public func write(layout: CacheLayout) throws {
        let path = VersionStore(layout: layout).manifestPath(version.id)
        try AtomicFile.write(Array((json.pretty() + "\n").utf8), to: path)
    }

    /// Builds and writes the manifest of a version if it has a final table and the copy
    /// beside the version record is missing or older than the record; returns what it wrote.
    @discardableResult
    public static func record(_ version: DatasetVersion, layout: CacheLayout) throws -> Manifest? {
        guard VersionDataset.finalStage(of: version) != nil else { return nil }
        let store = VersionStore(layout: layout)
        func modified(_ path: String) -> Date? { (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date }
        if let copy = modified(store.manifestPath(version.id)), let record = modified(store.path(version.id)), copy >= record {
            return nil   // up to date: a no-op build writes nothing
        }
        let data: VersionDataset
        do {
            data = try VersionDataset(version: version, layout: layout)
        } catch VersionError.unsupported {
            return nil   // a custom pipeline whose final table is not a labelled dataset
        }
        let manifest = Manifest(data, layout: layout)
        try manifest.write(layout: layout)
        return manifest
    }
}

extension Manifest {
    /// The significance level of `isWeak`: a feature whose ANOVA F has a larger p-value
    /// shows no class signal we can trust.
    public static let weakP = 0.01

    /// Whether a feature carries no class signal we can trust in a split: its F is
    /// undefined (no variance within classes) or its p-value (F distribution with `d1`, `d2`
    /// degrees of freedom) is above `weakP`. An absolute test: it does not depend on how
    /// strong the other features are.
    public static func isWeak(_ f: Double?, d1: Int, d2: Int) -> Bool {
        guard let f, d1 > 0, d2 > 0 else { return true }
        return FDistribution.survival(f, d1: Double(d1), d2: Double(d2)) > weakP
    }

    /// The ANOVA degrees of freedom of the train split: classes present - 1, rows - classes present.
    public var trainDegreesOfFreedom: (d1: Int, d2: Int) {
        let s = splits.firstIndex(of: "train") ?? 0
        let c = counts.indices.contains(s) ? counts[s] : []
        let k = c.filter { $0 > 0 }.count
        return (k - 1, c.reduce(0, +) - k)
    }

    /// The p-value of each feature's train F (nil where F is undefined).
    public var trainP: [Double?] {
        let (d1, d2) = trainDegreesOfFreedom
        return trainF.map { f in f.flatMap { d1 > 0 && d2 > 0 ? FDistribution.survival($0, d1: Double(d1), d2: Double(d2)) : nil } }
    }

    /// The train split's F of each feature (the split the model learns from).
    public var trainF: [Double?] {
        let s = splits.firstIndex(of: "train") ?? 0
        return features.map { $0.bySplit.indices.contains(s) ? $0.bySplit[s]?.anovaF : nil }
    }
}

/// Seven significant digits: what float32 data can honestly claim, and short to read.
func round6(_ d: Double) -> Double {
    guard d.isFinite, d != 0 else { return d }
    return Double(String(format: "%.7g", d)) ?? d
}
