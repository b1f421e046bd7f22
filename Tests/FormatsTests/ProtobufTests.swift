import Testing
@testable import Formats

@Suite("protobuf wire format (encode)")
struct ProtobufTests {
    static let varints: [(UInt64, [UInt8])] = [
        (0, [0]), (1, [1]), (127, [0x7F]), (128, [0x80, 0x01]), (300, [0xAC, 0x02]),
        (UInt64.max, [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
    ]

    @Test("varints: base 128, low group first", arguments: varints)
    func varint(value: UInt64, expected: [UInt8]) {
        var w = ProtobufWriter()
        w.varint(value)
        #expect(w.bytes == expected)
    }

    @Test("fields as in the protobuf encoding guide: keys, lengths, nested messages")
    func fields() {
        var w = ProtobufWriter()
        w.int(1, 150)
        #expect(w.bytes == [0x08, 0x96, 0x01])
        w = ProtobufWriter()
        w.string(2, "testing")
        #expect(w.bytes == [0x12, 0x07] + Array("testing".utf8))
        w = ProtobufWriter()
        w.message(3) { $0.int(1, 150) }
        #expect(w.bytes == [0x1A, 0x03, 0x08, 0x96, 0x01])
        w = ProtobufWriter()
        w.int(1, -1)   // int64 -1: ten bytes, as the format says
        #expect(w.bytes == [0x08] + [UInt8](repeating: 0xFF, count: 9) + [0x01])
        w = ProtobufWriter()
        w.float(2, 1)
        #expect(w.bytes == [0x15, 0x00, 0x00, 0x80, 0x3F])
        w = ProtobufWriter()
        w.ints(8, [1, 2])   // unpacked: one key per value
        #expect(w.bytes == [0x40, 0x01, 0x40, 0x02])
        w = ProtobufWriter()
        w.int(20, 7)   // a field number above 15 takes a two-byte key
        #expect(w.bytes == [0xA0, 0x01, 0x07])
    }
}
