#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Basics
import CZstd

/// The `Usage` column of FER2013: which of the original splits a row belongs to.
public enum FER2013Usage: UInt8, Sendable, CaseIterable {
    case training = 0, publicTest = 1, privateTest = 2

    /// The spelling in the CSV file: `Training`, `PublicTest`, `PrivateTest`.
    public var csvName: String {
        switch self {
        case .training: "Training"
        case .publicTest: "PublicTest"
        case .privateTest: "PrivateTest"
        }
    }

    /// Parses the CSV spelling; nil for anything else.
    public init?(csvName: String) {
        guard let match = Self.allCases.first(where: { $0.csvName == csvName }) else { return nil }
        self = match
    }
}

/// What to do with a malformed data row.
public enum BadRowPolicy: String, Sendable, Codable {
    /// Stop with an error naming the file and line.
    case fail
    /// Leave the row out and record why in `FER2013Table.skipped`.
    case skip
}

/// A data row left out under `BadRowPolicy.skip`.
public struct SkippedRow: Sendable, Equatable {
    /// 1-based line number in the file (the header is line 1).
    public var line: Int
    /// What was wrong, e.g. "expected 2304 pixel values, found 2303".
    public var reason: String

    public init(line: Int, reason: String) {
        self.line = line
        self.reason = reason
    }
}

/// The rows of a FER2013 CSV file, column by column.
public struct FER2013Table: Sendable {
    /// The label of each kept row, 0...6 (angry, disgust, fear, happy, sad, surprise, neutral).
    public var emotions: [UInt8]
    public var usages: [FER2013Usage]
    /// `count * 2304` bytes: each row's 48x48 gray image, row-major, images back to back.
    public var pixels: [UInt8]
    /// 1-based line number in the file of each kept row (the header is line 1).
    public var lines: [Int32]
    /// 0-based data row index (header and blank lines excluded, bad rows included) of each
    /// kept row: a stable id of the row within the original file.
    public var dataRows: [Int32]
    /// The first `FER2013CSV.maxSkippedKept` rows left out; `skippedCount` counts them all.
    public var skipped: [SkippedRow]
    /// How many data rows were left out under `BadRowPolicy.skip`.
    public var skippedCount: Int
    /// The SHA-256 of each kept row's pixels, 32 bytes a row, when the read was asked for
    /// them (`hashImages`); empty otherwise.
    public var imageHashes: [UInt8] = []
    /// `pixels` as one zstd frame, compressed as the rows were read, when the read was asked
    /// for it (`compressPixels`): a `uint8` column of width 2304 can use it as is.
    public var compressedPixels: ZstdFrameWriter.Frame?
    public var count: Int { emotions.count }

    public init(emotions: [UInt8] = [], usages: [FER2013Usage] = [], pixels: [UInt8] = [],
                lines: [Int32] = [], dataRows: [Int32] = [], skipped: [SkippedRow] = []) {
        self.emotions = emotions
        self.usages = usages
        self.pixels = pixels
        self.lines = lines
        self.dataRows = dataRows
        self.skipped = skipped
        self.skippedCount = skipped.count
    }

    /// The 2304 pixels of row `index`.
    public func image(at index: Int) -> ArraySlice<UInt8> {
        let size = FER2013CSV.pixelsPerImage
        return pixels[index * size ..< (index + 1) * size]
    }
}

/// Reader for FER2013 in the Kaggle layout: a header naming `emotion`, `pixels` and `Usage`
/// (any order, other columns ignored), then one row per image whose `pixels` field holds
/// 2304 space-separated integers 0...255.
///
/// The parser is a hand-written byte scanner that works chunk by chunk (lines may straddle
/// chunks), so a compressed file is parsed while it is decompressed and never held whole.
/// CRLF line ends, a UTF-8 byte order mark, blank lines, fields wrapped in double quotes,
/// header names in any letter case and a missing final newline are accepted.
public enum FER2013CSV {
    public static let imageSide = 48
    public static let pixelsPerImage = imageSide * imageSide
    /// The longest line accepted. A Kaggle row is about 9 KB; a longer line means the file is
    /// not FER2013 (or a decompression bomb without line breaks), and it is refused before it
    /// can fill memory.
    public static let maxLineBytes = 4 << 20
    /// How many skipped rows are kept with their reason: a file of millions of bad rows must
    /// not grow memory by a message per row.
    public static let maxSkippedKept = 1000
    /// Under `BadRowPolicy.skip`, more bad rows than this stop the read: FER2013 has about
    /// 36,000 rows, and a file of endless bad rows would otherwise be parsed for minutes.
    public static let maxSkippedRows = 100_000

