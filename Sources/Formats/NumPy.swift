import Basics

/// An n-dimensional array in NumPy's `.npy` terms: a little-endian dtype, a C-order shape,
/// and the raw element bytes.
public struct NPYArray: Sendable, Equatable {
    /// The element types blendset exports.
    public enum DType: Sendable, Equatable {
        case float32, int32, int64, uint8
        /// Fixed-length Unicode strings of `length` characters (NumPy `<U…`, UTF-32).
        case unicode(length: Int)

        /// The NumPy type string, e.g. `<f4`.
        public var descr: String {
            switch self {
            case .float32: "<f4"
            case .int32: "<i4"
            case .int64: "<i8"
            case .uint8: "|u1"
            case .unicode(let length): "<U\(length)"
            }
        }

        /// Bytes per element.
        public var itemSize: Int {
            switch self {
            case .float32, .int32: 4
            case .int64: 8
            case .uint8: 1
            case .unicode(let length): 4 * length
            }
        }
    }

    public var dtype: DType
    public var shape: [Int]
    /// `shape.reduce(1, *) * dtype.itemSize` bytes, C order, little-endian.
    public var bytes: [UInt8]

    public init(dtype: DType, shape: [Int], bytes: [UInt8]) throws(FormatError) {
        let elements = shape.reduce(1, *)
        guard shape.allSatisfy({ $0 >= 0 }), bytes.count == elements * dtype.itemSize else {
            throw FormatError(file: "npy array", message:
                "shape \(shape) of \(dtype.descr) needs \(elements * dtype.itemSize) bytes, found \(bytes.count)")
        }
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
    }

    /// A float32 array of the given shape (C order).
    public init(float32 values: [Float], shape: [Int]) throws(FormatError) {
        try self.init(dtype: .float32, shape: shape, bytes: littleEndianBytes(values.map(\.bitPattern)))
    }

    /// An int32 array of the given shape (C order).
    public init(int32 values: [Int32], shape: [Int]) throws(FormatError) {
        try self.init(dtype: .int32, shape: shape, bytes: littleEndianBytes(values))
    }

    /// An int64 array of the given shape (C order).
    public init(int64 values: [Int64], shape: [Int]) throws(FormatError) {
        try self.init(dtype: .int64, shape: shape, bytes: littleEndianBytes(values))
    }

    /// A uint8 array of the given shape (C order).
    public init(uint8 values: [UInt8], shape: [Int]) throws(FormatError) {
        try self.init(dtype: .uint8, shape: shape, bytes: values)
    }

    /// A 1-D array of strings, stored as NumPy fixed-length Unicode (`<U` + longest length).
    public init(strings: [String]) throws(FormatError) {
        let scalars = strings.map { Array($0.unicodeScalars) }
        let length = max(1, scalars.map(\.count).max() ?? 0)
        var bytes = [UInt8]()
        bytes.reserveCapacity(strings.count * length * 4)
        for row in scalars {
            for i in 0..<length {
                let value = i < row.count ? row[i].value : 0
                withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
            }
        }
        try self.init(dtype: .unicode(length: length), shape: [strings.count], bytes: bytes)
    }

    /// A table column as an array: fixed-width kinds become `(rows, width)` (or `(rows,)`
    /// for width-1 integer columns), strings a 1-D Unicode array. Blobs have no NumPy form.
    public init(column: Column, rowCount: Int) throws(FormatError) {
        switch column.data {
        case .float32(let values, let width): try self.init(float32: values, shape: [rowCount, width])
        case .int32(let values): try self.init(int32: values, shape: [rowCount])
        case .int64(let values): try self.init(int64: values, shape: [rowCount])
        case .uint8(let values, let width):
            try self.init(uint8: values, shape: width == 1 ? [rowCount] : [rowCount, width])
        case .strings(let values): try self.init(strings: values)
        case .blobs:
            throw FormatError(file: "column '\(column.name)'", message: "blob columns have no NumPy array form")
        }
    }
}

private func littleEndianBytes<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
    var out = [UInt8]()
    out.reserveCapacity(values.count * MemoryLayout<T>.size)
    for value in values { withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) } }
    return out
}

/// NumPy `.npy` (format 1.0) and `.npz` (an uncompressed zip of `.npy` files) writers, so
/// Keras users can `np.load` a dataset directly. Output is deterministic: zip entries carry a
/// fixed 1980-01-01 timestamp and appear in the given order.
public enum NumPyFile {
    /// The `.npy` bytes of `array`.
    public static func npy(_ array: NPYArray) -> [UInt8] {
        let shape = array.shape.count == 1 ? "(\(array.shape[0]),)" : "(" + array.shape.map(String.init).joined(separator: ", ") + ")"
        var header = Array("{'descr': '\(array.dtype.descr)', 'fortran_order': False, 'shape': \(shape), }".utf8)
        // Magic (6) + version (2) + length (2) + header, padded with spaces to a multiple of 64
        // and ending in a newline, as the format asks for aligned data.
        let unpadded = 10 + header.count + 1
        header += [UInt8](repeating: 0x20, count: (64 - unpadded % 64) % 64)
        header.append(0x0A)
        var out: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0]
        out += [UInt8(header.count & 0xff), UInt8(header.count >> 8)]
        out += header
        out += array.bytes
        return out
    }

    /// An `.npz` archive holding `name.npy` for each array, in order (stored, not deflated).
    public static func npz(_ arrays: [(name: String, array: NPYArray)]) throws(FormatError) -> [UInt8] {
        var out = [UInt8]()
        var central = [UInt8]()
        var seen = Set<String>()
        for (name, array) in arrays {
            guard seen.insert(name).inserted, !name.isEmpty else {
                throw FormatError(file: "npz archive", message: "array names must be unique and non-empty, found '\(name)' twice or empty")
            }
            let file = Array((name + ".npy").utf8)
            let data = npy(array)
            guard data.count < 0xFFFF_FFFF, out.count < 0xFFFF_FFFF, file.count <= 0xFFFF else {
                throw FormatError(file: "npz archive", message: "array '\(name)' is too large for a zip without ZIP64 (4 GiB)")
            }
            let crc = CRC32.checksum(data)
            let offset = UInt32(out.count)
            // Local file header: stored, no flags, time 00:00, date 1980-01-01.
            out += le32(0x0403_4B50) + le16(20) + le16(0) + le16(0) + le16(0) + le16(0x21)
            out += le32(crc) + le32(UInt32(data.count)) + le32(UInt32(data.count))
            out += le16(UInt16(file.count)) + le16(0) + file + data
            central += le32(0x0201_4B50) + le16(20) + le16(20) + le16(0) + le16(0) + le16(0) + le16(0x21)
            central += le32(crc) + le32(UInt32(data.count)) + le32(UInt32(data.count))
            central += le16(UInt16(file.count)) + le16(0) + le16(0) + le16(0) + le16(0) + le32(0) + le32(offset) + file
        }
        guard arrays.count <= 0xFFFF, out.count < 0xFFFF_FFFF else {
            throw FormatError(file: "npz archive", message: "too large for a zip without ZIP64")
        }
        let centralOffset = UInt32(out.count)
        out += central
        out += le32(0x0605_4B50) + le16(0) + le16(0) + le16(UInt16(arrays.count)) + le16(UInt16(arrays.count))
        out += le32(UInt32(central.count)) + le32(centralOffset) + le16(0)
        return out
    }

    private static func le16(_ v: UInt16) -> [UInt8] { [UInt8(v & 0xff), UInt8(v >> 8)] }
    private static func le32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * UInt32($0))) } }
}
