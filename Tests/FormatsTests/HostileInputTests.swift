import Basics
import Foundation
import Testing
@testable import Formats

/// Crafted inputs that trapped, blocked or grew memory without bound in the readers (issue 10,
/// points 4 and 5). Each must now end in a `FormatError` naming the file.
@Suite("hostile input: readers")
struct HostileInputTests {
    static let header = "emotion,pixels,Usage\n"

    // MARK: FER2013 CSV

    @Test("an emotion of 20 digits is a bad row, not an arithmetic overflow", arguments: [BadRowPolicy.fail, .skip])
    func emotionOverflow(policy: BadRowPolicy) throws {
        let text = Self.header + "99999999999999999999,1,Training\n"
        if policy == .fail {
            let error = try #require(throws: FormatError.self) {
                try FER2013CSV.parse(Array(text.utf8), source: "over.csv", onBadRow: .fail)
            }
            #expect(error.file == "over.csv" && error.line == 2)
            #expect(error.message.contains("emotion must be an integer 0...6"))
        } else {
            let table = try FER2013CSV.parse(Array(text.utf8), source: "over.csv", onBadRow: .skip)
            #expect(table.count == 0)
            #expect(table.skipped.map(\.line) == [2])
        }
    }

    @Test("a line longer than the limit fails naming file and line, under either policy",
          arguments: [BadRowPolicy.fail, .skip])
    func longDataLine(policy: BadRowPolicy) throws {
        let text = Self.header + "3," + String(repeating: "1 ", count: 3000) + ",Training\n"
        let error = try #require(throws: FormatError.self) {
            try FER2013CSV.parse(Array(text.utf8), source: "long.csv", onBadRow: policy, maxLineBytes: 4096)
        }
        #expect(error.file == "long.csv" && error.line == 2)
        #expect(error.message.contains("longer than 4096 bytes"))
    }

    @Test("a header with no line break is refused once it passes the limit, not buffered whole")
    func endlessHeader() throws {
        let text = String(repeating: "a", count: 10_000)
        let error = try #require(throws: FormatError.self) {
            try FER2013CSV.parse(Array(text.utf8), source: "bomb.csv", onBadRow: .skip, maxLineBytes: 1000)
        }
        #expect(error.line == 1)
        #expect(error.message.contains("header line is longer than 1000 bytes"))
    }

    @Test("a .zst bomb without line breaks fails while streaming, across chunk boundaries")
    func zstdBomb() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path + "/bomb.csv.zst"
        // 8 MiB of 'a' decompresses in several 4 MiB chunks; the limit is hit in the carry.
        try Data(Zstd.compress([UInt8](repeating: 0x61, count: 8 << 20), level: 3)).write(to: URL(fileURLWithPath: path))
        let error = try #require(throws: FormatError.self) {
            try FER2013CSV.read(path: path, onBadRow: .skip, maxLineBytes: 5 << 20)
        }
        #expect(error.file == path && error.line == 1)
        #expect(error.message.contains("longer than"))
    }

    @Test("under skip, millions of bad rows keep only the first reasons in memory, and count them all")
    func skippedRowsBounded() throws {
        let text = Self.header + String(repeating: "x\n", count: FER2013CSV.maxSkippedKept + 500)
        let table = try FER2013CSV.parse(Array(text.utf8), source: "bad.csv", onBadRow: .skip)
        #expect(table.skipped.count == FER2013CSV.maxSkippedKept)
        #expect(table.skippedCount == FER2013CSV.maxSkippedKept + 500)
        #expect(table.skipped.first?.line == 2)
    }

    @Test("under skip, a file of endless bad rows stops after maxSkippedRows, naming the first")
    func tooManyBadRows() throws {
        let text = Self.header + String(repeating: "x\n", count: FER2013CSV.maxSkippedRows + 1)
        let error = try #require(throws: FormatError.self) {
            try FER2013CSV.parse(Array(text.utf8), source: "bad.csv", onBadRow: .skip)
        }
        #expect(error.file == "bad.csv" && error.line == FER2013CSV.maxSkippedRows + 2)
        #expect(error.message.contains("more than \(FER2013CSV.maxSkippedRows) bad rows"))
        #expect(error.message.contains("the first was line 2"))
    }

    @Test("the default limit still reads a real FER2013 row")
    func defaultLimitKeepsRealRows() throws {
        let row = "3," + Array(repeating: "255", count: FER2013CSV.pixelsPerImage).joined(separator: " ") + ",Training\n"
        let table = try FER2013CSV.parse(Array((Self.header + row).utf8), source: "ok.csv")
        #expect(table.count == 1)
    }

    @Test("a feature CSV record over the limit fails naming file and line; a quote left open cannot swallow the file")
    func tableCSVRecordLimit() throws {
        let ok = "a,b\n1,2\n"
        #expect(try TableCSV.decode(Array(ok.utf8), source: "f.csv", maxRecordBytes: 64).rows.count == 1)
        let open = ok + "\"" + String(repeating: "x\n", count: 100)
        let error = try #require(throws: FormatError.self) {
            try TableCSV.decode(Array(open.utf8), source: "f.csv", maxRecordBytes: 64)
        }
        #expect(error.file == "f.csv" && error.line == 3)
        #expect(error.message.contains("longer than 64 bytes"))
    }

    // MARK: devices, FIFOs and symlinks to them

    @Test("devices, FIFOs and symlinks to them are refused before they are read")
    func specialFiles() throws {
        let dir = try TemporaryDirectory()
        let fifo = dir.path + "/images.png"
        #expect(mkfifo(fifo, 0o600) == 0)
        let link = dir.path + "/zero.csv"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "/dev/zero")
        for (path, kind) in [(fifo, "FIFO"), (link, "character device"), ("/dev/zero", "character device")] {
            // Each of these used to block forever (FIFO) or never reach an end (/dev/zero).
            let csv = try #require(throws: FormatError.self) { try FER2013CSV.read(path: path) }
            #expect(csv.file == path && csv.message.contains(kind))
            let png = try #require(throws: FormatError.self) { try PNGCodec.decodeFile(atPath: path) }
            #expect(png.message.contains(kind))
            let hash = try #require(throws: FormatError.self) { try ContentDigest.ofFile(atPath: path) }
            #expect(hash.message.contains(kind))
            #expect(throws: FileReadError(path: path, reason: .notRegularFile(kind: kind == "FIFO" ? "FIFO (named pipe)" : kind))) {
                try FileBytes.read(atPath: path)
            }
        }
    }

    @Test("a symlink to a regular file is still read")
    func symlinkToRegularFile() throws {
        let dir = try TemporaryDirectory()
        let target = dir.path + "/real.csv", link = dir.path + "/link.csv"
        try Data("a,b\n".utf8).write(to: URL(fileURLWithPath: target))
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target)
        #expect(try FileBytes.read(atPath: link) == Array("a,b\n".utf8))
    }

    @Test("a file over the caller's size limit is refused")
    func sizeLimit() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path + "/big.png"
        try Data(count: 5000).write(to: URL(fileURLWithPath: path))
        #expect(throws: FileReadError(path: path, reason: .tooLarge(bytes: 5000, limit: 4096))) {
            try FileBytes.read(atPath: path, maxBytes: 4096)
        }
    }

    // MARK: PNG

    @Test("a PNG over the decode budget is refused from its header, before allocating")
    func pngBudget() throws {
        let png = try PNGCodec.encode(PixelImage(width: 400, height: 300, channels: 3,
                                                 pixels: [UInt8](repeating: 7, count: 400 * 300 * 3)))
        let error = try #require(throws: FormatError.self) {
            try PNGCodec.decode(png, source: "big.png", maxDecodedBytes: 100_000)
        }
        #expect(error.file == "big.png")
        #expect(error.message.contains("400x300 pixels x 3 channels, the limit is 100000 bytes"))
    }

    @Test("a large PNG is reduced to maxSide by area averaging, aspect kept")
    func pngReduced() throws {
        // 8x4 gray: left half 0, right half 200; reduced to 4x2 each output pixel averages 2x2.
        var pixels = [UInt8](repeating: 0, count: 32)
        for y in 0..<4 { for x in 4..<8 { pixels[y * 8 + x] = 200 } }
        pixels[0] = 4   // (4 + 0 + 0 + 0) / 4 = 1
        let png = try PNGCodec.encode(PixelImage(width: 8, height: 4, channels: 1, pixels: pixels))
        let image = try PNGCodec.decode(png, source: "wide.png", maxSide: 4)
        #expect(image == PixelImage(width: 4, height: 2, channels: 1, pixels: [1, 0, 200, 200, 0, 0, 200, 200]))
        // Within the limit the image is untouched.
        #expect(try PNGCodec.decode(png, source: "wide.png", maxSide: 8).pixels == pixels)
    }

    @Test("a large RGBA PNG is reduced and loses its alpha channel")
    func pngReducedRGBA() throws {
        let width = 3000, height = 1000
        var rgba = [UInt8](repeating: 0, count: width * height * 4)
        for i in 0..<(width * height) { rgba[i * 4] = 10; rgba[i * 4 + 1] = 20; rgba[i * 4 + 2] = 30; rgba[i * 4 + 3] = 128 }
        let png = try rgbaPNG(width: width, height: height, rgba)
        let image = try PNGCodec.decode(png, source: "rgba.png", maxSide: 1024)
        #expect(image.width == 1024 && image.height == 341 && image.channels == 3)
        #expect(image.pixels.count == 1024 * 341 * 3)
        #expect(image.pixels.prefix(6) == [10, 20, 30, 10, 20, 30])
    }

    // MARK: table format

    @Test("a forged row count of 2^60 - 1 with valid checksums is corrupt, not an overflow")
    func tableRowCountOverflow() throws {
        let table = try Table(rowCount: 1, columns: [Column(name: "id", data: .strings(["x"]))])
        var bytes = TableFile.encode(table)
        let headerLength = Int(bytes[12]) | Int(bytes[13]) << 8 | Int(bytes[14]) << 16 | Int(bytes[15]) << 24
        // The header starts with the row count; re-sign the header and the file.
        let forged = UInt64(Int.max / 8)
        for i in 0..<8 { bytes[28 + i] = UInt8(truncatingIfNeeded: forged >> (8 * UInt64(i))) }
        let crc = CRC32C.checksum(Array(bytes[28 ..< 28 + headerLength]))
        for i in 0..<4 { bytes[28 + headerLength + i] = UInt8(truncatingIfNeeded: crc >> (8 * UInt32(i))) }
        let end = bytes.count - 32
        bytes.replaceSubrange(end..., with: SHA256.digest(Array(bytes[..<end])).bytes)
        let error = try #require(throws: FormatError.self) { try TableFile.decode(bytes, source: "forged.tbl") }
        #expect(error.file == "forged.tbl" && error.message.contains("is corrupt"))
    }
}

