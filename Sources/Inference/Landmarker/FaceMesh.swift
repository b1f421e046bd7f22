extension RotatedRect {
    /// The face rect of a detection in image-normalised units (spec 4.1): the box centre and
    /// size, rotated so that keypoint 0 -> keypoint 1 (the eyes) is horizontal. The angle is
    /// C's `atan2f` in pixel space, then `NormalizeRadians`.
    public init(faceDetection d: FaceDetection, imageWidth: Int, imageHeight: Int) {
        let w = Float(imageWidth), h = Float(imageHeight)
        let x0 = d.keypoints[0] * w, y0 = d.keypoints[1] * h
        let x1 = d.keypoints[2] * w, y1 = d.keypoints[3] * h
        let angle = 0 - LandmarkerMath.atan2Float(-(y1 - y0), x1 - x0)
        self.init(centerX: d.xmin + d.width / 2, centerY: d.ymin + d.height / 2,
                  width: d.width, height: d.height, rotation: normalizeRadians(angle))
    }

    /// The landmark ROI from a face rect (spec 4.2): width and height each x1.5, not squared.
    public func expandedForLandmarks() -> RotatedRect {
        RotatedRect(centerX: centerX, centerY: centerY, width: 1.5 * width,
                    height: 1.5 * height, rotation: rotation)
    }
}

/// The landmark model's output decoding (spec 6).
public enum FaceMeshDecoding {
    public static let landmarkCount = 478
    /// The crop side; raw landmarks are in crop pixels.
    public static let inputSize = 256

    /// The presence probability from the raw `Identity_1` logit (spec 6.3).
    @inline(__always)
    public static func presence(logit: Float) -> Float { LandmarkerMath.sigmoid(logit) }

    /// Whether a face counts as present: strictly above the threshold, compared in double.
    @inline(__always)
    public static func isPresent(_ presence: Float, threshold: Float) -> Bool {
        Double(presence) > Double(threshold)
    }

    /// Raw landmark `index` in crop-normalised units: (x, y, z) / 256 (spec 6.2).
    @inline(__always)
    public static func cropNormalised(_ raw: UnsafeBufferPointer<Float>, _ index: Int) -> SIMD3<Float> {
        SIMD3(raw[3 * index], raw[3 * index + 1], raw[3 * index + 2]) / Float(inputSize)
    }

    /// Projects the 478 raw landmarks (`Identity`, 1434 floats in crop pixels) into
    /// image-normalised coordinates through the normalised landmark ROI (spec 6.5): rotate in
    /// ROI units with C's `cosf`/`sinf`, scale by the ROI width and height, shift by its
    /// centre; z is scaled by the ROI width.
    public static func project(raw: UnsafeBufferPointer<Float>, roi: RotatedRect,
                               into landmarks: UnsafeMutableBufferPointer<SIMD3<Float>>) {
        precondition(raw.count >= 3 * landmarkCount && landmarks.count >= landmarkCount)
        let c = LandmarkerMath.cosFloat(roi.rotation), s = LandmarkerMath.sinFloat(roi.rotation)
        for i in 0..<landmarkCount {
            let p = cropNormalised(raw, i)
            let dx = p.x - 0.5, dy = p.y - 0.5
            let x = (c * dx - s * dy) * roi.width + roi.centerX
            let y = (s * dx + c * dy) * roi.height + roi.centerY
            landmarks[i] = SIMD3(x, y, p.z * roi.width)
        }
    }
}
