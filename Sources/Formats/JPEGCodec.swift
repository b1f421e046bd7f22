import Basics
import CTurboJPEG

/// JPEG reading through libjpeg-turbo's TurboJPEG API.
///
/// Only TurboJPEG is used: libjpeg's own API reports errors by longjmp from an
/// `error_exit` callback, which would skip Swift frames; TurboJPEG catches that inside C
/// and returns -1 with a message, so every failure here is a value.
public enum JPEGCodec {
    /// The largest decoded image accepted (the same bound as PNG), checked on the header's
    /// size before anything is allocated.
    public static let maxDecodedBytes = PNGCodec.maxDecodedBytes
    /// Decodes a baseline or progressive JPEG: gray JPEGs become 1 channel, every other
    /// colour space (YCbCr, RGB) 3 channels (RGB). CMYK JPEGs are refused. Decoding uses
    /// the accurate integer DCT and smooth chroma upsampling, Pillow's defaults, so pixels
    /// equal Pillow's `Image.open(f).convert("RGB")`.
    ///
    /// A file that libjpeg decodes only with a warning (truncated, corrupt entropy data) is
    /// refused too: its lower part would be made-up gray pixels.
    /// With `maxSide`, the image is reduced as `PNGCodec.decode` does.
    public static func decode(_ bytes: [UInt8], source: String, maxSide: Int? = nil,
                              maxDecodedBytes: Int = maxDecodedBytes) throws(FormatError) -> PixelImage {
        guard !bytes.isEmpty else { throw FormatError(file: source, message: "is not a JPEG image: the data is empty") }
        guard bytes.count <= Int(UInt32.max) else {
            throw FormatError(file: source, message: "is too large to decode: \(bytes.count) bytes of JPEG data")
        }
        guard let handle = tjInitDecompress() else {
            throw FormatError(file: source, message: "cannot start the JPEG decoder (TurboJPEG: \(errorText(nil)))")
        }
        defer { tjDestroy(handle) }
        var width: Int32 = 0, height: Int32 = 0, subsampling: Int32 = 0, colorspace: Int32 = 0
        let header = bytes.withUnsafeBufferPointer { p in
            tjDecompressHeader3(handle, p.baseAddress, UInt(p.count), &width, &height, &subsampling, &colorspace)
        }
        guard header == 0 else {
            throw FormatError(file: source, message: "is not a decodable JPEG image (TurboJPEG: \(errorText(handle)))")
        }
        guard width > 0, height > 0 else {
            throw FormatError(file: source, message: "is not a decodable JPEG image: its header declares \(width)x\(height) pixels (truncated or damaged)")
        }
        let isGray = colorspace == Int32(TJCS_GRAY.rawValue)
        guard colorspace != Int32(TJCS_CMYK.rawValue), colorspace != Int32(TJCS_YCCK.rawValue) else {
            throw FormatError(file: source, message: "is a CMYK JPEG; expected a gray or RGB (YCbCr) JPEG: convert it to RGB first")
        }
        let w = Int(width), h = Int(height), channels = isGray ? 1 : 3
        let (rowBytes, o1) = w.multipliedReportingOverflow(by: channels)
        let (size, o2) = rowBytes.multipliedReportingOverflow(by: h)
        guard !o1, !o2, size <= maxDecodedBytes, rowBytes <= Int(Int32.max) else {
            throw FormatError(file: source, message:
                "is too large to decode: \(w)x\(h) pixels x \(channels) channels, the limit is \(maxDecodedBytes) bytes")
        }
        let format = isGray ? Int32(TJPF_GRAY.rawValue) : Int32(TJPF_RGB.rawValue)
        // LIMITSCANS: a progressive file with thousands of scans would take minutes to decode.
        let flags = Int32(TJFLAG_LIMITSCANS)
        var status: Int32 = 0
        // Not zero-filled first: the decoder writes every byte, and on failure (`status` != 0,
        // including a truncated file's warning) the pixels are thrown away below.
        let pixels = [UInt8](unsafeUninitializedCapacity: size) { out, initialized in
            status = bytes.withUnsafeBufferPointer { src in
                tjDecompress2(handle, src.baseAddress, UInt(src.count), out.baseAddress, width, Int32(rowBytes), height, format, flags)
            }
            initialized = size
        }
        guard status == 0 else {
            let warning = tjGetErrorCode(handle) == Int32(TJERR_WARNING.rawValue)
            throw FormatError(file: source, message: (warning ? "is a damaged or truncated JPEG image" : "is not a decodable JPEG image")
                + " (TurboJPEG: \(errorText(handle)))")
        }
        if let maxSide, max(w, h) > maxSide {
            return PNGCodec.reduced(pixels, width: w, height: h, inChannels: channels, outChannels: channels, maxSide: max(maxSide, 1))
        }
        return PixelImage(width: w, height: h, channels: channels, pixels: pixels)
    }

    private static func errorText(_ handle: tjhandle?) -> String {
        guard let text = tjGetErrorStr2(handle) else { return "unknown error" }
        let s = String(cString: text)
        return s.isEmpty ? "unknown error" : s
    }
}

/// Image files of any supported format (PNG, JPEG), told apart by their first bytes.
public enum ImageFile {
    /// The file name extensions taken for images when a folder is walked.
    public static let extensions: Set<String> = ["png", "jpg", "jpeg"]

    /// Whether `path` names a PNG or JPEG file by its extension (case-insensitive).
    public static func hasImageExtension(_ path: String) -> Bool {
        guard let dot = path.lastIndex(of: "."), path[dot...].contains("/") == false else { return false }
        return extensions.contains(path[path.index(after: dot)...].lowercased())
    }

    /// Decodes a PNG or JPEG file, whatever its extension says: 1 channel for gray images,
    /// 3 (RGB) for colour ones, alpha dropped. A file that is neither is refused naming both.
    public static func decodeFile(atPath path: String, maxSide: Int? = nil) throws(FormatError) -> PixelImage {
        let bytes: [UInt8]
        do { bytes = try FileBytes.read(atPath: path, maxBytes: PNGCodec.maxFileBytes) } catch { throw FormatError(error) }
        return try decode(bytes, source: path, maxSide: maxSide)
    }

    /// Decodes PNG or JPEG bytes; see `decodeFile(atPath:maxSide:)`.
    public static func decode(_ bytes: [UInt8], source: String, maxSide: Int? = nil) throws(FormatError) -> PixelImage {
        if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]) { return try PNGCodec.decode(bytes, source: source, maxSide: maxSide) }
        if bytes.starts(with: [0xFF, 0xD8, 0xFF]) { return try JPEGCodec.decode(bytes, source: source, maxSide: maxSide) }
        let found = bytes.prefix(4).map { String($0, radix: 16, uppercase: true) }.joined(separator: " ")
        throw FormatError(file: source, message: bytes.isEmpty ? "is not an image: the file is empty"
            : "is not a PNG or JPEG image: expected the bytes 89 50 4E 47 (PNG) or FF D8 FF (JPEG) at the start, found \(found)")
    }
}
