// libFuzzer target: the PNG decoder (libpng's simplified API behind PNGCodec). A decoded
// image must be consistent, and small ones must survive an encode/decode round trip.
import Formats

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    guard let image = try? PNGCodec.decode(bytes, source: "fuzz.png") else { return 0 }
    precondition(image.pixels.count == image.width * image.height * image.channels, "pixel count does not match the size")
    if image.pixels.count <= 1 << 16 {
        let encoded = try! PNGCodec.encode(image)
        let again = try! PNGCodec.decode(encoded, source: "roundtrip.png")
        precondition(again == image, "PNG round trip changed the image")
    }
    return 0
}
