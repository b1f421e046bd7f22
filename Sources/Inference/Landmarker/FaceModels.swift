/// The three networks of a MediaPipe `face_landmarker.task` bundle, parsed once and checked
/// against the tensor shapes this port expects. Immutable: share one across all workers.
public struct FaceModels: Sendable {
    public let detector: TFLiteModel
    public let landmarks: TFLiteModel
    public let blendshapes: TFLiteModel

    /// Reads and parses the bundle at `taskPath`.
    public init(taskPath: String) throws(ModelError) {
        try self.init(bundle: try TaskBundle(path: taskPath))
    }

    public init(bundle: TaskBundle) throws(ModelError) {
        func model(_ name: String, inputs: [Int], outputs: [Int]) throws(ModelError) -> TFLiteModel {
            let model = try TFLiteModel(bytes: try bundle.entry(named: name), name: "\(bundle.source)/\(name)")
            let found = (model.inputShapes.map { $0.reduce(1, *) }, model.outputShapes.map { $0.reduce(1, *) })
            guard found.0 == inputs, found.1.prefix(outputs.count).elementsEqual(outputs) else {
                throw ModelError(source: model.name,
                                 "expected input sizes \(inputs) and outputs \(outputs), found inputs \(model.inputShapes) and outputs \(model.outputShapes)")
            }
            return model
        }
        let d = FaceLandmarker.detectorSize, l = FaceLandmarker.landmarkSize
        let anchors = FaceDetectorDecoding.anchorCount
        detector = try model("face_detector.tflite", inputs: [d * d * 3],
                             outputs: [anchors * FaceDetectorDecoding.valuesPerAnchor, anchors])
        landmarks = try model("face_landmarks_detector.tflite", inputs: [l * l * 3],
                              outputs: [3 * FaceMeshDecoding.landmarkCount, 1])
        blendshapes = try model("face_blendshapes.tflite", inputs: [2 * Blendshapes.inputLandmarks.count],
                                outputs: [Blendshapes.names.count])
    }
}
