import Foundation
import Testing
@testable import Inference

/// The whole Face Landmarker with the TFLite interpreter, against MediaPipe 0.10.14's own
/// results on the mini fixture. Slow in debug builds; run with `-c release -Xswiftc -enable-testing`.
@Suite("Landmarker end to end against MediaPipe", .serialized)
struct LandmarkerEndToEndTests {
    typealias Ref = LandmarkerReference
    static let mediapipe = "\(Ref.shared)/reference/mediapipe"

    /// One row of `fer2013-mini.blendshapes.csv` with its 478x3 landmarks (NaN: no face).
    struct MediaPipeRow {
        var fixtureRow: Int
        var detected: Bool
        var blendshapes: [Float]
        var landmarks: ArraySlice<Float>
    }

    static func mediapipeRows() throws -> [MediaPipeRow] {
        let text = try String(contentsOfFile: "\(mediapipe)/fer2013-mini.blendshapes.csv", encoding: .utf8)
        var lines = text.split(whereSeparator: \.isNewline).map { $0.split(separator: ",", omittingEmptySubsequences: false) }
        let header = lines.removeFirst().map(String.init)
        #expect(Array(header.dropFirst(3)) == Blendshapes.names)
        let landmarks = try Ref.floats("\(mediapipe)/fer2013-mini.landmarks.f32")
        let size = 3 * FaceMeshDecoding.landmarkCount
        #expect(landmarks.count == lines.count * size)
        return lines.enumerated().map { k, fields in
            MediaPipeRow(fixtureRow: Int(fields[0])!, detected: fields[2] == "1",
                         blendshapes: fields.dropFirst(3).map { Float($0) ?? .nan },
                         landmarks: landmarks[k * size..<(k + 1) * size])
        }
    }

    /// numpy's default (linear) percentile.
    static func percentile(_ sorted: [Double], _ p: Double) -> Double {
        let position = Double(sorted.count - 1) * p / 100
        let lower = Int(position.rounded(.down)), upper = min(lower + 1, sorted.count - 1)
        return sorted[lower] + (sorted[upper] - sorted[lower]) * (position - Double(lower))
    }

    @Test("mini fixture: detection agreement, blendshapes and landmarks")
    func miniFixture() throws {
        let models = try Inference.FaceModels(taskPath: Ref.taskPath)
        let landmarker = try FaceLandmarker(models: models)
        let rows = try Self.mediapipeRows()
        #expect(rows.count == 126)
        var agree = 0, onlyOurs: [Int] = [], onlyMediaPipe: [Int] = []
        var blendshapeDiffs: [Double] = [], xyDiffs: [Double] = [], zDiffs: [Double] = []
        var identicalFaces = 0, bothFaces = 0
        let start = ContinuousClock.now
        for row in rows {
            let image = Ref.fixtureImages[row.fixtureRow]
            let result = try image.withUnsafeBufferPointer { try landmarker.detect(gray: $0, width: 48, height: 48) }
            guard case .face(let face) = result else {
                if row.detected { onlyMediaPipe.append(row.fixtureRow) } else { agree += 1 }
                continue
            }
            guard row.detected else {
                onlyOurs.append(row.fixtureRow)
                continue
            }
            agree += 1
            bothFaces += 1
            blendshapeDiffs += zip(face.blendshapes, row.blendshapes).map { Double(abs($0 - $1)) }
            var identical = true
            for (i, p) in face.landmarks.enumerated() {
                let base = row.landmarks.startIndex + 3 * i
                let expected = SIMD3(row.landmarks[base], row.landmarks[base + 1], row.landmarks[base + 2])
                xyDiffs += [Double(abs(p.x - expected.x)), Double(abs(p.y - expected.y))]
                zDiffs.append(Double(abs(p.z - expected.z)))
                if p != expected { identical = false }
            }
            if identical { identicalFaces += 1 }
        }
        let elapsed = ContinuousClock.now - start
        blendshapeDiffs.sort()
        xyDiffs.sort()
        zDiffs.sort()
        let agreement = Double(agree) / Double(rows.count)
        let bsMedian = Self.percentile(blendshapeDiffs, 50), bs99 = Self.percentile(blendshapeDiffs, 99)
        let xyMedian = Self.percentile(xyDiffs, 50)
        let summary = """
            \(rows.count) images in \(elapsed): detection agreement \(agree)/\(rows.count) \
            (only ours \(onlyOurs), only MediaPipe \(onlyMediaPipe)); \(bothFaces) faces, \
            \(identicalFaces) with bit-identical landmarks; blendshapes |d| median \(bsMedian), \
            p99 \(bs99), max \(blendshapeDiffs.last ?? 0); landmarks x,y |d| median \(xyMedian), \
            max \(xyDiffs.last ?? 0); z |d| max \(zDiffs.last ?? 0)
            """
        print("Landmarker end to end: \(summary)")
        #expect(agreement >= 0.998, "\(summary)")
        #expect(bsMedian <= 1e-4, "\(summary)")
        #expect(bs99 <= 2e-3, "\(summary)")
        #expect(xyMedian <= 1e-4, "\(summary)")
    }

    @Test("the networks reproduce the reference raw outputs closely", arguments: Ref.faceRows)
    func rawOutputs(row: Int) throws {
        let models = try Inference.FaceModels(taskPath: Ref.taskPath)
        let landmarker = try FaceLandmarker(models: models)
        let image = Ref.fixtureImages[row]
        let result = try image.withUnsafeBufferPointer { try landmarker.detect(gray: $0, width: 48, height: 48) }
        guard case .face(let face) = result else {
            Issue.record("row \(row): expected a face, got \(result)")
            return
        }
        let expected = try Ref.f32(row: row, "landmarks")
        let worst = zip(face.landmarks.flatMap { [$0.x, $0.y, $0.z] }, expected).map { abs($0 - $1) }.max() ?? 0
        #expect(worst <= 1e-4, "row \(row): landmark max |d| \(worst)")
        let bs = try Ref.f32(row: row, "bs_output")
        let worstBS = zip(face.blendshapes, bs).map { abs($0 - $1) }.max() ?? 0
        #expect(worstBS <= 2e-3, "row \(row): blendshape max |d| \(worstBS)")
    }

    @Test("gray and RGB input give the same result")
    func grayMatchesRGB() throws {
        let landmarker = try FaceLandmarker(models: try Inference.FaceModels(taskPath: Ref.taskPath))
        for row in [25, 96, 105] {
            let gray = Ref.fixtureImages[row], rgb = gray.flatMap { [$0, $0, $0] }
            let a = try gray.withUnsafeBufferPointer { try landmarker.detect(gray: $0, width: 48, height: 48) }
            let b = try rgb.withUnsafeBufferPointer { try landmarker.detect(rgb: $0, width: 48, height: 48) }
            switch (a, b) {
            case (.noFace(let x), .noFace(let y)): #expect(x == y)
            case (.face(let x), .face(let y)):
                #expect(x.landmarks == y.landmarks && x.blendshapes == y.blendshapes)
            default: Issue.record("row \(row): gray \(a) vs RGB \(b)")
            }
        }
    }
}
