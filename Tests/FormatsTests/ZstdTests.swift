import Foundation
import Testing
@testable import Formats

@Suite("zstd")
struct ZstdTests {
    static let sample: [UInt8] = (0..<300_000).map { UInt8(truncatingIfNeeded: ($0 / 7) &* 31 ^ $0 % 13) }

    @Test("round trip", arguments: [0, 1, 100, 300_000])
    func roundTrip(count: Int) throws {
        let data = Array(Self.sample.prefix(count))
        let packed = Zstd.compress(data)
        #expect(try Zstd.decompress(packed, source: "mem") == data)
        #expect(Zstd.compress(data) == packed, "compression is deterministic")
    }

    @Test("a frame written in pieces decodes to the pieces, and the same pieces give the same bytes")
    func frameWriter() throws {
        for level: Int32 in [-1, 3] {
            func written(_ pieceSize: Int) -> ZstdFrameWriter.Frame {
                let writer = ZstdFrameWriter(level: level)
                var offset = 0
                while offset < Self.sample.count {
                    let next = min(offset + pieceSize, Self.sample.count)
                    Self.sample[offset..<next].withUnsafeBytes { writer.append($0) }
                    offset = next
                }
                return writer.finish()
            }
            let frame = written(2304)
            #expect(frame.rawCount == Self.sample.count)
            #expect(try Zstd.decompress(frame.bytes, source: "frame") == Self.sample)
            #expect(written(2304).bytes == frame.bytes, "deterministic for one pattern of calls")
            #expect(try Zstd.decompress(written(7919).bytes, source: "frame") == Self.sample)
        }
        let empty = ZstdFrameWriter().finish()
        #expect(empty.rawCount == 0)
        #expect(try Zstd.decompress(empty.bytes, source: "empty") == [])
    }

    @Test func unknownContentSizeAndConcatenatedFrames() throws {
        guard let tool = ["/usr/bin/zstd", "/bin/zstd"].first(where: FileManager.default.isExecutableFile) else { return }
        let dir = try TemporaryDirectory()
        // Piped through the CLI the frame header has no content size.
        let script = "head -c 200000 /dev/zero | \(tool) -q -c > \(dir.path)/piped.zst"
        _ = try runTool("/bin/sh", ["-c", script])
        let piped = try readFileBytes(atPath: dir.path + "/piped.zst")
        #expect(try Zstd.decompress(piped, source: "piped") == [UInt8](repeating: 0, count: 200_000))
        let twoFrames = Zstd.compress([1, 2, 3]) + Zstd.compress([4, 5])
        #expect(try Zstd.decompress(twoFrames, source: "two") == [1, 2, 3, 4, 5])
    }

    @Test func truncatedAndCorrupt() {
        let packed = Zstd.compress(Self.sample)
        for cut in [0, 1, 4, packed.count / 2, packed.count - 1] {
            #expect(throws: FormatError.self) { try Zstd.decompress(Array(packed.prefix(cut)), source: "x.zst") }
        }
        do {
            _ = try Zstd.decompress(Array(packed.prefix(packed.count / 2)), source: "x.zst")
        } catch {
            #expect(error.description.contains("x.zst"))
            #expect(error.description.contains("truncated"))
        }
        #expect(throws: FormatError.self) { try Zstd.decompress(Array("not zstd at all".utf8), source: "y") }
    }

    @Test("ByteStream yields the same bytes", arguments: [1, 1000, 1 << 20])
    func byteStream(chunkSize: Int) throws {
        let dir = try TemporaryDirectory()
        try AtomicFile.write(Self.sample, to: dir.path + "/raw.bin")
        try AtomicFile.write(Zstd.compress(Self.sample), to: dir.path + "/packed.bin.zst")
        for name in ["raw.bin", "packed.bin.zst"] {
            var all = [UInt8]()
            try ByteStream.forEachChunk(path: dir.path + "/" + name, chunkSize: chunkSize) { chunk in
                #expect(chunk.count <= chunkSize)
                all.append(contentsOf: chunk)
            }
            #expect(all == Self.sample, "\(name)")
        }
    }

