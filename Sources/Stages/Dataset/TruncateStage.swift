import Foundation
import Formats
import Pipeline
import Learning

/// Truncates float feature values toward zero to N decimal digits, as the notebooks did,
/// and reports, per class, how many rows became exact duplicates by doing so. A class that
/// truncation breaks (rows lost, emptied, or too many rows collapsed into duplicates) stops
/// the build under `on_class_change = "fail"`: this is how the researcher's sad class
/// "disappeared" (digits 0 turns every score below 1 into 0, and a later drop of
/// duplicates keeps one row per vector).
public struct TruncateStage: Stage {
    public static let kind = "truncate"
    public static let version = 3  // 3: per-class report, on_class_change, max_duplicate_share; label columns refused
    public static let summary = "truncate float features toward zero to N decimal digits"
    public static let inputCount = 1...1
    public static let parameters: [ParameterSpec] = [
        ParameterSpec("digits", default: .int(4), "decimal digits to keep (0-8)"),
        ParameterSpec("columns", default: .array([.string(ColumnName.features)]),
                      "float32 feature columns to truncate; a listed column that is absent is skipped; label columns (label, onehot, emotion, split) are refused"),
        ParameterSpec("on_class_change", default: .string("fail"),
                      "\"fail\" stops the build (exit 65) when truncation removes rows, empties a class, or makes more than max_duplicate_share of a class's rows in a split duplicates; \"warn\" builds anyway and warns"),
        ParameterSpec("max_duplicate_share", default: .number(defaultMaxDuplicateShare),
                      "largest share (0-1) of a class's rows in a split that truncation may turn into exact duplicates of another row of the class, or into copies of another class's row"),
    ]

    public enum OnClassChange: String, Sendable { case warn, fail }
    /// Set from full FER2013: the default recipe (4 digits) creates far fewer duplicates
    /// than this in every class and split (see BENCHMARKS.md).
    public static let defaultMaxDuplicateShare = 0.01
    /// Columns that hold a row's class: truncating or rounding them can move a row to
    /// another class (a 0.97 probability becomes 0 at 0 digits), so they are never touched.
    public static let labelColumns: Set<String> = [ColumnName.label, ColumnName.onehot, ColumnName.emotion, ColumnName.split]

    public let digits: Int
    public let columns: [String]
    public let onClassChange: OnClassChange
    public let maxDuplicateShare: Double

    public init(parameters: StageParameters) throws(PipelineError) {
        digits = try parameters.int("digits", in: 0...8)
        guard let list = try parameters.value("columns").arrayValue?.compactMap(\.stringValue) else {
            throw parameters.invalid("columns", "expected an array of column names")
        }
        if let label = list.first(where: { Self.labelColumns.contains($0) || $0.hasPrefix("onehot") || $0.hasPrefix("label") }) {
            throw parameters.invalid("columns", "'\(label)' holds labels; truncating or rounding a label can move rows to another class (a one-hot or probability 0.97 becomes 0 at 0 digits), so truncate only feature columns")
        }
        columns = list
        onClassChange = OnClassChange(rawValue: try parameters.string("on_class_change", oneOf: ["warn", "fail"]))!
        maxDuplicateShare = try parameters.double("max_duplicate_share", in: 0...1)
    }

    /// What truncation did to the rows of one class in one split.
    public struct ClassChange: Sendable, Equatable {
        public var className: String
        public var split: String
        public var rowsIn: Int
        public var rowsOut: Int
        /// Rows equal to an earlier row of the same class and split, before and after.
        public var duplicatesBefore: Int
        public var duplicatesAfter: Int
        /// Rows equal to some row of another class in the same split, before and after.
        public var collisionsBefore: Int
        public var collisionsAfter: Int
        public var duplicatesCreated: Int { max(0, duplicatesAfter - duplicatesBefore) }
        public var collisionsCreated: Int { max(0, collisionsAfter - collisionsBefore) }
    }

