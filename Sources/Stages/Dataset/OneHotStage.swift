import Formats
import Pipeline

/// Adds the one-hot encoding of the label (float32, one column per class).
public struct OneHotStage: Stage {
    public static let kind = "onehot"
    public static let version = 1
    public static let summary = "add one-hot labels (float32, one column per class)"
    public static let inputCount = 1...1
    public static let parameters: [ParameterSpec] = []

    public init(parameters: StageParameters) throws(PipelineError) {}

    public func run(_ context: StageContext) throws -> StageResult {
        let input = try context.input.table()
        let labels = try input.int32(ColumnName.label)
        let classCount = input.names(MetadataKey.classes).count
        guard classCount > 0 else {
            throw stageError(context, "the input has no class list; put a 'select' stage before 'onehot'")
        }
        var onehot = [Float](repeating: 0, count: labels.count * classCount)
        for (i, l) in labels.enumerated() {
            guard l >= 0 && Int(l) < classCount else {
                throw stageError(context, "row \(i) has label \(l), outside the \(classCount) classes")
            }
            onehot[i * classCount + Int(l)] = 1
        }
        let table = try input.setting(Column(name: ColumnName.onehot, data: .float32(values: onehot, width: classCount)))
        return StageResult(artifacts: [tableArtifact: table.encoded()], forwarded: context.forwardedImages, rowsIn: input.rowCount, rowsOut: input.rowCount,
                           stats: .object([("classes", .int(classCount))]))
    }
}
