import Foundation
import Testing
@testable import Inference

/// Stands in for the three networks: checks each input against the reference tensor and
/// returns the reference outputs, so `FaceLandmarker.detect` runs without an interpreter.
final class ReferenceNetworks: FaceNetworks {
    let row: Int
    var presenceLogitOverride: Float?
    private(set) var mismatchedInputs: [String] = []
    private var buffers: [UnsafeMutableBufferPointer<Float>] = []

    init(row: Int) { self.row = row }

    deinit { buffers.forEach { $0.deallocate() } }

    private func output(_ name: String) throws(ModelError) -> UnsafeBufferPointer<Float> {
        let values: [Float]
        do { values = try LandmarkerReference.f32(row: row, name) } catch {
            throw ModelError(source: "row \(row)", "\(error)")
        }
        let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: values.count)
        _ = buffer.initialize(from: values)
        buffers.append(buffer)
        return UnsafeBufferPointer(buffer)
    }

    /// The stored float tensor, or the uint8 image through the (separately tested) table.
    private func check(_ input: UnsafeBufferPointer<Float>, float: String, image: String,
                       scaling: TensorScaling) {
        let expected: [Float]
        if LandmarkerReference.exists(row: row, "\(float).f32") {
            expected = (try? LandmarkerReference.f32(row: row, float)) ?? []
        } else {
            expected = ((try? LandmarkerReference.u8(row: row, image)) ?? []).map { scaling.table[Int($0)] }
        }
        if !input.elementsEqual(expected, by: { $0.bitPattern == $1.bitPattern }) {
            mismatchedInputs.append(float)
        }
    }

    func runDetector(_ input: UnsafeBufferPointer<Float>) throws(ModelError)
        -> (regressors: UnsafeBufferPointer<Float>, classificators: UnsafeBufferPointer<Float>) {
        check(input, float: "det_input", image: "det_image", scaling: .detector)
        return (try output("det_regressors"), try output("det_classificators"))
    }

    func runLandmarks(_ input: UnsafeBufferPointer<Float>) throws(ModelError)
        -> (landmarks: UnsafeBufferPointer<Float>, presenceLogit: Float) {
        check(input, float: "lmk_input", image: "lmk_image", scaling: .landmarks)
        let landmarks = try output("lmk_identity")
        if let logit = presenceLogitOverride { return (landmarks, logit) }
        return (landmarks, try output("lmk_identity_1")[0])
    }

    func runBlendshapes(_ input: UnsafeBufferPointer<Float>) throws(ModelError) -> UnsafeBufferPointer<Float> {
        let expected = (try? LandmarkerReference.f32(row: row, "bs_input")) ?? []
        if !input.elementsEqual(expected, by: { $0.bitPattern == $1.bitPattern }) {
            mismatchedInputs.append("bs_input")
        }
        return try output("bs_output")
    }
}

@Suite("Landmarker pipeline with reference network outputs")
struct LandmarkerPipelineTests {
    typealias Ref = LandmarkerReference

    static func run(row: Int, gray: Bool, networks: ReferenceNetworks) throws -> FaceLandmarkerResult {
        let landmarker = FaceLandmarker(networks: networks, options: .init())
        let image = Ref.fixtureImages[row]
        if gray {
            return try image.withUnsafeBufferPointer { try landmarker.detect(gray: $0, width: 48, height: 48) }
        }
        let rgb = image.flatMap { [$0, $0, $0] }
        return try rgb.withUnsafeBufferPointer { try landmarker.detect(rgb: $0, width: 48, height: 48) }
    }

    @Test("detect() reproduces every network input and the final result",
          arguments: Ref.allRows, [true, false])
    func detect(row: Int, gray: Bool) throws {
        let networks = ReferenceNetworks(row: row)
        let result = try Self.run(row: row, gray: gray, networks: networks)
        #expect(networks.mismatchedInputs.isEmpty, "inputs differing from the reference: \(networks.mismatchedInputs)")
        let meta = try Ref.metadata(row: row)
        switch result {
        case .noFace(let reason):
            #expect(meta["face"] as? Bool == false)
            #expect(reason.rawValue == meta["no_face_reason"] as? String)
        case .face(let face):
            #expect(meta["face"] as? Bool == true)
            expectFloats(face.landmarks.flatMap { [$0.x, $0.y, $0.z] }, try Ref.f32(row: row, "landmarks"), "landmarks")
            expectFloats(face.blendshapes, try Ref.f32(row: row, "bs_output"), "blendshapes")
            expectFloats([face.detectionScore], [try Ref.f32(row: row, "det_nms")[0]], "detection score")
            expectFloats([face.presence], try Ref.f32(row: row, "presence"), "presence")
        }
    }

    @Test("detectLandmarks then blendshapes(landmarks:) equals detect", arguments: Ref.allRows)
    func separateSteps(row: Int) throws {
        let landmarker = FaceLandmarker(networks: ReferenceNetworks(row: row), options: .init())
        let image = Ref.fixtureImages[row]
        let detection = try image.withUnsafeBufferPointer {
            try landmarker.detectLandmarks(gray: $0, width: 48, height: 48)
        }
        switch detection {
        case .noFace(let reason):
            #expect(reason.rawValue == (try Ref.metadata(row: row))["no_face_reason"] as? String)
        case .face(let landmarks, let score, let presence):
            expectFloats(landmarks.flatMap { [$0.x, $0.y, $0.z] }, try Ref.f32(row: row, "landmarks"), "landmarks")
            expectFloats([score, presence], [try Ref.f32(row: row, "det_nms")[0], try Ref.f32(row: row, "presence")[0]],
                         "score, presence")
            let scores = try landmarks.withUnsafeBufferPointer {
                try landmarker.blendshapes(landmarks: $0, imageWidth: 48, imageHeight: 48)
            }
            expectFloats(scores, try Ref.f32(row: row, "bs_output"), "blendshapes")
        }
    }

    @Test("presence at or below the threshold gives no face")
    func presenceGate() throws {
        for logit: Float in [0, -0.5, -30] {
            let networks = ReferenceNetworks(row: 25)
            networks.presenceLogitOverride = logit
            guard case .noFace(.presence) = try Self.run(row: 25, gray: true, networks: networks) else {
                Issue.record("logit \(logit): expected no face (presence)")
                continue
            }
        }
    }

    @Test("a buffer of the wrong size is a ModelError")
    func wrongSize() {
        let landmarker = FaceLandmarker(networks: ReferenceNetworks(row: 25), options: .init())
        let pixels = [UInt8](repeating: 0, count: 10)
        #expect(throws: ModelError.self) {
            try pixels.withUnsafeBufferPointer { try landmarker.detect(rgb: $0, width: 48, height: 48) }
        }
    }

    @Test("options: defaults, and missing keys decode to defaults")
    func options() throws {
        let defaults = FaceLandmarkerOptions()
        #expect(defaults.minDetectionConfidence == 0.5 && defaults.minPresenceConfidence == 0.5)
        let decoded = try JSONDecoder().decode(FaceLandmarkerOptions.self, from: Data("{}".utf8))
        #expect(decoded == defaults)
    }
}
