/// One face detection: score, axis-aligned box and six keypoints, in float32.
///
/// Coordinates are normalised: to the 128x128 letterboxed detector tensor right after decoding
/// and NMS, to the image after `removingLetterbox`. Keypoints, in MediaPipe's order: subject's
/// right eye, left eye, nose tip, mouth centre, right ear tragion, left ear tragion.
public struct FaceDetection: Sendable, Hashable {
    public var score: Float
    public var xmin: Float
    public var ymin: Float
    public var width: Float
    public var height: Float
    /// x0, y0, x1, y1, ..., x5, y5 in lanes 0..<12; lanes 12..<16 are unused and zero.
    public var keypoints: SIMD16<Float>

    public init(score: Float, xmin: Float, ymin: Float, width: Float, height: Float,
                keypoints: SIMD16<Float>) {
        self.score = score
        self.xmin = xmin
        self.ymin = ymin
        self.width = width
        self.height = height
        self.keypoints = keypoints
    }

    /// Keypoint `index` (0..<6) as (x, y).
    public func keypoint(_ index: Int) -> SIMD2<Float> {
        SIMD2(keypoints[2 * index], keypoints[2 * index + 1])
    }

    /// The 17-value record of the reference files: score, xmin, ymin, width, height, kp0x, ...
    public var record: [Float] {
        [score, xmin, ymin, width, height] + (0..<12).map { keypoints[$0] }
    }
}

/// One SSD anchor of the face detector: centre in tensor-normalised units, and size.
public struct SSDAnchor: Sendable, Hashable {
    public var centerX: Float
    public var centerY: Float
    public var width: Float
    public var height: Float
}

/// The face detector's output decoding (spec 2, 3.1-3.2).
public enum FaceDetectorDecoding {
    /// Boxes the detector predicts, and values per box (4 box, 6 x 2 keypoint coordinates).
    public static let anchorCount = 896
    public static let valuesPerAnchor = 16
    /// The tensor side; box offsets are in tensor pixels.
    static let inputSize: Float = 128

    /// The 896 fixed-size anchors (spec 2): 16x16 cells with 2 anchors (stride 8), then 8x8
    /// cells with 6 (strides 16 merged over three layers); w = h = 1.
    public static let anchors: [SSDAnchor] = {
        var anchors: [SSDAnchor] = []
        anchors.reserveCapacity(anchorCount)
        for (grid, perCell) in [(16, 2), (8, 6)] {
            for y in 0..<grid {
                for x in 0..<grid {
                    let anchor = SSDAnchor(centerX: Float((Double(x) + 0.5) / Double(grid)),
                                           centerY: Float((Double(y) + 0.5) / Double(grid)),
                                           width: 1, height: 1)
                    anchors.append(contentsOf: repeatElement(anchor, count: perCell))
                }
            }
        }
        return anchors
    }()

    /// The detection score of a raw logit: sigmoid of the logit clamped to [-100, 100].
    @inline(__always)
    public static func score(logit: Float) -> Float {
        LandmarkerMath.sigmoid(min(max(logit, -100), 100))
    }

    /// Decodes anchor `index` from its 16 raw regressor values (spec 3.1, errata 7: keypoint
    /// offsets are scaled by the anchor size like the centre). The box is XYWH, linear size.
    @inline(__always)
    public static func decode(anchor index: Int, regressors raw: UnsafeBufferPointer<Float>,
                              score: Float) -> FaceDetection {
        let anchor = anchors[index]
        let r = raw.baseAddress! + index * valuesPerAnchor
        let xCenter = r[0] / inputSize * anchor.width + anchor.centerX
        let yCenter = r[1] / inputSize * anchor.height + anchor.centerY
        let w = r[2] / inputSize * anchor.width
        let h = r[3] / inputSize * anchor.height
        let xmin = xCenter - w / 2, ymin = yCenter - h / 2
        let xmax = xCenter + w / 2, ymax = yCenter + h / 2
        var keypoints = SIMD16<Float>()
        for k in 0..<6 {
            keypoints[2 * k] = r[4 + 2 * k] / inputSize * anchor.width + anchor.centerX
            keypoints[2 * k + 1] = r[5 + 2 * k] / inputSize * anchor.height + anchor.centerY
        }
        return FaceDetection(score: score, xmin: xmin, ymin: ymin, width: xmax - xmin,
                             height: ymax - ymin, keypoints: keypoints)
    }

    /// Appends, in anchor order, every detection with score >= `minScore` and a non-negative
    /// (not NaN) width and height (spec 3.2).
    public static func decodeAll(regressors: UnsafeBufferPointer<Float>,
                                 classificators: UnsafeBufferPointer<Float>, minScore: Float,
                                 into kept: inout [FaceDetection]) {
        precondition(regressors.count >= anchorCount * valuesPerAnchor)
        precondition(classificators.count >= anchorCount)
        for i in 0..<anchorCount {
            let s = score(logit: classificators[i])
            guard s >= minScore else { continue }
            let detection = decode(anchor: i, regressors: regressors, score: s)
            if detection.width >= 0 && detection.height >= 0 {
                kept.append(detection)
            }
        }
    }
}