    public func run(_ context: StageContext) throws -> StageResult {
        let input = try context.input.table()
        var table = input
        var touched: [String] = []
        var duplicateStats: [(String, JSONValue)] = []
        var before: [[Float]] = [], after: [[Float]] = [], widths: [Int] = []
        for name in columns {
            guard table.column(name) != nil else { continue }
            let (values, width) = try table.float32(name)
            let dupBefore = duplicateRows(values, width: width)
            var out = values
            for i in out.indices { out[i] = FeatureDigits.truncate(out[i], digits: digits) }
            let dupAfter = duplicateRows(out, width: width)
            table = try table.setting(Column(name: name, data: .float32(values: out, width: width)))
            touched.append(name)
            before.append(values); after.append(out); widths.append(width)
            duplicateStats.append((name, .object([("before", .int(dupBefore)), ("after", .int(dupAfter))])))
            if dupAfter > dupBefore {
                context.warn("truncating \(name) to \(digits) digits made \(dupAfter - dupBefore) more row(s) exact duplicates (\(dupBefore) → \(dupAfter))")
            }
        }
        if touched.isEmpty {
            context.warn("no float feature column to truncate (looked for: \(columns.joined(separator: ", "))); the table passes through unchanged")
        }
        let classes = table.names(MetadataKey.classes)
        let labels = table.column(ColumnName.label) != nil ? try table.int32(ColumnName.label) : nil
        let splits = table.column(ColumnName.split) != nil ? try table.int32(ColumnName.split) : nil
        // A row's vector is all truncated columns together.
        func keys(_ parts: [[Float]]) -> [[UInt32]] {
            (0..<table.rowCount).map { r in
                var key: [UInt32] = []
                for (p, w) in zip(parts, widths) { key += p[(r * w)..<((r + 1) * w)].map { $0 == 0 ? 0 : $0.bitPattern } }
                return key
            }
        }
        let changes = touched.isEmpty ? [] : Self.classChanges(before: keys(before), after: keys(after),
                                                                labels: labels, splits: splits, classes: classes)
        let problems = Self.problems(changes, maxDuplicateShare: maxDuplicateShare)
        let what = "truncating \(touched.joined(separator: ", ")) to \(digits) digit\(digits == 1 ? "" : "s")"
        let problemTexts = problems.map { "\(what): \($0.text)" }
        if !problems.isEmpty {
            switch onClassChange {
            case .fail: throw stageError(context, Self.failureMessage(problems, what: what, maxDuplicateShare: maxDuplicateShare))
            case .warn: for p in problemTexts { context.warn(p) }
            }
        }
        let stats = JSONValue.object([
            ("digits", .int(digits)),
            ("columns", .array(touched.map { .string($0) })),
            ("duplicate_rows", .object(duplicateStats)),
            ("max_duplicate_share", .number(maxDuplicateShare)),
            ("on_class_change", .string(onClassChange.rawValue)),
            ("classes", Self.perClassJSON(changes, classes: classes)),
            ("by_split", .object(Split.allCases.map { s in
                (s.name, .object(changes.filter { $0.split == s.name }.map { ($0.className, Self.json($0)) }))
            })),
            ("class_problems", .array(problemTexts.map { .string($0) })),
        ])
        return StageResult(artifacts: [tableArtifact: table.encoded()], forwarded: context.forwardedImages, rowsIn: input.rowCount, rowsOut: table.rowCount, stats: stats)
    }

    /// Per (split, class) figures, from each row's vector before and after truncation.
    /// Without labels or splits the whole table is one group.
    static func classChanges(before: [[UInt32]], after: [[UInt32]], labels: [Int32]?, splits: [Int32]?,
                             classes: [String]) -> [ClassChange] {
        let n = before.count
        let label = labels ?? [Int32](repeating: 0, count: n)
        let split = splits ?? [Int32](repeating: 0, count: n)
        let classCount = max(classes.count, Int(label.max() ?? -1) + 1)
        func className(_ c: Int) -> String { labels == nil ? "all" : (c < classes.count ? classes[c] : "class \(c)") }
        func splitName(_ s: Int32) -> String { splits == nil ? "all" : (Split(rawValue: s)?.name ?? "split \(s)") }
        func counts(_ keys: [[UInt32]]) -> (duplicates: [Int32: [Int]], collisions: [Int32: [Int]]) {
            var dup: [Int32: [Int]] = [:], col: [Int32: [Int]] = [:]
            var seen: [Int32: Set<[UInt32]>] = [:]
            var classesOf: [Int32: [[UInt32]: Set<Int32>]] = [:]
            for r in 0..<n {
                let s = split[r], c = Int(label[r])
                guard c >= 0 && c < classCount else { continue }
                if dup[s] == nil { dup[s] = [Int](repeating: 0, count: classCount); col[s] = [Int](repeating: 0, count: classCount) }
                let key = [UInt32(truncatingIfNeeded: c)] + keys[r]
                if !seen[s, default: []].insert(key).inserted { dup[s]![c] += 1 }
                classesOf[s, default: [:]][keys[r], default: []].insert(Int32(c))
            }
            for r in 0..<n {
                let s = split[r], c = Int(label[r])
                guard c >= 0 && c < classCount, let owners = classesOf[s]?[keys[r]] else { continue }
                if owners.count > 1 { col[s]![c] += 1 }
            }
            return (dup, col)
        }
        let b = counts(before), a = counts(after)
        var rows: [Int32: [Int]] = [:]
        for r in 0..<n where label[r] >= 0 && Int(label[r]) < classCount {
            rows[split[r], default: [Int](repeating: 0, count: classCount)][Int(label[r])] += 1
        }
        var out: [ClassChange] = []
        for s in rows.keys.sorted() {
            for c in 0..<classCount {
                let count = rows[s]![c]
                guard count > 0 else { continue }
                // Truncation keeps every row; `problems` still checks, should that ever change.
                out.append(ClassChange(className: className(c), split: splitName(s), rowsIn: count, rowsOut: count,
                                       duplicatesBefore: b.duplicates[s]![c], duplicatesAfter: a.duplicates[s]![c],
                                       collisionsBefore: b.collisions[s]![c], collisionsAfter: a.collisions[s]![c]))
            }
        }
        return out
    }

