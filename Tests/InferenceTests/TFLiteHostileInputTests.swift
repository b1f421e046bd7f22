import Testing
@testable import Inference

/// Truncated, bit-flipped and random bundles and models must give a `ModelError`, never a
/// crash or an out-of-bounds read.
@Suite struct TFLiteHostileInputTests {
    static let bundleBytes: [UInt8] = (try? TFLiteSharedFiles.bytes(TFLiteSharedFiles.bundle)) ?? []

    /// How many random corruptions to try. Unoptimised builds plan and run models about a
    /// hundred times slower, so they try fewer; release runs do the full sweep.
    #if DEBUG
    static let flips = (bundle: 40, blendshapes: 40, detector: 6)
    #else
    static let flips = (bundle: 300, blendshapes: 400, detector: 40)
    #endif

    static func entry(_ name: String) -> [UInt8] {
        (try? TaskBundle(bytes: bundleBytes, source: "bundle").entry(named: name)) ?? []
    }

    /// Parses and, when parsing succeeds, plans and runs the model once on zeros.
    static func exercise(_ bytes: [UInt8], name: String) -> Bool {
        do throws(ModelError) {
            let model = try TFLiteModel(bytes: bytes, name: name)
            let interpreter = try Interpreter(model: model)
            _ = try interpreter.run([Float](repeating: 0, count: interpreter.inputShape.reduce(1, *)))
            return true
        } catch {
            #expect(!error.description.isEmpty)
            return false
        }
    }

