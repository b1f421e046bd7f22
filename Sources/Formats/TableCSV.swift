import Foundation

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

extension TableCSV {
    /// A CSV file with a header, as text fields.
    public struct Records: Sendable {
        /// The header's field names; empty for an empty file.
        public var header: [String]
        /// The data rows with the 1-based line each starts on; blank lines are skipped.
        public var rows: [(line: Int, fields: [String])]
    }

    /// Reads RFC 4180 CSV with a header: quoted fields may hold commas, doubled quotes and
    /// line breaks; lines end in `\n` or `\r\n`; fields are trimmed of surrounding spaces.
    /// A record longer than `maxRecordBytes` is refused (a feature row is well under 1 KB).
    public static func decode(_ bytes: [UInt8], source: String,
                              maxRecordBytes: Int = FER2013CSV.maxLineBytes) throws(FormatError) -> Records {
        let quote = UInt8(ascii: "\""), comma = UInt8(ascii: ","), newline = UInt8(ascii: "\n"), cr = UInt8(ascii: "\r")
        var records: [(line: Int, fields: [String])] = []
        var fields: [String] = [], field: [UInt8] = []
        var quoted = false, line = 1, recordLine = 1, i = 0, recordStart = 0
        func endField() {
            fields.append(String(decoding: field, as: UTF8.self).trimmingCharacters(in: .whitespaces))
            field = []
        }
        func endRecord() {
            if fields != [""] { records.append((recordLine, fields)) }
            fields = []
        }
        while i < bytes.count {
            let b = bytes[i]
            i += 1
            if i - recordStart > maxRecordBytes {
                throw FormatError(file: source, line: recordLine, message:
                    "a record is longer than \(maxRecordBytes) bytes: not a feature CSV, or a quote or line break is missing")
            }
            if quoted {
                if b == quote {
                    if i < bytes.count && bytes[i] == quote { field.append(quote); i += 1 } else { quoted = false }
                } else {
                    if b == newline { line += 1 }
                    field.append(b)
                }
            } else if b == quote {
                quoted = true
            } else if b == comma {
                endField()
            } else if b == newline {
                endField()
                endRecord()
                line += 1
                recordLine = line
                recordStart = i
            } else if !(b == cr && i < bytes.count && bytes[i] == newline) {
                field.append(b)
            }
        }
        if quoted { throw FormatError(file: source, line: recordLine, message: "a quoted field is not closed before the end of the file") }
        if !field.isEmpty || !fields.isEmpty {
            endField()
            endRecord()
        }
        guard let header = records.first else { return Records(header: [], rows: []) }
        return Records(header: header.fields, rows: Array(records.dropFirst()))
    }
}
