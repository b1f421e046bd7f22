/// The table file format (`.tbl`), format version 1: binary, self-describing, zstd-compressed,
/// checksummed. Every integer is little-endian.
///
///     offset   size  field
///     0        8     magic "BLNDTBL1"
///     8        4     format version, u32 = 1
///     12       4     header length H, u32
///     16       8     total file length L, u64
///     24       4     CRC-32C of bytes 0..<24 (the preamble)
///     28       H     header (below)
///     28+H     4     CRC-32C of the header
///     28+H+4   ...   column blocks, back to back in header order; each is one zstd frame
///                    of the column's raw payload: made in one call at level 3 (content size
///                    in its header), or streamed by the column's producer as it made the
///                    column (no size; the FER2013 reader's pixels, at level -1)
///     L-32     32    SHA-256 of bytes 0..<L-32
///
/// Header: row count u64; metadata entry count u32, then per entry key and value (sorted by
/// the key's UTF-8 bytes); column count u32, then per column: name, kind u8, width u64, raw
/// payload length u64, compressed block length u64, CRC-32C u32 of the compressed block.
/// A string is a u32 byte count followed by UTF-8 bytes.
///
/// Kinds and raw payloads: 1 `float32` and 4 `uint8` (width = values per row), 2 `int32`,
/// 3 `int64` (width 1) hold `rowCount * width` values back to back; 5 `strings` and 6 `blobs`
/// (width 1) hold `rowCount + 1` u64 offsets starting at 0, then the concatenated bytes.
///
/// Why this shape: the preamble and header checksums make every length trustworthy before it
/// is used, so damaged files are reported precisely ("truncated", "checksum mismatch in column
/// 'features'") and hostile bytes never steer a read out of bounds; the per-column CRC-32C
/// names the damaged column; the trailing SHA-256 covers everything, including the zstd frames
/// (which carry no checksum of their own). Encoding is a pure function of the table (sorted
/// metadata, fixed levels, single-threaded libzstd), so equal tables give equal bytes and
/// equal content ids with the same libzstd version; a streamed column adds the pattern of its
/// writer's calls, which its producer keeps fixed (the FER2013 reader: one image a call).
/// File bytes with their SHA-256, computed while they were written.
public struct SealedBytes: Sendable {
    public var bytes: [UInt8]
    public var digest: ContentDigest
    public init(bytes: [UInt8], digest: ContentDigest) {
        self.bytes = bytes
        self.digest = digest
    }
}

public enum TableFile {
    public static let magic: [UInt8] = Array("BLNDTBL1".utf8)
    public static let formatVersion: UInt32 = 1
    /// The zstd level of every block; part of the format's determinism.
    public static let compressionLevel: Int32 = 3

    static let preambleSize = 28
    static let trailerSize = 32

    enum Kind: UInt8 {
        case float32 = 1, int32 = 2, int64 = 3, uint8 = 4, strings = 5, blobs = 6
    }

    // MARK: Encoding

    /// The file bytes of `table`. Deterministic: the same table always gives the same bytes.
    public static func encode(_ table: Table) -> [UInt8] {
        encodeSealed(table).bytes
    }

    /// The file bytes of `table` and their SHA-256 (its content id), taken in the same pass
    /// as the trailing hash, so a store need not hash the bytes again.
    public static func encodeSealed(_ table: Table) -> SealedBytes {
        encodeSealed(table, compressed: [:])
    }

