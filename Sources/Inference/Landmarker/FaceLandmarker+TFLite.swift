/// `FaceNetworks` on the project's TFLite interpreters: one interpreter per model, owned by
/// one `FaceLandmarker` (so one per worker).
final class TFLiteFaceNetworks: FaceNetworks {
    private let detector: Interpreter
    private let landmarks: Interpreter
    private let blendshapes: Interpreter
    private let regressorsOutput: Int
    private let classificatorsOutput: Int
    private let landmarksOutput: Int
    private let presenceOutput: Int

    init(models: FaceModels, kernelPath: KernelPath) throws(ModelError) {
        detector = try Interpreter(model: models.detector, kernelPath: kernelPath)
        landmarks = try Interpreter(model: models.landmarks, kernelPath: kernelPath)
        blendshapes = try Interpreter(model: models.blendshapes, kernelPath: kernelPath)
        // Outputs by name (spec table): the graph order is not something to rely on.
        func output(_ name: String, of interpreter: Interpreter) throws(ModelError) -> Int {
            guard let index = interpreter.outputNames.firstIndex(of: name) else {
                throw ModelError(source: interpreter.modelName,
                                 "no output named '\(name)' (outputs: \(interpreter.outputNames))")
            }
            return index
        }
        regressorsOutput = try output("regressors", of: detector)
        classificatorsOutput = try output("classificators", of: detector)
        landmarksOutput = try output("Identity", of: landmarks)
        presenceOutput = try output("Identity_1", of: landmarks)
    }

    func runDetector(_ input: UnsafeBufferPointer<Float>) throws(ModelError)
        -> (regressors: UnsafeBufferPointer<Float>, classificators: UnsafeBufferPointer<Float>) {
        try detector.invoke(input: input)
        return (detector.output(regressorsOutput), detector.output(classificatorsOutput))
    }

    func runLandmarks(_ input: UnsafeBufferPointer<Float>) throws(ModelError)
        -> (landmarks: UnsafeBufferPointer<Float>, presenceLogit: Float) {
        try landmarks.invoke(input: input)
        return (landmarks.output(landmarksOutput), landmarks.output(presenceOutput)[0])
    }

    func runBlendshapes(_ input: UnsafeBufferPointer<Float>) throws(ModelError) -> UnsafeBufferPointer<Float> {
        try blendshapes.invoke(input: input)
        return blendshapes.output(0)
    }
}

extension FaceLandmarker {
    /// A landmarker for one worker: builds its own interpreters over the shared `models`.
    /// `kernelPath` is for tests and benchmarks; every path gives the same bits.
    public convenience init(models: FaceModels, options: FaceLandmarkerOptions = .init(),
                            kernelPath: KernelPath = .preferred) throws(ModelError) {
        self.init(networks: try TFLiteFaceNetworks(models: models, kernelPath: kernelPath), options: options)
    }
}
