import Formats
import Pipeline

/// A dataset version's final table, decoded, with its schema: what manifest, diff and
/// export work on.
public struct VersionDataset: Sendable {
    public let version: DatasetVersion
    /// The stage whose `table` artifact is the final dataset.
    public let stage: DatasetVersion.StageEntry
    public let table: Table
    /// Class names in label order.
    public let classes: [String]
    /// Split names in split-id order.
    public let splits: [String]
    /// Feature names in column order (empty without a `features` column).
    public let featureNames: [String]
    public let split: [Int32]
    public let labels: [Int32]
    /// Row-major float32 features, or nil when the version has none (e.g. a pipeline
    /// without feature stages, which keeps the images instead).
    public let features: (values: [Float], width: Int)?

    /// The stage holding the final table: the last `dataset` stage, else the last stage
    /// nothing reads from that has a table.
    public static func finalStage(of version: DatasetVersion) -> DatasetVersion.StageEntry? {
        version.stages.last { $0.kind == DatasetStage.kind && $0.artifacts[tableArtifact] != nil }
            ?? version.sinks.last { $0.artifacts[tableArtifact] != nil }
    }

    public init(version: DatasetVersion, layout: CacheLayout) throws {
        guard let stage = Self.finalStage(of: version) else {
            throw VersionError.unsupported("version \(version.shortID) has no final table (no '\(DatasetStage.kind)' stage with a table); manifest, diff and export need one")
        }
        let table = try Self.table(of: stage, in: version, layout: layout)
        try self.init(version: version, stage: stage, table: table)
    }

    public init(version: DatasetVersion, stage: DatasetVersion.StageEntry, table: Table) throws {
        self.version = version
        self.stage = stage
        self.table = table
        classes = table.names(MetadataKey.classes)
        let splitNames = table.names(MetadataKey.splits)
        splits = splitNames.isEmpty ? Split.allCases.map(\.name) : splitNames
        guard table.column(ColumnName.label) != nil, table.column(ColumnName.split) != nil else {
            throw VersionError.unsupported("the final table of version \(version.shortID) (stage '\(stage.name)') has no '\(ColumnName.label)' and '\(ColumnName.split)' columns")
        }
        labels = try table.int32(ColumnName.label)
        split = try table.int32(ColumnName.split)
        if table.column(ColumnName.features) != nil {
            let f = try table.float32(ColumnName.features)
            features = f
            let names = table.names(MetadataKey.features)
            featureNames = names.count == f.width ? names : (0..<f.width).map { "feature_\($0)" }
        } else {
            features = nil
            featureNames = []
        }
    }

    /// Decodes a stage's table artifact from the cache.
    public static func table(of stage: DatasetVersion.StageEntry, in version: DatasetVersion, layout: CacheLayout) throws -> Table {
        try decodeArtifact(tableArtifact, of: stage, in: version, layout: layout)
    }

    static func decodeArtifact(_ name: String, of stage: DatasetVersion.StageEntry, in version: DatasetVersion, layout: CacheLayout) throws -> Table {
        let store = ArtifactStore(layout: layout)
        guard let id = stage.artifacts[name] else {
            throw VersionError.unsupported("stage '\(stage.name)' of version \(version.shortID) has no '\(name)' artifact (it has: \(stage.artifacts.keys.sorted().joined(separator: ", ")))")
        }
        // A deleted object reads as a damaged cache (exit 70, naming the file), like a damaged one.
        return try TableFile.decode(try store.read(id), source: "\(name) of stage '\(stage.name)' in version \(version.shortID)")
    }

    /// Row indices of each split, in split-id order.
    public var rowsBySplit: [[Int]] {
        var out = [[Int]](repeating: [], count: splits.count)
        for (i, s) in split.enumerated() where s >= 0 && Int(s) < out.count { out[Int(s)].append(i) }
        return out
    }

    /// Rows per split (outer) and class (inner), in id order.
    public var counts: [[Int]] {
        var out = [[Int]](repeating: [Int](repeating: 0, count: classes.count), count: splits.count)
        for i in 0..<labels.count {
            let s = Int(split[i]), c = Int(labels[i])
            if s >= 0, s < splits.count, c >= 0, c < classes.count { out[s][c] += 1 }
        }
        return out
    }

    /// The provenance columns present, in the order they make up a row's identity.
    public var provenanceColumns: [String] {
        [ColumnName.itemID, ColumnName.balanceCopy, "augment_source", "augment_recipe", "augment_seed"].filter { table.column($0) != nil }
    }

