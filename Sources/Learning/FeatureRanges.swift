/// Each raw feature's range over the train split (before any normalisation), stored in the
/// model file as the optional header key `feature_ranges`. It lets `predict` notice input
/// scaled differently from what the model was trained on, e.g. z-scored features given to a
/// model trained on raw ones, which the model would otherwise classify without complaint.
public struct FeatureRanges: Sendable, Equatable, Codable {
    public var min: [Float]
    public var max: [Float]

    /// A value is outside when it lies beyond min or max by more than this share of the
    /// feature's range (at least `minimumMargin`, for a feature that was constant in train).
    public static let margin: Float = 0.05
    /// Features are truncated to 4 decimals, so a constant feature may still move by this much.
    public static let minimumMargin: Float = 1e-4
    /// `predict` warns when more than this share of rows has any feature outside.
    public static let warningShare = 0.01

    public init(min: [Float], max: [Float]) {
        self.min = min
        self.max = max
    }

    /// The ranges of rows of `width` features; nil without rows.
    public static func fit(features x: [Float], width: Int) -> FeatureRanges? {
        guard width > 0, x.count >= width else { return nil }
        var lo = Array(x[0..<width]), hi = lo
        for i in width..<(x.count - x.count % width) {
            let f = i % width
            lo[f] = Swift.min(lo[f], x[i])
            hi[f] = Swift.max(hi[f], x[i])
        }
        return FeatureRanges(min: lo, max: hi)
    }

    /// How many rows of raw features have any feature outside its range (with the margin),
    /// and for each feature how many rows it is outside in.
    public func outside(rawFeatures x: [Float]) -> (rows: Int, outsideRows: Int, byFeature: [Int]) {
        let width = min.count
        guard width > 0 else { return (0, 0, []) }
        let tolerance = (0..<width).map { Swift.max(Self.margin * (max[$0] - min[$0]), Self.minimumMargin) }
        var byFeature = [Int](repeating: 0, count: width)
        var outsideRows = 0
        let rows = x.count / width
        for r in 0..<rows {
            var any = false
            for f in 0..<width {
                let v = x[r * width + f]
                if v < min[f] - tolerance[f] || v > max[f] + tolerance[f] || v.isNaN { byFeature[f] += 1; any = true }
            }
            if any { outsideRows += 1 }
        }
        return (rows, outsideRows, byFeature)
    }
}

extension TrainedModel {
    /// A warning when more than 1% of the rows of raw features have a feature outside the
    /// model's training range (see `FeatureRanges`); nil when they fit, or when the model
    /// file predates stored ranges.
    public func rangeWarning(rawFeatures x: [Float]) -> String? {
        guard let ranges = featureRanges, ranges.min.count == inputSize else { return nil }
        let o = ranges.outside(rawFeatures: x)
        guard o.rows > 0, Double(o.outsideRows) > FeatureRanges.warningShare * Double(o.rows) else { return nil }
        let worst = o.byFeature.indices.filter { o.byFeature[$0] > 0 }.sorted { (o.byFeature[$1], $0) < (o.byFeature[$0], $1) }
        let names = worst.prefix(3).map { f in
            let name = f < featureNames.count ? featureNames[f] : "feature \(f + 1)"
            return "\(name) in \(o.byFeature[f]) (trained on \(ranges.min[f])…\(ranges.max[f]))"
        }
        let scaling = normalization.method == .none ? "raw features (no normalisation)" : "raw features, which it scales itself (\(normalization.method.rawValue))"
        return "\(o.outsideRows) of \(o.rows) rows (\(String(format: "%.1f", 100 * Double(o.outsideRows) / Double(o.rows)))%) have features outside the range the model was trained on (by more than 5% of the range): \(names.joined(separator: ", ")). The model expects \(scaling); input that was normalised or scaled differently gives wrong predictions."
    }
}
