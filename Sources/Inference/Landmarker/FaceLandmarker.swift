/// Thresholds of the Face Landmarker (MediaPipe's defaults). Missing keys decode to defaults.
public struct FaceLandmarkerOptions: Sendable, Hashable, Codable {
    /// A detection counts when its score is >= this (spec 3.2).
    public var minDetectionConfidence: Float = 0.5
    /// A face counts when its presence is strictly > this (spec 6.3). MediaPipe 0.10.14's
    /// Python API fills it from `min_face_detection_confidence`; equal by default.
    public var minPresenceConfidence: Float = 0.5

    public init(minDetectionConfidence: Float = 0.5, minPresenceConfidence: Float = 0.5) {
        self.minDetectionConfidence = minDetectionConfidence
        self.minPresenceConfidence = minPresenceConfidence
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        minDetectionConfidence = try c.decodeIfPresent(Float.self, forKey: .minDetectionConfidence) ?? 0.5
        minPresenceConfidence = try c.decodeIfPresent(Float.self, forKey: .minPresenceConfidence) ?? 0.5
    }
}

/// One face: 478 landmarks and 52 blendshape scores.
public struct FaceLandmarks: Sendable {
    /// (x, y, z) in MediaPipe's landmark order: x, y as fractions of the image width and
    /// height, z in units of the image width. Not clamped to [0, 1].
    public var landmarks: [SIMD3<Float>]
    /// Scores in `Blendshapes.names` order.
    public var blendshapes: [Float]
    /// The score of the face detection the landmarks were computed from.
    public var detectionScore: Float
    /// sigmoid of the landmark model's presence logit.
    public var presence: Float

    public init(landmarks: [SIMD3<Float>], blendshapes: [Float], detectionScore: Float,
                presence: Float) {
        self.landmarks = landmarks
        self.blendshapes = blendshapes
        self.detectionScore = detectionScore
        self.presence = presence
    }
}

/// Why an image has no face.
public enum NoFaceReason: String, Sendable {
    /// No detection scored at least `minDetectionConfidence`.
    case detection
    /// The landmark model's presence was not above `minPresenceConfidence`.
    case presence
}

/// The outcome for one image (MediaPipe IMAGE mode, `num_faces` = 1).
public enum FaceLandmarkerResult: Sendable {
    case noFace(NoFaceReason)
    case face(FaceLandmarks)
}

/// The three networks the Face Landmarker runs. Each call returns views into buffers the
/// implementation owns, valid until its next call.
protocol FaceNetworks: AnyObject {
    /// Detector: 1x128x128x3 in [-1, 1] -> regressors (896x16), classificators (896 logits).
    func runDetector(_ input: UnsafeBufferPointer<Float>) throws(ModelError)
        -> (regressors: UnsafeBufferPointer<Float>, classificators: UnsafeBufferPointer<Float>)
    /// Face mesh: 1x256x256x3 in [0, 1] -> 478x3 landmarks in crop pixels, presence logit.
    func runLandmarks(_ input: UnsafeBufferPointer<Float>) throws(ModelError)
        -> (landmarks: UnsafeBufferPointer<Float>, presenceLogit: Float)
    /// Blendshapes: 1x146x2 landmark pixels -> 52 scores.
    func runBlendshapes(_ input: UnsafeBufferPointer<Float>) throws(ModelError)
        -> UnsafeBufferPointer<Float>
}

/// The outcome of the detector and landmark steps alone, before blendshapes
/// (`FaceLandmarker.detectLandmarks`).
public enum LandmarkDetection: Sendable {
    case noFace(NoFaceReason)
    /// 478 image-normalised landmarks, as in `FaceLandmarks`.
    case face(landmarks: [SIMD3<Float>], detectionScore: Float, presence: Float)
}

