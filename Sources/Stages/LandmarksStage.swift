import Formats
import Inference
import Pipeline

/// Where the face model is looked for, and where to get it.
let faceModelHint = """
    The model is MediaPipe's Face Landmarker bundle, face_landmarker.task (float16), from MediaPipe's \
    Face Landmarker model page. Put it at ../shared/models/face_landmarker.task relative to the project, \
    or point the landmarks stage at it with --set landmarks.model=PATH.
    """

/// The face model parameters, which only the landmarks stage has. The face stages below
/// it name them as moved, so setting one there says where it went.
func movedFaceModelParameters(_ names: [String]) -> [String: String] {
    Dictionary(uniqueKeysWithValues: names.map { name in
        (name, "the face model and its thresholds are configured once, on the landmarks stage: "
            + "set landmarks.\(name) there and remove it here; this stage uses the model its input was made with")
    })
}

/// The validity filter: runs MediaPipe's face detector and landmark model (natively) on
/// every image and keeps the rows where a face is found, with its 478 landmarks.
///
/// The one owner of the face model and its thresholds: it records them in its table's
/// metadata (`MetadataKey.faceModel`) and stores the model bundle as the `face_model`
/// artifact, and the face stages below it take both from their input.
public struct LandmarksStage: Stage {
    public static let kind = "landmarks"
    /// The extractor version is part of the output (its metadata), so it is part of this one.
    public static let version = 1 + FaceExtractor.version
    public static let summary = "detect the face and its 478 landmarks; drop images with no face"
    public static let inputCount = 1...1
    public static let parameters: [ParameterSpec] = [
        ParameterSpec("model", default: .string("../shared/models/face_landmarker.task"),
                      "face_landmarker.task, used by every face stage below this one; its content hash enters the keys",
                      role: .inputPath(hint: faceModelHint)),
        ParameterSpec("min_detection_confidence", default: .number(0.5), "face detector score threshold"),
        ParameterSpec("min_presence_confidence", default: .number(0.5), "landmark model face-presence threshold"),
    ]

    public let minDetectionConfidence: Double
    public let minPresenceConfidence: Double

    public init(parameters: StageParameters) throws(PipelineError) {
        minDetectionConfidence = try parameters.double("min_detection_confidence", in: 0...1)
        minPresenceConfidence = try parameters.double("min_presence_confidence", in: 0...1)
    }

    public func run(_ context: StageContext) throws -> StageResult {
        let input = try context.input.table()
        let images = try ImageSet(context.input)
        let refs = try imageRefs(input, images)
        let file = try context.inputFile("model")
        let modelBytes: [UInt8]
        do { modelBytes = try readFileBytes(atPath: file.path) } catch {
            throw stageError(context, "cannot read the face model: \(error)")
        }
        // The key was made from the digest taken when the build started.
        guard SHA256.digest(modelBytes) == file.digest else {
            throw stageError(context, "the face model \(file.path) changed while the build ran; build again")
        }
        let model = FaceModelRecord(digest: file.digest, minDetectionConfidence: minDetectionConfidence,
                                    minPresenceConfidence: minPresenceConfidence)
        let extractor = try FaceExtractor(context: context, model: model, source: file.path) { modelBytes }
        let results = try extractor.extract(refs, wantBlendshapes: false)

        var keep: [Int] = []
        var points: [Float] = []
        var scores: [Float] = []
        var presences: [Float] = []
        for (i, (r, _)) in results.enumerated() where r.hasFace {
            keep.append(i)
            points += r.points
            scores.append(r.detectionScore)
            presences.append(r.presence)
        }
        var table = try input.gathering(keep)
            .setting(Column(name: ColumnName.landmarks, data: .float32(values: points, width: 478 * 3)))
            .setting(Column(name: ColumnName.detectionScore, data: .float32(values: scores, width: 1)))
            .setting(Column(name: ColumnName.presence, data: .float32(values: presences, width: 1)))
        table.metadata[MetadataKey.faceModel] = model.json

        let stats = JSONValue.object([
            ("validity", try validityStats(input, results.map { $0.0.status })),
            ("extracted", .int(extractor.extractedImages)),
            ("memo_hits", .int(extractor.memoHits)),
        ])
        return StageResult(artifacts: [tableArtifact: table.encoded(), faceModelArtifact: modelBytes],
                           forwarded: context.forwardedImages, rowsIn: input.rowCount, rowsOut: keep.count, stats: stats)
    }

