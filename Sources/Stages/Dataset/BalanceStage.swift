import Basics
import Formats
import Pipeline

/// Resamples the train split to a fixed number of rows per class; val and test pass
/// through untouched. A class with more rows is subsampled without replacement; a class
/// with fewer is kept whole (with a warning) or topped up by seeded oversampling, as the
/// `when_short` policy says. Rows keep their input order, so the output is easy to read
/// and never depends on anything but the seed.
public struct BalanceStage: Stage {
    public static let kind = "balance"
    public static let version = 2
    public static let summary = "resample the train split to a fixed count per class"
    public static let inputCount = 1...1
    public static let parameters: [ParameterSpec] = [
        ParameterSpec("per_class", default: .int(7500), "target train rows per class"),
        ParameterSpec("seed", default: .int(42), "seed of the sampling"),
        ParameterSpec("when_short", default: .string("keep"),
                      "a class below the target: \"keep\" all its rows and warn, or \"oversample\" (seeded repeats)"),
    ]

    public enum ShortPolicy: String, Sendable { case keep, oversample }
    /// The most bytes the balanced table may take in memory (estimated from the input's row
    /// size), checked before any row is repeated: `per_class` up to 10^8 with `oversample`
    /// could otherwise ask for tens of gigabytes.
    public static let memoryBudget = 1 << 30
    public let perClass: Int
    public let seed: UInt64
    public let whenShort: ShortPolicy

    public init(parameters: StageParameters) throws(PipelineError) {
        perClass = try parameters.int("per_class", in: 1...100_000_000)
        seed = UInt64(try parameters.int("seed", in: 0...Int.max))
        whenShort = ShortPolicy(rawValue: try parameters.string("when_short", oneOf: ["keep", "oversample"]))!
    }

    public func run(_ context: StageContext) throws -> StageResult {
        let input = try context.input.table()
        let labels = try input.int32(ColumnName.label)
        let split = try input.int32(ColumnName.split)
        let classes = input.names(MetadataKey.classes)
        let classCount = max(classes.count, Int(labels.max() ?? -1) + 1)
        let augmentSource = input.column(ColumnName.augmentSource) != nil ? try input.strings(ColumnName.augmentSource) : nil

        try checkMemoryBudget(input, labels: labels, split: split, classCount: classCount, stage: context.stage)

        // multiplicity[row] = how many times the row appears in the output.
        var multiplicity = [Int](repeating: 0, count: input.rowCount)
        for i in 0..<input.rowCount where split[i] != Split.train.rawValue { multiplicity[i] = 1 }
        var rng = SeededRandom(seed: seed)
        var perClassStats: [(String, JSONValue)] = []
        for c in 0..<classCount {
            let rows = (0..<input.rowCount).filter { split[$0] == Split.train.rawValue && labels[$0] == Int32(c) }
            let name = c < classes.count ? classes[c] : "class \(c)"
            var applied: String
            var added = 0
            if rows.count >= perClass {
                var shuffled = rows
                rng.shuffle(&shuffled)
                for r in shuffled.prefix(perClass) { multiplicity[r] = 1 }
                applied = rows.count == perClass ? "exact" : "undersampled"
            } else {
                for r in rows { multiplicity[r] = 1 }
                switch whenShort {
                case .keep:
                    applied = "kept (short)"
                    context.warn("class '\(name)' has \(rows.count) train rows, fewer than \(perClass); kept all (when_short = \"keep\")")
                case .oversample:
                    applied = "oversampled"
                    added = perClass - rows.count
                    if !rows.isEmpty {
                        // Whole extra rounds first, then a seeded subset, so repeats are spread evenly.
                        for _ in 0..<(added / rows.count) { for r in rows { multiplicity[r] += 1 } }
                        var shuffled = rows
                        rng.shuffle(&shuffled)
                        for r in shuffled.prefix(added % rows.count) { multiplicity[r] += 1 }
                    }
                }
            }
            let received = rows.count >= perClass ? perClass : rows.count + added
            // Where the kept rows come from: original images or augmented copies.
            let kept = rows.filter { multiplicity[$0] > 0 }
            let fromAugmented = augmentSource.map { src in kept.filter { !src[$0].isEmpty }.count } ?? 0
            perClassStats.append((name, .object([
                ("available", .int(rows.count)), ("target", .int(perClass)), ("received", .int(received)),
                ("from_originals", .int(kept.count - fromAugmented)), ("from_augmented", .int(fromAugmented)),
                ("from_repeats", .int(added)), ("policy", .string(applied)),
            ])))
        }
        var order: [Int] = []
        var copy: [Int32] = []
        for i in 0..<input.rowCount where multiplicity[i] > 0 {
            for k in 0..<multiplicity[i] {
                order.append(i)
                copy.append(Int32(k))
            }
        }
        let table = try input.gathering(order).setting(Column(name: ColumnName.balanceCopy, data: .int32(copy)))
        let outLabels = try table.int32(ColumnName.label)
        let outSplit = try table.int32(ColumnName.split)
        let stats = JSONValue.object([
            ("per_class", .int(perClass)),
            ("when_short", .string(whenShort.rawValue)),
            ("classes", .object(perClassStats)),
            ("rows", countsBySplitAndClass(splits: outSplit, labels: outLabels, classes: classes)),
        ])
        return StageResult(artifacts: [tableArtifact: table.encoded()], forwarded: context.forwardedImages, rowsIn: input.rowCount, rowsOut: table.rowCount, stats: stats)
    }

    /// Refuses a balanced table that would exceed `budget` bytes, before allocating it.
    func checkMemoryBudget(_ input: Table, labels: [Int32], split: [Int32], classCount: Int,
                           stage: String, budget: Int = memoryBudget) throws(PipelineError) {
        var perClassAvailable = [Int](repeating: 0, count: classCount)
        var rows = 0
        for i in 0..<input.rowCount {
            if split[i] != Split.train.rawValue { rows += 1 }
            else if labels[i] >= 0 && Int(labels[i]) < classCount { perClassAvailable[Int(labels[i])] += 1 }
        }
        for available in perClassAvailable {
            rows += available >= perClass || whenShort == .oversample ? perClass : available
        }
        let rowBytes = Self.estimatedRowBytes(input)
        let (bytes, overflow) = rows.multipliedReportingOverflow(by: rowBytes)
        guard overflow || bytes > budget else { return }
        let megabytes = overflow ? "more than \(Int.max >> 20)" : "\(bytes >> 20)"
        throw PipelineError.stageFailed(stage: stage, message:
            "per_class = \(perClass) with when_short = \"\(whenShort.rawValue)\" would make \(rows) rows of about \(rowBytes) bytes (\(megabytes) MiB), over the \(budget >> 20) MiB memory budget; lower per_class or use when_short = \"keep\"")
    }

    /// Bytes one row takes in memory, averaged over the input (at least 1), plus the index
    /// arrays the gather builds per output row.
    static func estimatedRowBytes(_ table: Table) -> Int {
        let rows = max(table.rowCount, 1)
        var bytes = 8 + 4 + 8
        for column in table.columns {
            switch column.data {
            case .float32(_, let width): bytes += 4 * width
            case .int32: bytes += 4
            case .int64: bytes += 8
            case .uint8(_, let width): bytes += width
            case .strings(let values): bytes += 16 + values.reduce(0) { $0 + $1.utf8.count } / rows
            case .blobs(_, let payload): bytes += 8 + payload.count / rows
            }
        }
        return bytes
    }
}
