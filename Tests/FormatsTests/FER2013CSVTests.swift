import Foundation
import Testing
@testable import Formats

@Suite("FER2013 CSV")
struct FER2013CSVTests {
    static let fixturePath = sharedDirectory + "/fixtures/fer2013-mini.csv"
    static let fullPath = sharedDirectory + "/data/fer2013.csv.zst"

    /// A slow, obviously-correct reading of the fixture to compare the fast parser against.
    static func naiveRows(_ text: String) -> [(emotion: UInt8, pixels: [UInt8], usage: String)] {
        text.split(separator: "\n").dropFirst().map { line in
            let fields = line.split(separator: ",")
            return (UInt8(fields[0])!, fields[1].split(separator: " ").map { UInt8($0)! }, String(fields[2]))
        }
    }

    @Test func fixture() throws {
        let table = try FER2013CSV.read(path: Self.fixturePath)
        #expect(table.count == 174)
        #expect(table.skipped.isEmpty)
        #expect(table.pixels.count == 174 * 2304)
        let perUsage = Dictionary(grouping: table.usages, by: { $0 }).mapValues(\.count)
        #expect(perUsage == [.training: 122, .publicTest: 26, .privateTest: 26])
        let perEmotion = Dictionary(grouping: table.emotions, by: { $0 }).mapValues(\.count)
        #expect(perEmotion == [0: 12, 1: 12, 2: 12, 3: 42, 4: 42, 5: 12, 6: 42])
        #expect(table.lines == (2...175).map(Int32.init))
        #expect(table.dataRows == (0..<174).map(Int32.init))
        #expect(table.pixels[2304 * 5 + 100] == 255)

        let naive = Self.naiveRows(try String(contentsOfFile: Self.fixturePath, encoding: .utf8))
        #expect(naive.count == 174)
        for (i, row) in naive.enumerated() {
            #expect(table.emotions[i] == row.emotion)
            #expect(Array(table.image(at: i)) == row.pixels, "row \(i)")
            #expect(table.usages[i].csvName == row.usage)
        }
    }

