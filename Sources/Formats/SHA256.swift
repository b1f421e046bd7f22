#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// SHA-256 (FIPS 180-4), pure Swift and incremental.
///
/// Whole 64-byte blocks are compressed straight from the caller's memory; only a tail of
/// fewer than 64 bytes is ever copied, so hashing large buffers allocates nothing per block.
public struct SHA256: Sendable {
    @usableFromInline
    struct State: Sendable {
        var a: UInt32 = 0x6a09_e667, b: UInt32 = 0xbb67_ae85
        var c: UInt32 = 0x3c6e_f372, d: UInt32 = 0xa54f_f53a
        var e: UInt32 = 0x510e_527f, f: UInt32 = 0x9b05_688c
        var g: UInt32 = 0x1f83_d9ab, h: UInt32 = 0x5be0_cd19
    }

    private var state = State()
    /// Pending bytes of an incomplete block (always fewer than 64 between calls).
    private var pending: [UInt8] = [UInt8](repeating: 0, count: 64)
    private var pendingCount = 0
    private var totalBytes: UInt64 = 0

    public init() {}

    /// Feeds `bytes` into the hash.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard var source = bytes.baseAddress, bytes.count > 0 else { return }
        var remaining = bytes.count
        totalBytes &+= UInt64(remaining)
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 64) { schedule in
            let w = schedule.baseAddress!
            if pendingCount > 0 {
                let take = min(64 - pendingCount, remaining)
                let filled = pendingCount
                pending.withUnsafeMutableBytes { buf in
                    (buf.baseAddress! + filled).copyMemory(from: source, byteCount: take)
                }
                pendingCount += take
                source += take
                remaining -= take
                if pendingCount == 64 {
                    pending.withUnsafeBytes { buf in
                        SHA256.compress(&state, buf.baseAddress!, blocks: 1, w: w)
                    }
                    pendingCount = 0
                }
            }
            let blocks = remaining / 64
            if blocks > 0 {
                SHA256.compress(&state, source, blocks: blocks, w: w)
                source += blocks * 64
                remaining -= blocks * 64
            }
            if remaining > 0 {
                let tail = remaining
                pending.withUnsafeMutableBytes { buf in
                    buf.baseAddress!.copyMemory(from: source, byteCount: tail)
                }
                pendingCount = tail
            }
        }
    }

    /// Feeds `bytes` into the hash.
    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// Feeds the UTF-8 encoding of `string` into the hash.
    public mutating func update(_ string: String) {
        var copy = string
        copy.withUTF8 { update(UnsafeRawBufferPointer($0)) }
    }

    /// Pads the message and returns its digest.
    public consuming func finalize() -> ContentDigest {
        let bitLength = totalBytes &* 8
        var tail = [UInt8](pending[0..<pendingCount])
        tail.append(0x80)
        while tail.count % 64 != 56 { tail.append(0) }
        for shift in stride(from: 56, through: 0, by: -8) {
            tail.append(UInt8(truncatingIfNeeded: bitLength >> UInt64(shift)))
        }
        var s = state
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 64) { schedule in
            tail.withUnsafeBytes { buf in
                SHA256.compress(&s, buf.baseAddress!, blocks: tail.count / 64, w: schedule.baseAddress!)
            }
        }
        return ContentDigest(words: s)
    }

    /// The digest of `bytes` in one call.
    public static func digest(_ bytes: [UInt8]) -> ContentDigest {
        var hasher = SHA256()
        hasher.update(bytes)
        return hasher.finalize()
    }

    /// The digest of `bytes` in one call.
    public static func digest(_ bytes: UnsafeRawBufferPointer) -> ContentDigest {
        var hasher = SHA256()
        hasher.update(bytes)
        return hasher.finalize()
    }

    /// The digest of the UTF-8 encoding of `string`.
    public static func digest(_ string: String) -> ContentDigest {
        var hasher = SHA256()
        hasher.update(string)
        return hasher.finalize()
    }

    @inline(__always)
    private static func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 {
        (x &>> n) | (x &<< (32 &- n))
    }

    private static func compress(_ s: inout State, _ data: UnsafeRawPointer, blocks: Int,
                                 w: UnsafeMutablePointer<UInt32>) {
        roundConstants.withUnsafeBufferPointer { kBuffer in
            let k = kBuffer.baseAddress!
            var block = data
            for _ in 0..<blocks {
                for i in 0..<16 {
                    w[i] = UInt32(bigEndian: block.loadUnaligned(fromByteOffset: i &* 4, as: UInt32.self))
                }
                for i in 16..<64 {
                    let w15 = w[i &- 15], w2 = w[i &- 2]
                    let s0 = rotr(w15, 7) ^ rotr(w15, 18) ^ (w15 &>> 3)
                    let s1 = rotr(w2, 17) ^ rotr(w2, 19) ^ (w2 &>> 10)
                    w[i] = w[i &- 16] &+ s0 &+ w[i &- 7] &+ s1
                }
                var a = s.a, b = s.b, c = s.c, d = s.d, e = s.e, f = s.f, g = s.g, h = s.h
                for i in 0..<64 {
                    let s1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)
                    let ch = (e & f) ^ (~e & g)
                    let t1 = h &+ s1 &+ ch &+ k[i] &+ w[i]
                    let s0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)
                    let maj = (a & b) ^ (a & c) ^ (b & c)
                    let t2 = s0 &+ maj
                    h = g; g = f; f = e; e = d &+ t1
                    d = c; c = b; b = a; a = t1 &+ t2
                }
                s.a &+= a; s.b &+= b; s.c &+= c; s.d &+= d
                s.e &+= e; s.f &+= f; s.g &+= g; s.h &+= h
                block += 64
            }
        }
    }

    private static let roundConstants: [UInt32] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ]
}

