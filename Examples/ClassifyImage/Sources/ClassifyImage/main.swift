// Prints the facial expression of the face in a PNG or JPEG image.
// Usage: ClassifyImage MODEL.blsmodel IMAGE [face_landmarker.task]
import FaceExpression
import Foundation

let args = CommandLine.arguments
guard args.count >= 3 else {
    print("usage: ClassifyImage MODEL.blsmodel IMAGE [face_landmarker.task]")
    exit(64)
}
do {
    let classifier = try ExpressionClassifier(
        modelPath: args[1], faceLandmarkerPath: args.count > 3 ? args[3] : "../../../shared/models/face_landmarker.task")
    guard let face = try classifier.classify(image: FaceImage(contentsOfFile: args[2])) else {
        print("no face")
        exit(0)
    }
    let probabilities = zip(face.classes, face.probabilities).map { "\($0) \($1)" }.joined(separator: ", ")
    print("\(face.label) (\(probabilities)); face at x \(Int(face.faceBox.x)), y \(Int(face.faceBox.y))")
} catch {
    print("error: \(error)")
    exit(1)
}