/// MediaPipe's Face Landmarker (Tasks API, IMAGE mode, one face, blendshapes on), reproduced
/// bit for bit up to the networks' own arithmetic.
///
/// One instance per worker: it owns its interpreters and preallocated buffers, so `detect`
/// allocates nothing but the result's arrays. Not thread-safe; share `FaceModels` instead.
public final class FaceLandmarker {
    public let options: FaceLandmarkerOptions
    private let networks: any FaceNetworks

    static let detectorSize = 128
    static let landmarkSize = FaceMeshDecoding.inputSize

    private let detectorImage: UnsafeMutableBufferPointer<UInt8>
    private let detectorInput: UnsafeMutableBufferPointer<Float>
    private let landmarkImage: UnsafeMutableBufferPointer<UInt8>
    private let landmarkInput: UnsafeMutableBufferPointer<Float>
    private let landmarks: UnsafeMutableBufferPointer<SIMD3<Float>>
    private let blendshapeInput: UnsafeMutableBufferPointer<Float>
    private var kept: [FaceDetection] = []
    private var clusters: [FaceDetection] = []
    private var nms = WeightedNMS(threshold: 0.5)

    init(networks: any FaceNetworks, options: FaceLandmarkerOptions) {
        self.networks = networks
        self.options = options
        let d = Self.detectorSize * Self.detectorSize * 3, l = Self.landmarkSize * Self.landmarkSize * 3
        detectorImage = .allocate(capacity: d)
        detectorInput = .allocate(capacity: d)
        landmarkImage = .allocate(capacity: l)
        landmarkInput = .allocate(capacity: l)
        landmarks = .allocate(capacity: FaceMeshDecoding.landmarkCount)
        blendshapeInput = .allocate(capacity: 2 * Blendshapes.inputLandmarks.count)
        kept.reserveCapacity(FaceDetectorDecoding.anchorCount)
        clusters.reserveCapacity(1)
    }

    deinit {
        detectorImage.deallocate()
        detectorInput.deallocate()
        landmarkImage.deallocate()
        landmarkInput.deallocate()
        landmarks.deallocate()
        blendshapeInput.deallocate()
    }

    /// Finds one face in a `width` x `height` 8-bit gray image (row-major), replicated to RGB.
    public func detect(gray: UnsafeBufferPointer<UInt8>, width: Int, height: Int)
        throws(ModelError) -> FaceLandmarkerResult {
        try detect(pixels: gray, channels: 1, width: width, height: height)
    }

    /// Finds one face in a `width` x `height` 8-bit RGB image (row-major, interleaved).
    public func detect(rgb: UnsafeBufferPointer<UInt8>, width: Int, height: Int)
        throws(ModelError) -> FaceLandmarkerResult {
        try detect(pixels: rgb, channels: 3, width: width, height: height)
    }

    private func detect(pixels: UnsafeBufferPointer<UInt8>, channels: Int, width: Int, height: Int)
        throws(ModelError) -> FaceLandmarkerResult {
        switch try detectLandmarks(pixels: pixels, channels: channels, width: width, height: height) {
        case .noFace(let reason):
            return .noFace(reason)
        case .face(let points, let score, let presence):
            let scores = try points.withUnsafeBufferPointer { (p) throws(ModelError) in
                try blendshapes(landmarks: p, imageWidth: width, imageHeight: height)
            }
            return .face(FaceLandmarks(landmarks: points, blendshapes: scores, detectionScore: score, presence: presence))
        }
    }

    /// Steps 1-6 only (detector, landmark model, presence gate): the face's 478 landmarks
    /// without blendshapes. `detect` is this followed by `blendshapes`.
    public func detectLandmarks(gray: UnsafeBufferPointer<UInt8>, width: Int, height: Int)
        throws(ModelError) -> LandmarkDetection {
        try detectLandmarks(pixels: gray, channels: 1, width: width, height: height)
    }

    public func detectLandmarks(rgb: UnsafeBufferPointer<UInt8>, width: Int, height: Int)
        throws(ModelError) -> LandmarkDetection {
        try detectLandmarks(pixels: rgb, channels: 3, width: width, height: height)
    }

