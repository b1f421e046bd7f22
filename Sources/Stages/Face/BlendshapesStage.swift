import Formats
import Inference
import Pipeline

/// Computes the 52 blendshape scores of every row from its landmarks, then keeps the
/// configured features in the configured order, with the face model its input's
/// landmarks were made with (which it passes on, with that input's model record).
/// With `geometry`, pose-normalised features computed from the same landmarks
/// (`FaceGeometry`) follow the blendshapes; they need no model run.
public struct BlendshapesStage: Stage {
    public static let kind = "blendshapes"
    /// 2: the output carries the face model record and the `face_model` artifact.
    public static let version = 2
    public static let summary = "blendshape model → 52 scores → the configured features"
    public static let inputCount = 1...1
    public static let perItem = true
    public static let defaultFeatures = [
        "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
        "cheekSquintLeft", "cheekSquintRight", "eyeSquintLeft", "eyeSquintRight", "eyeWideLeft", "eyeWideRight",
        "jawOpen", "mouthClose", "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft", "mouthFrownRight",
        "mouthLowerDownLeft", "mouthLowerDownRight", "mouthPressLeft", "mouthPressRight", "mouthRollLower", "mouthRollUpper",
        "mouthShrugLower", "mouthShrugUpper", "mouthSmileLeft", "mouthSmileRight", "mouthStretchLeft", "mouthStretchRight",
        "mouthUpperUpLeft", "mouthUpperUpRight", "noseSneerLeft", "noseSneerRight",
    ]
    public static let parameters: [ParameterSpec] = [
        ParameterSpec("features", default: .array(defaultFeatures.map { .string($0) }),
                      "blendshape names to keep, in order (any of the 52; see 'blendset help stages'), or \"all\" for the 52 in model order"),
        ParameterSpec("geometry", default: .array([]),
                      "landmark geometry feature sets appended after the blendshapes, any of: "
                        + "\"distances\" (29 distances and angles around mouth, eyes, brows, nose, in inter-ocular units after removing roll), "
                        + "\"pose\" (roll, yaw and pitch proxies, face height and width), "
                        + "\"aligned\" (aligned x, y of the 146 landmarks the blendshape model reads); [] for none"),
    ]
    public static let movedParameters = movedFaceModelParameters(["model"])

    /// The blendshapes kept, then the geometry features.
    public let features: [String]
    /// Positions of the blendshape features among the 52 model outputs.
    public let indices: [Int]
    /// The geometry sets, in the order given.
    public let geometry: [String]

    public init(parameters: StageParameters) throws(PipelineError) {
        let (names, indices) = try Self.featureList(parameters)
        let geometry = try Self.geometrySets(parameters)
        features = names + geometry.flatMap { FaceGeometry.sets[$0]! }
        self.indices = indices
        self.geometry = geometry
    }

    static func geometrySets(_ parameters: StageParameters) throws(PipelineError) -> [String] {
        let v = try parameters.value("geometry")
        guard let list = v.arrayValue ?? v.stringValue.map({ [JSONValue.string($0)] }) else {
            throw parameters.invalid("geometry", "expected an array of set names (\(FaceGeometry.setNames.joined(separator: ", "))), found \(v.canonical)")
        }
        var sets: [String] = []
        for item in list {
            guard let name = item.stringValue, FaceGeometry.sets[name] != nil else {
                throw parameters.invalid("geometry", "\(item.canonical) is not a geometry set; valid sets: \(FaceGeometry.setNames.joined(separator: ", "))")
            }
            if sets.contains(name) { throw parameters.invalid("geometry", "'\(name)' is listed twice") }
            sets.append(name)
        }
        return sets
    }

    static func featureList(_ parameters: StageParameters) throws(PipelineError) -> ([String], [Int]) {
        let value = try parameters.value("features")
        if value.stringValue == "all" { return (Blendshapes.names, Array(Blendshapes.names.indices)) }
        guard let list = value.arrayValue, !list.isEmpty else {
            throw parameters.invalid("features", "expected \"all\" or a non-empty array of blendshape names, found \(value.canonical)")
        }
        var names: [String] = [], indices: [Int] = []
        for v in list {
            guard let name = v.stringValue else { throw parameters.invalid("features", "expected names (strings), found \(v.canonical)") }
            guard let i = Blendshapes.names.firstIndex(of: name) else {
                throw parameters.invalid("features", "'\(name)' is not a blendshape; valid names: \(Blendshapes.names.joined(separator: ", "))")
            }
            if names.contains(name) { throw parameters.invalid("features", "'\(name)' is listed twice") }
            names.append(name)
            indices.append(i)
        }
        return (names, indices)
    }

    public func run(_ context: StageContext) throws -> StageResult {
        let input = try context.input.table()
        if context.onlyDeferredWork {
            // A shard's second pass: this stage deferred nothing, so its rows go on as they
            // are, without features (only the deferred work below reads them).
            let model = try FaceModelRecord(input: context.input, table: input, reader: context.stage)
            var table = try input.removing([ColumnName.landmarks])
            table.metadata[MetadataKey.features] = jsonNames(features)
            return StageResult(artifacts: [tableArtifact: table.encoded()],
                               forwarded: context.forwardedImages.merging([faceModelArtifact: model.digest]) { a, _ in a },
                               rowsIn: input.rowCount, rowsOut: table.rowCount)
        }
        guard input.column(ColumnName.landmarks) != nil else {
            throw stageError(context, "the input has no landmarks; put a 'landmarks' stage before 'blendshapes'")
        }
        let model = try FaceModelRecord(input: context.input, table: input, reader: context.stage)
        let w = try input.int32(ColumnName.imageWidth), h = try input.int32(ColumnName.imageHeight)
        let extractor = try FaceExtractor(context: context, model: model, source: modelSource(context.input, model)) {
            try context.input.bytes(faceModelArtifact)
        }
        let found = try extractor.blendshapes(rows: input, sizes: zip(w, h).map { (Int($0), Int($1)) },
                                              owners: try input.digests(ColumnName.imageHash))
        // In a shard, the rows left to other shards (nil) are left out.
        let rows = found.indices.filter { found[$0] != nil }
        let map = FaceFeatureMap(features)!
        let (points, pointWidth) = try input.float32(ColumnName.landmarks)
        var values = [Float](); values.reserveCapacity(rows.count * features.count)
        for row in rows {
            map.append(to: &values, scores: found[row]!, points: points[(row * pointWidth)..<((row + 1) * pointWidth)],
                       width: Int(w[row]), height: Int(h[row]))
        }
        let kept = rows.count == input.rowCount ? input : try input.gathering(rows)
        var table = try kept.removing([ColumnName.landmarks])
            .setting(Column(name: ColumnName.features, data: .float32(values: values, width: features.count)))
        table.metadata[MetadataKey.features] = jsonNames(features)
        let stats = JSONValue.object([
            ("features", .int(features.count)),
            ("extracted", .int(extractor.blendshapeRuns)),
            ("memo_hits", .int(extractor.memoHits)),
        ])
        return StageResult(artifacts: [tableArtifact: table.encoded()],
                           forwarded: context.forwardedImages.merging([faceModelArtifact: model.digest]) { a, _ in a },
                           rowsIn: input.rowCount, rowsOut: table.rowCount, stats: stats)
    }
}

/// Names a face model taken from an input, for error messages.
func modelSource(_ input: StageInput, _ model: FaceModelRecord) -> String {
    "face model \(model.digest.hex.prefix(12)) of stage '\(input.stage)'"
}
