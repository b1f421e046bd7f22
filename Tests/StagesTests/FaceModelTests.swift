import Basics
import Foundation
import Formats
@testable import Inference
import Pipeline
import Testing
@testable import Stages

/// The face model bundle with the largest float weight tensor of its blendshape network
/// negated: still a valid bundle (CRCs fixed), with other content and other scores.
func alteredBlendshapeModel() throws -> [UInt8] {
    var bytes = try readFileBytes(atPath: modelPath)
    let name = "face_blendshapes.tflite"
    guard let entry = try ZipDirectory.parse(bytes, source: modelPath).first(where: { $0.name == name }) else {
        throw FormatError(file: modelPath, message: "no \(name) in the bundle")
    }
    let data = entry.dataOffset..<(entry.dataOffset + entry.size)
    let network = try TFLiteModel(bytes: Array(bytes[data]), name: name)
    guard let weights = network.tensors.filter({ $0.isConstant && ($0.type == .float32 || $0.type == .float16) })
            .max(by: { $0.elementCount < $1.elementCount }), let range = weights.data else {
        throw FormatError(file: modelPath, message: "no float weights in \(name)")
    }
    let width = weights.type == .float32 ? 4 : 2
    // Little-endian: the sign bit is in each element's last byte.
    for i in stride(from: range.lowerBound + width - 1, to: range.upperBound, by: width) { bytes[entry.dataOffset + i] ^= 0x80 }

    // The entry's CRC-32 sits in its central directory record (+16) and its local header (+14).
    let entryBytes: [UInt8] = Array(bytes[data])
    let crc = Basics.CRC32.checksum(entryBytes)
    func u16(_ at: Int) -> Int { Int(bytes[at]) | Int(bytes[at + 1]) << 8 }
    func u32(_ at: Int) -> Int { u16(at) | u16(at + 2) << 16 }
    func put(_ at: Int) { for k in 0..<4 { bytes[at + k] = UInt8(truncatingIfNeeded: crc >> (8 * k)) } }
    let end = bytes.count - 22
    guard u32(end) == 0x0605_4b50 else { throw FormatError(file: modelPath, message: "expected a bundle without a zip comment") }
    var at = u32(end + 16)
    for _ in 0..<u16(end + 10) {
        let nameLength = u16(at + 28)
        if String(decoding: bytes[(at + 46)..<(at + 46 + nameLength)], as: UTF8.self) == name {
            put(at + 16)
            put(u32(at + 42) + 14)
        }
        at += 46 + nameLength + u16(at + 30) + u16(at + 32)
    }
    return bytes
}

/// Test-only: adds a landmarks column of zeros, as if landmarks had run, but records no face model.
struct BareLandmarks: Stage {
    static let kind = "bare_landmarks"
    static let version = 1
    static let summary = "test-only: landmarks without a face model record"
    static let inputCount = 1...1
    static let parameters: [ParameterSpec] = []
    init(parameters: StageParameters) throws(PipelineError) {}

    func run(_ context: StageContext) throws -> StageResult {
        let t = try TableFile.decode(try context.input.bytes(tableArtifact), source: "test")
        let out = try t.setting(Column(name: ColumnName.landmarks, data: .float32(values: .init(repeating: 0.5, count: t.rowCount * 1434), width: 1434)))
        return StageResult(artifacts: [tableArtifact: out.encoded()], forwarded: context.forwardedImages)
    }
}

/// Test-only: passes landmarks' table on unchanged, with some other bytes as the face model.
struct SwappedFaceModel: Stage {
    static let kind = "swapped_face_model"
    static let version = 1
    static let summary = "test-only: a face model artifact that is not the recorded one"
    static let inputCount = 1...1
    static let parameters: [ParameterSpec] = []
    init(parameters: StageParameters) throws(PipelineError) {}

    func run(_ context: StageContext) throws -> StageResult {
        StageResult(artifacts: [tableArtifact: try context.input.bytes(tableArtifact), faceModelArtifact: Array("not the model".utf8)],
                    forwarded: context.forwardedImages)
    }
}

let faceTestStages = StageRegistry(Array(testStages.kinds.values) + [BareLandmarks.self, SwappedFaceModel.self])

/// ingest → select → split → `stage` → blendshapes on the fixture.
func pipelineJSON(blendshapesAfter stage: String) -> String {
    #"{ "version": 1, "stages": [ { "name": "ingest", "params": { "source": "\#(fixtureCSV)" } }, { "name": "select" }, { "name": "split" }, "#
        + stage + #", { "name": "blendshapes" } ] }"#
}

@Suite("the face model is configured once, on landmarks", .serialized)
struct FaceModelTests {
    @Test("landmarks records the model digest, thresholds and extractor version, and stores the model; blendshapes passes both on; augment's table drops the record")
    func landmarksRecordsTheModel() throws {
        let b = try BuiltPipeline(facePipelineJSON(upTo: "augment"), overrides: ["landmarks.min_presence_confidence=0.25"])
        let digest = try ContentDigest.ofFile(atPath: modelPath)
        let text = try #require(try b.table("landmarks").metadata[MetadataKey.faceModel])
        let record = try JSONParser.parse(text)
        #expect(record["digest"]?.stringValue == digest.hex)
        #expect(record["min_detection_confidence"]?.doubleValue == 0.5)
        #expect(record["min_presence_confidence"]?.doubleValue == 0.25)
        #expect(record["extractor_version"]?.intValue == FaceExtractor.version)
        #expect(!text.contains("/"), "no path in the output: \(text)")
        #expect(b.stage("landmarks").artifacts[faceModelArtifact] == digest)
        #expect(try b.table("blendshapes").metadata[MetadataKey.faceModel] == text)
        #expect(b.stage("blendshapes").artifacts[faceModelArtifact] == digest)
        #expect(try b.table("augment").metadata[MetadataKey.faceModel] == nil)
        #expect(b.stage("augment").artifacts[faceModelArtifact] == nil)
    }

