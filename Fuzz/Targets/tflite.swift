// libFuzzer target: the FlatBuffers/TFLite model reader, then the interpreter's plan
// (shape checks, constant folding, fusion, arena placement). Nothing is invoked.
import Inference

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let model = try? TFLiteModel(bytes: bytes, name: "fuzz.tflite") else { return 0 }
    _ = try? Interpreter(model: model)
    return 0
}
