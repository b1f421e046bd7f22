/// Writes a `Table` as RFC 4180 CSV (comma-separated, `\n` line ends, a header row), for
/// people who want a dataset in a spreadsheet or pandas.
///
/// Each column becomes one CSV field, except `float32` columns of width > 1, which become
/// one field per value, named from `expandedNames[name]` when given, else `name_0`, `name_1`…
/// `uint8` columns of width 32 are written as 64 hex digits (the form content digests take),
/// other multi-byte `uint8` rows as space-separated numbers (FER2013's pixel style), blobs as
/// hex. Floats use Swift's shortest round-trip spelling (`0.1234`, `nan`, `inf`).
public enum TableCSV {
    public static func encode(_ table: Table, expandedNames: [String: [String]] = [:]) throws(FormatError) -> [UInt8] {
        var header: [String] = []
        for column in table.columns {
            if case .float32(_, let width) = column.data, width > 1 {
                if let names = expandedNames[column.name] {
                    guard names.count == width else {
                        throw FormatError(file: table.source, message:
                            "column '\(column.name)' has width \(width), but \(names.count) names were given for it")
                    }
                    header += names
                } else {
                    header += (0..<width).map { "\(column.name)_\($0)" }
                }
            } else {
                header.append(column.name)
            }
        }
        var out = [UInt8]()
        append(header.map(quoted).joined(separator: ","), to: &out)
        for row in 0..<table.rowCount {
            var fields: [String] = []
            for column in table.columns {
                switch column.data {
                case .float32(let values, let width):
                    for i in 0..<width { fields.append("\(values[row * width + i])") }
                case .int32(let values): fields.append(String(values[row]))
                case .int64(let values): fields.append(String(values[row]))
                case .uint8(let values, let width):
                    let bytes = values[row * width ..< (row + 1) * width]
                    if width == 32 {
                        fields.append(hex(bytes))
                    } else {
                        fields.append(bytes.map(String.init).joined(separator: " "))
                    }
                case .strings(let values): fields.append(quoted(values[row]))
                case .blobs(let offsets, let bytes):
                    fields.append(hex(bytes[Int(offsets[row]) ..< Int(offsets[row + 1])]))
                }
            }
            append(fields.joined(separator: ","), to: &out)
        }
        return out
    }

    private static func append(_ line: String, to out: inout [UInt8]) {
        out.append(contentsOf: line.utf8)
        out.append(0x0A)
    }

    private static func quoted(_ field: String) -> String {
        guard field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return field }
        var escaped = "\""
        for character in field {
            if character == "\"" { escaped.append("\"") }
            escaped.append(character)
        }
        return escaped + "\""
    }

    private static func hex(_ bytes: ArraySlice<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0xf)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
