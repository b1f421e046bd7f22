// libFuzzer target: the zip reader behind TaskBundle (central directory, local headers,
// stored entries, CRC-32).
import Inference

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let bundle = try? TaskBundle(bytes: bytes, source: "fuzz.task") else { return 0 }
    for name in bundle.entryNames {
        if let entry = try? bundle.entry(named: name) { precondition(entry.count <= size) }
    }
    return 0
}
