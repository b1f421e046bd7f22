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
    public static let perItem = true
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
        if context.onlyDeferredWork {
            // A shard's second pass: the stages below need only which rows have a face.
            let statuses = try extractor.faceStatuses(refs, wantBlendshapes: false)
            let keep = statuses.indices.filter { statuses[$0] == .face }
            var table = try input.gathering(keep)
            table.metadata[MetadataKey.faceModel] = model.json
            return StageResult(artifacts: [tableArtifact: table.encoded(), faceModelArtifact: modelBytes],
                               forwarded: context.forwardedImages, rowsIn: input.rowCount, rowsOut: keep.count)
        }
        let results = try extractor.extract(refs, wantBlendshapes: false)

        var keep: [Int] = []
        var points: [Float] = []
        var scores: [Float] = []
        var presences: [Float] = []
        // In a shard, the images left to other shards (nil) are left out, like faceless ones.
        for (i, result) in results.enumerated() {
            guard let (r, _) = result, r.hasFace else { continue }
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

        let statuses = results.compactMap { $0?.0.status }
        let stats = JSONValue.object([
            ("validity", statuses.count == results.count ? try validityStats(input, statuses) : .object([])),
            ("extracted", .int(extractor.extractedImages)),
            ("memo_hits", .int(extractor.memoHits)),
        ])
        return StageResult(sealed: [tableArtifact: table.sealed()], artifacts: [faceModelArtifact: modelBytes],
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
