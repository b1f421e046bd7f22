// Writes the seeds that cannot be made with shell tools: small table files (TableFile.encode)
// and small TFLite models (the tests' TFLiteTinyModel). Built and run by Fuzz/Seeds/make_seeds.sh
// with the fuzzing toolchain, so it links the same instrumented modules: it does its work in
// LLVMFuzzerInitialize and exits before any fuzzing starts.
#if canImport(Glibc)
import Glibc
#endif
import Formats
import Inference

private func save(_ bytes: [UInt8], _ path: String) {
    let f = fopen(path, "wb")!
    precondition(fwrite(bytes, 1, bytes.count, f) == bytes.count)
    fclose(f)
}

/// A seed that the reader rejects only exercises the first checks: make sure each one plans.
private func saveModel(_ bytes: [UInt8], _ path: String) {
    do { _ = try Interpreter(model: try TFLiteModel(bytes: bytes, name: path)) } catch { fatalError("seed \(path): \(error)") }
    save(bytes, path)
}

private func conv(same: Bool, stride: Int32) -> [TFLiteFlatField?] {
    [.int8(same ? 0 : 1), .int32(stride), .int32(stride), .int8(0), .int32(1), .int32(1)]
}

private func makeSeeds(_ out: String) {
    let tables: [(String, Table)] = [
        ("features-3rows", try! Table(rowCount: 3, columns: [
            Column(name: "features", data: .float32(values: [0.5, -1, 2, 0, 1e-3, 3.25], width: 2)),
            Column(name: "label", data: .int32([0, 1, 2])),
        ], metadata: ["labels": "happy,sad,neutral"])),
        ("all-kinds-2rows", try! Table(rowCount: 2, columns: [
            Column(name: "f", data: .float32(values: [1, 2], width: 1)),
            Column(name: "i", data: .int32([-7, 7])),
            Column(name: "l", data: .int64([1 << 40, -1])),
            Column(name: "u", data: .uint8(values: [1, 2, 3, 4], width: 2)),
            Column(name: "s", data: .strings(["a", "ünï"])),
            Column(name: "b", data: .blobs(offsets: [0, 3, 3], bytes: [0, 1, 2])),
        ], metadata: ["a": "1", "b": "2"])),
        ("empty", try! Table(rowCount: 0, columns: [])),
    ]
    for (name, table) in tables { let bytes = TableFile.encode(table)
        precondition((try? TableFile.decode(bytes, source: name)) == table)
        save(bytes, "\(out)/table_file/\(name).tbl") }

    var m = TFLiteTinyModel()
    var x = m.tensor([1, 4, 4, 2])
    let w = m.constant([3, 3, 3, 2], (0 ..< 54).map { Float($0 % 7) - 3 }), b = m.constant([3], [0.5, -0.5, 0])
    let c = m.tensor([1, 4, 4, 3]), r = m.tensor([1, 4, 4, 3])
    m.op(3, [x, w, b], [c], optionsType: 1, conv(same: true, stride: 1))
    m.op(19, [c], [r])
    let p = m.tensor([1, 2, 2, 3])
    m.op(17, [r], [p], optionsType: 5, [.int8(1), .int32(2), .int32(2), .int32(2), .int32(2), .int8(0)])
    let shape = m.ints([2], [1, 12]), flat = m.tensor([1, 12])
    m.op(22, [p, shape], [flat])
    m.inputs = [x]; m.outputs = [flat]
    saveModel(m.bytes(), "\(out)/tflite/conv-relu-pool-reshape.tflite.seed")

    m = TFLiteTinyModel()
    x = m.tensor([1, 3, 3, 2])
    let dw = m.float16Constant([1, 3, 3, 2], Array(repeating: 0x3C00, count: 18))
    let dwf = m.tensor([1, 3, 3, 2])
    m.op(6, [dw], [dwf])
    let d = m.tensor([1, 3, 3, 2])
    m.op(4, [x, dwf, -1], [d], optionsType: 2, [.int8(0), .int32(1), .int32(1), .int32(1), .int8(0), .int32(1), .int32(1)])
    let pads = m.ints([4, 2], [0, 0, 0, 0, 0, 0, 0, 2]), padded = m.tensor([1, 3, 3, 4])
    m.op(34, [d, pads], [padded])
    let k = m.constant([1, 1, 1, 4], [1, 2, 3, 4]), s = m.tensor([1, 3, 3, 4]), y = m.tensor([1, 3, 3, 4])
    m.op(18, [padded, k], [s], optionsType: 12, [.int8(0)])
    m.op(14, [s], [y])
    m.inputs = [x]; m.outputs = [y, d]
    saveModel(m.bytes(), "\(out)/tflite/depthwise-f16-pad-mul-logistic.tflite.seed")

    m = TFLiteTinyModel()
    m.deprecatedCodes = true
    x = m.tensor([2, 3])
    let bias = m.constant([3], [1, 2, 3]), sum = m.tensor([2, 3]), soft = m.tensor([2, 3])
    m.op(0, [x, bias], [sum], optionsType: 11, [.int8(1)])
    m.op(25, [sum], [soft], optionsType: 9, [nil])
    m.inputs = [x]; m.outputs = [soft]
    saveModel(m.bytes(), "\(out)/tflite/add-softmax-oldcodes.tflite.seed")
}

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>) -> CInt {
    makeSeeds(String(cString: getenv("SEED_DIR")!))
    exit(0)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt { 0 }