    /// Reads a plain or `.zst` file, streaming it: memory holds the table and a few 256 KiB
    /// chunks, never the whole text.
    /// With `hashImages`, each image's SHA-256 is taken as its row is parsed: the parser
    /// waits on decompression most of the time, so the hashing costs no wall time.
    /// With `compressPixels`, the pixels are also compressed as they are parsed, one image a
    /// call (`FER2013Table.compressedPixels`), which makes the frame's bytes a function of the
    /// kept images alone.
    /// With `throughDataRow`, reading stops after that data row (0-based): the lines after it
    /// are neither decompressed nor checked, so asking for the first rows of a large file
    /// costs only those rows.
    public static func read(path: String, onBadRow: BadRowPolicy = .fail,
                            maxLineBytes: Int = maxLineBytes, hashImages: Bool = false,
                            compressPixels: Bool = false, throughDataRow: Int? = nil) throws(FormatError) -> FER2013Table {
        let expectedBytes = expectedSize(path)
        var parser = FER2013Parser(source: path, onBadRow: onBadRow, expectedBytes: expectedBytes, maxLineBytes: maxLineBytes)
        parser.hashImages = hashImages
        if let throughDataRow { parser.lastDataRow = max(throughDataRow, -1) }
        if compressPixels {
            // Pixels barely compress: on FER2013, level -1 gives 1.024:1 at 1.2 GB/s, level 3
            // 1.051:1 at 0.18 GB/s (zstd -b, AMD EPYC Zen 4).
            parser.pixelFrame = ZstdFrameWriter(level: -1, expectedBytes: expectedBytes / 3)
        }
        // Decompression (about half the time for the .zst file) overlaps with parsing. Small
        // chunks stay in cache between zstd's copy into them and the parser's read.
        let pipe = ChunkPipe(path: path, chunkSize: 256 << 10, depth: 8)
        defer { pipe.close() }
        while !parser.isComplete, let chunk = try pipe.next() {
            try parser.consume(chunk)
        }
        return try parser.finish()
    }

    /// About how many bytes of CSV `path` holds, to reserve the table once instead of
    /// growing it row by row: the file size, or for `.zst` the size its first frame declares
    /// (at most 16 times the file, as a header may claim anything). 0 when unknown.
    static func expectedSize(_ path: String) -> Int {
        var info = stat()
        guard stat(path, &info) == 0, info.st_size > 0 else { return 0 }
        let size = Int(info.st_size)
        guard path.hasSuffix(".zst") else { return size }
        guard let fd = try? openForReading(path) else { return 0 }
        defer { close(fd) }
        var header = [UInt8](repeating: 0, count: 18)
        let n = header.withUnsafeMutableBytes { systemRead(fd, $0.baseAddress!, $0.count) }
        guard n > 0 else { return 0 }
        let declared = header.withUnsafeBytes { ZSTD_getFrameContentSize($0.baseAddress, n) }
        guard declared < UInt64.max - 1 else { return 0 }
        return Int(min(declared, UInt64(size) * 16))
    }

    /// Parses CSV bytes already in memory. `source` names them in errors.
    public static func parse(_ bytes: UnsafeRawBufferPointer, source: String,
                             onBadRow: BadRowPolicy, maxLineBytes: Int = maxLineBytes) throws(FormatError) -> FER2013Table {
        var parser = FER2013Parser(source: source, onBadRow: onBadRow, expectedBytes: bytes.count, maxLineBytes: maxLineBytes)
        try parser.consume(bytes)
        return try parser.finish()
    }

    /// Parses CSV bytes already in memory. `source` names them in errors.
    public static func parse(_ bytes: [UInt8], source: String,
                             onBadRow: BadRowPolicy = .fail, maxLineBytes: Int = maxLineBytes) throws(FormatError) -> FER2013Table {
        try withBytes(bytes) { (buffer) throws(FormatError) in
            try parse(buffer, source: source, onBadRow: onBadRow, maxLineBytes: maxLineBytes)
        }
    }
}