    /// A class in a split that truncation broke, and how.
    public struct ClassProblem: Sendable, Equatable {
        public var className: String
        public var split: String
        public var detail: String
        public var text: String { "class '\(className)' (\(split)): \(detail)" }
    }

    /// One problem per way a class in a split was broken: rows lost, class emptied, or more
    /// than `maxDuplicateShare` of its rows made duplicates or copies of another class's row.
    public static func problems(_ changes: [ClassChange], maxDuplicateShare: Double) -> [ClassProblem] {
        func pct(_ k: Int, _ n: Int) -> String { String(format: "%.1f%%", 100 * Double(k) / Double(max(n, 1))) }
        var out: [ClassProblem] = []
        for c in changes {
            func add(_ detail: String) { out.append(ClassProblem(className: c.className, split: c.split, detail: detail)) }
            if c.rowsIn > 0 && c.rowsOut == 0 {
                add("emptied: \(c.rowsIn) rows in, 0 out")
                continue
            }
            if c.rowsOut < c.rowsIn { add("lost \(c.rowsIn - c.rowsOut) of its \(c.rowsIn) rows (\(c.rowsOut) out)") }
            let limit = maxDuplicateShare * Double(c.rowsIn)
            if Double(c.duplicatesCreated) > limit {
                let distinct = c.rowsIn - c.duplicatesAfter
                add("\(c.duplicatesCreated) of its \(c.rowsIn) rows (\(pct(c.duplicatesCreated, c.rowsIn))) became exact duplicates of another '\(c.className)' row (duplicates \(c.duplicatesBefore) → \(c.duplicatesAfter); \(distinct) distinct row\(distinct == 1 ? "" : "s") left)")
            }
            if Double(c.collisionsCreated) > limit {
                add("\(c.collisionsCreated) of its \(c.rowsIn) rows (\(pct(c.collisionsCreated, c.rowsIn))) became equal to a row of another class (\(c.collisionsBefore) → \(c.collisionsAfter))")
            }
        }
        return out
    }

    /// The build failure: the first problem of each class (a message stays short enough to
    /// read whole), the count of all of them, and what to do.
    static func failureMessage(_ problems: [ClassProblem], what: String, maxDuplicateShare: Double) -> String {
        var firstPerClass: [ClassProblem] = []
        for p in problems where !firstPerClass.contains(where: { $0.className == p.className }) { firstPerClass.append(p) }
        var text = "\(what) breaks \(firstPerClass.count) class\(firstPerClass.count == 1 ? "" : "es") (max_duplicate_share \(maxDuplicateShare)): "
            + firstPerClass.map(\.text).joined(separator: "; ")
        if problems.count > firstPerClass.count {
            text += "; \(problems.count) problems in all"
        }
        return text + ". A later drop of duplicates would keep one row per vector and erase such a class; keep more digits, or set truncate.on_class_change = \"warn\" to build anyway (the stats then list every problem)"
    }

    static func json(_ c: ClassChange) -> JSONValue {
        .object([("rows_in", .int(c.rowsIn)), ("rows_out", .int(c.rowsOut)),
                 ("duplicates_before", .int(c.duplicatesBefore)), ("duplicates_after", .int(c.duplicatesAfter)),
                 ("duplicates_created", .int(c.duplicatesCreated)),
                 ("duplicate_share", .number(share(c.duplicatesCreated, c.rowsIn))),
                 ("collisions_created", .int(c.collisionsCreated))])
    }

    /// The splits summed per class; `largest_duplicate_share` is the worst split's.
    static func perClassJSON(_ changes: [ClassChange], classes: [String]) -> JSONValue {
        var names = classes.filter { n in changes.contains { $0.className == n } }
        for c in changes where !names.contains(c.className) { names.append(c.className) }
        return .object(names.map { name in
            let mine = changes.filter { $0.className == name }
            func sum(_ f: (ClassChange) -> Int) -> Int { mine.reduce(0) { $0 + f($1) } }
            let worst = mine.map { share($0.duplicatesCreated, $0.rowsIn) }.max() ?? 0
            return (name, .object([
                ("rows_in", .int(sum(\.rowsIn))), ("rows_out", .int(sum(\.rowsOut))),
                ("duplicates_before", .int(sum(\.duplicatesBefore))), ("duplicates_after", .int(sum(\.duplicatesAfter))),
                ("duplicates_created", .int(sum(\.duplicatesCreated))), ("collisions_created", .int(sum(\.collisionsCreated))),
                ("largest_duplicate_share", .number(worst)),
            ]))
        })
    }

    static func share(_ k: Int, _ n: Int) -> Double { n > 0 ? (Double(k) / Double(n) * 1e6).rounded() / 1e6 : 0 }
}

/// Rows whose values equal an earlier row's exactly (bit patterns compared).
func duplicateRows(_ values: [Float], width: Int) -> Int {
    guard width > 0 else { return 0 }
    var seen = Set<[UInt32]>()
    var duplicates = 0
    for r in 0..<(values.count / width) {
        let row = values[(r * width)..<((r + 1) * width)].map { $0 == 0 ? 0 : $0.bitPattern }
        if !seen.insert(row).inserted { duplicates += 1 }
    }
    return duplicates
}
