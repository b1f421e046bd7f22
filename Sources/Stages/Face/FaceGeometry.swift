import Foundation
import Inference

/// Pose-normalised features computed from the 478 face landmarks (no model runs: the
/// landmarks come from the landmarks stage or the per-image memo).
///
/// Every face is first aligned: translated to the midpoint of the two eye centres
/// (each the mean of its eye's corners), rotated so the eye line is horizontal (roll
/// removed) and scaled so the inter-ocular distance is 1. x then points to the image's
/// right, y down; z is scaled like x. Coordinates are taken in pixels, so a non-square
/// image does not distort distances.
public enum FaceGeometry {
    /// The feature sets `blendshapes.geometry` accepts, with their feature names.
    public static let sets: [String: [String]] = [
        "distances": distanceNames,
        "aligned": alignedNames,
        "pose": poseNames,
    ]
    public static let setNames = ["distances", "aligned", "pose"]

    /// Whether `name` is a geometry feature (of any set).
    public static func isFeature(_ name: String) -> Bool { index[name] != nil }

    // MediaPipe face mesh indices (subject's right = image left).
    static let rightEyeOuter = 33, rightEyeInner = 133, leftEyeInner = 362, leftEyeOuter = 263
    static let rightUpperLid = 159, rightLowerLid = 145, leftUpperLid = 386, leftLowerLid = 374
    static let mouthRight = 61, mouthLeft = 291, upperLipInner = 13, lowerLipInner = 14, upperLipOuter = 0, lowerLipOuter = 17
    static let subnasale = 2, noseTip = 1, chin = 152, forehead = 10, noseRight = 98, noseLeft = 327
    static let browInnerRight = 107, browMidRight = 105, browOuterRight = 70
    static let browInnerLeft = 336, browMidLeft = 334, browOuterLeft = 300
    static let cheekRight = 234, cheekLeft = 454

    /// Hand-made distances and angles around the mouth, eyes, brows and nose, in
    /// inter-ocular units after roll removal.
    static let distanceNames = [
        "geo_mouth_width", "geo_mouth_open", "geo_lips_height", "geo_upper_lip", "geo_lower_lip",
        "geo_mouth_corner_up_right", "geo_mouth_corner_up_left", "geo_mouth_corner_angle_right", "geo_mouth_corner_angle_left",
        "geo_mouth_center_y", "geo_nose_to_lip", "geo_lip_to_chin", "geo_corner_to_eye_right", "geo_corner_to_eye_left",
        "geo_eye_open_right", "geo_eye_open_left", "geo_eye_ratio_right", "geo_eye_ratio_left",
        "geo_brow_inner_right", "geo_brow_inner_left", "geo_brow_mid_right", "geo_brow_mid_left",
        "geo_brow_outer_right", "geo_brow_outer_left", "geo_brow_gap", "geo_brow_tilt_right", "geo_brow_tilt_left",
        "geo_nose_width", "geo_nose_height",
    ]

    /// Head pose proxies: roll (radians), and the nose tip's offset from the eye midpoint
    /// (yaw, pitch), the face's height and width: which way the face looks, so a model can
    /// read the other features in context.
    static let poseNames = ["geo_roll", "geo_yaw", "geo_pitch", "geo_face_height", "geo_face_width"]

    /// Aligned x and y of the 146 landmarks the blendshape model reads.
    static let alignedNames = Blendshapes.inputLandmarks.flatMap { ["geo_x\($0)", "geo_y\($0)"] }

    static let allNames = distanceNames + poseNames + alignedNames
    static let index: [String: Int] = Dictionary(uniqueKeysWithValues: allNames.enumerated().map { ($1, $0) })

