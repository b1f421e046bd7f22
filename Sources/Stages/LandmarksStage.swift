import Formats
import Inference
import Pipeline

/// Where the face model is looked for, and where to get it.
let faceModelHint = """
    The model is MediaPipe's Face Landmarker bundle, face_landmarker.task (float16), from MediaPipe's \
    Face Landmarker model page. Put it at ../shared/models/face_landmarker.task relative to the project, \
    or point the stage at it with --set STAGE.model=PATH.
    """
let faceModelDefault = JSONValue.string("../shared/models/face_landmarker.task")

/// The validity filter: runs MediaPipe's face detector and landmark model (natively) on
/// every image and keeps the rows where a face is found, with its 478 landmarks.
public struct LandmarksStage: Stage {
    public static let kind = "landmarks"
    public static let version = 1
    public static let summary = "detect the face and its 478 landmarks; drop images with no face"
    public static let inputCount = 1...1
    public static let parameters: [ParameterSpec] = [
        ParameterSpec("model", default: faceModelDefault, "face_landmarker.task; its content hash enters the key",
                      role: .inputPath(hint: faceModelHint)),
        ParameterSpec("min_detection_confidence", default: .number(0.5), "face detector score threshold"),
        ParameterSpec("min_presence_confidence", default: .number(0.5), "landmark model face-presence threshold"),
    ]

    public let options: FaceLandmarkerOptions

    public init(parameters: StageParameters) throws(PipelineError) {
        options = FaceLandmarkerOptions(
            minDetectionConfidence: Float(try parameters.double("min_detection_confidence", in: 0...1)),
            minPresenceConfidence: Float(try parameters.double("min_presence_confidence", in: 0...1)))
    }

    public func run(_ context: StageContext) throws -> StageResult {
        let input = try context.input.table()
        let images = try ImageSet(context.input)
        let refs = try imageRefs(input, images)
        let extractor = try FaceExtractor(context: context, options: options)
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
        let table = try input.gathering(keep)
            .setting(Column(name: ColumnName.landmarks, data: .float32(values: points, width: 478 * 3)))
            .setting(Column(name: ColumnName.detectionScore, data: .float32(values: scores, width: 1)))
            .setting(Column(name: ColumnName.presence, data: .float32(values: presences, width: 1)))

        let stats = JSONValue.object([
            ("validity", try validityStats(input, results.map { $0.0.status })),
            ("extracted", .int(extractor.extractedImages)),
            ("memo_hits", .int(extractor.memoHits)),
        ])
        return StageResult(artifacts: [tableArtifact: table.encoded()], forwarded: context.forwardedImages,
                           rowsIn: input.rowCount, rowsOut: keep.count, stats: stats)
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
/// configured features in the configured order.
public struct BlendshapesStage: Stage {
    public static let kind = "blendshapes"
    public static let version = 1
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
        ParameterSpec("model", default: faceModelDefault, "face_landmarker.task; its content hash enters the key",
                      role: .inputPath(hint: faceModelHint)),
        ParameterSpec("features", default: .array(defaultFeatures.map { .string($0) }),
                      "blendshape names to keep, in order (any of the 52; see 'blendset help stages')"),
    ]

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
        let w = try input.int32(ColumnName.imageWidth), h = try input.int32(ColumnName.imageHeight)
        let extractor = try FaceExtractor(context: context, options: FaceLandmarkerOptions())
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
        return StageResult(artifacts: [tableArtifact: table.encoded()], forwarded: context.forwardedImages,
                           rowsIn: input.rowCount, rowsOut: table.rowCount, stats: stats)
    }
}
