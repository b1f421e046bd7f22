import Basics
import Formats
import Pipeline

/// Assigns every row to train, val or test: from FER2013's Usage column (Training →
/// train, PublicTest → val, PrivateTest → test), or by seeded fractions stratified by class.
public struct SplitStage: Stage {
    public static let kind = "split"
    public static let version = 1
    public static let summary = "assign train / val / test from Usage or by seeded stratified fractions"
    public static let inputCount = 1...1
    public static let parameters: [ParameterSpec] = [
        ParameterSpec("method", default: .string("usage"), "\"usage\" (Training/PublicTest/PrivateTest) or \"stratified\""),
        ParameterSpec("fractions", default: .object([("train", .number(0.8)), ("val", .number(0.1)), ("test", .number(0.1))]),
                      "for \"stratified\": the share of each class that goes to train, val and test (sum 1)"),
        ParameterSpec("seed", default: .int(42), "for \"stratified\": seed of the per-class shuffle"),
    ]

    public enum Method: String, Sendable { case usage, stratified }
    public let method: Method
    public let fractions: [Double]
    public let seed: UInt64

    public init(parameters: StageParameters) throws(PipelineError) {
        method = Method(rawValue: try parameters.string("method", oneOf: ["usage", "stratified"]))!
        let f = try parameters.value("fractions")
        var values: [Double] = []
        for s in Split.allCases {
            guard let d = f[s.name]?.doubleValue, d >= 0, d <= 1 else {
                throw parameters.invalid("fractions", "expected {\"train\": x, \"val\": y, \"test\": z} with each in 0...1")
            }
            values.append(d)
        }
        if let extra = f.objectValue?.first(where: { Split(name: $0.key) == nil }) {
            throw parameters.invalid("fractions", "unknown split \"\(extra.key)\"; expected train, val and test")
        }
        guard abs(values.reduce(0, +) - 1) < 1e-9 else {
            throw parameters.invalid("fractions", "the fractions must add up to 1, found \(values.reduce(0, +))")
        }
        fractions = values
        seed = UInt64(try parameters.int("seed", in: 0...Int.max))
    }

    public func run(_ context: StageContext) throws -> StageResult {
        let input = try context.input.table()
        let labels = try input.int32(ColumnName.label)
        let classes = input.names(MetadataKey.classes)
        var split = [Int32](repeating: 0, count: input.rowCount)
        switch method {
        case .usage:
            let usage = try input.int32(ColumnName.usage)
            for i in 0..<usage.count { split[i] = usage[i] }   // Usage ids line up with split ids.
        case .stratified:
            var rng = SeededRandom(seed: seed)
            let classCount = max(classes.count, Int(labels.max() ?? -1) + 1)
            for c in 0..<classCount {
                var rows = labels.indices.filter { labels[$0] == Int32(c) }
                rng.shuffle(&rows)
                let nTrain = Int((Double(rows.count) * fractions[0]).rounded())
                let nVal = min(rows.count - nTrain, Int((Double(rows.count) * fractions[1]).rounded()))
                for (k, r) in rows.enumerated() {
                    split[r] = k < nTrain ? Split.train.rawValue : (k < nTrain + nVal ? Split.val.rawValue : Split.test.rawValue)
                }
            }
        }
        var table = try input.setting(Column(name: ColumnName.split, data: .int32(split)))
        table.metadata[MetadataKey.splits] = jsonNames(Split.allCases.map(\.name))
        let stats = JSONValue.object([
            ("method", .string(method.rawValue)),
            ("rows", countsBySplitAndClass(splits: split, labels: labels, classes: classes)),
        ])
        return StageResult(artifacts: [tableArtifact: table.encoded()], forwarded: context.forwardedImages, rowsIn: input.rowCount, rowsOut: input.rowCount, stats: stats)
    }
}