    /// Every geometry feature of one face, in `allNames` order. `points` holds 478 × (x, y, z),
    /// image-normalised; `width` and `height` are the image's size in pixels.
    static func all(points: ArraySlice<Float>, width: Int, height: Int) -> [Float] {
        let w = Float(width), h = Float(height), base = points.startIndex
        func raw(_ i: Int) -> SIMD2<Float> { SIMD2(points[base + 3 * i] * w, points[base + 3 * i + 1] * h) }
        let rc = (raw(rightEyeOuter) + raw(rightEyeInner)) / 2, lc = (raw(leftEyeInner) + raw(leftEyeOuter)) / 2
        let eyeLine = lc - rc
        let iod = max((eyeLine * eyeLine).sum().squareRoot(), 1e-6)
        let roll = atan2(eyeLine.y, eyeLine.x)
        let c = cos(-roll) / iod, s = sin(-roll) / iod, mid = (rc + lc) / 2
        func q(_ i: Int) -> SIMD2<Float> {
            let d = raw(i) - mid
            return SIMD2(c * d.x - s * d.y, s * d.x + c * d.y)
        }
        func dist(_ a: SIMD2<Float>, _ b: SIMD2<Float>) -> Float { let d = a - b; return (d * d).sum().squareRoot() }

        let mr = q(mouthRight), ml = q(mouthLeft), uli = q(upperLipInner), lli = q(lowerLipInner)
        let ulo = q(upperLipOuter), llo = q(lowerLipOuter), center = (uli + lli) / 2
        let reo = q(rightEyeOuter), rei = q(rightEyeInner), lei = q(leftEyeInner), leo = q(leftEyeOuter)
        let rOpen = dist(q(rightUpperLid), q(rightLowerLid)), lOpen = dist(q(leftUpperLid), q(leftLowerLid))
        let bir = q(browInnerRight), bil = q(browInnerLeft), bor = q(browOuterRight), bol = q(browOuterLeft)
        let distances: [Float] = [
            dist(mr, ml), lli.y - uli.y, llo.y - ulo.y, uli.y - ulo.y, llo.y - lli.y,
            center.y - mr.y, center.y - ml.y, atan2(center.y - mr.y, center.x - mr.x), atan2(center.y - ml.y, ml.x - center.x),
            center.y, ulo.y - q(subnasale).y, q(chin).y - llo.y, dist(mr, reo), dist(ml, leo),
            rOpen, lOpen, rOpen / max(dist(reo, rei), 1e-6), lOpen / max(dist(lei, leo), 1e-6),
            -bir.y, -bil.y, -q(browMidRight).y, -q(browMidLeft).y,
            -bor.y, -bol.y, dist(bir, bil), bor.y - bir.y, bol.y - bil.y,
            dist(q(noseRight), q(noseLeft)), q(subnasale).y,
        ]
        let tip = q(noseTip)
        let pose: [Float] = [roll, tip.x, tip.y, q(chin).y - q(forehead).y, dist(q(cheekRight), q(cheekLeft))]
        var out = distances + pose
        out.reserveCapacity(allNames.count)
        for i in Blendshapes.inputLandmarks { let p = q(i); out += [p.x, p.y] }
        return out
    }
}

/// Where each named feature of a table comes from: one of the 52 blendshape scores or a
/// geometry feature. Used by the stages that make feature rows from a face.
struct FaceFeatureMap {
    enum Source { case blendshape(Int), geometry(Int) }
    let sources: [Source]
    let needsGeometry: Bool

    /// nil when a name is neither a blendshape nor a geometry feature.
    init?(_ names: [String]) {
        var out: [Source] = []
        for n in names {
            if let i = Blendshapes.names.firstIndex(of: n) { out.append(.blendshape(i)) }
            else if let g = FaceGeometry.index[n] { out.append(.geometry(g)) }
            else { return nil }
        }
        sources = out
        needsGeometry = out.contains { if case .geometry = $0 { true } else { false } }
    }

    /// Appends one row: the features of a face with these scores and landmarks.
    func append(to row: inout [Float], scores: [Float], points: ArraySlice<Float>, width: Int, height: Int) {
        let geometry = needsGeometry ? FaceGeometry.all(points: points, width: width, height: height) : []
        for s in sources {
            switch s {
            case .blendshape(let i): row.append(scores[i])
            case .geometry(let g): row.append(geometry[g])
            }
        }
    }
}
