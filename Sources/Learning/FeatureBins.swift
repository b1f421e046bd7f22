/// Quantile bins per feature, fitted on the train split, for the gradient-boosted trees.
///
/// Feature f has `edges[f].count + 1` bins; value x falls in bin b = the number of edges
/// below x. So "bin ≤ s" is exactly "x ≤ edges[f][s]", and a split found on bin codes
/// is stored as a float threshold that gives the same answer on raw features.
public struct FeatureBins: Sendable, Equatable {
    /// Strictly increasing, at most `maxBins - 1` per feature.
    public var edges: [[Float]]

    public init(edges: [[Float]]) { self.edges = edges }

    public var features: Int { edges.count }
    public func binCount(_ f: Int) -> Int { edges[f].count + 1 }

    /// Fits up to `maxBins` (2...256) bins per feature on rows of `width` values. With at
    /// most `maxBins` distinct values the edges are the midpoints between them; otherwise
    /// the midpoint-method percentiles at 1/maxBins, 2/maxBins, … (as scikit-learn's
    /// HistGradientBoosting bins), with duplicates removed.
    public static func fit(features x: [Float], width: Int, maxBins: Int) -> FeatureBins {
        precondition((2...256).contains(maxBins), "maxBins must be in 2...256")
        let rows = width == 0 ? 0 : x.count / width
        var edges: [[Float]] = []
        var column = [Float](repeating: 0, count: rows)
        for f in 0..<width {
            for r in 0..<rows { column[r] = x[r * width + f] }
            column.sort()
            var distinct: [Float] = []
            for v in column where distinct.last != v { distinct.append(v) }
            var e: [Float] = []
            func add(_ lo: Float, _ hi: Float) {
                // A threshold t with lo ≤ t < hi: the midpoint, unless Float rounding lands on hi.
                var t = Float((Double(lo) + Double(hi)) / 2)
                if t >= hi { t = lo }
                if let last = e.last, t <= last { return }
                e.append(t)
            }
            if distinct.count <= maxBins {
                for i in 1..<max(distinct.count, 1) { add(distinct[i - 1], distinct[i]) }
            } else {
                for q in 1..<maxBins {
                    let p = Double(q) / Double(maxBins) * Double(rows - 1)
                    let lo = column[Int(p.rounded(.down))], hi = column[Int(p.rounded(.up))]
                    let mid = Float((Double(lo) + Double(hi)) / 2)
                    // The last value cannot be an edge: nothing would be above it.
                    if mid >= distinct.last! { continue }
                    if let last = e.last, mid <= last { continue }
                    e.append(mid)
                }
            }
            edges.append(e)
        }
        return FeatureBins(edges: edges)
    }

    /// The bin of `v` for feature `f` (binary search over its edges).
    @inline(__always)
    public func code(_ v: Float, feature f: Int) -> UInt8 {
        edges[f].withUnsafeBufferPointer { e in
            var lo = 0, hi = e.count
            while lo < hi {
                let mid = (lo + hi) >> 1
                if e[mid] < v { lo = mid + 1 } else { hi = mid }
            }
            return UInt8(truncatingIfNeeded: lo)
        }
    }

    /// Bin codes, column-major: the code of row r, feature f is at `f * rows + r`.
    public func columns(features x: [Float], width: Int) -> [UInt8] {
        let rows = width == 0 ? 0 : x.count / width
        var out = [UInt8](repeating: 0, count: rows * width)
        for f in 0..<width {
            for r in 0..<rows { out[f * rows + r] = code(x[r * width + f], feature: f) }
        }
        return out
    }
}
