import Basics
import Foundation

/// A JSON value that remembers where it came from, so configuration errors can point at
/// the line and column of the offending key or value.
public struct JSONValue: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        case null
        case bool(Bool)
        case number(Double)
        case string(String)
        case array([JSONValue])
        /// Members in source order. Keys are unique (the parser rejects duplicates).
        case object([(key: String, value: JSONValue)])

        public static func == (a: Kind, b: Kind) -> Bool {
            switch (a, b) {
            case (.null, .null): return true
            case let (.bool(x), .bool(y)): return x == y
            case let (.number(x), .number(y)): return x == y
            case let (.string(x), .string(y)): return x == y
            case let (.array(x), .array(y)): return x == y
            case let (.object(x), .object(y)):
                return x.count == y.count && zip(x, y).allSatisfy { $0.key == $1.key && $0.value == $1.value }
            default: return false
            }
        }
    }

    public var kind: Kind
    /// 1-based line and column of the value's first character; 0 when built in code.
    public var line: Int
    public var column: Int

    public init(_ kind: Kind, line: Int = 0, column: Int = 0) {
        self.kind = kind
        self.line = line
        self.column = column
    }

    /// Equality ignores source positions.
    public static func == (a: JSONValue, b: JSONValue) -> Bool { a.kind == b.kind }

    public static let null = JSONValue(.null)
    public static func bool(_ b: Bool) -> JSONValue { JSONValue(.bool(b)) }
    public static func number(_ d: Double) -> JSONValue { JSONValue(.number(d)) }
    public static func int(_ i: Int) -> JSONValue { JSONValue(.number(Double(i))) }
    public static func string(_ s: String) -> JSONValue { JSONValue(.string(s)) }
    public static func array(_ a: [JSONValue]) -> JSONValue { JSONValue(.array(a)) }
    public static func object(_ o: [(String, JSONValue)]) -> JSONValue {
        JSONValue(.object(o.map { (key: $0.0, value: $0.1) }))
    }

    public subscript(key: String) -> JSONValue? {
        if case .object(let members) = kind { return members.first { $0.key == key }?.value }
        return nil
    }

    public var stringValue: String? { if case .string(let s) = kind { return s }; return nil }
    public var doubleValue: Double? { if case .number(let d) = kind { return d }; return nil }
    public var boolValue: Bool? { if case .bool(let b) = kind { return b }; return nil }
    public var intValue: Int? {
        if case .number(let d) = kind, d == d.rounded(), abs(d) < 9.007_199_254_740_992e15 { return Int(d) }
        return nil
    }
    public var arrayValue: [JSONValue]? { if case .array(let a) = kind { return a }; return nil }
    public var objectValue: [(key: String, value: JSONValue)]? { if case .object(let o) = kind { return o }; return nil }

    /// A short name for the type, for error messages.
    public var typeName: String {
        switch kind {
        case .null: return "null"
        case .bool: return "a boolean"
        case .number: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }

    /// Canonical form: object keys sorted, no whitespace, integers without a fraction,
    /// other numbers in Swift's shortest round-trip form. Equal values give equal bytes,
    /// which is what stage keys hash.
    public var canonical: String {
        var out = ""
        writeCanonical(into: &out)
        return out
    }

    public var description: String { canonical }

    private func writeCanonical(into out: inout String) {
        switch kind {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .number(let d): out += JSONValue.format(d)
        case .string(let s): JSONValue.writeString(s, into: &out)
        case .array(let a):
            out += "["
            for (i, v) in a.enumerated() {
                if i > 0 { out += "," }
                v.writeCanonical(into: &out)
            }
            out += "]"
        case .object(let o):
            out += "{"
            for (i, m) in o.sorted(by: { $0.key < $1.key }).enumerated() {
                if i > 0 { out += "," }
                JSONValue.writeString(m.key, into: &out)
                out += ":"
                m.value.writeCanonical(into: &out)
            }
            out += "}"
        }
    }

    /// The same value with every object's members sorted by key (as `canonical` orders them).
    public var sortingKeys: JSONValue {
        switch kind {
        case .array(let a): return JSONValue(.array(a.map(\.sortingKeys)), line: line, column: column)
        case .object(let o):
            return JSONValue(.object(o.sorted { $0.key < $1.key }.map { (key: $0.key, value: $0.value.sortingKeys) }), line: line, column: column)
        default: return self
        }
    }

    /// Human-readable, indented JSON in source order.
    public func pretty(indent: Int = 0) -> String {
        let pad = String(repeating: "  ", count: indent + 1)
        let closePad = String(repeating: "  ", count: indent)
        switch kind {
        case .array(let a) where !a.isEmpty:
            if a.allSatisfy({ if case .object = $0.kind { return false }; if case .array = $0.kind { return false }; return true }) {
                return "[" + a.map { $0.canonical }.joined(separator: ", ") + "]"
            }
            return "[\n" + a.map { pad + $0.pretty(indent: indent + 1) }.joined(separator: ",\n") + "\n" + closePad + "]"
        case .object(let o) where !o.isEmpty:
            return "{\n" + o.map { m -> String in
                var key = ""
                JSONValue.writeString(m.key, into: &key)
                return pad + key + ": " + m.value.pretty(indent: indent + 1)
            }.joined(separator: ",\n") + "\n" + closePad + "}"
        default:
            return canonical
        }
    }

    static func format(_ d: Double) -> String {
        if d.isNaN || d.isInfinite { return "null" }
        if d == d.rounded(), abs(d) < 1e15 { return String(Int64(d)) }
        return "\(d)"
    }

    static func writeString(_ s: String, into out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case let c where c.value < 0x20:
                out += String(format: "\\u%04x", c.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}

/// A JSON syntax error with its position.
public struct JSONSyntaxError: Error, Sendable, CustomStringConvertible {
    public var line: Int
    public var column: Int
    public var message: String
    public var description: String { "line \(line), column \(column): \(message)" }
}

/// A small strict JSON parser (RFC 8259) that records the position of every value.
public struct JSONParser {
    private let bytes: [UInt8]
    private var index = 0
    private var line = 1
    private var lineStart = 0

    public static func parse(_ text: String) throws(JSONSyntaxError) -> JSONValue {
        try parse(Array(text.utf8))
    }

    public static func parse(_ bytes: [UInt8]) throws(JSONSyntaxError) -> JSONValue {
        var parser = JSONParser(bytes: bytes)
        parser.skipWhitespace()
        if parser.index >= bytes.count { throw parser.error("empty document, expected a JSON value") }
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        if parser.index < bytes.count { throw parser.error("unexpected text after the JSON value") }
        return value
    }

    private init(bytes: [UInt8]) { self.bytes = bytes }

    private var column: Int { index - lineStart + 1 }

    private func error(_ message: String) -> JSONSyntaxError {
        JSONSyntaxError(line: line, column: column, message: message)
    }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"): index += 1
            case UInt8(ascii: "\n"):
                index += 1
                line += 1
                lineStart = index
            default: return
            }
        }
    }

    private mutating func parseValue(depth: Int) throws(JSONSyntaxError) -> JSONValue {
        guard depth < 512 else { throw error("nesting is too deep") }
        skipWhitespace()
        guard index < bytes.count else { throw error("unexpected end of input, expected a value") }
        let l = line, c = column
        switch bytes[index] {
        case UInt8(ascii: "{"):
            index += 1
            var members: [(key: String, value: JSONValue)] = []
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
                index += 1
                return JSONValue(.object(members), line: l, column: c)
            }
            while true {
                skipWhitespace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else {
                    throw error("expected a quoted key")
                }
                let keyLine = line, keyColumn = column
                let key = try parseString()
                if members.contains(where: { $0.key == key }) {
                    throw JSONSyntaxError(line: keyLine, column: keyColumn, message: "duplicate key \"\(MessageText.field(key))\"")
                }
                skipWhitespace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw error("expected ':' after key \"\(MessageText.field(key))\"") }
                index += 1
                var value = try parseValue(depth: depth + 1)
                // Point errors about a member at its key, which is what a reader looks for.
                value.line = keyLine
                value.column = keyColumn
                members.append((key: key, value: value))
                skipWhitespace()
                guard index < bytes.count else { throw error("unexpected end of input inside an object") }
                if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                if bytes[index] == UInt8(ascii: "}") { index += 1; break }
                throw error("expected ',' or '}' in an object")
            }
            return JSONValue(.object(members), line: l, column: c)
        case UInt8(ascii: "["):
            index += 1
            var elements: [JSONValue] = []
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
                index += 1
                return JSONValue(.array(elements), line: l, column: c)
            }
            while true {
                elements.append(try parseValue(depth: depth + 1))
                skipWhitespace()
                guard index < bytes.count else { throw error("unexpected end of input inside an array") }
                if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                if bytes[index] == UInt8(ascii: "]") { index += 1; break }
                throw error("expected ',' or ']' in an array")
            }
            return JSONValue(.array(elements), line: l, column: c)
        case UInt8(ascii: "\""):
            return JSONValue(.string(try parseString()), line: l, column: c)
        case UInt8(ascii: "t"):
            try expectLiteral("true")
            return JSONValue(.bool(true), line: l, column: c)
        case UInt8(ascii: "f"):
            try expectLiteral("false")
            return JSONValue(.bool(false), line: l, column: c)
        case UInt8(ascii: "n"):
            try expectLiteral("null")
            return JSONValue(.null, line: l, column: c)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return JSONValue(.number(try parseNumber()), line: l, column: c)
        default:
            throw error("unexpected character '\(Character(UnicodeScalar(bytes[index])))', expected a value")
        }
    }

    private mutating func expectLiteral(_ word: String) throws(JSONSyntaxError) {
        let w = Array(word.utf8)
        guard index + w.count <= bytes.count, Array(bytes[index..<index + w.count]) == w else {
            throw error("invalid literal, expected '\(word)'")
        }
        index += w.count
    }

    private mutating func parseNumber() throws(JSONSyntaxError) -> Double {
        let start = index
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        func digits(_ p: inout JSONParser) -> Int {
            let s = p.index
            while p.index < p.bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(p.bytes[p.index]) { p.index += 1 }
            return p.index - s
        }
        guard digits(&self) > 0 else { throw error("invalid number") }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard digits(&self) > 0 else { throw error("invalid number: digits expected after '.'") }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard digits(&self) > 0 else { throw error("invalid number: digits expected in the exponent") }
        }
        let text = String(decoding: bytes[start..<index], as: UTF8.self)
        guard let d = Double(text), d.isFinite else { throw error("number out of range: \(MessageText.field(text))") }
        return d
    }

    private mutating func parseString() throws(JSONSyntaxError) -> String {
        index += 1  // opening quote
        var scalars = String.UnicodeScalarView()
        var runStart = index
        func flush(_ p: JSONParser, _ upTo: Int, _ out: inout String.UnicodeScalarView) {
            if upTo > runStart { out.append(contentsOf: String(decoding: p.bytes[runStart..<upTo], as: UTF8.self).unicodeScalars) }
        }
        while true {
            guard index < bytes.count else { throw error("unterminated string") }
            let b = bytes[index]
            if b == UInt8(ascii: "\"") {
                flush(self, index, &scalars)
                index += 1
                return String(scalars)
            }
            if b < 0x20 { throw error("control character in string; escape it") }
            if b == UInt8(ascii: "\\") {
                flush(self, index, &scalars)
                index += 1
                guard index < bytes.count else { throw error("unterminated escape") }
                let e = bytes[index]
                index += 1
                switch e {
                case UInt8(ascii: "\""): scalars.append("\"")
                case UInt8(ascii: "\\"): scalars.append("\\")
                case UInt8(ascii: "/"): scalars.append("/")
                case UInt8(ascii: "b"): scalars.append("\u{08}")
                case UInt8(ascii: "f"): scalars.append("\u{0C}")
                case UInt8(ascii: "n"): scalars.append("\n")
                case UInt8(ascii: "r"): scalars.append("\r")
                case UInt8(ascii: "t"): scalars.append("\t")
                case UInt8(ascii: "u"):
                    var code = try parseHex4()
                    if (0xD800..<0xDC00).contains(code) {
                        guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                            throw error("unpaired surrogate in string")
                        }
                        index += 2
                        let low = try parseHex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw error("invalid surrogate pair in string") }
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let s = UnicodeScalar(code) else { throw error("invalid unicode escape") }
                    scalars.append(s)
                default: throw error("invalid escape '\\\(Character(UnicodeScalar(e)))'")
                }
                runStart = index
                continue
            }
            index += 1
        }
    }

    private mutating func parseHex4() throws(JSONSyntaxError) -> UInt32 {
        guard index + 4 <= bytes.count else { throw error("truncated \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let b = bytes[index]
            let d: UInt32
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(b - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(b - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(b - UInt8(ascii: "A") + 10)
            default: throw error("invalid hex digit in \\u escape")
            }
            v = v * 16 + d
            index += 1
        }
        return v
    }
}

/// Encodes to the JSON the value represents (members handed to the encoder in order,
/// integral numbers without a fraction) and decodes from any JSON. Codable containers do
/// not promise an order (records are written with `.sortedKeys`), so decoded objects have
/// their keys sorted. pipeline.json goes through `JSONParser` instead, which keeps order
/// and positions and rejects duplicate keys.
extension JSONValue: Codable {
    private struct MemberKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public func encode(to encoder: any Encoder) throws {
        switch kind {
        case .null:
            var c = encoder.singleValueContainer()
            try c.encodeNil()
        case .bool(let b):
            var c = encoder.singleValueContainer()
            try c.encode(b)
        case .number(let d):
            var c = encoder.singleValueContainer()
            if let i = intValue, abs(d) < 1e15 { try c.encode(Int64(i)) } else if d.isFinite { try c.encode(d) } else { try c.encodeNil() }
        case .string(let s):
            var c = encoder.singleValueContainer()
            try c.encode(s)
        case .array(let a):
            var c = encoder.unkeyedContainer()
            for v in a { try c.encode(v) }
        case .object(let o):
            var c = encoder.container(keyedBy: MemberKey.self)
            for m in o { try c.encode(m.value, forKey: MemberKey(stringValue: m.key)) }
        }
    }

    public init(from decoder: any Decoder) throws {
        if let c = try? decoder.container(keyedBy: MemberKey.self) {
            var members: [(key: String, value: JSONValue)] = []
            for k in c.allKeys.sorted(by: { $0.stringValue < $1.stringValue }) {
                members.append((key: k.stringValue, value: try c.decode(JSONValue.self, forKey: k)))
            }
            self.init(.object(members))
            return
        }
        if var c = try? decoder.unkeyedContainer() {
            var elements: [JSONValue] = []
            while !c.isAtEnd { elements.append(try c.decode(JSONValue.self)) }
            self.init(.array(elements))
            return
        }
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self.init(.null) }
        else if let b = try? c.decode(Bool.self) { self.init(.bool(b)) }
        else if let d = try? c.decode(Double.self) { self.init(.number(d)) }
        else if let s = try? c.decode(String.self) { self.init(.string(s)) }
        else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "expected a JSON value")
        }
    }
}
