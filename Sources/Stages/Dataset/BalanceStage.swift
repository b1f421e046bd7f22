import Basics
import Formats
import Pipeline

/// Resamples the train split to a target number of rows per class; val and test pass
/// through untouched. A class with more rows is subsampled without replacement; a class
/// with fewer is kept whole (with a warning) or topped up by seeded oversampling, as the
/// `when_short` policy says. With `stratify_by = "emotion"` a class merged from several
/// source emotions takes an equal share of its target from each. Rows keep their input
/// order, so the output is easy to read and never depends on anything but the seed.
public struct BalanceStage: Stage {
    public static let kind = "balance"
    public static let version = 3  // 3: per-class targets by name, stratify_by, per-emotion and split-share stats
    public static let summary = "resample the train split to a fixed count per class"
    public static let inputCount = 1...1
    public static let parameters: [ParameterSpec] = [
        ParameterSpec("per_class", default: .int(7500),
                      "target train rows per class: one number for every class, or an object naming every class, e.g. {\"happy\": 7500, \"sad\": 7500, \"unknown\": 15000}"),
        ParameterSpec("seed", default: .int(42), "seed of the sampling"),
        ParameterSpec("when_short", default: .string("keep"),
                      "a class below the target: \"keep\" all its rows and warn, or \"oversample\" (seeded repeats)"),
        ParameterSpec("stratify_by", default: .string("none"),
                      "\"none\", or \"emotion\": a class merged from several source emotions takes an equal share of its target from each; an emotion with too few rows gives all it has and the rest is spread evenly over the others"),
    ]

    /// The target of each class: one for all, or one per class name.
    public enum Targets: Sendable {
        case all(Int)
        case byName([(name: String, count: Int)])
    }

    public enum ShortPolicy: String, Sendable { case keep, oversample }
    public enum Stratification: String, Sendable { case none, emotion }
    /// The most bytes the balanced table may take in memory (estimated from the input's row
    /// size), checked before any row is repeated: `per_class` up to 10^8 with `oversample`
    /// could otherwise ask for tens of gigabytes.
    public static let memoryBudget = 1 << 30
    /// A val or test class share is flagged when it is more than this many times train's
    /// share (or less than 1 / this) …
    public static let shareRatioLimit = 1.5
    /// … and at least this far from it in absolute terms (so tiny classes do not warn).
    public static let shareDifferenceFloor = 0.05
    static let countRange = 1...100_000_000

    public let targets: Targets
    public let seed: UInt64
    public let whenShort: ShortPolicy
    public let stratifyBy: Stratification

    public init(parameters: StageParameters) throws(PipelineError) {
        let v = try parameters.value("per_class")
        if v.intValue != nil {
            targets = .all(try parameters.int("per_class", in: Self.countRange))
        } else if let members = v.objectValue, !members.isEmpty {
            var list: [(name: String, count: Int)] = []
            for (name, count) in members {
                guard let n = count.intValue, Self.countRange.contains(n) else {
                    throw parameters.invalid("per_class", "class '\(name)': expected an integer in 1...\(Self.countRange.upperBound), found \(count.canonical)")
                }
                if list.contains(where: { $0.name == name }) { throw parameters.invalid("per_class", "class '\(name)' is named twice") }
                list.append((name, n))
            }
            targets = .byName(list)
        } else {
            throw parameters.invalid("per_class", "expected a row count for every class, or an object by class name such as {\"happy\": 7500, \"sad\": 7500, \"unknown\": 15000}; found \(v.typeName) \(v.canonical)")
        }
        seed = UInt64(try parameters.int("seed", in: 0...Int.max))
        whenShort = ShortPolicy(rawValue: try parameters.string("when_short", oneOf: ["keep", "oversample"]))!
        stratifyBy = Stratification(rawValue: try parameters.string("stratify_by", oneOf: ["none", "emotion"]))!
    }

    /// The target of each class in label order; a by-name list must name exactly the
    /// classes of the input (a config error, exit 78, listing them otherwise).
    func resolvedTargets(classes: [String], classCount: Int, context: StageContext) throws -> [Int] {
        switch targets {
        case .all(let n):
            return [Int](repeating: n, count: classCount)
        case .byName(let list):
            let names = (0..<classCount).map { $0 < classes.count ? classes[$0] : "class \($0)" }
            let unknown = list.map(\.name).filter { !names.contains($0) }
            let missing = names.filter { n in !list.contains { $0.name == n } }
            guard unknown.isEmpty && missing.isEmpty else {
                var problems: [String] = []
                if !unknown.isEmpty { problems.append("names \(unknown.map { "'\($0)'" }.joined(separator: ", ")), which \(unknown.count == 1 ? "is not a class" : "are not classes")") }
                if !missing.isEmpty { problems.append("has no count for \(missing.map { "'\($0)'" }.joined(separator: ", "))") }
                throw PipelineError.stageFailed(stage: context.stage, underlying: context.parameters.invalid("per_class",
                    "per_class \(problems.joined(separator: " and ")); the classes (from 'select') are \(names.joined(separator: ", ")): give one count for each"))
            }
            return names.map { n in list.first { $0.name == n }!.count }
        }
    }

