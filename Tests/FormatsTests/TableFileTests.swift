import Foundation
import Testing
@testable import Formats

@Suite("Table files")
struct TableFileTests {
    /// One column of every kind, with edge values (NaN payload, -0, extremes, empty and
    /// non-ASCII strings, empty blobs).
    static func sampleTable(rows: Int = 4) throws -> Table {
        let floats: [Float] = (0..<(rows * 3)).map { i in
            switch i % 5 {
            case 0: .nan
            case 1: -0.0
            case 2: .infinity
            case 3: Float(i) * 0.1234
            default: -.greatestFiniteMagnitude
            }
        }
        let strings = (0..<rows).map { i in i % 2 == 0 ? "" : "row \(i) — ünïcødé ✓" }
        var offsets: [Int64] = [0]
        var blobBytes: [UInt8] = []
        for i in 0..<rows {
            blobBytes += (0..<(i % 3 * 5)).map { UInt8(truncatingIfNeeded: $0 &+ i) }
            offsets.append(Int64(blobBytes.count))
        }
        return try Table(rowCount: rows, columns: [
            Column(name: "features", data: .float32(values: floats, width: 3)),
            Column(name: "label", data: .int32((0..<rows).map { Int32($0 % 3) - 1 })),
            Column(name: "source_row", data: .int64((0..<rows).map { $0 == 0 ? .min : Int64($0) << 40 })),
            Column(name: "image_hash", data: .uint8(values: (0..<(rows * 32)).map { UInt8(truncatingIfNeeded: $0 * 7) }, width: 32)),
            Column(name: "recipe", data: .strings(strings)),
            Column(name: "extra", data: .blobs(offsets: offsets, bytes: blobBytes)),
        ], metadata: ["labels": "happy,sad,neutral", "dtype": "float32", "zeta": "", "Übung": "x"])
    }

    /// Equality that treats NaN bit patterns as equal (Float's == says NaN != NaN).
    static func sameBits(_ a: Table, _ b: Table) throws -> Bool {
        guard a.rowCount == b.rowCount, a.metadata == b.metadata, a.columnNames == b.columnNames else { return false }
        for (x, y) in zip(a.columns, b.columns) {
            if case .float32(let xs, let xw) = x.data, case .float32(let ys, let yw) = y.data {
                guard xw == yw, xs.map(\.bitPattern) == ys.map(\.bitPattern) else { return false }
            } else if x.data != y.data {
                return false
            }
        }
        return true
    }

    @Test("round trip", arguments: [0, 1, 4, 1000])
    func roundTrip(rows: Int) throws {
        let table = try Self.sampleTable(rows: rows)
        let bytes = TableFile.encode(table)
        #expect(Array(bytes.prefix(8)) == TableFile.magic)
        let decoded = try TableFile.decode(bytes, source: "t.tbl")
        #expect(try Self.sameBits(decoded, table))
        #expect(TableFile.encode(decoded) == bytes)
    }

    @Test("encodeSealed gives the same bytes as encode, and their SHA-256", arguments: [0, 1, 1000])
    func sealedDigest(rows: Int) throws {
        let table = try Self.sampleTable(rows: rows)
        let sealed = TableFile.encodeSealed(table)
        #expect(sealed.bytes == TableFile.encode(table))
        #expect(sealed.digest == SHA256.digest(sealed.bytes))
        #expect(try Self.sameBits(TableFile.decode(sealed.bytes, source: "t", sealVerified: true), table))
    }

    @Test("a column compressed while it was made is stored as it is and reads back")
    func precompressedColumn() throws {
        let width = 48
        let pixels = (0..<(width * 300)).map { UInt8(truncatingIfNeeded: $0 &* 37 ^ $0 >> 5) }
        let writer = ZstdFrameWriter(level: -1)
        for row in 0..<300 { pixels[(row * width)..<((row + 1) * width)].withUnsafeBytes { writer.append($0) } }
        let frame = writer.finish()
        let table = try Table(rowCount: 300, columns: [
            Column(name: "image", data: .uint8(values: pixels, width: width)),
            Column(name: "label", data: .int32((0..<300).map { Int32($0 % 3) })),
        ])
        let sealed = TableFile.encodeSealed(table, compressed: ["image": frame])
        #expect(sealed.digest == SHA256.digest(sealed.bytes))
        #expect(sealed.bytes != TableFile.encode(table), "the stored frame, not a fresh one")
        #expect(sealed.bytes.count < pixels.count + 1000)
        let decoded = try TableFile.decode(sealed.bytes, source: "t")
        #expect(try decoded.uint8("image").values == pixels)
        #expect(try decoded.int32("label") == (0..<300).map { Int32($0 % 3) })
        let rows = try decoded.rowBytes("image")
        #expect(rows.offsets == (0...300).map { Int64($0 * width) })
        #expect(rows.bytes == pixels)
    }

