import Foundation
import Formats
import Pipeline

/// Truncates float feature values toward zero to N decimal digits, as the notebooks did,
/// and reports how many rows became exact duplicates of another row by doing so.
public struct TruncateStage: Stage {
    public static let kind = "truncate"
    public static let version = 2
    public static let summary = "truncate float features toward zero to N decimal digits"
    public static let inputCount = 1...1
    public static let parameters: [ParameterSpec] = [
        ParameterSpec("digits", default: .int(4), "decimal digits to keep (0-8)"),
        ParameterSpec("columns", default: .array([.string(ColumnName.features)]),
                      "float32 columns to truncate; a listed column that is absent is skipped"),
    ]

    public let digits: Int
    public let columns: [String]

    public init(parameters: StageParameters) throws(PipelineError) {
        digits = try parameters.int("digits", in: 0...8)
        guard let list = try parameters.value("columns").arrayValue?.compactMap(\.stringValue) else {
            throw parameters.invalid("columns", "expected an array of column names")
        }
        columns = list
    }

    /// The float32 nearest to trunc(x · 10^digits) / 10^digits, so the result prints
    /// with at most `digits` decimals. A float32 that already stands for k / 10^digits
    /// (it may lie just below it, like 0.0003) keeps k: truncation is idempotent.
    public static func truncate(_ x: Float, digits: Int) -> Float {
        let scale = pow(10.0, Double(digits))
        var k = (Double(x) * scale).rounded(.towardZero)
        let next = k + (x < 0 ? -1 : 1)
        if Float(next / scale) == x { k = next }
        return Float(k / scale)
    }

    public func run(_ context: StageContext) throws -> StageResult {
        var table = try context.input.table()
        var touched: [String] = []
        var duplicateStats: [(String, JSONValue)] = []
        for name in columns {
            guard table.column(name) != nil else { continue }
            let (values, width) = try table.float32(name)
            let before = duplicateRows(values, width: width)
            var out = values
            for i in out.indices { out[i] = Self.truncate(out[i], digits: digits) }
            let after = duplicateRows(out, width: width)
            table = try table.setting(Column(name: name, data: .float32(values: out, width: width)))
            touched.append(name)
            duplicateStats.append((name, .object([("before", .int(before)), ("after", .int(after))])))
            if after > before {
                context.warn("truncating \(name) to \(digits) digits made \(after - before) more row(s) exact duplicates (\(before) → \(after))")
            }
        }
        if touched.isEmpty {
            context.warn("no float feature column to truncate (looked for: \(columns.joined(separator: ", "))); the table passes through unchanged")
        }
        let stats = JSONValue.object([
            ("digits", .int(digits)),
            ("columns", .array(touched.map { .string($0) })),
            ("duplicate_rows", .object(duplicateStats)),
        ])
        return StageResult(artifacts: [tableArtifact: table.encoded()], forwarded: context.forwardedImages, rowsIn: table.rowCount, rowsOut: table.rowCount, stats: stats)
    }
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
