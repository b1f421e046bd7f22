/// The Protocol Buffers wire format, encode side only: what ONNX export needs. Fields are
/// written in the order they are added; repeated scalars are written unpacked (one key per
/// value), which every proto2 and proto3 reader accepts.
public struct ProtobufWriter: Sendable {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    /// Wire types: 0 varint, 1 64-bit, 2 length-delimited, 5 32-bit.
    mutating func key(_ field: Int, wireType: Int) { varint(UInt64(field) << 3 | UInt64(wireType)) }

    /// Base-128, least significant group first, high bit set on every byte but the last.
    public mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    /// An int32, int64 or enum field (a negative value takes 10 bytes, as the format says).
    public mutating func int(_ field: Int, _ value: Int64) {
        key(field, wireType: 0)
        varint(UInt64(bitPattern: value))
    }

    public mutating func ints(_ field: Int, _ values: [Int64]) { for v in values { int(field, v) } }

    public mutating func float(_ field: Int, _ value: Float) {
        key(field, wireType: 5)
        withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
    }

    public mutating func floats(_ field: Int, _ values: [Float]) { for v in values { float(field, v) } }

    public mutating func bytes(_ field: Int, _ value: [UInt8]) {
        key(field, wireType: 2)
        varint(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    public mutating func string(_ field: Int, _ value: String) { bytes(field, Array(value.utf8)) }

    public mutating func message(_ field: Int, _ value: ProtobufWriter) { bytes(field, value.bytes) }

    /// A nested message built by `build`.
    public mutating func message(_ field: Int, _ build: (inout ProtobufWriter) -> Void) {
        var m = ProtobufWriter()
        build(&m)
        message(field, m)
    }
}
