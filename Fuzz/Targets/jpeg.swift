// libFuzzer target: the JPEG decoder (TurboJPEG behind JPEGCodec) and the format sniffing of
// ImageFile. A decoded image must be consistent, whichever way it was reached.
import Formats

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let image = try? JPEGCodec.decode(bytes, source: "fuzz.jpg", maxDecodedBytes: 1 << 26) else { return 0 }
    precondition(image.channels == 1 || image.channels == 3, "a JPEG decodes to gray or RGB")
    precondition(image.pixels.count == image.width * image.height * image.channels, "pixel count does not match the size")
    precondition((try? ImageFile.decode(bytes, source: "fuzz.jpg")) == image, "ImageFile decodes a JPEG like JPEGCodec")
    return 0
}
