import Foundation
import Formats
import Inference

/// `blendset extract`: the 52 blendshapes of each FER2013 row or image file, as CSV.
public enum BlendshapeExtraction {
    /// The CSV header: `id,row,detected,<the 52 blendshape names>`.
    public static var header: String { "id,row,detected," + Blendshapes.names.joined(separator: ",") }

    /// The header and one line per row, in the order of `rows` (indices into `table`),
    /// whatever `jobs` is; scores are empty without a face. `id` and `row` are both the
    /// row's 0-based data row in the file.
    public static func csv(_ table: FER2013Table, rows: [Int], models: FaceModels, jobs: Int,
                           progress: (@Sendable (Int) -> Void)? = nil) throws -> (text: String, faces: Int) {
        let side = FER2013CSV.imageSide
        let lines = try LandmarkerPool.map(count: rows.count, jobs: jobs, models: models, progress: progress) { landmarker, k in
            let i = rows[k]
            let result = try table.pixels.withUnsafeBufferPointer { p in
                try landmarker.detect(gray: UnsafeBufferPointer(rebasing: p[(i * side * side)..<((i + 1) * side * side)]), width: side, height: side)
            }
            let row = "\(table.dataRows[i])"
            switch result {
            case .noFace: return "\(row),\(row),0" + String(repeating: ",", count: Blendshapes.names.count)
            case .face(let face): return "\(row),\(row),1," + face.blendshapes.map { "\($0)" }.joined(separator: ",")
            }
        }
        return (joined(lines), lines.filter { $0.split(separator: ",", maxSplits: 3)[2] == "1" }.count)
    }

    /// An image that could not be read or decoded: left out of the CSV.
    public struct ImageFailure: Error, Sendable {
        public var path: String
        public var message: String
    }

    /// The header and one line per readable image of `paths` (PNG or JPEG, any size, gray or
    /// colour), in the order given, whatever `jobs` is. `id` is the path as given, `row` its
    /// 0-based position in `paths` plus `firstRow`. Unreadable images are left out and
    /// returned as failures.
    public static func csv(images paths: [String], firstRow: Int = 0, models: FaceModels, jobs: Int,
                           progress: (@Sendable (Int) -> Void)? = nil) throws -> (text: String, faces: Int, failures: [ImageFailure]) {
        let results = try LandmarkerPool.map(count: paths.count, jobs: jobs, models: models, progress: progress) { landmarker, k -> Result<FaceReading?, ImageFailure> in
            let image: PixelImage
            do { image = try ImageFile.decodeFile(atPath: paths[k]) } catch {
                return .failure(ImageFailure(path: paths[k], message: "\(error)"))
            }
            return .success(try FaceReading.read(image, landmarker: landmarker))
        }
        var lines: [String] = [], failures: [ImageFailure] = [], faces = 0
        for (k, result) in results.enumerated() {
            switch result {
            case .failure(let f): failures.append(f)
            case .success(nil): lines.append("\(csvField(paths[k])),\(firstRow + k),0" + String(repeating: ",", count: Blendshapes.names.count))
            case .success(let face?):
                faces += 1
                lines.append("\(csvField(paths[k])),\(firstRow + k),1," + face.blendshapes.map { "\($0)" }.joined(separator: ","))
            }
        }
        return (joined(lines), faces, failures)
    }

    private static func joined(_ lines: [String]) -> String {
        var text = header + "\n"
        text.reserveCapacity(lines.count * 600)
        for l in lines { text += l; text += "\n" }
        return text
    }

    /// A CSV field, quoted when it holds a comma, a quote or a line break (RFC 4180).
    public static func csvField(_ s: String) -> String {
        guard s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return s }
        return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
