import Foundation
import Formats
import Learning
import Pipeline

/// What `show` prints for a stage without a table (e.g. train): each artifact's file in the
/// cache and how to get it out under a usable name.
public enum StageOutputs {
    public static func text(stage: String, kind: String, artifacts: [String: ContentDigest], layout: CacheLayout) -> String {
        let width = artifacts.keys.map(\.count).max() ?? 0
        var lines = ["stage '\(stage)' (\(kind)) has no table; its artifacts are these files in the cache (named by content hash; do not edit them):"]
        for (name, id) in artifacts.sorted(by: { $0.key < $1.key }) {
            lines.append("  \(name.padding(toLength: width, withPad: " ", startingAt: 0))  \(layout.object(id))")
        }
        if kind == TrainStage.kind {
            lines.append("")
            lines.append("To get them: 'blendset metrics --save DIR' writes model.blsmodel (for 'blendset predict'), history.csv,")
            lines.append("metrics.json, curves.svg and confusion.svg into DIR; 'blendset metrics' prints the metrics and")
            lines.append("'blendset export --format npz|csv' writes the dataset the model was trained on.")
        }
        return lines.joined(separator: "\n")
    }

    /// The model the train stage made for `version`; a `LearningError` when its bytes do not decode.
    public static func trainedModel(of version: DatasetVersion, layout: CacheLayout) throws -> TrainedModel {
        let bytes = try TrainResults.artifact(TrainStage.Artifact.model, of: version, layout: layout)
        return try TrainedModel(decoding: bytes, path: "the model of version \(version.shortID)")
    }
}