    @Test func deterministic() throws {
        let table = try Self.sampleTable()
        let first = TableFile.encode(table)
        // Rebuilding the metadata dictionary changes its iteration order, never the bytes.
        var shuffled = table
        shuffled.metadata = Dictionary(uniqueKeysWithValues: table.metadata.shuffled().map { ($0.key, $0.value) })
        for _ in 0..<5 { #expect(TableFile.encode(shuffled) == first) }
        #expect(SHA256.digest(TableFile.encode(table)) == SHA256.digest(first))
    }

    @Test func accessors() throws {
        let table = try Self.sampleTable()
        #expect(try table.float32("features").width == 3)
        #expect(try table.int32("label") == [-1, 0, 1, -1])
        #expect(try table.int64("source_row").count == 4)
        #expect(try table.uint8("image_hash").width == 32)
        #expect(try table.digests("image_hash").count == 4)
        #expect(try table.strings("recipe")[1] == "row 1 — ünïcødé ✓")
        #expect(try table.blobs("extra").offsets.count == 5)
        #expect(table.column("nope") == nil)
        do {
            _ = try table.int32("features")
            Issue.record("expected an error")
        } catch {
            #expect(error.message == "column 'features' holds float32, expected int32")
        }
        do {
            _ = try table.float32("feature")
            Issue.record("expected an error")
        } catch {
            #expect(error.message.contains("has no column 'feature'"))
            #expect(error.message.contains("'features'"))
        }
    }

    @Test func invalidTablesAreRejected() {
        #expect(throws: FormatError.self) { try Table(rowCount: 3, columns: [Column(name: "a", data: .int32([1, 2]))]) }
        #expect(throws: FormatError.self) { try Table(rowCount: 1, columns: [Column(name: "a", data: .float32(values: [1, 2, 3], width: 2))]) }
        #expect(throws: FormatError.self) { try Table(rowCount: 1, columns: [Column(name: "a", data: .uint8(values: [], width: 0))]) }
        #expect(throws: FormatError.self) { try Table(rowCount: 1, columns: [Column(name: "a", data: .blobs(offsets: [0, 3], bytes: [1]))]) }
        #expect(throws: FormatError.self) { try Table(rowCount: 1, columns: [Column(name: "a", data: .blobs(offsets: [1, 1], bytes: [1]))]) }
        #expect(throws: FormatError.self) { try Table(rowCount: 2, columns: [Column(name: "a", data: .blobs(offsets: [0, 2, 1], bytes: [1]))]) }
        #expect(throws: FormatError.self) {
            try Table(rowCount: 1, columns: [Column(name: "a", data: .int32([1])), Column(name: "a", data: .int64([1]))])
        }
        do {
            _ = try Table(rowCount: 3, columns: [Column(name: "labels", data: .int32([1, 2]))])
        } catch {
            #expect(error.message == "column 'labels' has 2 rows, expected 3 (the table's row count)")
        }
    }

    @Test func everyFlippedByteIsRejected() throws {
        let bytes = TableFile.encode(try Self.sampleTable(rows: 3))
        var messages = Set<String>()
        for i in bytes.indices {
            for mask: UInt8 in [0x01, 0x80] {
                var damaged = bytes
                damaged[i] ^= mask
                do {
                    _ = try TableFile.decode(damaged, source: "t.tbl")
                    Issue.record("flipping bit \(mask) of byte \(i) of \(bytes.count) went unnoticed")
                } catch {
                    #expect(error.file == "t.tbl")
                    messages.insert(error.message)
                }
            }
        }
        #expect(messages.contains("is corrupt: checksum mismatch in column 'features'"))
        #expect(messages.contains("is corrupt: checksum mismatch in the header (schema)"))
        #expect(messages.contains("is corrupt: content hash mismatch (the trailing SHA-256 does not match the file)"))
    }

