import Basics
import Foundation
import Formats

/// A minimal, independent reader of the `.npz` files blendset writes (a stored zip of
/// format-1.0 `.npy` members), so the export is checked without NumPy.
struct NPZReader {
    struct Array: Equatable {
        var descr: String
        var shape: [Int]
        var data: [UInt8]

        var floats: [Float] {
            stride(from: 0, to: data.count, by: 4).map { i in
                Float(bitPattern: UInt32(data[i]) | UInt32(data[i + 1]) << 8 | UInt32(data[i + 2]) << 16 | UInt32(data[i + 3]) << 24)
            }
        }

        var int64s: [Int64] {
            stride(from: 0, to: data.count, by: 8).map { i in
                Int64(bitPattern: (0..<8).reduce(UInt64(0)) { $0 | UInt64(data[i + $1]) << (8 * UInt64($1)) })
            }
        }

        /// `<U…` arrays as Swift strings.
        var strings: [String] {
            guard descr.hasPrefix("<U"), let n = Int(descr.dropFirst(2)) else { return [] }
            return stride(from: 0, to: data.count, by: 4 * n).map { start in
                var s = ""
                for k in 0..<n {
                    let i = start + 4 * k
                    let v = UInt32(data[i]) | UInt32(data[i + 1]) << 8 | UInt32(data[i + 2]) << 16 | UInt32(data[i + 3]) << 24
                    if v == 0 { break }
                    s.unicodeScalars.append(Unicode.Scalar(v)!)
                }
                return s
            }
        }
    }

    struct Problem: Error, CustomStringConvertible { var description: String }

    /// Member name (without `.npy`) → array, in archive order.
    static func read(_ bytes: [UInt8]) throws -> [(name: String, array: Array)] {
        func u16(_ i: Int) -> Int { Int(bytes[i]) | Int(bytes[i + 1]) << 8 }
        func u32(_ i: Int) -> Int { u16(i) | u16(i + 2) << 16 }
        var out: [(String, Array)] = []
        var p = 0
        while p + 30 <= bytes.count, u32(p) == 0x0403_4b50 {
            guard u16(p + 8) == 0 else { throw Problem(description: "member at \(p) is compressed (method \(u16(p + 8)))") }
            let size = u32(p + 18), nameLength = u16(p + 26), extra = u16(p + 28)
            let name = String(decoding: bytes[(p + 30)..<(p + 30 + nameLength)], as: UTF8.self)
            let start = p + 30 + nameLength + extra
            let member = Swift.Array(bytes[start..<(start + size)])
            guard CRC32.checksum(member) == UInt32(u32(p + 14)) else { throw Problem(description: "\(name): CRC mismatch") }
            guard name.hasSuffix(".npy") else { throw Problem(description: "\(name) is not an .npy member") }
            out.append((String(name.dropLast(4)), try npy(member)))
            p = start + size
        }
        guard p + 4 <= bytes.count, u32(p) == 0x0201_4b50 else { throw Problem(description: "no central directory after the members") }
        return out
    }

    static func npy(_ b: [UInt8]) throws -> Array {
        guard b.count >= 10, b[0] == 0x93, String(decoding: b[1..<6], as: UTF8.self) == "NUMPY", b[6] == 1, b[7] == 0 else {
            throw Problem(description: "not a version 1.0 .npy")
        }
        let headerLength = Int(b[8]) | Int(b[9]) << 8
        guard (10 + headerLength) % 64 == 0 else { throw Problem(description: "data is not 64-byte aligned") }
        let header = String(decoding: b[10..<(10 + headerLength)], as: UTF8.self)
        func field(_ key: String, until end: Character) -> String? {
            guard let r = header.range(of: "'\(key)': ") else { return nil }
            let rest = header[r.upperBound...]
            return String(rest.prefix { $0 != end })
        }
        guard let descr = field("descr", until: ",")?.replacingOccurrences(of: "'", with: ""),
              field("fortran_order", until: ",") == "False",
              let shapeText = field("shape", until: ")") else { throw Problem(description: "bad header \(header)") }
        let shape = shapeText.dropFirst().split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        let item: Int
        switch descr {
        case "<f4", "<i4": item = 4
        case "<i8": item = 8
        case "|u1": item = 1
        default:
            guard descr.hasPrefix("<U"), let n = Int(descr.dropFirst(2)) else { throw Problem(description: "unexpected dtype \(descr)") }
            item = 4 * n
        }
        let data = Swift.Array(b[(10 + headerLength)...])
        guard data.count == shape.reduce(1, *) * item else { throw Problem(description: "\(descr) \(shape): \(data.count) data bytes") }
        return Array(descr: descr, shape: shape, data: data)
    }
}