    @Test("--set landmarks.model=<another model> changes the keys of landmarks, blendshapes and augment, and augment's rows come from that model")
    func anotherModel() throws {
        let folder = temporaryFolder()
        let altered = try alteredBlendshapeModel()
        let other = folder + "/other.task"
        try AtomicFile.write(altered, to: other)
        #expect(SHA256.digest(altered) != (try ContentDigest.ofFile(atPath: modelPath)))

        let base = try BuiltPipeline(facePipelineJSON(upTo: "augment"), folder: folder)
        let changed = try BuiltPipeline(facePipelineJSON(upTo: "augment"), overrides: ["landmarks.model=\(other)"], folder: folder)
        #expect(base.stage("split").key == changed.stage("split").key)
        for stage in ["landmarks", "blendshapes", "augment"] {
            #expect(base.stage(stage).key != changed.stage(stage).key, "\(stage)")
        }
        #expect(changed.stage("blendshapes").artifacts[faceModelArtifact] == SHA256.digest(altered))
        #expect(try changed.table("blendshapes").metadata[MetadataKey.faceModel]?.contains(SHA256.digest(altered).hex) == true)

        // Each augmented row's features are the altered model's scores of its stored image.
        let t = try changed.table("augment"), images = try changed.images("augment")
        let sources = try t.strings(ColumnName.augmentSource), index = try t.int32(ColumnName.imageIndex)
        let (features, width) = try t.float32(ColumnName.features)
        let names = t.names(MetadataKey.features)
        let alteredLandmarker = try FaceLandmarker(models: try FaceModels(bundle: try TaskBundle(bytes: altered, source: other)))
        let originalLandmarker = try FaceLandmarker(models: try FaceModels(taskPath: modelPath))
        func scores(_ landmarker: FaceLandmarker, _ pixels: [UInt8]) throws -> [Float]? {
            guard case .face(let face) = try pixels.withUnsafeBufferPointer({ try landmarker.detect(gray: $0, width: 48, height: 48) }) else { return nil }
            return names.map { face.blendshapes[Blendshapes.names.firstIndex(of: $0)!] }
        }
        let augmented = sources.indices.filter { !sources[$0].isEmpty }
        #expect(augmented.count > 10)
        for r in augmented.prefix(4) {
            let pixels = Array(images.pixels(Int(index[r])))
            let row = Array(features[(r * width)..<((r + 1) * width)])
            #expect(try scores(alteredLandmarker, pixels) == row, "row \(r)")
            #expect(try scores(originalLandmarker, pixels) != row, "row \(r): the altered model should give other scores")
        }
    }

    @Test("a face model parameter on blendshapes or augment is rejected, naming the landmarks stage",
          arguments: ["blendshapes.model", "augment.model", "augment.min_detection_confidence", "augment.min_presence_confidence"])
    func movedParameter(_ target: String) throws {
        let value = target.hasSuffix(".model") ? modelPath : "0.5"
        #expect {
            try BuildPlan.parse(Array(facePipelineJSON().utf8), file: "pipeline.json", registry: testStages,
                                overrides: [try ParameterOverride(parsing: "\(target)=\(value)")])
        } throws: { error in
            guard case PipelineError.invalidParameter(_, let stage, let parameter, let message) = error else { return false }
            return "\(stage).\(parameter)" == target && message.contains("landmarks.\(parameter)") && message.contains("configured once")
        }
    }

    @Test("blendshapes refuses landmarks that do not say which face model made them")
    func inputWithoutRecord() {
        #expect {
            try BuiltPipeline(pipelineJSON(blendshapesAfter: #"{ "name": "bare", "kind": "bare_landmarks" }"#), registry: faceTestStages)
        } throws: { error in
            guard case PipelineError.stageFailed(let stage, let underlying) = error else { return false }
            let message = "\(underlying)"
            return stage == "blendshapes" && message.contains("stage 'bare'") && message.contains("put a 'landmarks' stage above 'blendshapes'")
        }
    }

    @Test("blendshapes refuses an input whose face model is not the one its landmarks were made with")
    func inputWithAnotherModel() {
        let swapped = #"{ "name": "landmarks", "params": { "model": "\#(modelPath)" } }, { "name": "swap", "kind": "swapped_face_model" }"#
        #expect {
            try BuiltPipeline(pipelineJSON(blendshapesAfter: swapped), registry: faceTestStages)
        } throws: { error in
            guard case PipelineError.stageFailed(let stage, let underlying) = error else { return false }
            let message = "\(underlying)"
            return stage == "blendshapes" && message.contains("different landmarks runs")
        }
    }
}
