/// A bounds-checked reader for FlatBuffers binary data (no generated code).
///
/// Every read checks its offset against the buffer, so a truncated or hostile file
/// produces a `ModelError` instead of a crash or an out-of-bounds read.
struct FlatBuffer {
    /// A table, located by the offset of its start (where the vtable offset is stored).
    struct Table { let position: Int }

    let bytes: [UInt8]
    let source: String

    func fail(_ message: String) -> ModelError {
        ModelError(source: source, "malformed TFLite flatbuffer: \(message)")
    }

    private func check(_ at: Int, _ size: Int) throws(ModelError) {
        guard at >= 0, size >= 0, at <= bytes.count - size else {
            throw fail("\(size)-byte read at offset \(at) is outside the \(bytes.count)-byte buffer")
        }
    }

    func u8(_ at: Int) throws(ModelError) -> UInt8 {
        try check(at, 1)
        return bytes[at]
    }

    func u16(_ at: Int) throws(ModelError) -> Int {
        try check(at, 2)
        return Int(bytes[at]) | Int(bytes[at + 1]) << 8
    }

    func u32(_ at: Int) throws(ModelError) -> UInt32 {
        try check(at, 4)
        return UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24
    }

    func i32(_ at: Int) throws(ModelError) -> Int32 { Int32(bitPattern: try u32(at)) }

    func u64(_ at: Int) throws(ModelError) -> UInt64 {
        UInt64(try u32(at)) | UInt64(try u32(at + 4)) << 32
    }

    /// The root table; also checks the 4-byte file identifier when one is expected.
    func root(identifier: String?) throws(ModelError) -> Table {
        try check(0, 8)
        if let identifier {
            let found = String(decoding: bytes[4 ..< 8], as: UTF8.self)
            guard found == identifier else {
                throw fail("file identifier is '\(found.filter { $0.isASCII && !$0.isWhitespace })', expected '\(identifier)'")
            }
        }
        return try table(at: Int(try u32(0)))
    }

    private func table(at position: Int) throws(ModelError) -> Table {
        // The vtable offset must be readable, and the vtable header too.
        let vtable = position - Int(try i32(position))
        let vtableSize = try u16(vtable)
        guard vtableSize >= 4, vtableSize % 2 == 0 else { throw fail("vtable at \(vtable) has size \(vtableSize)") }
        try check(vtable, vtableSize)
        return Table(position: position)
    }

    /// Absolute position of a field, or nil when absent; the field's bytes are in range.
    func field(_ t: Table, _ index: Int, size: Int) throws(ModelError) -> Int? {
        let vtable = t.position - Int(try i32(t.position))
        let vtableSize = try u16(vtable)
        let slot = 4 + 2 * index
        guard slot + 2 <= vtableSize else { return nil }
        let offset = try u16(vtable + slot)
        guard offset != 0 else { return nil }
        let at = t.position + offset
        try check(at, size)
        return at
    }

    func int32(_ t: Table, _ index: Int, default value: Int32 = 0) throws(ModelError) -> Int32 {
        guard let at = try field(t, index, size: 4) else { return value }
        return try i32(at)
    }

    func uint32(_ t: Table, _ index: Int, default value: UInt32 = 0) throws(ModelError) -> UInt32 {
        guard let at = try field(t, index, size: 4) else { return value }
        return try u32(at)
    }

    func uint64(_ t: Table, _ index: Int, default value: UInt64 = 0) throws(ModelError) -> UInt64 {
        guard let at = try field(t, index, size: 8) else { return value }
        return try u64(at)
    }

    func int8(_ t: Table, _ index: Int, default value: Int8 = 0) throws(ModelError) -> Int8 {
        guard let at = try field(t, index, size: 1) else { return value }
        return Int8(bitPattern: try u8(at))
    }

    func bool(_ t: Table, _ index: Int) throws(ModelError) -> Bool { try int8(t, index) != 0 }

    /// Follows a uoffset stored at `at`.
    private func follow(_ at: Int) throws(ModelError) -> Int {
        let target = at + Int(try u32(at))
        try check(target, 4)
        return target
    }

    func table(_ t: Table, _ index: Int) throws(ModelError) -> Table? {
        guard let at = try field(t, index, size: 4) else { return nil }
        return try table(at: try follow(at))
    }

    /// Start of the elements and their count; the whole vector is in range.
    func vector(_ t: Table, _ index: Int, elementSize: Int) throws(ModelError) -> (start: Int, count: Int)? {
        guard let at = try field(t, index, size: 4) else { return nil }
        let header = try follow(at)
        let count = Int(try u32(header))
        let (length, overflow) = count.multipliedReportingOverflow(by: elementSize)
        guard !overflow else { throw fail("vector at \(header) of \(count) elements overflows") }
        try check(header + 4, length)
        return (header + 4, count)
    }

    func tables(_ t: Table, _ index: Int) throws(ModelError) -> [Table] {
        guard let (start, count) = try vector(t, index, elementSize: 4) else { return [] }
        var result: [Table] = []
        result.reserveCapacity(count)
        for i in 0 ..< count { result.append(try table(at: try follow(start + 4 * i))) }
        return result
    }

    func int32s(_ t: Table, _ index: Int) throws(ModelError) -> [Int32]? {
        guard let (start, count) = try vector(t, index, elementSize: 4) else { return nil }
        var result: [Int32] = []
        result.reserveCapacity(count)
        for i in 0 ..< count { result.append(try i32(start + 4 * i)) }
        return result
    }

    func string(_ t: Table, _ index: Int) throws(ModelError) -> String? {
        guard let (start, count) = try vector(t, index, elementSize: 1) else { return nil }
        return String(decoding: bytes[start ..< start + count], as: UTF8.self)
    }

    func byteRange(_ t: Table, _ index: Int) throws(ModelError) -> Range<Int>? {
        guard let (start, count) = try vector(t, index, elementSize: 1) else { return nil }
        return start ..< start + count
    }
}
