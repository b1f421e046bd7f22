/// MediaPipe's WEIGHTED non-max suppression with IoU overlap (spec 3.3).
///
/// Repeatedly takes the best remaining detection; every remaining detection whose IoU with it
/// is strictly above the threshold joins its cluster. The cluster's output keeps the best
/// score, and its box corners and keypoints are score-weighted means accumulated in float32
/// in descending score order. Holds its work lists so that reuse does not allocate.
public struct WeightedNMS: Sendable {
    public var threshold: Float
    private var remaining: [FaceDetection] = []
    private var rest: [FaceDetection] = []

    public init(threshold: Float = 0.5) {
        self.threshold = threshold
        remaining.reserveCapacity(FaceDetectorDecoding.anchorCount)
        rest.reserveCapacity(FaceDetectorDecoding.anchorCount)
    }

    /// Replaces `output` with the clusters of `detections`, best first. With
    /// `maxClusters` = 1 it stops after the first, which is all the Face Landmarker uses.
    public mutating func run(_ detections: [FaceDetection], maxClusters: Int = .max,
                             into output: inout [FaceDetection]) {
        output.removeAll(keepingCapacity: true)
        remaining.removeAll(keepingCapacity: true)
        remaining.append(contentsOf: detections)
        Self.sortByScoreDescending(&remaining)
        while !remaining.isEmpty && output.count < maxClusters {
            let top = remaining[0]
            rest.removeAll(keepingCapacity: true)
            var merged = top
            var total: Float = 0
            var corners = SIMD4<Float>()  // s*xmin, s*ymin, s*xmax, s*ymax
            var keypoints = SIMD16<Float>()
            var candidates = 0
            for d in remaining {
                guard Self.iou(d, top) > Double(threshold) else {
                    rest.append(d)
                    continue
                }
                candidates += 1
                total += d.score
                corners += d.score * SIMD4(d.xmin, d.ymin, d.xmin + d.width, d.ymin + d.height)
                keypoints += d.score * d.keypoints
            }
            if candidates > 0 {
                corners /= total
                keypoints /= total
                merged.xmin = corners[0]
                merged.ymin = corners[1]
                merged.width = corners[2] - corners[0]
                merged.height = corners[3] - corners[1]
                merged.keypoints = keypoints
            }
            output.append(merged)
            if rest.count == remaining.count { break }
            swap(&remaining, &rest)
        }
    }

    /// Intersection over union in float32, 0 when the boxes do not overlap.
    static func iou(_ a: FaceDetection, _ b: FaceDetection) -> Double {
        let iw = min(a.xmin + a.width, b.xmin + b.width) - max(a.xmin, b.xmin)
        let ih = min(a.ymin + a.height, b.ymin + b.height) - max(a.ymin, b.ymin)
        if iw <= 0 || ih <= 0 { return 0 }
        let intersection = iw * ih
        return Double(intersection / (a.width * a.height + b.width * b.height - intersection))
    }

    /// A stable insertion sort: no allocation, and the lists are short (typically < 100).
    static func sortByScoreDescending(_ list: inout [FaceDetection]) {
        guard list.count > 1 else { return }
        for i in 1..<list.count {
            let item = list[i]
            var j = i
            while j > 0 && list[j - 1].score < item.score {
                list[j] = list[j - 1]
                j -= 1
            }
            list[j] = item
        }
    }
}

extension FaceDetection {
    /// Undoes the detector's letterbox (spec 3.4, errata 5) for an image of `imageWidth` x
    /// `imageHeight` letterboxed into a square of side max(W, H): MediaPipe's matrix form
    /// `x = u * (L * (1/W)) + (-0.5 * L + W/2) * (1/W)`, which alone matches bit for bit. The
    /// box becomes the bounding box of its four projected corners.
    public func removingLetterbox(imageWidth: Int, imageHeight: Int) -> FaceDetection {
        let w = Float(imageWidth), h = Float(imageHeight)
        let side = Float(max(imageWidth, imageHeight))
        let gx = 1 / w, gy = 1 / h
        let scaleX = side * gx, offsetX = (-0.5 * side + w / 2) * gx
        let scaleY = side * gy, offsetY = (-0.5 * side + h / 2) * gy
        let xs = SIMD4(xmin, xmin + width, xmin + width, xmin) * scaleX + offsetX
        let ys = SIMD4(ymin, ymin, ymin + height, ymin + height) * scaleY + offsetY
        var out = self
        out.xmin = xs.min()
        out.ymin = ys.min()
        out.width = xs.max() - xs.min()
        out.height = ys.max() - ys.min()
        var scale = SIMD16<Float>(repeating: 0), offset = SIMD16<Float>(repeating: 0)
        for k in 0..<6 {
            scale[2 * k] = scaleX
            scale[2 * k + 1] = scaleY
            offset[2 * k] = offsetX
            offset[2 * k + 1] = offsetY
        }
        out.keypoints = keypoints * scale + offset
        return out
    }
}