    /// `encodeSealed`, with the zstd frames of some columns' raw payloads already made (by
    /// a `ZstdFrameWriter` fed the payload while it was produced), keyed by column name.
    /// A frame whose raw size is not its column's payload size is a programming error.
    public static func encodeSealed(_ table: Table, compressed: [String: ZstdFrameWriter.Frame]) -> SealedBytes {
        var header = ByteWriter()
        header.u64(UInt64(table.rowCount))
        let entries = table.metadata.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
        header.u32(UInt32(entries.count))
        for (key, value) in entries {
            header.string(key)
            header.string(value)
        }
        header.u32(UInt32(table.columns.count))
        var blocks: [[UInt8]] = []
        blocks.reserveCapacity(table.columns.count)
        for column in table.columns {
            let (kind, raw) = rawPayload(column.data)
            let block: [UInt8]
            if let frame = compressed[column.name] {
                precondition(frame.rawCount == raw.count, "column '\(column.name)': a frame of \(frame.rawCount) bytes for a payload of \(raw.count)")
                block = frame.bytes
            } else {
                block = raw.withUnsafeBytes { Zstd.compress($0, level: compressionLevel) }
            }
            header.string(column.name)
            header.u8(kind.rawValue)
            header.u64(UInt64(column.data.width))
            header.u64(UInt64(raw.count))
            header.u64(UInt64(block.count))
            header.u32(CRC32C.checksum(block))
            blocks.append(block)
        }
        let fileLength = preambleSize + header.bytes.count + 4 + blocks.reduce(0) { $0 + $1.count } + trailerSize
        var out = ByteWriter(capacity: fileLength)
        out.bytes.append(contentsOf: magic)
        out.u32(formatVersion)
        out.u32(UInt32(header.bytes.count))
        out.u64(UInt64(fileLength))
        out.u32(CRC32C.checksum(out.bytes))
        out.bytes.append(contentsOf: header.bytes)
        out.u32(CRC32C.checksum(header.bytes))
        for block in blocks { out.bytes.append(contentsOf: block) }
        var hasher = SHA256()
        hasher.update(out.bytes)
        let seal = hasher
        let trailer = seal.finalize().bytes
        hasher.update(trailer)
        out.bytes.append(contentsOf: trailer)
        return SealedBytes(bytes: out.bytes, digest: hasher.finalize())
    }

    /// The raw payload of a column, in the layout described at the top of this file.
    private static func rawPayload(_ data: ColumnData) -> (Kind, RawPayload) {
        switch data {
        case .float32(let values, _): (.float32, .floats(values))
        case .int32(let values): (.int32, .int32s(values))
        case .int64(let values): (.int64, .int64s(values))
        case .uint8(let values, _): (.uint8, .bytes(values))
        case .strings(let values):
            (.strings, .bytes(offsetsAndBytes(values.map { Array($0.utf8) })))
        case .blobs(let offsets, let bytes):
            (.blobs, .bytes(offsetsAndBytes(offsets: offsets, bytes: bytes)))
        }
    }

    private static func offsetsAndBytes(_ rows: [[UInt8]]) -> [UInt8] {
        var offsets: [Int64] = [0]
        offsets.reserveCapacity(rows.count + 1)
        var bytes: [UInt8] = []
        for row in rows {
            bytes.append(contentsOf: row)
            offsets.append(Int64(bytes.count))
        }
        return offsetsAndBytes(offsets: offsets, bytes: bytes)
    }

    private static func offsetsAndBytes(offsets: [Int64], bytes: [UInt8]) -> [UInt8] {
        var out = ByteWriter(capacity: offsets.count * 8 + bytes.count)
        for offset in offsets { out.u64(UInt64(bitPattern: offset)) }
        out.bytes.append(contentsOf: bytes)
        return out.bytes
    }

    /// Writes `table` to `path` crash-safely (see `AtomicFile`).
    public static func write(_ table: Table, to path: String) throws(FormatError) {
        try AtomicFile.write(encode(table), to: path)
    }

    // MARK: Decoding

    /// Reads and verifies the table file at `path`.
    public static func read(from path: String) throws(FormatError) -> Table {
        try decode(readFileBytes(atPath: path), source: path)
    }

    /// Verifies and decodes table file bytes. `source` names them in errors.
    ///
    /// Any truncation or damaged byte is reported as a `FormatError` ("is truncated", "is
    /// corrupt: checksum mismatch in column 'x'"); no length is used before it is checked.
    /// With `sealVerified`, the caller has already checked that the last 32 bytes are the
    /// SHA-256 of the rest (`SHA256.digests(_:prefix:)`), so it is not hashed again.
    public static func decode(_ bytes: [UInt8], source: String, sealVerified: Bool = false) throws(FormatError) -> Table {
        try withBytes(bytes) { (buffer) throws(FormatError) in try decode(buffer, source: source, sealVerified: sealVerified) }
    }