/// A SHA-256 digest: the content id of an artifact, the key of a stage.
///
/// Ordered byte-lexicographically (the same order as the hex strings), so sorted lists of
/// digests are stable across runs and machines. Encodes as its 64-character hex string.
public struct ContentDigest: Hashable, Sendable, Codable, Comparable, CustomStringConvertible {
    // Four big-endian words: comparing them in order is comparing the bytes in order.
    private var w0: UInt64, w1: UInt64, w2: UInt64, w3: UInt64

    /// The number of bytes in a digest.
    public static let byteCount = 32

    init(words s: SHA256.State) {
        w0 = UInt64(s.a) << 32 | UInt64(s.b)
        w1 = UInt64(s.c) << 32 | UInt64(s.d)
        w2 = UInt64(s.e) << 32 | UInt64(s.f)
        w3 = UInt64(s.g) << 32 | UInt64(s.h)
    }

    /// A digest from exactly 32 bytes; nil for any other count.
    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == 32 else { return nil }
        var words: [UInt64] = [0, 0, 0, 0]
        for (i, byte) in bytes.enumerated() {
            words[i / 8] = words[i / 8] << 8 | UInt64(byte)
        }
        (w0, w1, w2, w3) = (words[0], words[1], words[2], words[3])
    }

    /// Parses 64 hex digits (either case); nil for anything else.
    public init?(hex: String) {
        let utf8 = Array(hex.utf8)
        guard utf8.count == 64 else { return nil }
        var bytes = [UInt8](repeating: 0, count: 32)
        for i in 0..<32 {
            guard let hi = ContentDigest.nibble(utf8[2 * i]), let lo = ContentDigest.nibble(utf8[2 * i + 1])
            else { return nil }
            bytes[i] = hi << 4 | lo
        }
        self.init(bytes: bytes)
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// The 32 digest bytes, in order.
    public var bytes: [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(32)
        for word in [w0, w1, w2, w3] {
            for shift in stride(from: 56, through: 0, by: -8) {
                out.append(UInt8(truncatingIfNeeded: word >> UInt64(shift)))
            }
        }
        return out
    }

    /// 64 lowercase hex digits.
    public var hex: String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(64)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0xf)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    public var description: String { hex }

    public static func < (lhs: ContentDigest, rhs: ContentDigest) -> Bool {
        (lhs.w0, lhs.w1, lhs.w2, lhs.w3) < (rhs.w0, rhs.w1, rhs.w2, rhs.w3)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let digest = ContentDigest(hex: text) else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "expected a SHA-256 digest as 64 hex digits, found '\(text)'")
        }
        self = digest
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(hex)
    }

    /// The SHA-256 of a file's bytes, read in 1 MiB chunks (never whole into memory).
    public static func ofFile(atPath path: String) throws(FormatError) -> ContentDigest {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw FormatError(file: path, message: "cannot open file to hash it: \(systemErrorText())")
        }
        defer { close(fd) }
        var hasher = SHA256()
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { chunk.deallocate() }
        while true {
            let n = read(fd, chunk.baseAddress, chunk.count)
            if n < 0 {
                if errno == EINTR { continue }
                throw FormatError(file: path, message: "cannot read file to hash it: \(systemErrorText())")
            }
            if n == 0 { break }
            hasher.update(UnsafeRawBufferPointer(rebasing: chunk[0..<n]))
        }
        return hasher.finalize()
    }
}
