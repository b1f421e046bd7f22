import Foundation
import Testing
@testable import Formats

/// Writes minimal PNG files by hand (stored deflate blocks, no compression), so the decoder is
/// tested on color types the encoder does not produce.
enum HandmadePNG {
    static func make(width: Int, height: Int, colorType: UInt8, bitDepth: UInt8 = 8, samples: [UInt8]) -> [UInt8] {
        let rowBytes = samples.count / height
        var raw = [UInt8]()
        for y in 0..<height {
            raw.append(0)  // filter: none
            raw.append(contentsOf: samples[y * rowBytes ..< (y + 1) * rowBytes])
        }
        var zlib: [UInt8] = [0x78, 0x01]
        var offset = 0
        repeat {
            let n = min(65_535, raw.count - offset)
            let last: UInt8 = offset + n == raw.count ? 1 : 0
            zlib += [last, UInt8(n & 0xff), UInt8(n >> 8), UInt8(~n & 0xff), UInt8((~n >> 8) & 0xff)]
            zlib += raw[offset ..< offset + n]
            offset += n
        } while offset < raw.count
        zlib += bigEndian(adler32(raw))
        var header = bigEndian(UInt32(width)) + bigEndian(UInt32(height))
        header += [bitDepth, colorType, 0, 0, 0]
        return [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
            + chunk("IHDR", header) + chunk("IDAT", zlib) + chunk("IEND", [])
    }

    static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let body = Array(type.utf8) + data
        return bigEndian(UInt32(data.count)) + body + bigEndian(crc32(body))
    }

    static func bigEndian(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8((v >> 16) & 0xff), UInt8((v >> 8) & 0xff), UInt8(v & 0xff)] }

    static func adler32(_ data: [UInt8]) -> UInt32 {
        var a: UInt32 = 1, b: UInt32 = 0
        for byte in data { a = (a + UInt32(byte)) % 65_521; b = (b + a) % 65_521 }
        return b << 16 | a
    }

    static func crc32(_ data: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xffff_ffff
        for byte in data {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0xedb8_8320 : crc >> 1 }
        }
        return ~crc
    }
}

@Suite("PNG")
struct PNGCodecTests {
    static func pattern(_ count: Int) -> [UInt8] { (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ $0 / 5) } }

    @Test("round trip", arguments: [(48, 48, 1), (1, 1, 1), (7, 3, 3), (64, 33, 3)])
    func roundTrip(width: Int, height: Int, channels: Int) throws {
        let image = PixelImage(width: width, height: height, channels: channels,
                               pixels: Self.pattern(width * height * channels))
        let png = try PNGCodec.encode(image)
        #expect(Array(png.prefix(4)) == [0x89, 0x50, 0x4E, 0x47])
        #expect(try PNGCodec.decode(png, source: "mem.png") == image)
        #expect(try PNGCodec.encode(image) == png, "encoding is deterministic")
    }

    @Test func handmadeGrayAndRGBDecode() throws {
        let gray = Self.pattern(5 * 4)
        #expect(try PNGCodec.decode(HandmadePNG.make(width: 5, height: 4, colorType: 0, samples: gray), source: "g")
            == PixelImage(width: 5, height: 4, channels: 1, pixels: gray))
        let rgb = Self.pattern(3 * 2 * 3)
        #expect(try PNGCodec.decode(HandmadePNG.make(width: 3, height: 2, colorType: 2, samples: rgb), source: "c")
            == PixelImage(width: 3, height: 2, channels: 3, pixels: rgb))
    }

    @Test func grayAlphaDropsAlpha() throws {
        let (w, h) = (4, 3)
        let gray = Self.pattern(w * h)
        var samples = [UInt8]()
        for (i, g) in gray.enumerated() { samples += [g, UInt8(i * 20)] }
        let decoded = try PNGCodec.decode(HandmadePNG.make(width: w, height: h, colorType: 4, samples: samples), source: "ga.png")
        #expect(decoded == PixelImage(width: w, height: h, channels: 1, pixels: gray))
    }

    @Test func rgbaDropsAlpha() throws {
        let (w, h) = (3, 5)
        let rgb = Self.pattern(w * h * 3)
        var samples = [UInt8]()
        for i in 0..<(w * h) { samples += rgb[i * 3 ..< i * 3 + 3] + [UInt8(255 - i)] }
        let decoded = try PNGCodec.decode(HandmadePNG.make(width: w, height: h, colorType: 6, samples: samples), source: "rgba.png")
        #expect(decoded == PixelImage(width: w, height: h, channels: 3, pixels: rgb))
    }

    @Test func sixteenBitGrayIsReduced() throws {
        let samples: [UInt8] = [0x00, 0x00, 0xff, 0xff, 0x80, 0x00, 0x12, 0x34]
        let decoded = try PNGCodec.decode(HandmadePNG.make(width: 2, height: 2, colorType: 0, bitDepth: 16, samples: samples), source: "g16")
        #expect(decoded.channels == 1)
        #expect(decoded.pixels.count == 4)
        #expect(decoded.pixels[0] == 0 && decoded.pixels[1] == 255)
    }

    @Test("not a PNG", arguments: [[UInt8](), Array("hello, this is text".utf8), [0x89, 0x50, 0x4E, 0x47]])
    func notPNG(bytes: [UInt8]) {
        do {
            _ = try PNGCodec.decode(bytes, source: "photo.png")
            Issue.record("expected an error")
        } catch {
            #expect(error.file == "photo.png")
            #expect(error.message.contains("PNG"))
        }
    }

    @Test func damagedPNG() throws {
        let png = try PNGCodec.encode(PixelImage(width: 20, height: 20, channels: 1, pixels: Self.pattern(400)))
        for cut in [8, 20, 33, png.count / 2, png.count - 13] {
            #expect(throws: FormatError.self, "cut at \(cut)") { try PNGCodec.decode(Array(png.prefix(cut)), source: "cut.png") }
        }
    }

    @Test func encodeRejectsBadShapes() {
        #expect(throws: FormatError.self) { try PNGCodec.encode(PixelImage(width: 2, height: 2, channels: 2, pixels: [UInt8](repeating: 0, count: 8))) }
        #expect(throws: FormatError.self) { try PNGCodec.encode(PixelImage(width: 2, height: 2, channels: 1, pixels: [1, 2, 3])) }
        #expect(throws: FormatError.self) { try PNGCodec.encode(PixelImage(width: 0, height: 2, channels: 1, pixels: [])) }
    }
}