    /// Verifies and decodes table file bytes in memory; see `decode(_:source:)`.
    public static func decode(_ bytes: UnsafeRawBufferPointer, source: String, sealVerified: Bool = false) throws(FormatError) -> Table {
        func corrupt(_ why: String) -> FormatError { FormatError(file: source, message: "is corrupt: \(why)") }
        let n = bytes.count
        let magicLength = min(n, magic.count)
        guard n > 0, bytes.prefix(magicLength).elementsEqual(magic.prefix(magicLength)) else {
            throw FormatError(file: source, message: n == 0
                ? "is truncated: the file is empty, expected a blendset table"
                : "is not a blendset table file: expected it to start with 'BLNDTBL1'")
        }
        guard n >= preambleSize else {
            throw FormatError(file: source, message: "is truncated: \(n) bytes, shorter than the \(preambleSize)-byte preamble")
        }
        let base = bytes.baseAddress!
        guard CRC32C.checksum(UnsafeRawBufferPointer(start: base, count: 24)) == le(base, 24, UInt32.self) else {
            throw corrupt("checksum mismatch in the preamble (format version and lengths)")
        }
        let version = le(base, 8, UInt32.self)
        guard version == formatVersion else {
            throw FormatError(file: source, message: "has table format version \(version); this build reads version \(formatVersion)")
        }
        let headerLength = Int(le(base, 12, UInt32.self))
        let declaredLength = le(base, 16, UInt64.self)
        guard declaredLength <= UInt64(Int.max), UInt64(n) >= declaredLength else {
            throw FormatError(file: source, message: "is truncated: expected \(declaredLength) bytes, found \(n)")
        }
        guard UInt64(n) == declaredLength else {
            throw corrupt("expected \(declaredLength) bytes, found \(n) (extra bytes at the end)")
        }
        let blocksStart = preambleSize + headerLength + 4
        let blocksEnd = n - trailerSize
        guard blocksStart <= blocksEnd else {
            throw corrupt("a \(headerLength)-byte header does not fit in \(n) bytes")
        }
        let header = UnsafeRawBufferPointer(start: base + preambleSize, count: headerLength)
        guard CRC32C.checksum(header) == le(base, preambleSize + headerLength, UInt32.self) else {
            throw corrupt("checksum mismatch in the header (schema)")
        }

        // The header's checksum matched, so a malformed header means a faulty writer (or a
        // forged file): still every read below is bounds-checked.
        var reader = ByteReader(header)
        let schema: Schema
        do throws(ByteReader.Overrun) {
            schema = try Schema.read(&reader)
        } catch {
            throw corrupt("the header ends early while reading \(error.what)")
        }
        guard reader.remaining == 0 else { throw corrupt("\(reader.remaining) unexpected bytes at the end of the header") }
        guard schema.rowCount <= UInt64(Int.max / 8) else { throw corrupt("impossible row count \(schema.rowCount)") }
        let rowCount = Int(schema.rowCount)

        var offset = blocksStart
        var blockRanges: [Range<Int>] = []
        for column in schema.columns {
            guard column.compressedLength <= UInt64(blocksEnd - offset) else {
                throw corrupt("column '\(column.name)' claims \(column.compressedLength) compressed bytes, only \(blocksEnd - offset) remain")
            }
            let range = offset ..< offset + Int(column.compressedLength)
            guard CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[range])) == column.checksum else {
                throw corrupt("checksum mismatch in column '\(column.name)'")
            }
            blockRanges.append(range)
            offset = range.upperBound
        }
        guard offset == blocksEnd else { throw corrupt("\(blocksEnd - offset) unexpected bytes after the last column") }
        let stored = ContentDigest(bytes: UnsafeRawBufferPointer(rebasing: bytes[blocksEnd...]))!
        guard sealVerified || SHA256.digest(UnsafeRawBufferPointer(start: base, count: blocksEnd)) == stored else {
            throw corrupt("content hash mismatch (the trailing SHA-256 does not match the file)")
        }

        var columns: [Column] = []
        columns.reserveCapacity(schema.columns.count)
        for (column, range) in zip(schema.columns, blockRanges) {
            let block = UnsafeRawBufferPointer(rebasing: bytes[range])
            let data = try decodeColumn(column, rowCount: rowCount, block: block, source: source)
            columns.append(Column(name: column.name, data: data))
        }
        return try Table(rowCount: rowCount, columns: columns, metadata: schema.metadata, source: source)
    }

    struct ColumnSchema {
        var name: String
        var kind: UInt8
        var width: UInt64
        var rawLength: UInt64
        var compressedLength: UInt64
        var checksum: UInt32
    }

    struct Schema {
        var rowCount: UInt64
        var metadata: [String: String]
        var columns: [ColumnSchema]

        static func read(_ r: inout ByteReader) throws(ByteReader.Overrun) -> Schema {
            let rowCount = try r.u64("the row count")
            let entries = try r.u32("the metadata count")
            var metadata: [String: String] = [:]
            for _ in 0..<entries {
                let key = try r.string("a metadata key")
                metadata[key] = try r.string("the metadata value of '\(key)'")
            }
            let count = try r.u32("the column count")
            var columns: [ColumnSchema] = []
            for _ in 0..<count {
                let name = try r.string("a column name")
                columns.append(ColumnSchema(
                    name: name, kind: try r.u8("the kind of column '\(name)'"),
                    width: try r.u64("the width of column '\(name)'"),
                    rawLength: try r.u64("the length of column '\(name)'"),
                    compressedLength: try r.u64("the block length of column '\(name)'"),
                    checksum: try r.u32("the checksum of column '\(name)'")))
            }
            return Schema(rowCount: rowCount, metadata: metadata, columns: columns)
        }
    }

    private static func decodeColumn(_ column: ColumnSchema, rowCount: Int, block: UnsafeRawBufferPointer,
                                     source: String) throws(FormatError) -> ColumnData {
        func corrupt(_ why: String) -> FormatError {
            FormatError(file: source, message: "is corrupt: column '\(column.name)' \(why)")
        }
        guard let kind = Kind(rawValue: column.kind) else { throw corrupt("has unknown kind \(column.kind)") }
        // zstd cannot expand data more than ~32768 times; a larger claim is a forged length,
        // and checking it keeps a hostile file from making us allocate terabytes.
        guard column.rawLength <= UInt64(block.count) * 32_768 + 65_536 else {
            throw corrupt("claims \(column.rawLength) bytes in a \(block.count)-byte block")
        }
        let rawLength = Int(column.rawLength)
        switch kind {
        case .float32, .uint8, .int32, .int64:
            let fixedWidth = kind == .float32 || kind == .uint8
            guard fixedWidth ? column.width >= 1 && column.width <= UInt64(Int32.max) : column.width == 1 else {
                throw corrupt("has invalid width \(column.width) for kind \(kind)")
            }
            let width = Int(column.width)
            let size = kind == .float32 || kind == .int32 ? 4 : kind == .int64 ? 8 : 1
            let (values, overflow) = rowCount.multipliedReportingOverflow(by: width)
            guard !overflow, values.multipliedReportingOverflow(by: size) == (rawLength, false) else {
                throw corrupt("holds \(rawLength) bytes, expected \(rowCount) rows x \(width) x \(size) bytes")
            }
            switch kind {
            case .float32: return .float32(values: try decompress(Float.self, values, block, column, source), width: width)
            case .int32: return .int32(try decompress(Int32.self, values, block, column, source))
            case .int64: return .int64(try decompress(Int64.self, values, block, column, source))
            default: return .uint8(values: try decompress(UInt8.self, values, block, column, source), width: width)
            }
        case .strings, .blobs:
            guard column.width == 1 else { throw corrupt("has invalid width \(column.width) for kind \(kind)") }
            // rowCount is at most Int.max / 8, so (rowCount + 1) * 8 can still overflow.
            let (offsetBytes, overflow) = (rowCount + 1).multipliedReportingOverflow(by: 8)
            guard !overflow, rawLength >= offsetBytes else {
                throw corrupt("holds \(rawLength) bytes, too few for \(rowCount + 1) offsets")
            }
            let raw = try decompress(UInt8.self, rawLength, block, column, source)
            var offsets = [Int64](repeating: 0, count: rowCount + 1)
            raw.withUnsafeBytes { r in
                for i in 0...rowCount { offsets[i] = Int64(littleEndian: r.loadUnaligned(fromByteOffset: i * 8, as: Int64.self)) }
            }
            let byteCount = rawLength - offsetBytes
            guard offsets[0] == 0, offsets[rowCount] == Int64(byteCount) else {
                throw corrupt("has offsets that do not span its \(byteCount) bytes")
            }
            for i in 0..<rowCount where offsets[i + 1] < offsets[i] {
                throw corrupt("has decreasing offsets at row \(i)")
            }
            let payload = Array(raw[offsetBytes...])
            if kind == .blobs { return .blobs(offsets: offsets, bytes: payload) }
            var strings: [String] = []
            strings.reserveCapacity(rowCount)
            for i in 0..<rowCount {
                let slice = payload[Int(offsets[i]) ..< Int(offsets[i + 1])]
                guard let text = String(validating: slice, as: UTF8.self) else {
                    throw corrupt("row \(i) is not valid UTF-8")
                }
                strings.append(text)
            }
            return .strings(strings)
        }
    }

    /// Decompresses a block straight into an array of `count` values (no intermediate copy),
    /// requiring exactly `count * stride` bytes.
    private static func decompress<T: FixedWidthInteger & Sendable>(_: T.Type, _ count: Int, _ block: UnsafeRawBufferPointer,
                                                                   _ column: ColumnSchema, _ source: String) throws(FormatError) -> [T] {
        let expected = count * MemoryLayout<T>.stride
        var outcome = ZstdOutcome.ok
        let values = [T](unsafeUninitializedCapacity: count) { buffer, initialized in
            outcome = Zstd.decompressExactly(into: UnsafeMutableRawBufferPointer(buffer), expected: expected, block)
            if case .ok = outcome {
                initialized = count
                #if _endian(big)
                for i in 0..<count { buffer[i] = T(littleEndian: buffer[i]) }
                #endif
            } else {
                initialized = 0
            }
        }
        switch outcome {
        case .ok: return values
        case .failed(let why):
            throw FormatError(file: source, message: "is corrupt: column '\(column.name)' could not be decompressed (\(why))")
        }
    }

    private static func decompress(_: Float.Type, _ count: Int, _ block: UnsafeRawBufferPointer,
                                   _ column: ColumnSchema, _ source: String) throws(FormatError) -> [Float] {
        let bits = try decompress(UInt32.self, count, block, column, source)
        #if _endian(little)
        // Same size and layout: reinterpret the buffer instead of converting value by value.
        return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            bits.withUnsafeBytes { UnsafeMutableRawBufferPointer(buffer).copyMemory(from: $0) }
            initialized = count
        }
        #else
        return bits.map { Float(bitPattern: $0) }
        #endif
    }

    private static func le<T: FixedWidthInteger>(_ base: UnsafeRawPointer, _ offset: Int, _: T.Type) -> T {
        T(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: T.self))
    }
}

