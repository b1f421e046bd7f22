import Foundation
import Testing
import FaceExpression
import Formats
import Inference
import Learning
import Stages

@Suite struct ClassifierTests {
    static let shared = FileManager.default.currentDirectoryPath + "/../shared"
    static let faceModel = shared + "/models/face_landmarker.task"

    /// A small untrained model over some blendshapes and one geometry feature, written to a
    /// temporary file: enough to check the plumbing, not the accuracy.
    static func modelFile(features: [String] = ["mouthSmileLeft", "mouthSmileRight", "browInnerUp", "jawOpen", "geo_mouth_width"]) throws -> (path: String, model: TrainedModel) {
        let net = try Network(input: InputShape(steps: features.count, features: 1), layers: [
            .lstm(units: 4, activation: .relu, returnSequences: false), .dense(units: 3, activation: .softmax)])
        let model = TrainedModel(network: net, weights: net.initialWeights(seed: 7), classes: ["happy", "sad", "neutral"],
                                 featureNames: features, normalization: .identity)
        let path = NSTemporaryDirectory() + "faceexpression-\(UUID().uuidString).blsmodel"
        try Data(model.encoded()).write(to: URL(fileURLWithPath: path))
        return (path, model)
    }

    /// A model trained on features cut to N decimals gets image features cut the same way;
    /// without it, predict on images drifted from the dataset figures (0.11 points on FER2013).
    @Test func imageFeaturesAreCutLikeTheTrainFeatures() throws {
        var model = try Self.modelFile(features: ["mouthSmileLeft", "jawOpen"]).model
        model.featureDigits = 2
        let path = NSTemporaryDirectory() + "faceexpression-\(UUID().uuidString).blsmodel"
        try Data(model.encoded()).write(to: URL(fileURLWithPath: path))
        let classifier = try ExpressionClassifier(modelPath: path, faceLandmarkerPath: Self.faceModel)
        let q = try #require(try classifier.classify(image: FaceImage(contentsOfFile: Self.shared + "/photos/astronaut.png")))
        let raw = [q.blendshapes["mouthSmileLeft"]!, q.blendshapes["jawOpen"]!]
        let cut = raw.map { FeatureDigits.truncate($0, digits: 2) }
        #expect(cut != raw)
        #expect(try model.predict(rawFeatures: cut) == q.probabilities)
        #expect(try model.predict(rawFeatures: raw) != q.probabilities)
    }

    @Test func classifiesAPhotoAndFindsNoFaceInTheRocket() throws {
        let (path, model) = try Self.modelFile()
        let classifier = try ExpressionClassifier(modelPath: path, faceLandmarkerPath: Self.faceModel)
        #expect(classifier.classes == ["happy", "sad", "neutral"])
        let p = try #require(try classifier.classify(image: FaceImage(contentsOfFile: Self.shared + "/photos/astronaut.png")))
        #expect(p.classes.contains(p.label))
        #expect(p.probabilities.count == 3 && abs(p.probabilities.reduce(0, +) - 1) < 1e-5)
        #expect(p.probability(of: p.label) == p.probabilities.max())
        #expect(p.blendshapes.count == 52)
        #expect(p.faceBox.width > 50 && p.faceBox.height > 50 && p.faceBox.x >= 0 && p.faceBox.x + p.faceBox.width <= 512)
        // The model's own predict on the features built from the same blendshapes.
        let geometryFree = try Self.modelFile(features: ["mouthSmileLeft", "jawOpen"])
        let simple = try ExpressionClassifier(modelPath: geometryFree.path, faceLandmarkerPath: Self.faceModel)
        let q = try #require(try simple.classify(image: FaceImage(contentsOfFile: Self.shared + "/photos/astronaut.png")))
        #expect(try geometryFree.model.predict(rawFeatures: [q.blendshapes["mouthSmileLeft"]!, q.blendshapes["jawOpen"]!]) == q.probabilities)
        _ = model
        #expect(try classifier.classify(image: FaceImage(contentsOfFile: Self.shared + "/photos/no-face-rocket.jpg")) == nil)
    }

    @Test func rawGrayBytesGiveTheSameResultAsTheFile() throws {
        let (path, _) = try Self.modelFile()
        let classifier = try ExpressionClassifier(modelPath: path, faceLandmarkerPath: Self.faceModel)
        let decoded = try PNGCodec.decodeFile(atPath: Self.shared + "/photos/astronaut-gray.png")
        let raw = try classifier.classify(image: FaceImage(gray: decoded.pixels, width: decoded.width, height: decoded.height))
        let file = try classifier.classify(image: FaceImage(contentsOfFile: Self.shared + "/photos/astronaut-gray.png"))
        #expect(raw?.probabilities == file?.probabilities && raw?.blendshapes == file?.blendshapes && raw != nil)
        #expect(throws: FaceExpressionError.self) { try FaceImage(rgb: [1, 2, 3], width: 2, height: 2) }
        #expect(throws: FaceExpressionError.self) { try FaceImage(gray: [], width: 0, height: 0) }
    }

    /// One classifier shared by several threads gives the results a single thread gives.
    @Test func isSafeToShareBetweenThreads() throws {
        let (path, _) = try Self.modelFile()
        let classifier = try ExpressionClassifier(modelPath: path, faceLandmarkerPath: Self.faceModel)
        let names = ["astronaut.png", "astronaut-640x480.jpg", "astronaut-gray.png", "astronaut-flipped.jpg", "no-face-rocket.jpg"]
        let images = try names.map { try FaceImage(contentsOfFile: Self.shared + "/photos/" + $0) }
        let serial = try images.map { try classifier.classify(image: $0)?.probabilities }
        let slots = 12
        nonisolated(unsafe) var results = [[Float]??](repeating: nil, count: slots)
        let lock = NSLock()
        DispatchQueue.concurrentPerform(iterations: slots) { i in
            let r = try? classifier.classify(image: images[i % images.count])?.probabilities
            lock.lock(); results[i] = .some(r); lock.unlock()
        }
        for i in 0..<slots { #expect(results[i]! == serial[i % images.count], "slot \(i)") }
    }

    @Test func refusesAModelWhoseFeaturesNoImageGives() throws {
        let (path, _) = try Self.modelFile(features: ["mouthSmileLeft", "pixel_mean"])
        let error = #expect(throws: FaceExpressionError.self) {
            try ExpressionClassifier(modelPath: path, faceLandmarkerPath: Self.faceModel)
        }
        #expect(error?.message.contains("pixel_mean") == true)
        #expect(error?.message.contains(path) == true)
    }

    /// The core on the five photos: the face photos agree with MediaPipe 0.10.14 on the same
    /// files (decoder differences included) within 2e-3; the rocket has no face.
    @Test func photosMatchMediaPipe() throws {
        let landmarker = try FaceLandmarker(models: FaceModels(taskPath: Self.faceModel))
        let text = try String(contentsOfFile: Self.shared + "/reference/mediapipe/photos.blendshapes.csv", encoding: .utf8)
        for line in text.split(separator: "\n").dropFirst() {
            let f = line.split(separator: ",", omittingEmptySubsequences: false)
            let image = try ImageFile.decodeFile(atPath: Self.shared + "/photos/" + f[0])
            let face = try FaceReading.read(image, landmarker: landmarker)
            #expect((face != nil) == (f[1] == "1"), "\(f[0])")
            guard let face else { continue }
            let worst = (0..<52).map { abs(Double(face.blendshapes[$0]) - Double(f[2 + $0])!) }.max()!
            #expect(worst < 2e-3, "\(f[0]): \(worst)")
        }
    }
}
