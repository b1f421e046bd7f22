import Basics
import CPNG

/// An 8-bit image in memory: rows top to bottom, `channels` interleaved bytes per pixel.
public struct PixelImage: Sendable, Equatable {
    public var width: Int
    public var height: Int
    /// 1 for gray, 3 for RGB.
    public var channels: Int
    /// `width * height * channels` bytes, row-major.
    public var pixels: [UInt8]

    public init(width: Int, height: Int, channels: Int, pixels: [UInt8]) {
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = pixels
    }
}

/// PNG reading and writing through libpng's simplified `png_image_*` API.
///
/// Only the simplified API is used: libpng's classic API reports errors with longjmp, which
/// would skip Swift frames (leaking and corrupting state); `png_image_*` returns them as values.
public enum PNGCodec {
    /// The largest decoded image accepted, so a hostile header cannot demand gigabytes.
    public static let maxDecodedBytes = 1 << 28
    /// The largest PNG file read whole: as large as any image within `maxDecodedBytes` can
    /// reasonably compress to, so a huge file is refused before it is read.
    public static let maxFileBytes = maxDecodedBytes + (16 << 20)

    /// Reads and decodes the PNG file at `path`; see `decode(_:source:maxSide:maxDecodedBytes:)`.
    /// Devices and FIFOs are refused before they are opened for reading.
    public static func decodeFile(atPath path: String, maxSide: Int? = nil,
                                  maxDecodedBytes: Int = maxDecodedBytes) throws(FormatError) -> PixelImage {
        let bytes: [UInt8]
        do { bytes = try FileBytes.read(atPath: path, maxBytes: maxFileBytes) } catch { throw FormatError(error) }
        return try decode(bytes, source: path, maxSide: maxSide, maxDecodedBytes: maxDecodedBytes)
    }

    /// Decodes any PNG: gray and gray+alpha become 1 channel, RGB, RGBA and palette images
    /// 3 channels. Alpha is dropped (the color values are kept as stored, not composited);
    /// 16-bit samples are reduced to 8 bits.
    ///
    /// With `maxSide`, an image whose width or height exceeds it is reduced (area average,
    /// aspect ratio kept) so its longer side is `maxSide`: memory then holds one full-size
    /// image at a time, never many. The header's size is checked against `maxDecodedBytes`
    /// before anything is allocated.
    public static func decode(_ bytes: [UInt8], source: String, maxSide: Int? = nil,
                              maxDecodedBytes: Int = maxDecodedBytes) throws(FormatError) -> PixelImage {
        try withBytes(bytes) { (buffer) throws(FormatError) in
            try decode(buffer, source: source, maxSide: maxSide, maxDecodedBytes: maxDecodedBytes)
        }
    }

    /// Decodes PNG bytes in memory; see `decode(_:source:maxSide:maxDecodedBytes:)`.
    public static func decode(_ bytes: UnsafeRawBufferPointer, source: String, maxSide: Int? = nil,
                              maxDecodedBytes: Int = maxDecodedBytes) throws(FormatError) -> PixelImage {
        guard let base = bytes.baseAddress, bytes.count > 0 else {
            throw FormatError(file: source, message: "is not a PNG image: the data is empty")
        }
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        guard png_image_begin_read_from_memory(&image, base, bytes.count) != 0 else {
            let reason = message(of: &image)
            png_image_free(&image)
            throw FormatError(file: source, message: "is not a decodable PNG image (libpng: \(reason))")
        }
        let isColor = image.format & UInt32(PNG_FORMAT_FLAG_COLOR) != 0
        let hasAlpha = image.format & UInt32(PNG_FORMAT_FLAG_ALPHA) != 0
        // Alpha is read and then discarded by hand: asking libpng to remove it would
        // composite the colors onto a background and change them.
        image.format = (isColor ? UInt32(PNG_FORMAT_FLAG_COLOR) : 0) | (hasAlpha ? UInt32(PNG_FORMAT_FLAG_ALPHA) : 0)
        let width = Int(image.width), height = Int(image.height)
        let inChannels = (isColor ? 3 : 1) + (hasAlpha ? 1 : 0)
        let (size, overflow) = (width * inChannels).multipliedReportingOverflow(by: height)
        guard !overflow, size <= maxDecodedBytes, width > 0, height > 0, width * inChannels <= Int(Int32.max) else {
            png_image_free(&image)
            throw FormatError(file: source, message:
                "is too large to decode: \(width)x\(height) pixels x \(inChannels) channels, the limit is \(maxDecodedBytes) bytes")
        }
        var raw = [UInt8](repeating: 0, count: size)
        let ok = raw.withUnsafeMutableBytes { out in
            png_image_finish_read(&image, nil, out.baseAddress, Int32(width * inChannels), nil)
        }
        guard ok != 0 else {
            let reason = message(of: &image)
            png_image_free(&image)
            throw FormatError(file: source, message: "is a damaged PNG image (libpng: \(reason))")
        }
        png_image_free(&image)
        let outChannels = isColor ? 3 : 1
        if let maxSide, max(width, height) > maxSide {
            return reduced(raw, width: width, height: height, inChannels: inChannels,
                           outChannels: outChannels, maxSide: max(maxSide, 1))
        }
        guard hasAlpha else {
            return PixelImage(width: width, height: height, channels: outChannels, pixels: raw)
        }
        let pixelCount = width * height
        let pixels = [UInt8](unsafeUninitializedCapacity: pixelCount * outChannels) { out, initialized in
            raw.withUnsafeBufferPointer { src in
                for i in 0..<pixelCount {
                    for c in 0..<outChannels { out[i * outChannels + c] = src[i * inChannels + c] }
                }
            }
            initialized = pixelCount * outChannels
        }
        return PixelImage(width: width, height: height, channels: outChannels, pixels: pixels)
    }

