#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Basics
import Foundation
import Formats

/// A per-item memo: item key → result bytes, for expensive per-image work.
///
/// Many writers may share one memo folder, on one host or on many (a cache on NFS or
/// Lustre): there is no shared append and no lock. Each writer process appends its records
/// to a temporary file of its own (`.tmp-<writer>-<n>.partial`) and publishes it by
/// renaming it to `<writer>-<n>.pack` every `publishRecords` records, every
/// `publishSeconds` seconds and on `flush`; `<writer>` is host, pid and a random number, so
/// names never clash. A published pack never changes again. Readers list `*.pack` only, so
/// they never see a pack being written; `refresh` picks up packs published since.
/// This assumes only that `rename` within a folder is atomic (true on local file systems,
/// NFS and Lustre); it needs no file locks across hosts. A killed writer (even kill -9)
/// loses at most its unpublished records, which the next build recomputes; `compact` (run
/// by `blendset gc --memo-compact`, under the cache lock) salvages the good records of
/// abandoned temporaries and merges the packs.
///
/// A record is `[32-byte key][u32 length][payload][32-byte SHA-256 of key+length+payload]`;
/// a record whose checksum fails is skipped.
// @unchecked: the index, packs and writer are mutable and only touched under `lock`.
public final class MemoStore: @unchecked Sendable {
    public let directory: String
    private var index: [ContentDigest: (pack: Int, offset: Int, length: Int)] = [:]
    private var packs: [[UInt8]] = []
    private var loadedNames = Set<String>()
    private var pending: [ContentDigest: [UInt8]] = [:]
    private var writer: Int32 = -1
    private let writerName: String
    private var sequence = 0
    private var unpublished = 0
    private var unpublishedSince = Date()
    private let quarantine: Quarantine?
    /// Threads that verify the records of the packs as they load.
    private let jobs: Int
    private let lock = NSLock()

    /// Records a writer gathers before it publishes them as a pack.
    public var publishRecords = 2048
    /// Seconds a writer keeps records unpublished at most (checked when it writes).
    public var publishSeconds = 5.0

    /// Damaged packs this store moved to quarantine when it opened (their good records were
    /// copied into a new pack first, so nothing valid is lost).
    public private(set) var quarantined: [(pack: String, movedTo: String)] = []