    @Test func byteStreamTruncatedOrCorruptFile() throws {
        let dir = try TemporaryDirectory()
        let packed = Zstd.compress(Self.sample)
        // Frames from Zstd.compress carry no content checksum (the table format has its own),
        // so damage is detected here by breaking the frame structure.
        var damaged = packed
        damaged[0] ^= 0xff
        let cases: [(String, [UInt8], String)] = [
            ("cut.zst", Array(packed.prefix(packed.count - 3)), "truncated"),
            ("empty.zst", [], "truncated"),
            ("bad.zst", damaged, "corrupt"),
            ("text.zst", Array("hello, world".utf8), "corrupt"),
        ]
        for (name, bytes, word) in cases {
            let path = dir.path + "/" + name
            try AtomicFile.write(bytes, to: path)
            do {
                _ = try ByteStream.readAll(path: path)
                Issue.record("expected an error for \(name)")
            } catch {
                #expect(error.file == path)
                #expect(error.message.contains(word), "\(name): \(error)")
            }
        }
    }

    /// Fuzz finding (Fuzz/Known/zstd-declared-size-empty-block.seed): a frame that declares
    /// 12,632 bytes of content but holds only an empty last block. libzstd's streaming path
    /// accepted it as empty while its one-shot path called it corrupt; both must refuse it.
    @Test func frameHoldingLessThanItDeclares() throws {
        let frame: [UInt8] = [0x28, 0xb5, 0x2f, 0xfd, 0x60, 0x58, 0x30, 0x01, 0x00, 0x00]
        do {
            _ = try Zstd.decompress(frame, source: "claims.zst")
            Issue.record("in memory: expected an error")
        } catch {
            // libzstd's one-shot path (output room ≥ the declared size) finds it itself.
            #expect(error.message.contains("is corrupt"), "\(error)")
        }
        let dir = try TemporaryDirectory()
        let path = dir.path + "/claims.zst"
        try AtomicFile.write(frame, to: path)
        for chunkSize in [7, 4099, 1 << 20] {
            do {
                var out: [UInt8] = []
                try ByteStream.forEachChunk(path: path, chunkSize: chunkSize) { out.append(contentsOf: $0) }
                Issue.record("streamed in chunks of \(chunkSize): expected an error, got \(out.count) bytes")
            } catch {
                #expect(error.file == path)
                #expect(error.message.contains("is corrupt"), "\(error)")
                if chunkSize < 12632 { #expect(error.message.contains("declares 12632 bytes of content but holds 0"), "\(error)") }
            }
        }
        // The same frame after a good one is refused too: the check is per frame.
        #expect(throws: FormatError.self) { try Zstd.decompress(Zstd.compress([1, 2, 3]) + frame, source: "two.zst") }
    }

    /// A frame header that straddles two reads of the streamed file is still checked and decoded.
    @Test func frameHeaderAcrossReadBoundary() throws {
        let first = Zstd.compress(Self.sample), second = Zstd.compress(Array(Self.sample.prefix(5000)))
        let readSize = 1 << 20  // ByteStream's input buffer
        for offset in [1, 5, 9, 17] {
            // A skippable frame (magic 0x184D2A5?, 4-byte size) pads the second frame's start to
            // `offset` bytes before the read boundary.
            let pad = readSize - offset - first.count - 8
            var file = first + [0x50, 0x2a, 0x4d, 0x18]
            withUnsafeBytes(of: UInt32(pad).littleEndian) { file.append(contentsOf: $0) }
            file += [UInt8](repeating: 0xab, count: pad) + second
            #expect(file.count - second.count == readSize - offset)
            let dir = try TemporaryDirectory()
            try AtomicFile.write(file, to: dir.path + "/split.zst")
            #expect(try ByteStream.readAll(path: dir.path + "/split.zst") == Self.sample + Self.sample.prefix(5000))
            #expect(try Zstd.decompress(file, source: "split") == Self.sample + Self.sample.prefix(5000))
        }
    }

    @Test func byteStreamMissingFile() {
        #expect(throws: FormatError.self) { try ByteStream(path: "/no/such/file.zst") }
    }
}