/// What a raw column payload is made of, so fixed-width columns compress without a copy.
private enum RawPayload {
    case floats([Float]), int32s([Int32]), int64s([Int64]), bytes([UInt8])

    var count: Int {
        switch self {
        case .floats(let v): v.count * 4
        case .int32s(let v): v.count * 4
        case .int64s(let v): v.count * 8
        case .bytes(let v): v.count
        }
    }

    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        #if _endian(big)
        switch self {
        case .floats(let v): return v.map { $0.bitPattern.littleEndian }.withUnsafeBytes(body)
        case .int32s(let v): return v.map(\.littleEndian).withUnsafeBytes(body)
        case .int64s(let v): return v.map(\.littleEndian).withUnsafeBytes(body)
        case .bytes(let v): return v.withUnsafeBytes(body)
        }
        #else
        switch self {
        case .floats(let v): return v.withUnsafeBytes(body)
        case .int32s(let v): return v.withUnsafeBytes(body)
        case .int64s(let v): return v.withUnsafeBytes(body)
        case .bytes(let v): return v.withUnsafeBytes(body)
        }
        #endif
    }
}

enum ZstdOutcome {
    case ok
    case failed(String)
}

/// Appends little-endian integers and length-prefixed strings.
struct ByteWriter {
    var bytes: [UInt8] = []