/// An 8-bit RGBA PNG, through libpng via the codec's own encoder path is RGB-only, so this
/// writes the chunks by hand (stored deflate blocks).
func rgbaPNG(width: Int, height: Int, _ rgba: [UInt8]) throws -> [UInt8] {
    func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)] }
    func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let body = Array(type.utf8) + data
        return be32(UInt32(data.count)) + body + be32(CRC32.checksum(body))
    }
    var raw: [UInt8] = []
    raw.reserveCapacity((width * 4 + 1) * height)
    for y in 0..<height { raw.append(0); raw += rgba[(y * width * 4) ..< ((y + 1) * width * 4)] }
    // zlib stream of stored blocks, then Adler-32.
    var z: [UInt8] = [0x78, 0x01]
    var offset = 0
    while offset < raw.count {
        let n = min(65535, raw.count - offset)
        let last: UInt8 = offset + n == raw.count ? 1 : 0
        z += [last, UInt8(n & 0xff), UInt8(n >> 8), UInt8(~n & 0xff), UInt8((~n >> 8) & 0xff)]
        z += raw[offset ..< offset + n]
        offset += n
    }
    var a: UInt32 = 1, b: UInt32 = 0
    for byte in raw { a = (a + UInt32(byte)) % 65521; b = (b + a) % 65521 }
    z += be32(b << 16 | a)
    let ihdr = be32(UInt32(width)) + be32(UInt32(height)) + [8, 6, 0, 0, 0]
    return [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + chunk("IHDR", ihdr) + chunk("IDAT", z) + chunk("IEND", [])
}