/// The incremental parser behind `FER2013CSV`: feed chunks with `consume`, then `finish`.
package struct FER2013Parser {
    private let source: String
    private let onBadRow: BadRowPolicy
    private let maxLineBytes: Int
    private var table = FER2013Table()
    /// The start of a line whose end is in a later chunk.
    private var carry: [UInt8] = []
    private var lineNumber = 0
    private var dataRow = 0
    private var sawHeader = false
    private var fieldCount = 0
    private var emotionField = 0
    private var pixelsField = 0
    private var usageField = 0
    /// One image's pixels, checked before they are appended to the table.
    private var scratch = [UInt8](repeating: 0, count: FER2013CSV.pixelsPerImage)
    /// Fill `FER2013Table.imageHashes`.
    package var hashImages = false
    /// Kept images not yet hashed: they are hashed in batches, eight per SIMD pass.
    private var unhashedImages = 0
    private static let hashBatch = 64
    /// Fill `FER2013Table.compressedPixels` through this writer.
    package var pixelFrame: ZstdFrameWriter?
    /// Lines after this data row are ignored (`FER2013CSV.read(throughDataRow:)`).
    package var lastDataRow = Int.max
    /// Every data row up to `lastDataRow` has been read.
    package var isComplete: Bool { sawHeader && dataRow > lastDataRow }

    /// An average Kaggle row is ~6.9 KB of text; used only to reserve capacity.
    private static let typicalRowBytes = 6_000

    package init(source: String, onBadRow: BadRowPolicy, expectedBytes: Int = 0,
                 maxLineBytes: Int = FER2013CSV.maxLineBytes) {
        self.source = source
        self.onBadRow = onBadRow
        self.maxLineBytes = max(maxLineBytes, 1)
        let rows = expectedBytes / Self.typicalRowBytes
        if rows > 0 {
            table.emotions.reserveCapacity(rows)
            table.usages.reserveCapacity(rows)
            table.lines.reserveCapacity(rows)
            table.dataRows.reserveCapacity(rows)
            table.pixels.reserveCapacity(rows * FER2013CSV.pixelsPerImage)
        }
    }

    package mutating func consume(_ chunk: UnsafeRawBufferPointer) throws(FormatError) {
        guard !isComplete, let base = chunk.baseAddress?.assumingMemoryBound(to: UInt8.self), chunk.count > 0 else { return }
        let end = base + chunk.count
        var start = base
        if !carry.isEmpty {
            guard let newline = findNewline(start, end) else {
                try checkLineLength(carry.count + (end - start))
                carry.append(contentsOf: UnsafeBufferPointer(start: start, count: end - start))
                return
            }
            try checkLineLength(carry.count + (newline - start))
            carry.append(contentsOf: UnsafeBufferPointer(start: start, count: newline - start))
            // Swapped out rather than copied, and swapped back to keep its capacity.
            var line: [UInt8] = []
            swap(&line, &carry)
            try withBytes(line) { (buffer) throws(FormatError) in
                let p = buffer.baseAddress!.assumingMemoryBound(to: UInt8.self)
                try handleLine(p, p + buffer.count)
            }
            line.removeAll(keepingCapacity: true)
            swap(&line, &carry)
            start = newline + 1
        }
        while start < end && !isComplete {
            guard let newline = findNewline(start, end) else {
                try checkLineLength(end - start)
                carry.append(contentsOf: UnsafeBufferPointer(start: start, count: end - start))
                return
            }
            try checkLineLength(newline - start)
            try handleLine(start, newline)
            start = newline + 1
        }
    }

    package mutating func finish() throws(FormatError) -> FER2013Table {
        if !carry.isEmpty && !isComplete {
            let line = carry
            carry = []
            try withBytes(line) { (buffer) throws(FormatError) in
                let p = buffer.baseAddress!.assumingMemoryBound(to: UInt8.self)
                try handleLine(p, p + buffer.count)
            }
        }
        guard sawHeader else {
            throw FormatError(file: source, message: "is empty: expected a header line 'emotion,pixels,Usage' followed by data rows")
        }
        hashPendingImages()
        if let pixelFrame {
            table.compressedPixels = pixelFrame.finish()
            self.pixelFrame = nil
        }
        return table
    }

    /// Refuses a line (counted so far) longer than the limit, whatever the bad-row policy:
    /// skipping it would still mean reading an unbounded line.
    private func checkLineLength(_ length: Int) throws(FormatError) {
        guard length > maxLineBytes else { return }
        let what = sawHeader ? "line" : "header line"
        throw FormatError(file: source, line: lineNumber + 1, message:
            "\(what) is longer than \(maxLineBytes) bytes (a FER2013 row is about 9 KB): not a FER2013 CSV file, or its line breaks are missing")
    }

    @inline(__always)
    private func findNewline(_ from: UnsafePointer<UInt8>, _ end: UnsafePointer<UInt8>) -> UnsafePointer<UInt8>? {
        guard let hit = memchr(from, 0x0A, end - from) else { return nil }
        return UnsafePointer(hit.assumingMemoryBound(to: UInt8.self))
    }

    private mutating func handleLine(_ start: UnsafePointer<UInt8>, _ rawEnd: UnsafePointer<UInt8>) throws(FormatError) {
        // Line and row numbers are stored as Int32.
        guard lineNumber < Int(Int32.max) else {
            throw FormatError(file: source, line: lineNumber, message: "has more than \(Int32.max) lines; FER2013 has about 36,000")
        }
        lineNumber += 1
        var end = rawEnd
        if end > start && end[-1] == 0x0D { end -= 1 }
        if !sawHeader {
            try parseHeader(start, end)
            return
        }
        if isBlank(start, end) { return }
        let row = dataRow
        dataRow += 1
        switch parseRow(start, end) {
        case nil:
            table.lines.append(Int32(lineNumber))
            table.dataRows.append(Int32(row))
        case let reason?:
            switch onBadRow {
            case .fail: throw FormatError(file: source, line: lineNumber, message: reason)
            case .skip:
                guard table.skippedCount < FER2013CSV.maxSkippedRows else {
                    throw FormatError(file: source, line: lineNumber, message:
                        "more than \(FER2013CSV.maxSkippedRows) bad rows (on_bad_row = skip): this is not a FER2013 CSV file; the first was line \(table.skipped.first?.line ?? lineNumber): \(table.skipped.first?.reason ?? reason)")
                }
                table.skippedCount += 1
                if table.skipped.count < FER2013CSV.maxSkippedKept {
                    table.skipped.append(SkippedRow(line: lineNumber, reason: reason))
                }
            }
        }
    }

    private func isBlank(_ start: UnsafePointer<UInt8>, _ end: UnsafePointer<UInt8>) -> Bool {
        var p = start
        while p < end {
            if p.pointee != 0x20 && p.pointee != 0x09 { return false }
            p += 1
        }
        return true
    }

    private mutating func parseHeader(_ start: UnsafePointer<UInt8>, _ end: UnsafePointer<UInt8>) throws(FormatError) {
        var text = String(decoding: UnsafeBufferPointer(start: start, count: end - start), as: UTF8.self)
        if text.hasPrefix("\u{FEFF}") { text.removeFirst() }
        let names = text.split(separator: ",", omittingEmptySubsequences: false).map { field in
            unquote(field.trimmingWhitespace())
        }
        func index(of wanted: String) -> Int? {
            names.firstIndex { $0.lowercased() == wanted.lowercased() }
        }
        let found = MessageText.field(names.map { "'\($0)'" }.joined(separator: ", "))
        let emotion = index(of: "emotion"), pixels = index(of: "pixels"), usage = index(of: "Usage")
        if emotion == nil && pixels == nil && usage == nil {
            throw FormatError(file: source, line: lineNumber, message:
                "missing header: expected a first line naming the columns emotion, pixels, Usage; found '\(abbreviated(text))'")
        }
        let missing = [("emotion", emotion), ("pixels", pixels), ("Usage", usage)].filter { $0.1 == nil }.map { "'\($0.0)'" }
        if !missing.isEmpty {
            let noun = missing.count == 1 ? "column" : "columns"
            throw FormatError(file: source, line: lineNumber, message:
                "missing \(noun) \(missing.joined(separator: " and ")) in the header; found columns \(found)")
        }
        fieldCount = names.count
        emotionField = emotion!
        pixelsField = pixels!
        usageField = usage!
        sawHeader = true
    }

    /// Parses one data line and appends it; returns the reason when the row is bad (and then
    /// appends nothing).
    private mutating func parseRow(_ start: UnsafePointer<UInt8>, _ end: UnsafePointer<UInt8>) -> String? {
        var emotionRange: (UnsafePointer<UInt8>, UnsafePointer<UInt8>)?
        var pixelsRange: (UnsafePointer<UInt8>, UnsafePointer<UInt8>)?
        var usageRange: (UnsafePointer<UInt8>, UnsafePointer<UInt8>)?
        var field = 0
        var fieldStart = start
        while true {
            let comma = memchr(fieldStart, 0x2C, end - fieldStart)
            let fieldEnd = comma.map { UnsafePointer($0.assumingMemoryBound(to: UInt8.self)) } ?? end
            if field == emotionField { emotionRange = (fieldStart, fieldEnd) }
            else if field == pixelsField { pixelsRange = (fieldStart, fieldEnd) }
            else if field == usageField { usageRange = (fieldStart, fieldEnd) }
            field += 1
            if comma == nil { break }
            fieldStart = fieldEnd + 1
        }
        guard field == fieldCount, let emotionRange, let pixelsRange, let usageRange else {
            return "expected \(fieldCount) comma-separated fields as in the header, found \(field)"
        }

        let emotionText = trimmed(emotionRange.0, emotionRange.1)
        var emotion = 0
        var valid = !emotionText.isEmpty && emotionText.count <= 3
        // Only up to 3 digits are summed: a long digit run would overflow `emotion`.
        for byte in emotionText where valid {
            guard byte >= 0x30 && byte <= 0x39 else { valid = false; break }
            emotion = emotion * 10 + Int(byte - 0x30)
        }
        guard valid, emotion <= 6 else {
            return "emotion must be an integer 0...6, found '\(text(emotionText))'"
        }

        let usageText = trimmed(usageRange.0, usageRange.1)
        guard let usage = FER2013Usage(csvName: text(usageText)) else {
            return "unknown Usage '\(text(usageText))': expected Training, PublicTest or PrivateTest"
        }

        if let reason = parsePixels(pixelsRange.0, pixelsRange.1) { return reason }
        table.emotions.append(UInt8(emotion))
        table.usages.append(usage)
        scratch.withUnsafeBufferPointer { table.pixels.append(contentsOf: $0) }
        if hashImages {
            unhashedImages += 1
            if unhashedImages == Self.hashBatch { hashPendingImages() }
        }
        if let pixelFrame { scratch.withUnsafeBytes { pixelFrame.append($0) } }
        return nil
    }

    /// Appends the digests of the last `unhashedImages` kept images.
    private mutating func hashPendingImages() {
        guard unhashedImages > 0 else { return }
        let size = FER2013CSV.pixelsPerImage, n = unhashedImages
        let start = table.pixels.count - n * size
        var digests = [UInt8](repeating: 0, count: n * 32)
        table.pixels.withUnsafeBytes { pixels in
            digests.withUnsafeMutableBytes { out in
                SHA256.digests(ofMessages: UnsafeRawBufferPointer(rebasing: pixels[start...]), length: size, into: out)
            }
        }
        table.imageHashes += digests
        unhashedImages = 0
    }

    /// The hot loop: 2304 numbers per row. Writes into `scratch`; returns why the field is bad.
    private mutating func parsePixels(_ rawStart: UnsafePointer<UInt8>, _ rawEnd: UnsafePointer<UInt8>) -> String? {
        var start = rawStart, end = rawEnd
        if end - start >= 2 && start.pointee == 0x22 && end[-1] == 0x22 { start += 1; end -= 1 }
        let wanted = FER2013CSV.pixelsPerImage
        let outcome: (count: Int, badAt: UnsafePointer<UInt8>?) = scratch.withUnsafeMutableBufferPointer { out in
            let dst = out.baseAddress!
            var count = 0
            var value: UInt32 = 0
            var inNumber = false
            var p = start
            // Fast path for the usual "1 to 3 digits, one space": four bytes at a time, no
            // branch on the digit count. Anything else (a tab, a second space, a bad byte,
            // the last number) goes to the byte loop below from where this stopped.
            while end - p >= 4 {
                let t = UnsafeRawPointer(p).loadUnaligned(as: UInt32.self).littleEndian ^ 0x3030_3030
                // Bit 7 of each byte that is not a digit (carries only reach bytes after one).
                let notDigit = ((t &+ 0x7676_7676) | t) & 0x8080_8080
                let digits = notDigit.trailingZeroBitCount >> 3
                guard digits >= 1, digits <= 3, (t >> (digits << 3)) & 0xff == 0x10 else { break }
                let aligned = (t << ((3 - digits) << 3)) & 0x00ff_ffff
                let number = (aligned & 0xff) &* 100 &+ ((aligned >> 8) & 0xff) &* 10 &+ (aligned >> 16)
                guard number <= 255 else { break }
                if count < wanted { dst[count] = UInt8(truncatingIfNeeded: number) }
                count &+= 1
                p += digits + 1
            }
            while p < end {
                let byte = p.pointee
                let digit = UInt32(byte &- 0x30)
                if digit < 10 {
                    // Saturating keeps long digit runs from overflowing; anything > 255 is an error.
                    value = value < 1000 ? value &* 10 &+ digit : value
                    inNumber = true
                } else if byte == 0x20 || byte == 0x09 {
                    if inNumber {
                        if value > 255 { return (count, p) }
                        if count < wanted { dst[count] = UInt8(truncatingIfNeeded: value) }
                        count &+= 1
                        value = 0
                        inNumber = false
                    }
                } else {
                    return (count, p)
                }
                p += 1
            }
            if inNumber {
                if value > 255 { return (count, end) }
                if count < wanted { dst[count] = UInt8(truncatingIfNeeded: value) }
                count &+= 1
            }
            return (count, nil)
        }
        if let badAt = outcome.badAt {
            // Widen to the whitespace-separated token around the offending byte.
            var tokenStart = badAt, tokenEnd = badAt
            while tokenStart > start && tokenStart[-1] != 0x20 && tokenStart[-1] != 0x09 { tokenStart -= 1 }
            while tokenEnd < end && tokenEnd.pointee != 0x20 && tokenEnd.pointee != 0x09 { tokenEnd += 1 }
            if badAt == end || badAt.pointee == 0x20 || badAt.pointee == 0x09 {
                // The value ended at badAt: the token is the digits just before it.
                tokenEnd = badAt
                tokenStart = badAt
                while tokenStart > start && tokenStart[-1] != 0x20 && tokenStart[-1] != 0x09 { tokenStart -= 1 }
            }
            let token = text(UnsafeBufferPointer(start: tokenStart, count: tokenEnd - tokenStart))
            let index = outcome.count
            let position = "pixel \(index + 1) (image row \(index / FER2013CSV.imageSide), column \(index % FER2013CSV.imageSide))"
            if token.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
                return "\(position) is out of range: expected an integer 0...255, found '\(token)'"
            }
            if token.hasPrefix("-"), token.utf8.dropFirst().allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), token.utf8.count > 1 {
                return "\(position) is negative: expected an integer 0...255, found '\(token)'"
            }
            return "\(position) is not a number: expected an integer 0...255, found '\(abbreviated(token))'"
        }
        if outcome.count != wanted {
            return "expected \(wanted) pixel values, found \(outcome.count)"
        }
        return nil
    }

    private func trimmed(_ start: UnsafePointer<UInt8>, _ end: UnsafePointer<UInt8>) -> UnsafeBufferPointer<UInt8> {
        var s = start, e = end
        while s < e && (s.pointee == 0x20 || s.pointee == 0x09) { s += 1 }
        while e > s && (e[-1] == 0x20 || e[-1] == 0x09) { e -= 1 }
        if e - s >= 2 && s.pointee == 0x22 && e[-1] == 0x22 { s += 1; e -= 1 }
        return UnsafeBufferPointer(start: s, count: e - s)
    }

    private func text(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
        abbreviated(String(decoding: bytes, as: UTF8.self))
    }

    private func abbreviated(_ text: String) -> String {
        MessageText.field(text, limit: 40)
    }

    private func unquote(_ text: Substring) -> String {
        if text.count >= 2 && text.hasPrefix("\"") && text.hasSuffix("\"") {
            return String(text.dropFirst().dropLast())
        }
        return String(text)
    }
}

extension Substring {
    fileprivate func trimmingWhitespace() -> Substring {
        var s = self
        while let first = s.first, first == " " || first == "\t" { s.removeFirst() }
        while let last = s.last, last == " " || last == "\t" { s.removeLast() }
        return s
    }
}
