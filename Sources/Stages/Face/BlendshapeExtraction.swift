import Formats
import Inference

/// `blendset extract`: the native face landmarker over FER2013 rows, as CSV.
public enum BlendshapeExtraction {
    /// The header `row,detected,<the 52 blendshape names>` and one line per row, in the order
    /// of `rows` (indices into `table`), whatever `jobs` is; scores are empty without a face.
    public static func csv(_ table: FER2013Table, rows: [Int], models: FaceModels, jobs: Int,
                           progress: (@Sendable (Int) -> Void)? = nil) throws -> (text: String, faces: Int) {
        let side = FER2013CSV.imageSide
        let lines = try LandmarkerPool.map(count: rows.count, jobs: jobs, models: models, progress: progress) { landmarker, k in
            let i = rows[k]
            let result = try table.pixels.withUnsafeBufferPointer { p in
                try landmarker.detect(gray: UnsafeBufferPointer(rebasing: p[(i * side * side)..<((i + 1) * side * side)]), width: side, height: side)
            }
            switch result {
            case .noFace: return "\(table.dataRows[i]),0" + String(repeating: ",", count: Blendshapes.names.count)
            case .face(let face): return "\(table.dataRows[i]),1," + face.blendshapes.map { "\($0)" }.joined(separator: ",")
            }
        }
        var text = "row,detected," + Blendshapes.names.joined(separator: ",") + "\n"
        text.reserveCapacity(lines.count * 600)
        for l in lines { text += l; text += "\n" }
        return (text, lines.filter { $0.split(separator: ",", maxSplits: 2)[1] == "1" }.count)
    }
}