    public func run(_ context: StageContext) throws -> StageResult {
        let input = try context.input.table()
        let labels = try input.int32(ColumnName.label)
        let split = try input.int32(ColumnName.split)
        let classes = input.names(MetadataKey.classes)
        let classCount = max(classes.count, Int(labels.max() ?? -1) + 1)
        let augmentSource = input.column(ColumnName.augmentSource) != nil ? try input.strings(ColumnName.augmentSource) : nil
        let emotions = input.column(ColumnName.emotion) != nil ? try input.int32(ColumnName.emotion) : nil
        if stratifyBy == .emotion && emotions == nil {
            throw stageError(context, "stratify_by = \"emotion\" needs the '\(ColumnName.emotion)' column, which the input lacks; put 'ingest' and 'select' before 'balance', or set stratify_by = \"none\"")
        }
        let target = try resolvedTargets(classes: classes, classCount: classCount, context: context)

        try checkMemoryBudget(input, labels: labels, split: split, targets: target, stage: context.stage)

        // multiplicity[row] = how many times the row appears in the output.
        var multiplicity = [Int](repeating: 0, count: input.rowCount)
        for i in 0..<input.rowCount where split[i] != Split.train.rawValue { multiplicity[i] = 1 }
        var rng = SeededRandom(seed: seed)
        var perClassStats: [(String, JSONValue)] = []
        for c in 0..<classCount {
            let rows = (0..<input.rowCount).filter { split[$0] == Split.train.rawValue && labels[$0] == Int32(c) }
            let name = c < classes.count ? classes[c] : "class \(c)"
            let perClass = target[c]
            var applied: String
            var added = 0
            // Source emotions of the class, in code order, with their rows.
            let byEmotion: [(emotion: Int32, rows: [Int])] = emotions.map { e in
                Dictionary(grouping: rows, by: { e[$0] }).sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
            } ?? []
            var quotas: [Int] = []
            if rows.count >= perClass {
                if stratifyBy == .emotion {
                    quotas = Self.equalShares(target: perClass, available: byEmotion.map(\.rows.count))
                    for (group, quota) in zip(byEmotion, quotas) {
                        var shuffled = group.rows
                        if quota < shuffled.count { rng.shuffle(&shuffled) }
                        for r in shuffled.prefix(quota) { multiplicity[r] = 1 }
                    }
                } else {
                    var shuffled = rows
                    rng.shuffle(&shuffled)
                    for r in shuffled.prefix(perClass) { multiplicity[r] = 1 }
                }
                applied = rows.count == perClass ? "exact" : "undersampled"
            } else {
                quotas = byEmotion.map(\.rows.count)
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
            var figures: [(String, JSONValue)] = [
                ("available", .int(rows.count)), ("target", .int(perClass)), ("received", .int(received)),
                ("from_originals", .int(kept.count - fromAugmented)), ("from_augmented", .int(fromAugmented)),
                ("from_repeats", .int(added)), ("policy", .string(applied)),
            ]
            if !byEmotion.isEmpty {
                // An emotion falls short when it has fewer rows than an equal share of the target.
                let equalShare = perClass / byEmotion.count
                var short: [String] = []
                figures.append(("by_emotion", .object(byEmotion.map { group in
                    let gave = group.rows.reduce(0) { $0 + multiplicity[$1] }
                    var e: [(String, JSONValue)] = [("available", .int(group.rows.count)), ("received", .int(gave))]
                    if stratifyBy == .emotion {
                        e.insert(("equal_share", .int(equalShare)), at: 1)
                        if group.rows.count < equalShare { short.append(Self.emotionName(group.emotion)) }
                    }
                    return (Self.emotionName(group.emotion), .object(e))
                })))
                if stratifyBy == .emotion { figures.append(("short_emotions", .array(short.map { .string($0) }))) }
            }
            perClassStats.append((name, .object(figures)))
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
        let names = (0..<classCount).map { $0 < classes.count ? classes[$0] : "class \($0)" }
        let shares = Self.classShares(splits: outSplit, labels: outLabels, classCount: classCount)
        let shareWarnings = Self.shareWarnings(shares, classes: names)
        for w in shareWarnings { context.warn(w) }
        var statsMembers: [(String, JSONValue)] = []
        switch targets {
        case .all(let n): statsMembers.append(("per_class", .int(n)))
        case .byName: statsMembers.append(("per_class", .object(zip(names, target).map { ($0, .int($1)) })))
        }
        statsMembers += [
            ("when_short", .string(whenShort.rawValue)),
            ("stratify_by", .string(stratifyBy.rawValue)),
            ("classes", .object(perClassStats)),
            ("rows", countsBySplitAndClass(splits: outSplit, labels: outLabels, classes: classes)),
            ("class_shares", .object(Split.allCases.map { s in
                (s.name, shares[Int(s.rawValue)].map { .object(zip(names, $0).map { ($0, .number(($1 * 10_000).rounded() / 10_000)) }) } ?? .null)
            })),
            ("share_warnings", .array(shareWarnings.map { .string($0) })),
        ]
        return StageResult(artifacts: [tableArtifact: table.encoded()], forwarded: context.forwardedImages, rowsIn: input.rowCount, rowsOut: table.rowCount, stats: .object(statsMembers))
    }

    static func emotionName(_ e: Int32) -> String {
        Emotion.names.indices.contains(Int(e)) ? Emotion.names[Int(e)] : "emotion \(e)"
    }

    /// Splits `target` over groups as evenly as their sizes allow: each group gets an equal
    /// share; a group smaller than its share gives all it has, and what it lacks is shared
    /// out again over the others. The last few rows of an uneven division go one each to the
    /// groups with the most rows left (ties: the earlier group). Never more than a group has.
    static func equalShares(target: Int, available: [Int]) -> [Int] {
        var quota = [Int](repeating: 0, count: available.count)
        var open = Array(available.indices)
        var remaining = target
        while !open.isEmpty && remaining > 0 {
            let share = remaining / open.count
            let short = open.filter { available[$0] <= share }
            if short.isEmpty {
                for i in open { quota[i] = share }
                remaining -= share * open.count
                let extra = open.sorted { (available[$0], -$0) > (available[$1], -$1) }.prefix(remaining)
                for i in extra { quota[i] += 1 }
                remaining = 0
            } else {
                for i in short { quota[i] = available[i]; remaining -= available[i] }
                open.removeAll { short.contains($0) }
            }
        }
        return quota
    }

    /// Each split's class shares (nil for an empty split).
    static func classShares(splits: [Int32], labels: [Int32], classCount: Int) -> [[Double]?] {
        Split.allCases.map { s in
            var counts = [Int](repeating: 0, count: classCount)
            for i in labels.indices where splits[i] == s.rawValue && labels[i] >= 0 && Int(labels[i]) < classCount { counts[Int(labels[i])] += 1 }
            let total = counts.reduce(0, +)
            return total == 0 ? nil : counts.map { Double($0) / Double(total) }
        }
    }

    /// One message per val or test split whose class shares differ strongly from train's:
    /// a share more than `shareRatioLimit` times train's (or below 1 / that) and at least
    /// `shareDifferenceFloor` away from it.
    static func shareWarnings(_ shares: [[Double]?], classes: [String]) -> [String] {
        guard let train = shares[Int(Split.train.rawValue)] else { return [] }
        func pct(_ x: Double) -> String { String(format: "%.1f%%", 100 * x) }
        var out: [String] = []
        for s in [Split.val, Split.test] {
            guard let other = shares[Int(s.rawValue)] else { continue }
            var differing: [String] = []
            for c in classes.indices {
                let a = other[c], t = train[c]
                let ratio = min(a, t) > 0 ? max(a, t) / min(a, t) : (max(a, t) > 0 ? .infinity : 1)
                if ratio > shareRatioLimit && abs(a - t) >= shareDifferenceFloor {
                    differing.append("\(classes[c]) \(pct(a)) against \(pct(t)) in train")
                }
            }
            if !differing.isEmpty {
                out.append("\(s.name) class shares differ strongly from train's: \(differing.joined(separator: ", ")); accuracy on \(s.name) weighs the classes differently from training (see balance.per_class)")
            }
        }
        return out
    }

    /// Refuses a balanced table that would exceed `budget` bytes, before allocating it.
    func checkMemoryBudget(_ input: Table, labels: [Int32], split: [Int32], targets: [Int],
                           stage: String, budget: Int = memoryBudget) throws(PipelineError) {
        let classCount = targets.count
        var perClassAvailable = [Int](repeating: 0, count: classCount)
        var rows = 0
        for i in 0..<input.rowCount {
            if split[i] != Split.train.rawValue { rows += 1 }
            else if labels[i] >= 0 && Int(labels[i]) < classCount { perClassAvailable[Int(labels[i])] += 1 }
        }
        for (available, perClass) in zip(perClassAvailable, targets) {
            rows += available >= perClass || whenShort == .oversample ? perClass : available
        }
        let rowBytes = Self.estimatedRowBytes(input)
        let (bytes, overflow) = rows.multipliedReportingOverflow(by: rowBytes)
        guard overflow || bytes > budget else { return }
        let megabytes = overflow ? "more than \(Int.max >> 20)" : "\(bytes >> 20)"
        let perClass = Set(targets).count == 1 ? "\(targets[0])" : "{" + targets.map(String.init).joined(separator: ", ") + "}"
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
