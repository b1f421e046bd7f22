import Foundation
import Formats
import Inference
import Learning
import Stages

/// Why a classifier could not be made or an image not classified: the file and what was
/// expected.
public struct FaceExpressionError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
    init(_ message: String) { self.message = message }
}

/// An 8-bit image for `ExpressionClassifier`: gray (1 byte per pixel) or RGB (3 bytes per
/// pixel, interleaved), rows top to bottom, any size.
public struct FaceImage: Sendable {
    let image: PixelImage
    public var width: Int { image.width }
    public var height: Int { image.height }
    /// 1 (gray) or 3 (RGB).
    public var channels: Int { image.channels }

    /// `width * height` gray bytes.
    public init(gray pixels: [UInt8], width: Int, height: Int) throws(FaceExpressionError) {
        try self.init(pixels: pixels, width: width, height: height, channels: 1)
    }

    /// `width * height * 3` RGB bytes.
    public init(rgb pixels: [UInt8], width: Int, height: Int) throws(FaceExpressionError) {
        try self.init(pixels: pixels, width: width, height: height, channels: 3)
    }

    /// Reads a PNG or JPEG file (gray, RGB, RGBA or palette; alpha is dropped).
    public init(contentsOfFile path: String) throws(FaceExpressionError) {
        do { image = try ImageFile.decodeFile(atPath: path) } catch { throw FaceExpressionError("\(error)") }
    }

    private init(pixels: [UInt8], width: Int, height: Int, channels: Int) throws(FaceExpressionError) {
        let (area, o1) = width.multipliedReportingOverflow(by: height)
        let (size, o2) = area.multipliedReportingOverflow(by: channels)
        guard width > 0, height > 0, !o1, !o2, pixels.count == size else {
            throw FaceExpressionError("a \(width)x\(height) image with \(channels) channel(s) needs \(o1 || o2 ? "more" : String(size)) bytes, found \(pixels.count)")
        }
        image = PixelImage(width: width, height: height, channels: channels, pixels: pixels)
    }
}

/// What the classifier says about the one face of an image.
public struct Prediction: Sendable {
    /// The face's bounding box in pixels (x to the right, y down).
    public struct Box: Sendable, Equatable {
        public var x: Double, y: Double, width: Double, height: Double
    }

    /// The predicted class, one of `classes`.
    public var label: String
    /// The model's classes, in its order.
    public var classes: [String]
    /// One probability per class, in `classes` order.
    public var probabilities: [Float]
    /// The 52 MediaPipe blendshape scores, by name (`_neutral`, `browDownLeft`, …).
    public var blendshapes: [String: Float]
    public var faceBox: Box

    /// The probability of `label`, or nil for a class the model does not have.
    public func probability(of label: String) -> Float? {
        classes.firstIndex(of: label).map { probabilities[$0] }
    }
}

/// Classifies the facial expression in an image with a trained blendset model: the native
/// MediaPipe face landmarker finds the face and its 52 blendshapes, the model (its stored
/// normalisation, its feature order) gives the label.
///
/// Thread-safe: `classify` may be called from several threads at once. Each call borrows
/// a landmarker from a small pool (one is made when all are busy), so calls run in
/// parallel and results never depend on which thread ran them.
public final class ExpressionClassifier: @unchecked Sendable {  // the pool is touched only under `lock`
    /// The model's classes, in its order.
    public var classes: [String] { model.model.classes }
    private let model: FaceExpressionModel
    private let faceModels: FaceModels
    private let lock = NSLock()
    private var idle: [FaceLandmarker] = []

    /// - Parameters:
    ///   - modelPath: a `.blsmodel` written by `blendset metrics --save DIR`.
    ///   - faceLandmarkerPath: MediaPipe's `face_landmarker.task`.
    public init(modelPath: String, faceLandmarkerPath: String) throws(FaceExpressionError) {
        do { model = try FaceExpressionModel(model: try TrainedModel.read(path: modelPath), source: modelPath) } catch {
            throw FaceExpressionError("\(error)")
        }
        do { faceModels = try FaceModels(taskPath: faceLandmarkerPath) } catch {
            throw FaceExpressionError("cannot load the face landmarker \(faceLandmarkerPath): \(error)")
        }
    }

    /// The expression of the face in `image`, or nil when the image has no face.
    public func classify(image: FaceImage) throws(FaceExpressionError) -> Prediction? {
        let landmarker = try borrow()
        defer { giveBack(landmarker) }
        do {
            guard let face = try FaceReading.read(image.image, landmarker: landmarker) else { return nil }
            let p = try model.probabilities(of: face)
            let b = face.box
            return Prediction(label: classes[model.decide(p)], classes: classes, probabilities: p,
                              blendshapes: Dictionary(uniqueKeysWithValues: zip(Blendshapes.names, face.blendshapes)),
                              faceBox: .init(x: b.x, y: b.y, width: b.width, height: b.height))
        } catch {
            throw FaceExpressionError("cannot classify the \(image.width)x\(image.height) image: \(error)")
        }
    }

    private func borrow() throws(FaceExpressionError) -> FaceLandmarker {
        lock.lock()
        let ready = idle.popLast()
        lock.unlock()
        if let ready { return ready }
        do { return try FaceLandmarker(models: faceModels) } catch {
            throw FaceExpressionError("cannot start the face landmarker: \(error)")
        }
    }

    private func giveBack(_ landmarker: FaceLandmarker) {
        lock.lock()
        idle.append(landmarker)
        lock.unlock()
    }
}