    /// Faces found per split and class, with the rate and why the others were dropped.
    func validityStats(_ input: Table, _ status: [LandmarkResult.Status]) throws -> JSONValue {
        let classes = input.names(MetadataKey.classes)
        let labels = try input.int32(ColumnName.label)
        let split = input.column(ColumnName.split) != nil ? try input.int32(ColumnName.split) : [Int32](repeating: 0, count: input.rowCount)
        var out: [(String, JSONValue)] = []
        for s in Split.allCases {
            var perClass: [(String, JSONValue)] = []
            for (c, name) in classes.enumerated() {
                let rows = (0..<input.rowCount).filter { split[$0] == s.rawValue && labels[$0] == Int32(c) }
                guard !rows.isEmpty else { continue }
                let faces = rows.filter { status[$0] == .face }.count
                perClass.append((name, .object([
                    ("images", .int(rows.count)), ("faces", .int(faces)),
                    ("rate", .number((Double(faces) / Double(rows.count) * 10000).rounded() / 10000)),
                    ("no_face_at_detection", .int(rows.filter { status[$0] == .noFaceAtDetection }.count)),
                    ("no_face_at_presence", .int(rows.filter { status[$0] == .noFaceAtPresence }.count)),
                ])))
            }
            if !perClass.isEmpty { out.append((s.name, .object(perClass))) }
        }
        return .object(out)
    }
}

/// The input table's rows as images to extract from.
func imageRefs(_ table: Table, _ images: ImageSet) throws -> [ImageRef] {
    let index = try table.int32(ColumnName.imageIndex)
    let w = try table.int32(ColumnName.imageWidth), h = try table.int32(ColumnName.imageHeight)
    let c = try table.int32(ColumnName.imageChannels)
    let hashes = try table.digests(ColumnName.imageHash)
    return (0..<table.rowCount).map { i in
        ImageRef(pixels: images.pixels(Int(index[i])), width: Int(w[i]), height: Int(h[i]), channels: Int(c[i]), hash: hashes[i])
    }
}

/// Computes the 52 blendshape scores of every row from its landmarks, then keeps the
/// configured features in the configured order, with the face model its input's
/// landmarks were made with (which it passes on, with that input's model record).
public struct BlendshapesStage: Stage {
    public static let kind = "blendshapes"
    /// 2: the output carries the face model record and the `face_model` artifact.
    public static let version = 2
    public static let summary = "blendshape model → 52 scores → the configured features"
    public static let inputCount = 1...1
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
                      "blendshape names to keep, in order (any of the 52; see 'blendset help stages')"),
    ]
    public static let movedParameters = movedFaceModelParameters(["model"])

    public let features: [String]
    /// Positions of `features` among the 52 model outputs.
    public let indices: [Int]

    public init(parameters: StageParameters) throws(PipelineError) {
        (features, indices) = try Self.featureList(parameters)
    }

    static func featureList(_ parameters: StageParameters) throws(PipelineError) -> ([String], [Int]) {
        guard let list = try parameters.value("features").arrayValue, !list.isEmpty else {
            throw parameters.invalid("features", "expected a non-empty array of blendshape names")
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
        guard input.column(ColumnName.landmarks) != nil else {
            throw stageError(context, "the input has no landmarks; put a 'landmarks' stage before 'blendshapes'")
        }
        let model = try FaceModelRecord(input: context.input, table: input, reader: context.stage)
        let w = try input.int32(ColumnName.imageWidth), h = try input.int32(ColumnName.imageHeight)
        let extractor = try FaceExtractor(context: context, model: model, source: modelSource(context.input, model)) {
            try context.input.bytes(faceModelArtifact)
        }
        let all = try extractor.blendshapes(rows: input, sizes: zip(w, h).map { (Int($0), Int($1)) })
        var values = [Float](); values.reserveCapacity(input.rowCount * indices.count)
        for scores in all { for i in indices { values.append(scores[i]) } }
        var table = try input.removing([ColumnName.landmarks])
            .setting(Column(name: ColumnName.features, data: .float32(values: values, width: indices.count)))
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