    /// Opens the memo in `directory`. With a `quarantine`, a pack with a damaged record (one
    /// whose checksum fails) is moved there.
    /// `jobs` threads verify the records' checksums as packs load (the outcome is the same for any number).
    public init(directory: String, quarantine: Quarantine? = nil, jobs: Int = 1) throws(PipelineError) {
        self.directory = directory
        self.quarantine = quarantine
        self.jobs = max(1, jobs)
        writerName = MemoStore.uniqueWriterName()
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw .io("cannot create the memo folder \(directory): \(error.localizedDescription)")
        }
        try loadNewPacks()
    }

    /// Host, pid and a random number: unique among all writers of a shared cache.
    static func uniqueWriterName() -> String {
        let safe = String(hostName().map { $0.isLetter || $0.isNumber || $0 == "." ? $0 : "_" }.prefix(64))
        return "\(safe)-\(getpid())-\(String(UInt64.random(in: 0...UInt64.max), radix: 16))"
    }

    static func hostName() -> String {
        var buffer = [UInt8](repeating: 0, count: 256)
        guard buffer.withUnsafeMutableBufferPointer({ p in p.withMemoryRebound(to: CChar.self) { gethostname($0.baseAddress!, $0.count - 1) } }) == 0 else { return "host" }
        return String(decoding: buffer.prefix { $0 != 0 }, as: UTF8.self)
    }

    /// The pack files in the folder (never a temporary), sorted.
    static func packNames(in directory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
            .filter { $0.hasSuffix(".pack") && !$0.hasPrefix(".") }.sorted()
    }

    /// Loads the packs published since this store opened (or last refreshed), e.g. by other
    /// shards working on the same cache.
    public func refresh() throws(PipelineError) {
        try loadNewPacks()
    }

    /// Whether every pack this store has read is still in the folder (none was compacted
    /// away, quarantined or removed since), so that `refresh` alone brings it up to date.
    func packsStillPresent() -> Bool {
        let present = Set(MemoStore.packNames(in: directory))
        lock.lock()
        defer { lock.unlock() }
        return loadedNames.isSubset(of: present)
    }

    private func loadNewPacks() throws(PipelineError) {
        lock.lock()
        var damagedPacks: [(path: String, records: [(ContentDigest, Range<Int>)], bytes: [UInt8])] = []
        for name in MemoStore.packNames(in: directory) where !loadedNames.contains(name) {
            // A pack that vanished (compacted away meanwhile) is skipped: its records are in the new one.
            guard let bytes = try? readFileBytes(atPath: directory + "/" + name) else { continue }
            loadedNames.insert(name)
            let packIndex = packs.count
            packs.append(bytes)
            let scan = MemoStore.scan(bytes, jobs: jobs)
            for (key, range) in scan.records where index[key] == nil { index[key] = (packIndex, range.lowerBound, range.count) }
            if scan.damaged > 0 { damagedPacks.append((directory + "/" + name, scan.records, bytes)) }
        }
        lock.unlock()
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
    public static func scan(_ bytes: [UInt8], jobs: Int = 1) -> (records: [(ContentDigest, Range<Int>)], damaged: Int) {
        // The lengths chain the records, so they are walked in order; the checksums (the
        // cost: a SHA-256 over every byte) are then verified on `jobs` threads.
        var spans: [(offset: Int, length: Int)] = []
        var offset = 0
        while offset + 36 <= bytes.count {
            let length = Int(bytes[offset + 32]) | Int(bytes[offset + 33]) << 8 | Int(bytes[offset + 34]) << 16 | Int(bytes[offset + 35]) << 24
            let end = offset + 36 + length + 32
            guard end <= bytes.count else { break }
            spans.append((offset, length))
            offset = end
        }
        let chunk = 64
        let verified = ParallelLoop.map(count: (spans.count + chunk - 1) / chunk, jobs: jobs, makeWorker: {}) { (_: inout Void, c: Int) -> [Bool] in
            bytes.withUnsafeBytes { b in
                spans[(c * chunk)..<min(spans.count, (c + 1) * chunk)].map { span in
                    let end = span.offset + 36 + span.length
                    return SHA256.digest(UnsafeRawBufferPointer(rebasing: b[span.offset..<end]))
                        == ContentDigest(bytes: UnsafeRawBufferPointer(rebasing: b[end..<(end + 32)]))
                }
            }
        }
        var records: [(ContentDigest, Range<Int>)] = []
        records.reserveCapacity(spans.count)
        var damaged = 0
        for (span, ok) in zip(spans, verified.joined()) {
            if ok {
                records.append((ContentDigest(bytes: bytes[span.offset..<(span.offset + 32)])!, (span.offset + 36)..<(span.offset + 36 + span.length)))
            } else {
                // A flipped byte: skip the record by its length and read on. If the length
                // itself was hit, the records after it fail their checksums too (and are
                // recomputed); a checksum never passes by accident.
                damaged += 1
            }
        }
        return (records, damaged)
    }

    deinit {
        publishLocked()
    }

    public var count: Int {
        lock.lock()
        defer { lock.unlock() }
        return index.count + pending.filter { index[$0.key] == nil }.count
    }

    public func get(_ key: ContentDigest) -> [UInt8]? {
        lock.lock()
        defer { lock.unlock() }
        if let p = pending[key] { return p }
        guard let e = index[key] else { return nil }
        return Array(packs[e.pack][e.offset..<(e.offset + e.length)])
    }

    /// Appends a record to this writer's temporary pack; it is published (visible to other
    /// processes, and safe from a kill) by the next `flush` or within `publishSeconds`.
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

    static func encodeRecord(_ key: ContentDigest, _ value: [UInt8]) -> [UInt8] {
        var record = key.bytes
        record.reserveCapacity(36 + value.count + 32)
        let n = UInt32(value.count)
        record += [UInt8(n & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n >> 16 & 0xFF), UInt8(n >> 24)]
        record += value
        record += SHA256.digest(record).bytes
        return record
    }

    private var temporaryPath: String { directory + "/.tmp-\(writerName)-\(sequence).partial" }

    private func append(_ key: ContentDigest, _ value: [UInt8]) throws(PipelineError) {
        if writer < 0 {
            writer = open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0o644)
            guard writer >= 0 else { throw .io("cannot create the memo pack \(temporaryPath): \(String(cString: strerror(errno)))") }
            unpublishedSince = Date()
        }
        let record = MemoStore.encodeRecord(key, value)
        let written = record.withUnsafeBytes { write(writer, $0.baseAddress, $0.count) }
        guard written == record.count else { throw .io("cannot append to the memo in \(directory): \(String(cString: strerror(errno)))") }
        pending[key] = value
        unpublished += 1
        if unpublished >= publishRecords || Date().timeIntervalSince(unpublishedSince) >= publishSeconds { publishLocked() }
    }

    /// Syncs the temporary pack and renames it to its published name (atomic in one folder).
    private func publishLocked() {
        guard writer >= 0 else { return }
        _ = fsync(writer)
        close(writer)
        writer = -1
        let from = temporaryPath
        let name = "\(writerName)-\(sequence).pack"
        sequence += 1
        unpublished = 0
        // A failed rename leaves a temporary that `compact` salvages; the records are still
        // in `pending`, so this process keeps finding them.
        if rename(from, directory + "/" + name) == 0 { loadedNames.insert(name) }
    }

    /// Publishes every record written so far: durable and visible to other processes.
    public func flush() {
        lock.lock()
        defer { lock.unlock() }
        publishLocked()
    }

    /// What `compact` did in one memo folder.
    public struct Compaction: Sendable, Equatable {
        public var packsBefore = 0
        public var records = 0
        public var damagedRecords = 0
        /// Abandoned temporaries (of killed writers) whose good records were kept.
        public var salvagedTemporaries = 0
        public var bytesBefore: Int64 = 0
        public var bytesAfter: Int64 = 0
    }

    /// Merges every pack of `directory` (and abandoned temporaries: not modified for
    /// `abandonedAfter` seconds) into one pack, keeping each key's first good record.
    /// The caller holds the cache lock and no writer may be running on another host:
    /// a writer's temporary younger than `abandonedAfter` is left alone.
    public static func compact(directory: String, abandonedAfter: TimeInterval = 3600, dryRun: Bool = false) throws(PipelineError) -> Compaction {
        var result = Compaction()
        let names = packNames(in: directory)
        let all = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        let temporaries = all.filter { $0.hasPrefix(".tmp-") && $0.hasSuffix(".partial") }.filter { name in
            var info = stat()
            guard stat(directory + "/" + name, &info) == 0 else { return false }
            return Date().timeIntervalSince1970 - Double(info.st_mtim.tv_sec) >= abandonedAfter
        }.sorted()
        let sources = names + temporaries
        guard sources.count > 1 || !temporaries.isEmpty else {
            result.packsBefore = names.count
            return result
        }
        var seen = Set<ContentDigest>()
        var out: [UInt8] = []
        for name in sources {
            guard let bytes = try? readFileBytes(atPath: directory + "/" + name) else { continue }
            result.bytesBefore += Int64(bytes.count)
            let scan = scan(bytes)
            result.damagedRecords += scan.damaged
            for (key, range) in scan.records where seen.insert(key).inserted {
                out += encodeRecord(key, Array(bytes[range]))
            }
        }
        result.packsBefore = names.count
        result.salvagedTemporaries = temporaries.count
        result.records = seen.count
        result.bytesAfter = Int64(out.count)
        if dryRun { return result }
        // The merged pack is in place before any old one goes: a crash in between leaves
        // duplicate records, never lost ones.
        let merged = directory + "/compacted-" + uniqueWriterName() + ".pack"
        do { try AtomicFile.write(out, to: merged) } catch { throw .io("cannot write the compacted memo pack \(merged): \(error)") }
        for name in sources { unlink(directory + "/" + name) }
        return result
    }
}
