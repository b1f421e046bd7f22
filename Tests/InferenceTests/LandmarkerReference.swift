import Foundation
import Testing

/// Ground truth from `../shared` (the package root is the tests' working directory).
enum LandmarkerReference {
    static let shared = "../shared"
    static let intermediates = "\(shared)/reference/intermediates"
    static let taskPath = "\(shared)/models/face_landmarker.task"
    static let miniCSV = "\(shared)/fixtures/fer2013-mini.csv"

    /// Fixture rows with dumped intermediates; 161 has no face (detector rejects).
    static let faceRows = [25, 71, 96]
    static let allRows = [25, 71, 96, 161]

    static func rowFolder(_ row: Int) -> String {
        "\(intermediates)/row_\(String(format: "%04d", row))"
    }

    static func bytes(_ path: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ReferenceFileMissing(path: path)
        }
        return [UInt8](data)
    }

    static func floats(_ path: String) throws -> [Float] {
        let raw = try bytes(path)
        return stride(from: 0, to: raw.count, by: 4).map { i in
            Float(bitPattern: UInt32(raw[i]) | UInt32(raw[i + 1]) << 8
                | UInt32(raw[i + 2]) << 16 | UInt32(raw[i + 3]) << 24)
        }
    }

    static func int32s(_ path: String) throws -> [Int] {
        try floats(path).map { Int(Int32(bitPattern: $0.bitPattern)) }
    }

    static func u8(row: Int, _ name: String) throws -> [UInt8] {
        try bytes("\(rowFolder(row))/\(name).u8")
    }

    static func f32(row: Int, _ name: String) throws -> [Float] {
        try floats("\(rowFolder(row))/\(name).f32")
    }

    static func exists(row: Int, _ file: String) -> Bool {
        FileManager.default.fileExists(atPath: "\(rowFolder(row))/\(file)")
    }

    /// `row.json`.
    static func metadata(row: Int) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: "\(rowFolder(row))/row.json"))
        return try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
    }

    /// The fixture rows (0-based data row, header excluded), as 48x48 gray images.
    static let fixtureImages: [[UInt8]] = {
        guard let text = try? String(contentsOfFile: miniCSV, encoding: .utf8) else { return [] }
        var images: [[UInt8]] = []
        for line in text.split(whereSeparator: \.isNewline).dropFirst() {
            let fields = line.split(separator: ",")
            guard fields.count >= 2 else { continue }
            images.append(fields[1].split(separator: " ").map { UInt8($0)! })
        }
        return images
    }()
}

struct ReferenceFileMissing: Error, CustomStringConvertible {
    let path: String
    var description: String { "reference file missing: \(path) (is ../shared mounted?)" }
}

/// Distance in units in the last place between two floats (0 when bit-identical).
func ulpDistance(_ a: Float, _ b: Float) -> Int {
    if a.bitPattern == b.bitPattern { return 0 }
    if a.isNaN || b.isNaN { return Int.max }
    func ordered(_ x: Float) -> Int64 {
        let bits = Int64(Int32(bitPattern: x.bitPattern))
        return bits < 0 ? Int64(Int32.min) - bits : bits
    }
    return Int(abs(ordered(a) - ordered(b)))
}

/// Expects `actual` to equal `expected` value by value within `ulps` (0: bit-identical),
/// reporting the count and the first mismatch at the caller.
func expectFloats(_ actual: [Float], _ expected: [Float], ulps: Int = 0, _ what: String,
                  sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(actual.count == expected.count, "\(what): count", sourceLocation: sourceLocation)
    var bad = 0, first: Int?, worst = 0
    for i in 0..<min(actual.count, expected.count) {
        let d = ulpDistance(actual[i], expected[i])
        worst = max(worst, d)
        if d > ulps {
            bad += 1
            if first == nil { first = i }
        }
    }
    if let i = first {
        Issue.record("\(what): \(bad) of \(expected.count) values differ by > \(ulps) ulp (worst \(worst)); first at \(i): \(actual[i]) vs \(expected[i])",
                     sourceLocation: sourceLocation)
    }
}

/// Expects two byte arrays to be identical, reporting the count and first difference.
func expectBytes(_ actual: [UInt8], _ expected: [UInt8], _ what: String,
                 sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(actual.count == expected.count, "\(what): count", sourceLocation: sourceLocation)
    let diffs = zip(actual, expected).enumerated().filter { $0.element.0 != $0.element.1 }
    if let (i, (a, e)) = diffs.first {
        let maxDiff = diffs.map { abs(Int($0.element.0) - Int($0.element.1)) }.max() ?? 0
        Issue.record("\(what): \(diffs.count) of \(expected.count) bytes differ (max \(maxDiff)); first at \(i): \(a) vs \(e)",
                     sourceLocation: sourceLocation)
    }
}