    @Test func bundleEntriesAreListed() throws {
        let bundle = try TaskBundle(bytes: Self.bundleBytes, source: "face_landmarker.task")
        #expect(bundle.entryNames.sorted() == ["face_blendshapes.tflite", "face_detector.tflite",
                                               "face_landmarks_detector.tflite", "geometry_pipeline_metadata_landmarks.binarypb"])
        let error = #expect(throws: ModelError.self) { try bundle.entry(named: "missing.tflite") }
        #expect(error?.description.contains("missing.tflite") == true)
    }

    @Test func truncatedBundlesAreErrors() {
        let bytes = Self.bundleBytes
        #expect(!bytes.isEmpty)
        var lengths = Array(stride(from: 0, to: bytes.count, by: max(1, bytes.count / 300)))
        lengths += (1 ... 100).map { bytes.count - $0 }
        for length in lengths where length >= 0 {
            let cut = Array(bytes[0 ..< length])
            #expect(throws: ModelError.self, "length \(length)") { _ = try TaskBundle(bytes: cut, source: "cut.task") }
        }
    }

    @Test func bitFlippedBundlesNeverCrash() {
        var rng = TFLiteTestRandom(state: 42)
        let bytes = Self.bundleBytes
        for _ in 0 ..< Self.flips.bundle {
            var flipped = bytes
            // Flip bits in the directory region mostly: that is where structure lives.
            let at = rng.next() % 2 == 0 ? Int(rng.next() % UInt64(bytes.count)) : bytes.count - 1 - Int(rng.next() % 600)
            flipped[at] ^= UInt8(1 << (rng.next() % 8))
            do throws(ModelError) {
                let bundle = try TaskBundle(bytes: flipped, source: "flipped.task")
                for name in bundle.entryNames { _ = try? bundle.entry(named: name) }
            } catch {
                #expect(!error.description.isEmpty)
            }
        }
    }

    @Test func deflatedEntryIsNamed() throws {
        // Mark every entry as deflated (method 8) in its central directory record.
        var bytes = Self.bundleBytes
        var at = 0
        while at + 46 < bytes.count {
            if bytes[at] == 0x50, bytes[at + 1] == 0x4b, bytes[at + 2] == 1, bytes[at + 3] == 2 { bytes[at + 10] = 8 }
            at += 1
        }
        let bundle = try TaskBundle(bytes: bytes, source: "deflated.task")
        let error = #expect(throws: ModelError.self) { try bundle.entry(named: "face_detector.tflite") }
        #expect(error?.description.contains("face_detector.tflite") == true)
        #expect(error?.description.contains("deflate") == true)
    }

    @Test func randomBytesAreErrors() {
        var rng = TFLiteTestRandom(state: 7)
        for length in [0, 1, 3, 4, 8, 21, 22, 64, 1000, 100_000] {
            let bytes = (0 ..< length).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            #expect(throws: ModelError.self) { _ = try TaskBundle(bytes: bytes, source: "random.task") }
            #expect(throws: ModelError.self) { _ = try TFLiteModel(bytes: bytes, name: "random.tflite") }
            var tagged = bytes
            if tagged.count >= 8 { tagged.replaceSubrange(4 ..< 8, with: Array("TFL3".utf8)) }
            #expect(!Self.exercise(tagged, name: "random-tagged.tflite"))
        }
    }

    @Test(arguments: ["face_detector.tflite", "face_landmarks_detector.tflite", "face_blendshapes.tflite"])
    func truncatedModelsAreErrors(_ name: String) {
        let bytes = Self.entry(name)
        #expect(!bytes.isEmpty)
        var lengths = Array(stride(from: 0, to: bytes.count, by: max(1, bytes.count / 150)))
        lengths += [1, 2, 4, 7, 8, 9, 16, 100, bytes.count - 1]
        for length in lengths {
            let cut = Array(bytes[0 ..< length])
            do throws(ModelError) {
                // Only trailing alignment padding, which nothing references, may be cut safely.
                _ = try TFLiteModel(bytes: cut, name: name)
                #expect(length >= bytes.count - 16, "truncated at \(length) of \(bytes.count) still parses")
            } catch {
                #expect(!error.description.isEmpty)
            }
        }
    }

    /// Single-operator models with random shapes, options and constant operands: planning
    /// either refuses them with a `ModelError` or they run; nothing traps.
    @Test func randomOperatorsPlanOrFailCleanly() {
        var rng = TFLiteTestRandom(state: 99)
        let codes = [TFLiteOpCode.conv, TFLiteOpCode.depthwise, TFLiteOpCode.maxPool, TFLiteOpCode.add, TFLiteOpCode.mul,
                     TFLiteOpCode.prelu, TFLiteOpCode.pad, TFLiteOpCode.reshape, TFLiteOpCode.concatenation,
                     TFLiteOpCode.transpose, TFLiteOpCode.stridedSlice, TFLiteOpCode.mean, TFLiteOpCode.sum,
                     TFLiteOpCode.neg, TFLiteOpCode.dequantize]
        func dim() -> Int { [0, 1, 1, 2, 3, 5, 8][Int(rng.next() % 7)] }
        func shape() -> [Int] { (0 ..< Int(rng.next() % 5)).map { _ in dim() } }
        func small() -> Int32 { Int32(Int(rng.next() % 9) - 3) }
        var planned = 0
        for round in 0 ..< 600 {
            var m = TFLiteTinyModel()
            let x = m.tensor(shape().isEmpty ? [1] : shape())
            var inputs = [x]
            for _ in 0 ..< Int(rng.next() % 4) {
                let s = shape()
                switch rng.next() % 3 {
                case 0: inputs.append(m.constant(s, rng.floats(s.reduce(1, *))))
                case 1: inputs.append(m.ints(s, (0 ..< s.reduce(1, *)).map { _ in small() }))
                default: inputs.append(m.float16Constant(s, (0 ..< s.reduce(1, *)).map { _ in UInt16(truncatingIfNeeded: rng.next()) }))
                }
            }
            if rng.next() % 5 == 0 { inputs.append(-1) }
            // Half the time the output has the input's shape, so element-wise ops can plan.
            let y = m.tensor(rng.next() % 2 == 0 ? m.tensors[x].shape : shape())
            let options: [TFLiteFlatField?] = (0 ..< 7).map { _ in
                rng.next() % 2 == 0 ? .int32(small()) : .int8(Int8(truncatingIfNeeded: small()))
            }
            m.op(codes[round % codes.count], inputs, [y], optionsType: UInt8(rng.next() % 40), options)
            m.inputs = [x]; m.outputs = [y]
            do throws(ModelError) {
                let interpreter = try Interpreter(model: try TFLiteModel(bytes: m.bytes(), name: "random-op.tflite"))
                _ = try interpreter.run([Float](repeating: 0.5, count: interpreter.inputShape.reduce(1, *)))
                planned += 1
            } catch {
                #expect(!error.description.isEmpty)
            }
        }
        print("random operators: \(planned) of 600 planned and ran")
        #expect(planned > 0 && planned < 600)
    }

    /// Bit flips anywhere in the (small) blendshape model and in the structural head of the
    /// detector: any outcome but a crash is acceptable; most are errors.
    @Test(arguments: [("face_blendshapes.tflite", Self.flips.blendshapes), ("face_detector.tflite", Self.flips.detector)])
    func bitFlippedModelsNeverCrash(_ name: String, _ count: Int) {
        let bytes = Self.entry(name)
        var rng = TFLiteTestRandom(state: UInt64(name.utf8.count))
        // Tables, vtables and vectors of offsets sit in the first and last few KB.
        let structural = (0 ..< 4096).map { $0 } + (max(0, bytes.count - 16384) ..< bytes.count).map { $0 }
        for _ in 0 ..< count {
            var flipped = bytes
            for _ in 0 ..< 1 + Int(rng.next() % 3) {
                let at = structural[Int(rng.next() % UInt64(structural.count))]
                flipped[at] ^= UInt8(1 << (rng.next() % 8))
            }
            _ = Self.exercise(flipped, name: name)
        }
    }
}
