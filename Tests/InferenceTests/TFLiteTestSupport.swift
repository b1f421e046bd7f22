import Foundation
import Testing
@testable import Inference

/// Paths into ../shared, relative to the package root (the tests' working directory).
enum TFLiteSharedFiles {
    static let bundle = "../shared/models/face_landmarker.task"
    static let referenceDirectory = "../shared/reference/tflite"

    static func bytes(_ path: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ModelError(source: path, "cannot read test file")
        }
        return [UInt8](data)
    }

    static func floats(_ path: String) throws -> [Float] {
        let b = try bytes(path)
        return b.withUnsafeBytes { raw in
            (0 ..< b.count / 4).map { Float(bitPattern: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self).littleEndian) }
        }
    }
}

/// The three models of the bundle, parsed once per test process.
enum TFLiteBundleFixture {
    static let bundle: Result<TaskBundle, ModelError> = Result { () throws(ModelError) in try TaskBundle(path: TFLiteSharedFiles.bundle) }

    static func model(_ name: String) throws -> TFLiteModel {
        let bundle = try bundle.get()
        let entry = name.hasSuffix(".tflite") ? name : name + ".tflite"
        return try TFLiteModel(bytes: try bundle.entry(named: entry), name: entry)
    }
}

func tfliteMaxAbsDifference(_ a: [Float], _ b: [Float]) -> Float {
    zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
}