    @Test func everyTruncationIsRejected() throws {
        let bytes = TableFile.encode(try Self.sampleTable(rows: 3))
        for length in 0..<bytes.count {
            do {
                _ = try TableFile.decode(Array(bytes.prefix(length)), source: "t.tbl")
                Issue.record("truncation to \(length) of \(bytes.count) bytes went unnoticed")
            } catch {
                #expect(error.message.contains("truncated"), "length \(length): \(error)")
            }
        }
        #expect(throws: FormatError.self) { try TableFile.decode(bytes + [0], source: "t.tbl") }
    }

    @Test func randomGarbageNeverCrashes() {
        var generator = SplitMix64(seed: 42)
        let valid = TableFile.encode(try! Self.sampleTable(rows: 2))
        for round in 0..<2000 {
            var bytes: [UInt8]
            if round % 2 == 0 {
                bytes = (0..<Int(generator.next() % 300)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
                if round % 4 == 0 { bytes = Array(TableFile.magic) + bytes }
            } else {
                bytes = valid
                for _ in 0..<(1 + Int(generator.next() % 4)) {
                    let i = Int(generator.next() % UInt64(bytes.count))
                    bytes[i] = UInt8(truncatingIfNeeded: generator.next())
                }
                if bytes == valid { continue }
            }
            #expect(throws: FormatError.self) { try TableFile.decode(bytes, source: "garbage") }
        }
    }

    @Test func notATableAndVersion() throws {
        do {
            _ = try TableFile.decode(Array("emotion,pixels,Usage\n".utf8), source: "x.csv")
            Issue.record("expected an error")
        } catch {
            #expect(error.description == "x.csv: is not a blendset table file: expected it to start with 'BLNDTBL1'")
        }
        // A future version with a valid preamble checksum gets a version message.
        var bytes = TableFile.encode(try Self.sampleTable(rows: 1))
        bytes[8] = 2
        let crc = CRC32C.checksum(Array(bytes[0..<24]))
        for k in 0..<4 { bytes[24 + k] = UInt8(truncatingIfNeeded: crc >> (8 * UInt32(k))) }
        do {
            _ = try TableFile.decode(bytes, source: "v2.tbl")
            Issue.record("expected an error")
        } catch {
            #expect(error.message == "has table format version 2; this build reads version 1")
        }
    }

    @Test func crc32cKnownAnswer() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
    }

    @Test("the CRC32 instruction gives the portable checksum, every length to 300 from every start to 7",
          .enabled(if: CRC32C.usesInstruction, "this CPU or build has no CRC32 instruction path"))
    func crc32cInstructionMatchesPortable() {
        let data = (0..<(308 + 4096)).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ $0 >> 5) }
        data.withUnsafeBytes { all in
            for start in 0..<8 {
                for length in Array(0...300) + [4096] {
                    let bytes = UnsafeRawBufferPointer(rebasing: all[start..<(start + length)])
                    #expect(CRC32C.checksumWithInstruction(bytes) == CRC32C.checksumPortably(bytes), "start \(start), length \(length)")
                }
            }
        }
    }

    @Test func writeAndReadFile() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path + "/out/train.tbl"
        let table = try Self.sampleTable(rows: 10)
        try TableFile.write(table, to: path)
        let back = try TableFile.read(from: path)
        #expect(try Self.sameBits(back, table))
        #expect(back.source == path)
        #expect(try ContentDigest.ofFile(atPath: path) == SHA256.digest(TableFile.encode(table)))
        #expect(throws: FormatError.self) { try TableFile.read(from: dir.path + "/missing.tbl") }
    }

    @Test func datasetSizedFloats() throws {
        let rows = 22_500, width = 33
        let values = (0..<(rows * width)).map { Float(($0 * 7919) % 10_000) / 10_000 }
        let table = try Table(rowCount: rows, columns: [Column(name: "features", data: .float32(values: values, width: width))])
        let back = try TableFile.decode(TableFile.encode(table), source: "big")
        #expect(back == table)
    }
}

/// A small seeded generator so garbage tests are reproducible.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
