#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Formats

/// A per-item memo: item key → result bytes, for expensive per-image work.
///
/// Storage is append-only pack files, one per writer process, each record
/// `[32-byte key][u32 length][payload][32-byte SHA-256 of key+length+payload]`.
/// Records are written with one `write` each, so a killed build (even kill -9) keeps
/// every record it finished; a torn last record fails its checksum and is ignored on
/// the next open. Packs are fsynced when the store is flushed.
// @unchecked: the index, packs and writer are mutable and only touched under `lock`.
public final class MemoStore: @unchecked Sendable {
    public let directory: String
    private var index: [ContentDigest: (pack: Int, offset: Int, length: Int)] = [:]
    private var packs: [[UInt8]] = []
    private var pending: [ContentDigest: [UInt8]] = [:]
    private var writer: Int32 = -1
    private let lock = NSLock()

    /// Damaged packs this store moved to quarantine when it opened (their good records were
    /// copied into a new pack first, so nothing valid is lost).
    public private(set) var quarantined: [(pack: String, movedTo: String)] = []

    /// Opens the memo in `directory`. With a `quarantine`, a pack with a damaged record (one
    /// whose checksum fails, not a torn last record from a killed build) is moved there.
    public init(directory: String, quarantine: Quarantine? = nil) throws(PipelineError) {
        self.directory = directory
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw .io("cannot create the memo folder \(directory): \(error.localizedDescription)")
        }
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".pack") }.sorted()
        var damagedPacks: [(path: String, records: [(ContentDigest, Range<Int>)], bytes: [UInt8])] = []
        for name in names {
            guard let bytes = try? readFileBytes(atPath: directory + "/" + name) else { continue }
            let packIndex = packs.count
            packs.append(bytes)
            let scan = MemoStore.scan(bytes)
            for (key, range) in scan.records where index[key] == nil { index[key] = (packIndex, range.lowerBound, range.count) }
            if scan.damaged > 0 { damagedPacks.append((directory + "/" + name, scan.records, bytes)) }
        }
        guard let quarantine else { return }
        for pack in damagedPacks {
            // Copy the good records into this process's pack, then move the damaged one aside.
            for (key, range) in pack.records { try putAlways(key, Array(pack.bytes[range])) }
            flush()
            // Another store on this folder may have moved it first; its damaged records are ignored either way.
            if let target = try? quarantine.move(pack.path) { quarantined.append((pack.path, target)) }
        }
    }

    /// The records of a pack that verify (key and payload range), and how many do not.
    /// A torn last record (shorter than its length says) is the normal end of a killed
    /// build and is not counted as damage.
    public static func scan(_ bytes: [UInt8]) -> (records: [(ContentDigest, Range<Int>)], damaged: Int) {
        var records: [(ContentDigest, Range<Int>)] = []
        var damaged = 0
        var offset = 0
        while offset + 36 <= bytes.count {
            let length = Int(bytes[offset + 32]) | Int(bytes[offset + 33]) << 8 | Int(bytes[offset + 34]) << 16 | Int(bytes[offset + 35]) << 24
            let end = offset + 36 + length + 32
            guard end <= bytes.count else { break }
            let check = bytes.withUnsafeBytes { SHA256.digest(UnsafeRawBufferPointer(rebasing: $0[offset..<(offset + 36 + length)])) }
            if check.bytes == Array(bytes[(end - 32)..<end]) {
                records.append((ContentDigest(bytes: bytes[offset..<(offset + 32)])!, (offset + 36)..<(offset + 36 + length)))
            } else {
                // A flipped byte: skip the record by its length and read on. If the length
                // itself was hit, the records after it fail their checksums too (and are
                // recomputed); a checksum never passes by accident.
                damaged += 1
            }
            offset = end
        }
        return (records, damaged)
    }

    deinit {
        if writer >= 0 {
            _ = fsync(writer)
            close(writer)
        }
    }

    public var count: Int {
        lock.lock()
        defer { lock.unlock() }
        return index.count + pending.count
    }

    public func get(_ key: ContentDigest) -> [UInt8]? {
        lock.lock()
        defer { lock.unlock() }
        if let p = pending[key] { return p }
        guard let e = index[key] else { return nil }
        return Array(packs[e.pack][e.offset..<(e.offset + e.length)])
    }

    /// Appends a record; it survives a crash of this process as soon as this returns.
    public func put(_ key: ContentDigest, _ value: [UInt8]) throws(PipelineError) {
        lock.lock()
        defer { lock.unlock() }
        if index[key] != nil || pending[key] != nil { return }
        try append(key, value)
    }

    /// Appends a record even if the index holds the key (its pack is about to be quarantined).
    private func putAlways(_ key: ContentDigest, _ value: [UInt8]) throws(PipelineError) {
        lock.lock()
        defer { lock.unlock() }
        if pending[key] != nil { return }
        try append(key, value)
    }

    private func append(_ key: ContentDigest, _ value: [UInt8]) throws(PipelineError) {
        if writer < 0 {
            let name = directory + "/\(Int(Date().timeIntervalSince1970 * 1000))-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).pack"
            writer = open(name, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
            guard writer >= 0 else { throw .io("cannot create the memo pack \(name): \(String(cString: strerror(errno)))") }
        }
        var record = key.bytes
        let n = UInt32(value.count)
        record += [UInt8(n & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n >> 16 & 0xFF), UInt8(n >> 24)]
        record += value
        record += SHA256.digest(record).bytes
        let written = record.withUnsafeBytes { write(writer, $0.baseAddress, $0.count) }
        guard written == record.count else { throw .io("cannot append to the memo in \(directory): \(String(cString: strerror(errno)))") }
        pending[key] = value
    }

    /// Makes every record durable on disk.
    public func flush() {
        lock.lock()
        defer { lock.unlock() }
        if writer >= 0 { _ = fsync(writer) }
    }
}
