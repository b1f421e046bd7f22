// libFuzzer target: the table format (TableFile.decode).
//
// Each input is decoded twice: as it is (the checksums must reject damage), and after
// `fixChecksums`, which rewrites the length, the CRC-32Cs and the trailing SHA-256 so that
// mutated headers and column blocks reach the decoder behind the checksums.
import Formats

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let plain = try? TableFile.decode(bytes, source: "fuzz.tbl")
    fixChecksums(&bytes)
    if let table = try? TableFile.decode(bytes, source: "fuzz.tbl") {
        // Encoding is a pure function of the table, so it decodes back to the same table.
        // Bytes are compared, not tables: a NaN feature is never == itself.
        let encoded = TableFile.encode(table)
        let again = try! TableFile.decode(encoded, source: "reencoded.tbl")
        precondition(TableFile.encode(again) == encoded, "re-encoded table decodes differently")
    } else {
        precondition(plain == nil, "fixing checksums of a valid table broke it")
    }
    return 0
}

private func fixChecksums(_ b: inout [UInt8]) {
    let preamble = 28, trailer = 32
    guard b.count >= preamble + 4 + trailer, b.starts(with: TableFile.magic) else { return }
    func u32(_ at: Int) -> Int { (0..<4).reduce(0) { $0 | Int(b[at + $1]) << (8 * $1) } }
    func u64(_ at: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(b[at + $1]) << (8 * UInt64($1)) } }
    func put32(_ v: UInt32, _ at: Int) { for i in 0..<4 { b[at + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt32(i))) } }
    let n = b.count
    for i in 0..<8 { b[16 + i] = UInt8(truncatingIfNeeded: UInt64(n) >> (8 * UInt64(i))) }
    var headerLength = u32(12)
    if preamble + headerLength + 4 > n - trailer {
        headerLength = n - trailer - preamble - 4
        put32(UInt32(headerLength), 12)
    }
    put32(CRC32C.checksum(Array(b[0..<24])), 24)

    // Walk the header (see TableFile's layout) to find each column's block and CRC field.
    let headerEnd = preamble + headerLength
    var p = preamble
    func skip(_ k: Int) -> Bool { guard k >= 0, k <= headerEnd - p else { return false }; p += k; return true }
    func skipString() -> Bool { guard p + 4 <= headerEnd else { return false }; let k = u32(p); p += 4; return skip(k) }
    var block = headerEnd + 4
    walk: do {
        guard skip(8), p + 4 <= headerEnd else { break walk }
        let entries = u32(p); p += 4
        for _ in 0..<entries { guard skipString(), skipString() else { break walk } }
        guard p + 4 <= headerEnd else { break walk }
        let columns = u32(p); p += 4
        for _ in 0..<columns {
            guard skipString(), skip(1 + 8 + 8), p + 12 <= headerEnd else { break walk }
            let length = u64(p); p += 8
            guard length <= UInt64(n - trailer - block) else { break walk }
            put32(CRC32C.checksum(Array(b[block ..< block + Int(length)])), p); p += 4
            block += Int(length)
        }
    }
    put32(CRC32C.checksum(Array(b[preamble ..< headerEnd])), headerEnd)
    let digest = SHA256.digest(Array(b[0 ..< n - trailer])).bytes
    b.replaceSubrange(n - trailer ..< n, with: digest)
}