    /// Encodes a 1-channel (gray) or 3-channel (RGB) image as an 8-bit PNG.
    public static func encode(_ image: PixelImage) throws(FormatError) -> [UInt8] {
        let source = "PNG image \(image.width)x\(image.height)x\(image.channels)"
        guard image.channels == 1 || image.channels == 3 else {
            throw FormatError(file: source, message: "cannot encode: expected 1 (gray) or 3 (RGB) channels, found \(image.channels)")
        }
        guard image.width > 0, image.height > 0, image.width <= Int(Int32.max / 3), image.height <= Int(Int32.max) else {
            throw FormatError(file: source, message: "cannot encode: width and height must be positive, found \(image.width)x\(image.height)")
        }
        let expected = image.width * image.height * image.channels
        guard image.pixels.count == expected else {
            throw FormatError(file: source, message: "cannot encode: expected \(expected) pixel bytes, found \(image.pixels.count)")
        }
        var png = png_image()
        png.version = UInt32(PNG_IMAGE_VERSION)
        png.width = UInt32(image.width)
        png.height = UInt32(image.height)
        png.format = image.channels == 3 ? UInt32(PNG_FORMAT_RGB) : UInt32(PNG_FORMAT_GRAY)
        let stride = Int32(image.width * image.channels)
        return try withBytes(image.pixels) { (pixels) throws(FormatError) -> [UInt8] in
            var size: png_alloc_size_t = 0
            guard png_image_write_to_memory(&png, nil, &size, 0, pixels.baseAddress, stride, nil) != 0 else {
                let reason = message(of: &png)
                png_image_free(&png)
                throw FormatError(file: source, message: "cannot encode (libpng: \(reason))")
            }
            var output = [UInt8](repeating: 0, count: Int(size))
            let ok = output.withUnsafeMutableBytes { out in
                png_image_write_to_memory(&png, out.baseAddress, &size, 0, pixels.baseAddress, stride, nil)
            }
            guard ok != 0 else {
                let reason = message(of: &png)
                png_image_free(&png)
                throw FormatError(file: source, message: "cannot encode (libpng: \(reason))")
            }
            png_image_free(&png)
            output.removeLast(output.count - Int(size))
            return output
        }
    }

    /// Area-average reduction so the longer side is `maxSide`, dropping channels past
    /// `outChannels` (alpha). Integer arithmetic with rounding, so the result is exact and
    /// the same on every machine.
    static func reduced(_ raw: [UInt8], width: Int, height: Int, inChannels: Int,
                                outChannels: Int, maxSide: Int) -> PixelImage {
        let longest = max(width, height)
        let outWidth = max(1, width * maxSide / longest)
        let outHeight = max(1, height * maxSide / longest)
        // Source column range of each output column: [xs[x], xs[x + 1]).
        let xs = (0...outWidth).map { $0 * width / outWidth }
        var sums = [UInt64](repeating: 0, count: outWidth * outChannels)
        let pixels = [UInt8](unsafeUninitializedCapacity: outWidth * outHeight * outChannels) { out, initialized in
            raw.withUnsafeBufferPointer { src in
                sums.withUnsafeMutableBufferPointer { acc in
                    for y in 0..<outHeight {
                        let y0 = y * height / outHeight, y1 = (y + 1) * height / outHeight
                        for i in 0..<acc.count { acc[i] = 0 }
                        for sy in y0..<y1 {
                            let row = sy * width * inChannels
                            for x in 0..<outWidth {
                                for sx in xs[x]..<xs[x + 1] {
                                    let p = row + sx * inChannels
                                    for c in 0..<outChannels { acc[x * outChannels + c] &+= UInt64(src[p + c]) }
                                }
                            }
                        }
                        for x in 0..<outWidth {
                            let area = UInt64((y1 - y0) * (xs[x + 1] - xs[x]))
                            for c in 0..<outChannels {
                                let i = x * outChannels + c
                                out[(y * outWidth + x) * outChannels + c] = UInt8((acc[i] + area / 2) / area)
                            }
                        }
                    }
                }
            }
            initialized = outWidth * outHeight * outChannels
        }
        return PixelImage(width: outWidth, height: outHeight, channels: outChannels, pixels: pixels)
    }

    private static func message(of image: inout png_image) -> String {
        withUnsafeBytes(of: &image.message) { raw in
            let text = raw.prefix { $0 != 0 }
            return text.isEmpty ? "unknown error" : String(decoding: text, as: UTF8.self)
        }
    }
}