    /// Each row's provenance id: its item id plus whatever distinguishes copies made of
    /// one item (balance repeats, augmentations). Rows match across versions by this.
    public func provenanceIDs() -> [String] {
        let columns = provenanceColumns.compactMap { table.column($0) }
        guard !columns.isEmpty else { return (0..<table.rowCount).map { "row \($0)" } }
        return (0..<table.rowCount).map { r in
            columns.map { c -> String in
                switch c.data {
                case .strings(let v): return v[r]
                case .int32(let v): return String(v[r])
                case .int64(let v): return String(v[r])
                default: return ""
                }
            }.joined(separator: "\u{1F}")
        }
    }
}

/// Population statistics of one feature over some rows.
public struct FeatureSummary: Sendable, Equatable {
    public var count: Int
    public var min: Double
    public var max: Double
    public var mean: Double
    /// Population standard deviation (ddof 0, as NumPy's default).
    public var std: Double
    /// One-way ANOVA F statistic of the feature across classes; nil when undefined
    /// (fewer than two classes present, or no variance within classes).
    public var anovaF: Double?
}

/// The statistics behind manifests and diffs. All sums are in Double, in row order, so
/// the figures are reproducible.
public enum DatasetStatistics {
    /// Statistics of feature `j` over `rows`, with the class-separability F.
    public static func summary(_ values: [Float], width: Int, feature j: Int, rows: [Int], labels: [Int32], classCount: Int) -> FeatureSummary? {
        guard !rows.isEmpty else { return nil }
        var lo = Double.infinity, hi = -Double.infinity, sum = 0.0
        var n = [Int](repeating: 0, count: classCount), s = [Double](repeating: 0, count: classCount)
        for r in rows {
            let x = Double(values[r * width + j])
            lo = Swift.min(lo, x); hi = Swift.max(hi, x); sum += x
            let c = Int(labels[r])
            if c >= 0 && c < classCount { n[c] += 1; s[c] += x }
        }
        let count = rows.count
        let mean = sum / Double(count)
        var ss = 0.0, within = 0.0
        let classMeans = (0..<classCount).map { n[$0] > 0 ? s[$0] / Double(n[$0]) : 0 }
        for r in rows {
            let x = Double(values[r * width + j])
            ss += (x - mean) * (x - mean)
            let c = Int(labels[r])
            if c >= 0 && c < classCount { within += (x - classMeans[c]) * (x - classMeans[c]) }
        }
        let k = n.filter { $0 > 0 }.count
        let labelled = n.reduce(0, +)
        var between = 0.0
        for c in 0..<classCount where n[c] > 0 { between += Double(n[c]) * (classMeans[c] - mean) * (classMeans[c] - mean) }
        var f: Double?
        if k >= 2, labelled > k, within > 0 {
            f = (between / Double(k - 1)) / (within / Double(labelled - k))
        }
        return FeatureSummary(count: count, min: lo, max: hi, mean: mean, std: (ss / Double(count)).squareRoot(), anovaF: f)
    }

    /// Two-sample Kolmogorov-Smirnov statistic: the largest gap between the two
    /// empirical distribution functions (0 = same distribution, 1 = disjoint).
    public static func kolmogorovSmirnov(_ a: [Float], _ b: [Float]) -> Double {
        guard !a.isEmpty, !b.isEmpty else { return a.isEmpty && b.isEmpty ? 0 : 1 }
        let x = a.sorted(), y = b.sorted()
        var i = 0, j = 0, d = 0.0
        while i < x.count && j < y.count {
            let v = Swift.min(x[i], y[j])
            // Step past every value equal to v in both samples before comparing, so ties
            // do not count as gaps.
            while i < x.count && x[i] == v { i += 1 }
            while j < y.count && y[j] == v { j += 1 }
            d = Swift.max(d, abs(Double(i) / Double(x.count) - Double(j) / Double(y.count)))
        }
        return d
    }

    /// Rows among `rows` whose feature values equal an earlier row's exactly (bit
    /// patterns, with -0 = +0).
    public static func duplicateRows(_ values: [Float], width: Int, rows: [Int]) -> Int {
        guard width > 0 else { return 0 }
        var seen = Set<[UInt32]>()
        seen.reserveCapacity(rows.count)
        var duplicates = 0
        for r in rows {
            let row = values[(r * width)..<((r + 1) * width)].map { $0 == 0 ? 0 : $0.bitPattern }
            if !seen.insert(row).inserted { duplicates += 1 }
        }
        return duplicates
    }

    /// Rows among `rows` whose image hash equals an earlier row's.
    public static func duplicateImages(_ hashes: [UInt8], rows: [Int]) -> Int {
        var seen = Set<ArraySlice<UInt8>>()
        var duplicates = 0
        for r in rows where !seen.insert(hashes[(r * 32)..<((r + 1) * 32)]).inserted { duplicates += 1 }
        return duplicates
    }

    /// One feature's values over `rows`.
    public static func column(_ values: [Float], width: Int, feature j: Int, rows: [Int]) -> [Float] {
        rows.map { values[$0 * width + j] }
    }
}