    @Test("reading through a data row stops there: the same first rows, later lines unread, earlier bad rows still refused")
    func readThroughDataRow() throws {
        let whole = try FER2013CSV.read(path: Self.fixturePath)
        let dir = try TemporaryDirectory()
        let zst = dir.path + "/mini.csv.zst"
        try AtomicFile.write(Zstd.compress(try readFileBytes(atPath: Self.fixturePath)), to: zst)
        for path in [Self.fixturePath, zst] {
            for last in [0, 5, 172, 173, 500] {
                let table = try FER2013CSV.read(path: path, hashImages: true, throughDataRow: last)
                let n = min(last + 1, whole.count)
                #expect(table.count == n, "\(path) through \(last)")
                #expect(table.dataRows == Array(whole.dataRows[..<n]))
                #expect(table.emotions == Array(whole.emotions[..<n]))
                #expect(table.pixels == Array(whole.pixels[..<(n * FER2013CSV.pixelsPerImage)]))
                #expect(table.imageHashes.count == n * 32)
            }
        }
        // A bad row 10 (line 12) and a truncated last line: refused by a whole read, never
        // reached when reading through row 9; a read through row 10 still refuses it.
        var lines = try String(contentsOfFile: Self.fixturePath, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        lines[11] = "3,1 2 3,Training"
        let bad = dir.path + "/bad.csv"
        try AtomicFile.write(Array((lines.joined(separator: "\n") + "9,oops").utf8), to: bad)
        #expect(throws: FormatError.self) { try FER2013CSV.read(path: bad) }
        #expect(try FER2013CSV.read(path: bad, throughDataRow: 9).count == 10)
        let error = try #require(throws: FormatError.self) { try FER2013CSV.read(path: bad, throughDataRow: 10) }
        #expect(error.line == 12)
    }

    @Test("images hashed while parsing are each image's SHA-256, plain and .zst")
    func hashedWhileParsing() throws {
        let dir = try TemporaryDirectory()
        let zst = dir.path + "/mini.csv.zst"
        try AtomicFile.write(Zstd.compress(try readFileBytes(atPath: Self.fixturePath)), to: zst)
        for path in [Self.fixturePath, zst] {
            let table = try FER2013CSV.read(path: path, hashImages: true)
            #expect(table.imageHashes.count == table.count * 32)
            for i in 0..<table.count {
                #expect(Array(table.imageHashes[(i * 32)..<((i + 1) * 32)]) == SHA256.digest(Array(table.image(at: i))).bytes, "\(path) row \(i)")
            }
            #expect(try FER2013CSV.read(path: path).imageHashes.isEmpty)
            #expect(try FER2013CSV.read(path: path).pixels == table.pixels)
        }
    }

    @Test("pixels compressed while parsing decode to the pixels, the same frame for plain and .zst")
    func compressedWhileParsing() throws {
        let dir = try TemporaryDirectory()
        let zst = dir.path + "/mini.csv.zst"
        try AtomicFile.write(Zstd.compress(try readFileBytes(atPath: Self.fixturePath)), to: zst)
        let plain = try FER2013CSV.read(path: Self.fixturePath, compressPixels: true)
        let frame = try #require(plain.compressedPixels)
        #expect(frame.rawCount == plain.pixels.count)
        #expect(try Zstd.decompress(frame.bytes, source: "frame") == plain.pixels)
        #expect(try FER2013CSV.read(path: zst, compressPixels: true).compressedPixels?.bytes == frame.bytes)
        #expect(try FER2013CSV.read(path: Self.fixturePath).compressedPixels == nil)
        // Skipped rows are not in the frame.
        let skipping = try FER2013CSV.read(path: try Self.writeCSV(dir, row: "4,1 2,Training"), onBadRow: .skip, compressPixels: true)
        #expect(skipping.count == 2)
        #expect(try Zstd.decompress(try #require(skipping.compressedPixels).bytes, source: "frame") == skipping.pixels)
    }

    static func writeCSV(_ dir: TemporaryDirectory, row: String) throws -> String {
        let path = dir.path + "/rows.csv"
        try AtomicFile.write(csv(row: row), to: path)
        return path
    }

    @Test("pixel fields parse alike in any spacing: tabs, runs of spaces, leading zeros, quotes")
    func pixelSpacing() throws {
        let values = (0..<2304).map { UInt8(truncatingIfNeeded: $0 &* 97 &+ $0 >> 3) }
        let separators = [" ", " ", " ", "  ", "\t", " \t "]
        var field = ""
        for (i, v) in values.enumerated() {
            if i > 0 { field += separators[i % separators.count] }
            field += i % 11 == 0 ? String(format: "%03d", Int(v)) : String(v)
        }
        for text in [field, "\"\(field)\"", " \(field) ", "\(field)\t"] {
            let table = try FER2013CSV.parse(Self.csv(row: "4,\(text),Training"), source: "spacing.csv")
            #expect(Array(table.image(at: 1)) == values)
        }
    }

    @Test("chunk boundaries do not matter", arguments: [1, 3, 1000, 7919, 1 << 16])
    func chunked(chunkSize: Int) throws {
        let bytes = try readFileBytes(atPath: Self.fixturePath)
        let whole = try FER2013CSV.parse(bytes, source: "mini")
        var parser = FER2013Parser(source: "mini", onBadRow: .fail)
        var offset = 0
        while offset < bytes.count {
            let next = min(offset + chunkSize, bytes.count)
            try withBytes(Array(bytes[offset..<next])) { (chunk) throws(FormatError) in try parser.consume(chunk) }
            offset = next
        }
        let streamed = try parser.finish()
        #expect(streamed.pixels == whole.pixels)
        #expect(streamed.emotions == whole.emotions)
        #expect(streamed.usages == whole.usages)
        #expect(streamed.lines == whole.lines)
    }

    @Test func compressedCRLFReorderedAndExtraColumns() throws {
        let bytes = try readFileBytes(atPath: Self.fixturePath)
        let reference = try FER2013CSV.parse(bytes, source: "mini")
        let dir = try TemporaryDirectory()
        try AtomicFile.write(Zstd.compress(bytes), to: dir.path + "/mini.csv.zst")
        let fromZstd = try FER2013CSV.read(path: dir.path + "/mini.csv.zst")
        #expect(fromZstd.pixels == reference.pixels)
        #expect(fromZstd.emotions == reference.emotions)

        // Reorder to Usage,extra,pixels,emotion with CRLF and no final newline.
        let text = String(decoding: bytes, as: UTF8.self)
        var lines = text.split(separator: "\n").map { line -> String in
            let f = line.split(separator: ",", omittingEmptySubsequences: false)
            return [String(f[2]), "x", String(f[1]), String(f[0])].joined(separator: ",")
        }
        lines[0] = "Usage,comment,pixels,emotion"
        let shuffled = Array(lines.joined(separator: "\r\n").utf8)
        let table = try FER2013CSV.parse(shuffled, source: "shuffled.csv")
        #expect(table.pixels == reference.pixels)
        #expect(table.emotions == reference.emotions)
        #expect(table.usages == reference.usages)
    }

    static let goodPixels = Array(repeating: "7", count: 2304).joined(separator: " ")

    static func csv(row: String) -> [UInt8] {
        Array("emotion,pixels,Usage\n0,\(goodPixels),Training\n\(row)\n3,\(goodPixels),PublicTest\n".utf8)
    }

    /// A malformed third line, named briefly so test output stays readable.
    struct BadRow: CustomTestStringConvertible, Sendable {
        var name: String
        var row: String
        var message: String
        var testDescription: String { name }
    }

    static func ones(_ n: Int) -> String { Array(repeating: "1", count: n).joined(separator: " ") }

    static let badRows: [BadRow] = [
        BadRow(name: "2303 pixels", row: "4,\(ones(2303)),Training",
               message: "expected 2304 pixel values, found 2303"),
        BadRow(name: "2305 pixels", row: "4,\(ones(2305)),Training",
               message: "expected 2304 pixel values, found 2305"),
        BadRow(name: "pixel 256", row: "4,1 2 3 4 256 \(ones(2299)),Training",
               message: "pixel 5 (image row 0, column 4) is out of range: expected an integer 0...255, found '256'"),
        BadRow(name: "last pixel 1000", row: "4,\(ones(2303)) 1000,Training",
               message: "pixel 2304 (image row 47, column 47) is out of range: expected an integer 0...255, found '1000'"),
        BadRow(name: "pixel x3", row: "4,1 2 x3 \(ones(2301)),Training",
               message: "pixel 3 (image row 0, column 2) is not a number: expected an integer 0...255, found 'x3'"),
        BadRow(name: "pixel -2", row: "4,1 -2 \(ones(2302)),Training",
               message: "pixel 2 (image row 0, column 1) is negative: expected an integer 0...255, found '-2'"),
        BadRow(name: "pixel 1.5", row: "4,1.5 \(ones(2303)),Training",
               message: "pixel 1 (image row 0, column 0) is not a number: expected an integer 0...255, found '1.5'"),
        BadRow(name: "emotion 7", row: "7,\(goodPixels),Training",
               message: "emotion must be an integer 0...6, found '7'"),
        BadRow(name: "emotion text", row: "happy,\(goodPixels),Training",
               message: "emotion must be an integer 0...6, found 'happy'"),
        // Found by Fuzz/Targets/fer2013_csv.swift: a long digit run trapped with an arithmetic overflow.
        BadRow(name: "emotion 20 digits", row: "99999999999999999999,\(goodPixels),Training",
               message: "emotion must be an integer 0...6, found '99999999999999999999'"),
        BadRow(name: "empty emotion", row: ",\(goodPixels),Training",
               message: "emotion must be an integer 0...6, found ''"),
        BadRow(name: "unknown usage", row: "4,\(goodPixels),Validation",
               message: "unknown Usage 'Validation': expected Training, PublicTest or PrivateTest"),
        BadRow(name: "missing field", row: "4,\(goodPixels)",
               message: "expected 3 comma-separated fields as in the header, found 2"),
        BadRow(name: "extra field", row: "4,\(goodPixels),Training,x",
               message: "expected 3 comma-separated fields as in the header, found 4"),
    ]

    @Test("bad rows fail with file and line", arguments: badRows)
    func badRowFails(bad: BadRow) {
        let message = bad.message
        do {
            _ = try FER2013CSV.parse(Self.csv(row: bad.row), source: "bad.csv")
            Issue.record("expected an error")
        } catch {
            #expect(error.file == "bad.csv")
            #expect(error.line == 3)
            #expect(error.message == message)
            #expect(error.description == "bad.csv:3: \(message)")
        }
    }

    @Test("bad rows are skipped and recorded", arguments: badRows)
    func badRowSkipped(bad: BadRow) throws {
        let table = try FER2013CSV.parse(Self.csv(row: bad.row), source: "bad.csv", onBadRow: .skip)
        #expect(table.count == 2)
        #expect(table.skipped == [SkippedRow(line: 3, reason: bad.message)])
        #expect(table.lines == [2, 4])
        #expect(table.dataRows == [0, 2])
        #expect(table.emotions == [0, 3])
        #expect(table.pixels.count == 2 * 2304)
        #expect(table.pixels.allSatisfy { $0 == 7 })
    }

    @Test("file-level errors", arguments: [
        ("", "is empty: expected a header line 'emotion,pixels,Usage' followed by data rows", nil),
        ("0,1 2 3,Training\n",
         "missing header: expected a first line naming the columns emotion, pixels, Usage; found '0,1 2 3,Training'", 1),
        ("emotion,pixel,Usage\n", "missing column 'pixels' in the header; found columns 'emotion', 'pixel', 'Usage'", 1),
        ("emotion,pixels\n", "missing column 'Usage' in the header; found columns 'emotion', 'pixels'", 1),
    ] as [(String, String, Int?)])
    func fileErrors(text: String, message: String, line: Int?) {
        for policy in [BadRowPolicy.fail, .skip] {
            do {
                _ = try FER2013CSV.parse(Array(text.utf8), source: "f.csv", onBadRow: policy)
                Issue.record("expected an error")
            } catch {
                #expect(error.message == message)
                #expect(error.line == line)
            }
        }
    }

    @Test func headerOnlyAndBlankLines() throws {
        #expect(try FER2013CSV.parse(Array("emotion,pixels,Usage".utf8), source: "h").count == 0)
        let text = "\u{FEFF}emotion,pixels,Usage\r\n\r\n2,\(Self.goodPixels),PrivateTest\r\n\r\n"
        let table = try FER2013CSV.parse(Array(text.utf8), source: "b")
        #expect(table.count == 1)
        #expect(table.lines == [3])
        #expect(table.dataRows == [0])
        #expect(table.usages == [.privateTest])

        let quoted = "\"EMOTION\",\"Pixels\",\"usage\"\n\"5\",\"\(Self.goodPixels)\",\"Training\"\n"
        let fromQuoted = try FER2013CSV.parse(Array(quoted.utf8), source: "q")
        #expect(fromQuoted.emotions == [5])
        #expect(fromQuoted.pixels == [UInt8](repeating: 7, count: 2304))
    }

    @Test func truncatedAndDamagedZstdFiles() throws {
        let bytes = try readFileBytes(atPath: Self.fixturePath)
        let packed = Zstd.compress(bytes)
        let dir = try TemporaryDirectory()
        let path = dir.path + "/cut.csv.zst"
        try AtomicFile.write(Array(packed.prefix(packed.count * 2 / 3)), to: path)
        do {
            _ = try FER2013CSV.read(path: path)
            Issue.record("expected an error")
        } catch {
            #expect(error.file == path)
            #expect(error.message.contains("truncated"), "\(error)")
        }
    }

    @Test("a bad row deep in a multi-chunk file stops the background reader cleanly")
    func badRowInLargeFile() throws {
        var text = "emotion,pixels,Usage\n"
        for i in 0..<1500 { text += "\(i % 7),\(Self.goodPixels),Training\n" }
        text += "9,\(Self.goodPixels),Training\n"
        for _ in 0..<500 { text += "1,\(Self.goodPixels),PublicTest\n" }
        let dir = try TemporaryDirectory()
        let path = dir.path + "/big.csv.zst"
        try AtomicFile.write(Zstd.compress(Array(text.utf8)), to: path)
        do {
            _ = try FER2013CSV.read(path: path)
            Issue.record("expected an error")
        } catch {
            #expect(error.description == "\(path):1502: emotion must be an integer 0...6, found '9'")
        }
        let skipped = try FER2013CSV.read(path: path, onBadRow: .skip)
        #expect(skipped.count == 2000)
        #expect(skipped.skipped == [SkippedRow(line: 1502, reason: "emotion must be an integer 0...6, found '9'")])
        #expect(skipped.dataRows[1500] == 1501)
    }

    @Test func missingFile() {
        #expect(throws: FormatError.self) { try FER2013CSV.read(path: "/no/such/fer2013.csv") }
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: fullPath), "the full FER2013 file is not in ../shared/data"))
    func fullFile() throws {
        let table = try FER2013CSV.read(path: Self.fullPath)
        #expect(table.count == 35_887)
        #expect(table.skipped.isEmpty)
        let perUsage = Dictionary(grouping: table.usages, by: { $0 }).mapValues(\.count)
        #expect(perUsage == [.training: 28_709, .publicTest: 3_589, .privateTest: 3_589])
        #expect(table.pixels.count == 35_887 * 2304)
        #expect(table.dataRows.last == 35_886)
    }
}