    /// Step 7: the 52 blendshape scores from 478 image-normalised landmarks of a
    /// `imageWidth` x `imageHeight` image.
    public func blendshapes(landmarks points: UnsafeBufferPointer<SIMD3<Float>>, imageWidth: Int, imageHeight: Int)
        throws(ModelError) -> [Float] {
        guard points.count == FaceMeshDecoding.landmarkCount else {
            throw ModelError(source: "FaceLandmarker", "expected \(FaceMeshDecoding.landmarkCount) landmarks, found \(points.count)")
        }
        Blendshapes.fillInput(landmarks: points, imageWidth: imageWidth,
                              imageHeight: imageHeight, into: blendshapeInput)
        return Array(try networks.runBlendshapes(UnsafeBufferPointer(blendshapeInput)))
    }

    private func detectLandmarks(pixels: UnsafeBufferPointer<UInt8>, channels: Int, width: Int, height: Int)
        throws(ModelError) -> LandmarkDetection {
        let (area, overflow) = width.multipliedReportingOverflow(by: height)
        guard width > 0, height > 0, !overflow, pixels.count / channels == area,
              pixels.count % channels == 0 else {
            throw ModelError(source: "FaceLandmarker",
                             "image buffer holds \(pixels.count) bytes, expected \(width) x \(height) x \(channels) channel(s)")
        }
        // 1. Whole image letterboxed into the detector's square input.
        let detectorROI = RotatedRect.detectorROI(imageWidth: width, imageHeight: height)
        ImageWarp.warp(source: pixels, sourceWidth: width, sourceHeight: height, channels: channels,
                       quad: detectorROI.corners, border: .zero, into: detectorImage,
                       outputWidth: Self.detectorSize, outputHeight: Self.detectorSize)
        TensorScaling.detector.apply(UnsafeBufferPointer(detectorImage), into: detectorInput)

        // 2-3. Decode, threshold, weighted NMS; only the best cluster is used (num_faces 1).
        let (regressors, classificators) = try networks.runDetector(UnsafeBufferPointer(detectorInput))
        kept.removeAll(keepingCapacity: true)
        FaceDetectorDecoding.decodeAll(regressors: regressors, classificators: classificators,
                                       minScore: options.minDetectionConfidence, into: &kept)
        nms.run(kept, maxClusters: 1, into: &clusters)
        guard let best = clusters.first else { return .noFace(.detection) }
        let face = best.removingLetterbox(imageWidth: width, imageHeight: height)

        // 4-5. Rotated ROI x1.5 around the face, stretched to the landmark model's input.
        let roi = RotatedRect(faceDetection: face, imageWidth: width, imageHeight: height)
            .expandedForLandmarks()
        let roiPixels = roi.inPixels(imageWidth: width, imageHeight: height)
        ImageWarp.warp(source: pixels, sourceWidth: width, sourceHeight: height, channels: channels,
                       quad: roiPixels.corners, border: .replicate, into: landmarkImage,
                       outputWidth: Self.landmarkSize, outputHeight: Self.landmarkSize)
        TensorScaling.landmarks.apply(UnsafeBufferPointer(landmarkImage), into: landmarkInput)

        // 6. Presence gate, then landmarks back into image coordinates.
        let (rawLandmarks, presenceLogit) = try networks.runLandmarks(UnsafeBufferPointer(landmarkInput))
        let presence = FaceMeshDecoding.presence(logit: presenceLogit)
        guard FaceMeshDecoding.isPresent(presence, threshold: options.minPresenceConfidence) else {
            return .noFace(.presence)
        }
        FaceMeshDecoding.project(raw: rawLandmarks, roi: roi, into: landmarks)

        return .face(landmarks: Array(landmarks), detectionScore: face.score, presence: presence)
    }
}
