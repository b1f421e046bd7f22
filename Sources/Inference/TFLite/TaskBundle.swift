#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Basics

/// A MediaPipe `.task` bundle: a zip archive whose entries are stored (not deflated).
///
/// Only the central directory is trusted for names; every offset and length is checked
/// against the archive, and each entry's CRC-32 is verified when it is read.
public struct TaskBundle: Sendable {
    /// One file in the archive, as located by the central directory and its local header.
    struct Entry: Sendable {
        let name: String
        let method: UInt16
        let dataOffset: Int
        let size: Int
        let crc32: UInt32
    }

    /// Where the archive came from, for error messages.
    public let source: String
    private let bytes: [UInt8]
    private let entries: [Entry]

    /// Reads the whole bundle file into memory.
    public init(path: String) throws(ModelError) {
        let bytes = try readWholeFile(path)
        try self.init(bytes: bytes, source: path)
    }

    public init(bytes: [UInt8], source: String) throws(ModelError) {
        self.source = source
        self.bytes = bytes
        self.entries = try ZipDirectory.parse(bytes, source: source)
    }

    /// Entry names in central-directory order.
    public var entryNames: [String] { entries.map(\.name) }

    /// The bytes of one stored entry, CRC-checked.
    public func entry(named name: String) throws(ModelError) -> [UInt8] {
        guard let entry = entries.first(where: { $0.name == name }) else {
            throw ModelError(source: source, "no entry named '\(name)' (entries: \(entryNames.joined(separator: ", ")))")
        }
        guard entry.method == 0 else {
            throw ModelError(source: "\(source)/\(name)",
                             "entry is compressed with method \(entry.method) (\(entry.method == 8 ? "deflate" : "unknown")); only stored entries (method 0) are supported")
        }
        let data = Array(bytes[entry.dataOffset ..< entry.dataOffset + entry.size])
        let crc = CRC32.checksum(data)
        guard crc == entry.crc32 else {
            throw ModelError(source: "\(source)/\(name)",
                             "CRC-32 mismatch: directory says \(hex(entry.crc32)), data has \(hex(crc))")
        }
        return data
    }
}

private func hex(_ v: UInt32) -> String { "0x" + String(v, radix: 16) }

/// Central-directory parsing, kept apart so every read goes through one bounds check.
enum ZipDirectory {
    static func parse(_ b: [UInt8], source: String) throws(ModelError) -> [TaskBundle.Entry] {
        func fail(_ m: String) -> ModelError { ModelError(source: source, "not a readable zip archive: \(m)") }
        func u16(_ at: Int) throws(ModelError) -> Int {
            guard at >= 0, at + 2 <= b.count else { throw fail("field at offset \(at) lies past the end (\(b.count) bytes)") }
            return Int(b[at]) | Int(b[at + 1]) << 8
        }
        func u32(_ at: Int) throws(ModelError) -> Int {
            guard at >= 0, at + 4 <= b.count else { throw fail("field at offset \(at) lies past the end (\(b.count) bytes)") }
            return Int(b[at]) | Int(b[at + 1]) << 8 | Int(b[at + 2]) << 16 | Int(b[at + 3]) << 24
        }

        // The end-of-central-directory record is 22 bytes plus a comment of up to 65535.
        guard b.count >= 22 else { throw fail("\(b.count) bytes is shorter than an end-of-central-directory record") }
        var eocd = -1
        var p = b.count - 22
        let lowest = max(0, b.count - 22 - 65535)
        while p >= lowest {
            if b[p] == 0x50, b[p + 1] == 0x4b, b[p + 2] == 0x05, b[p + 3] == 0x06,
               p + 22 + (Int(b[p + 20]) | Int(b[p + 21]) << 8) == b.count {
                eocd = p
                break
            }
            p -= 1
        }
        guard eocd >= 0 else { throw fail("no end-of-central-directory record") }
        let count = try u16(eocd + 10)
        let dirSize = try u32(eocd + 12)
        let dirOffset = try u32(eocd + 16)
        guard count != 0xFFFF, dirSize != 0xFFFF_FFFF, dirOffset != 0xFFFF_FFFF else {
            throw fail("zip64 archives are not supported")
        }
        guard dirOffset + dirSize <= eocd else {
            throw fail("central directory (offset \(dirOffset), \(dirSize) bytes) overlaps the end record at \(eocd)")
        }

        // The comment length must reach exactly to the end: stored model weights can contain the
        // signature bytes by chance, and an empty archive is no bundle either.
        guard count > 0 else { throw fail("the archive has no entries") }
        var entries: [TaskBundle.Entry] = []
        var at = dirOffset
        for index in 0 ..< count {
            guard try u32(at) == 0x0201_4b50 else { throw fail("central directory entry \(index) at offset \(at) has a bad signature") }
            let flags = try u16(at + 8)
            let method = try u16(at + 10)
            let crc = try u32(at + 16)
            let compressed = try u32(at + 20)
            let uncompressed = try u32(at + 24)
            let nameLength = try u16(at + 28)
            let extraLength = try u16(at + 30)
            let commentLength = try u16(at + 32)
            let localOffset = try u32(at + 42)
            let nameStart = at + 46
            guard nameStart + nameLength <= dirOffset + dirSize else {
                throw fail("central directory entry \(index) name runs past the directory")
            }
            let name = String(decoding: b[nameStart ..< nameStart + nameLength], as: UTF8.self)
            at = nameStart + nameLength + extraLength + commentLength
            guard at <= dirOffset + dirSize else { throw fail("central directory entry \(index) ('\(name)') runs past the directory") }
            guard flags & 1 == 0 else { throw ModelError(source: "\(source)/\(name)", "entry is encrypted") }
            guard compressed != 0xFFFF_FFFF, uncompressed != 0xFFFF_FFFF, localOffset != 0xFFFF_FFFF else {
                throw ModelError(source: "\(source)/\(name)", "zip64 entries are not supported")
            }
            if method == 0, compressed != uncompressed {
                throw ModelError(source: "\(source)/\(name)", "stored entry has compressed size \(compressed) but size \(uncompressed)")
            }
            guard try u32(localOffset) == 0x0403_4b50 else {
                throw ModelError(source: "\(source)/\(name)", "local header at offset \(localOffset) has a bad signature")
            }
            let dataOffset = localOffset + 30 + (try u16(localOffset + 26)) + (try u16(localOffset + 28))
            guard dataOffset <= dirOffset, compressed <= dirOffset - dataOffset else {
                throw ModelError(source: "\(source)/\(name)",
                                 "data (offset \(dataOffset), \(compressed) bytes) runs past the start of the central directory at \(dirOffset)")
            }
            entries.append(.init(name: name, method: UInt16(method), dataOffset: dataOffset, size: compressed, crc32: UInt32(crc)))
        }
        return entries
    }
}

/// Reads a file fully (this module does not use Foundation).
func readWholeFile(_ path: String) throws(ModelError) -> [UInt8] {
    do { return try FileBytes.read(atPath: path) } catch { throw ModelError(source: path, error.message) }
}
