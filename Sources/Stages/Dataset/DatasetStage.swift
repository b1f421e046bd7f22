import Formats
import Pipeline

/// The final, versioned dataset: one table holding train, val and test (the `split`
/// column), features, labels, one-hot labels, each row's source FER2013 emotion and
/// per-row provenance.
public struct DatasetStage: Stage {
    public static let kind = "dataset"
    public static let version = 2  // 2: keeps the source `emotion` column
    public static let summary = "the final versioned train / val / test dataset"
    public static let inputCount = 1...1
    public static let parameters: [ParameterSpec] = [
        ParameterSpec("include_images", default: .string("auto"),
                      "keep the image columns: true, false, or \"auto\" (only when there are no features)"),
    ]

    public static let formatName = "blendset-dataset-v1"
    /// Provenance columns kept when present.
    public static let provenanceColumns = [ColumnName.itemID, ColumnName.sourceRow, ColumnName.imageHash,
                                           ColumnName.balanceCopy, "augment_source", "augment_recipe", "augment_seed"]
    static let imageColumns = [ColumnName.imageIndex, ColumnName.imageWidth, ColumnName.imageHeight, ColumnName.imageChannels]

    public enum ImagePolicy: Sendable { case auto, always, never }
    public let images: ImagePolicy

    public init(parameters: StageParameters) throws(PipelineError) {
        let v = try parameters.value("include_images")
        switch (v.boolValue, v.stringValue) {
        case (true?, _): images = .always
        case (false?, _): images = .never
        case (_, "auto"?): images = .auto
        default: throw parameters.invalid("include_images", "expected true, false or \"auto\", found \(v.canonical)")
        }
    }

    public func run(_ context: StageContext) throws -> StageResult {
        let input = try context.input.table()
        let classes = input.names(MetadataKey.classes)
        guard !classes.isEmpty else { throw stageError(context, "the input has no class list; put a 'select' stage before 'dataset'") }
        guard input.column(ColumnName.split) != nil else { throw stageError(context, "the input has no split column; put a 'split' stage before 'dataset'") }
        // An empty version is never what was wanted: say so instead of recording one.
        guard input.rowCount > 0 else { throw stageError(context, "the dataset would have no rows: every row was dropped before this stage (see the rows in → out of the stages above, e.g. 'select' emotions or faces not found)") }
        let hasFeatures = input.column(ColumnName.features) != nil
        let keepImages = images == .always || (images == .auto && !hasFeatures)
        var names = [ColumnName.split, ColumnName.label, ColumnName.emotion, ColumnName.onehot, ColumnName.features] + Self.provenanceColumns
        if keepImages { names += Self.imageColumns }
        let columns = names.compactMap { input.column($0) }
        var metadata = input.metadata
        metadata[MetadataKey.format] = Self.formatName
        let table = try Table(rowCount: input.rowCount, columns: columns, metadata: metadata)
        let stats = JSONValue.object([
            ("rows", countsBySplitAndClass(splits: try table.int32(ColumnName.split), labels: try table.int32(ColumnName.label), classes: classes)),
            ("features", .int(hasFeatures ? (try table.float32(ColumnName.features)).width : 0)),
            ("images_included", .bool(keepImages)),
        ])
        return StageResult(artifacts: [tableArtifact: table.encoded()], forwarded: keepImages ? context.forwardedImages : [:], rowsIn: input.rowCount, rowsOut: table.rowCount, stats: stats)
    }
}
