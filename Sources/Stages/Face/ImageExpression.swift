import Formats
import Inference
import Learning

/// Where the face is: the bounding box of its 478 landmarks, in pixels of the image
/// (x to the right, y down), clipped to the image.
public struct FaceBox: Sendable, Equatable {
    public var x: Double
    public var y: Double
    public var width: Double
    public var height: Double

    public init(x: Double, y: Double, width: Double, height: Double) {
        self.x = x
        self.y = y
        self.width = width
        self.height = height
    }

    /// The box around image-normalised landmarks of a `imageWidth` x `imageHeight` image.
    public init(landmarks: [SIMD3<Float>], imageWidth: Int, imageHeight: Int) {
        var lo = SIMD2<Float>(repeating: .infinity), hi = SIMD2<Float>(repeating: -.infinity)
        for p in landmarks {
            lo = pointwiseMin(lo, SIMD2(p.x, p.y))
            hi = pointwiseMax(hi, SIMD2(p.x, p.y))
        }
        let w = Double(imageWidth), h = Double(imageHeight)
        let x0 = min(max(Double(lo.x) * w, 0), w), x1 = min(max(Double(hi.x) * w, 0), w)
        let y0 = min(max(Double(lo.y) * h, 0), h), y1 = min(max(Double(hi.y) * h, 0), h)
        self.init(x: x0, y: y0, width: max(x1 - x0, 0), height: max(y1 - y0, 0))
    }
}

/// One face found in an image: its landmarks, the 52 blendshape scores and its box.
public struct FaceReading: Sendable {
    /// 478 image-normalised landmarks (see `FaceLandmarks.landmarks`).
    public var landmarks: [SIMD3<Float>]
    /// The 52 scores, in `Blendshapes.names` order.
    public var blendshapes: [Float]
    public var box: FaceBox
    public var imageWidth: Int
    public var imageHeight: Int

    /// Runs the native face landmarker over an 8-bit gray (1 channel) or RGB (3 channels)
    /// image: the same detector, landmark and blendshape steps the landmarks and blendshapes
    /// stages run on FER2013. nil when there is no face.
    public static func read(_ image: PixelImage, landmarker: FaceLandmarker) throws(ModelError) -> FaceReading? {
        guard image.channels == 1 || image.channels == 3 else {
            throw ModelError(source: "image", "expected 1 (gray) or 3 (RGB) channels, found \(image.channels)")
        }
        let result = try image.pixels.withUnsafeBufferPointer { (p) throws(ModelError) in
            image.channels == 1
                ? try landmarker.detect(gray: p, width: image.width, height: image.height)
                : try landmarker.detect(rgb: p, width: image.width, height: image.height)
        }
        guard case .face(let face) = result else { return nil }
        return FaceReading(landmarks: face.landmarks, blendshapes: face.blendshapes,
                           box: FaceBox(landmarks: face.landmarks, imageWidth: image.width, imageHeight: image.height),
                           imageWidth: image.width, imageHeight: image.height)
    }
}

/// A trained model applied to faces: builds the model's features by name from a face (the
/// 52 blendshapes and the landmark geometry features of `blendshapes.geometry`), then runs
/// the model with its stored normalisation.
public struct FaceExpressionModel: Sendable {
    public let model: TrainedModel
    private let features: FaceFeatureMap

    /// Refuses a model that needs a feature no face image can give (e.g. a column that was
    /// computed outside blendset), naming the features it cannot make.
    public init(model: TrainedModel, source: String) throws(LearningError) {
        guard let map = FaceFeatureMap(model.featureNames) else {
            let unknown = model.featureNames.filter { !Blendshapes.names.contains($0) && !FaceGeometry.isFeature($0) }
            throw .invalidModelFile(path: source, reason: "the model needs \(unknown.count) feature(s) that cannot be computed from an image "
                + "(\(unknown.prefix(5).joined(separator: ", "))\(unknown.count > 5 ? ", …" : "")); an image gives the 52 blendshapes "
                + "and the geometry features of blendshapes.geometry (\(FaceGeometry.setNames.joined(separator: ", ")))")
        }
        self.model = model
        features = map
    }

    /// The model's features of one face, in the model's order, truncated as its train
    /// features were (`TrainedModel.featureDigits`).
    public func features(of face: FaceReading) -> [Float] {
        var points = [Float](); points.reserveCapacity(face.landmarks.count * 3)
        for p in face.landmarks { points += [p.x, p.y, p.z] }
        var row = [Float](); row.reserveCapacity(model.featureNames.count)
        features.append(to: &row, scores: face.blendshapes, points: points[...], width: face.imageWidth, height: face.imageHeight)
        return truncated(row)
    }

    /// Features computed from images (here, or by 'blendset extract') cut to the decimals the
    /// model's train features had; unchanged for a model trained on untruncated features.
    public func truncated(_ features: [Float]) -> [Float] {
        guard let digits = model.featureDigits else { return features }
        return features.map { FeatureDigits.truncate($0, digits: digits) }
    }

    /// Class probabilities of one face, in `model.classes` order.
    public func probabilities(of face: FaceReading) throws(LearningError) -> [Float] {
        try model.predict(rawFeatures: features(of: face), threads: 1)
    }

    /// The predicted class of one row of probabilities (the index into `model.classes`).
    /// The one place the decision rule is applied for images and extract CSVs.
    public func decide(_ probabilities: [Float]) -> Int {
        Int(model.decide(probabilities).first ?? 0)
    }
}