    init(capacity: Int = 0) { bytes.reserveCapacity(capacity) }

    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u32(_ v: UInt32) { Swift.withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u64(_ v: UInt64) { Swift.withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func string(_ s: String) {
        u32(UInt32(s.utf8.count))
        bytes.append(contentsOf: s.utf8)
    }
}

/// Reads little-endian integers and strings, checking every length against what remains.
struct ByteReader {
    struct Overrun: Error {
        var what: String
    }

    private let buffer: UnsafeRawBufferPointer
    private var offset = 0

    init(_ buffer: UnsafeRawBufferPointer) { self.buffer = buffer }

    var remaining: Int { buffer.count - offset }

    private mutating func take(_ n: Int, _ what: String) throws(Overrun) -> Int {
        guard n >= 0, n <= remaining else { throw Overrun(what: what) }
        defer { offset += n }
        return offset
    }

    mutating func u8(_ what: String) throws(Overrun) -> UInt8 {
        buffer[try take(1, what)]
    }

    mutating func u32(_ what: String) throws(Overrun) -> UInt32 {
        UInt32(littleEndian: buffer.loadUnaligned(fromByteOffset: try take(4, what), as: UInt32.self))
    }

    mutating func u64(_ what: String) throws(Overrun) -> UInt64 {
        UInt64(littleEndian: buffer.loadUnaligned(fromByteOffset: try take(8, what), as: UInt64.self))
    }

    mutating func string(_ what: String) throws(Overrun) -> String {
        let length = Int(try u32(what))
        let start = try take(length, what)
        let bytes = UnsafeRawBufferPointer(rebasing: buffer[start ..< start + length])
        guard let text = String(validating: bytes, as: UTF8.self) else { throw Overrun(what: what + " (invalid UTF-8)") }
        return text
    }
}
