import Testing
@testable import Inference

/// Every pre/post-processing step against the reference intermediates, fed the reference raw
/// model outputs so that no interpreter is involved.
@Suite("Landmarker geometry against reference intermediates")
struct LandmarkerGeometryTests {
    typealias Ref = LandmarkerReference
    static let side = 48

    /// The source image: the fixture's gray row replicated to RGB.
    static func gray(row: Int) -> [UInt8] { Ref.fixtureImages[row] }
    static func rgb(row: Int) -> [UInt8] { gray(row: row).flatMap { [$0, $0, $0] } }

    static func warp(_ source: [UInt8], channels: Int, roi: RotatedRect, size: Int,
                     border: WarpBorder) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: size * size * 3)
        source.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                ImageWarp.warp(source: src, sourceWidth: side, sourceHeight: side,
                               channels: channels, quad: roi.corners, border: border,
                               into: dst, outputWidth: size, outputHeight: size)
            }
        }
        return out
    }

    static func rect(_ v: [Float]) -> RotatedRect {
        RotatedRect(centerX: v[0], centerY: v[1], width: v[2], height: v[3], rotation: v[4])
    }

    static func values(_ r: RotatedRect) -> [Float] {
        [r.centerX, r.centerY, r.width, r.height, r.rotation]
    }

    static func detection(_ record: ArraySlice<Float>) -> FaceDetection {
        let r = Array(record)
        var keypoints = SIMD16<Float>()
        for k in 0..<12 { keypoints[k] = r[5 + k] }
        return FaceDetection(score: r[0], xmin: r[1], ymin: r[2], width: r[3], height: r[4],
                             keypoints: keypoints)
    }

    static func detections(_ records: [Float]) -> [FaceDetection] {
        stride(from: 0, to: records.count, by: 17).map { detection(records[$0..<$0 + 17]) }
    }

    /// Decoded detections above 0.5 and their anchors, from the reference raw outputs.
    static func decoded(row: Int) throws -> (anchors: [Int], detections: [FaceDetection]) {
        let regressors = try Ref.f32(row: row, "det_regressors")
        let classificators = try Ref.f32(row: row, "det_classificators")
        var anchors: [Int] = [], kept: [FaceDetection] = []
        regressors.withUnsafeBufferPointer { reg in
            for i in 0..<FaceDetectorDecoding.anchorCount {
                let score = FaceDetectorDecoding.score(logit: classificators[i])
                let d = FaceDetectorDecoding.decode(anchor: i, regressors: reg, score: score)
                if score >= 0.5 && d.width >= 0 && d.height >= 0 {
                    anchors.append(i)
                    kept.append(d)
                }
            }
        }
        return (anchors, kept)
    }

    @Test("source image from the fixture CSV", arguments: Ref.allRows)
    func sourceImage(row: Int) throws {
        #expect(Ref.fixtureImages.count == 174)
        expectBytes(Self.rgb(row: row), try Ref.u8(row: row, "source_rgb"), "source_rgb")
    }

    @Test("detector ROI, corners, letterbox warp and input tensor", arguments: Ref.allRows)
    func detectorInput(row: Int) throws {
        let roi = RotatedRect.detectorROI(imageWidth: Self.side, imageHeight: Self.side)
        expectFloats(Self.values(roi), try Ref.f32(row: row, "det_roi_px"), "det_roi_px")
        expectFloats(roi.corners.points.flatMap { [$0.x, $0.y] },
                     try Ref.f32(row: row, "det_corners_px"), "det_corners_px")
        let expected = try Ref.u8(row: row, "det_image")
        let fromRGB = Self.warp(Self.rgb(row: row), channels: 3, roi: roi, size: 128, border: .zero)
        let fromGray = Self.warp(Self.gray(row: row), channels: 1, roi: roi, size: 128, border: .zero)
        expectBytes(fromRGB, expected, "det_image from RGB")
        expectBytes(fromGray, expected, "det_image from gray")
        if Ref.exists(row: row, "det_input.f32") {
            var input = [Float](repeating: .nan, count: expected.count)
            expected.withUnsafeBufferPointer { src in
                input.withUnsafeMutableBufferPointer { TensorScaling.detector.apply(src, into: $0) }
            }
            expectFloats(input, try Ref.f32(row: row, "det_input"), "det_input")
        }
    }

    @Test("the 896 SSD anchors")
    func anchors() throws {
        let expected = try Ref.floats("\(Ref.intermediates)/anchors.f32")
        let actual = FaceDetectorDecoding.anchors.flatMap { [$0.centerX, $0.centerY, $0.width, $0.height] }
        expectFloats(actual, expected, "anchors")
    }

    @Test("scores, decoding and the 0.5 threshold", arguments: Ref.allRows)
    func decoding(row: Int) throws {
        let classificators = try Ref.f32(row: row, "det_classificators")
        expectFloats(classificators.map { FaceDetectorDecoding.score(logit: $0) },
                     try Ref.f32(row: row, "det_scores"), "det_scores")
        let (anchors, kept) = try Self.decoded(row: row)
        #expect(anchors == (try Ref.int32s("\(Ref.rowFolder(row))/det_kept_anchor.i32")))
        expectFloats(kept.flatMap(\.record), try Ref.f32(row: row, "det_kept"), "det_kept")
        // The production path keeps the same detections.
        let regressors = try Ref.f32(row: row, "det_regressors")
        var all: [FaceDetection] = []
        regressors.withUnsafeBufferPointer { reg in
            classificators.withUnsafeBufferPointer { cls in
                FaceDetectorDecoding.decodeAll(regressors: reg, classificators: cls,
                                               minScore: 0.5, into: &all)
            }
        }
        #expect(all == kept)
    }

    @Test("weighted NMS and letterbox removal", arguments: Ref.faceRows)
    func nms(row: Int) throws {
        let kept = Self.detections(try Ref.f32(row: row, "det_kept"))
        var nms = WeightedNMS(), clusters: [FaceDetection] = []
        nms.run(kept, into: &clusters)
        expectFloats(clusters.flatMap(\.record), try Ref.f32(row: row, "det_nms"), "det_nms")
        var first: [FaceDetection] = []
        nms.run(kept, maxClusters: 1, into: &first)
        #expect(first == [clusters[0]])
        let image = clusters.map { $0.removingLetterbox(imageWidth: Self.side, imageHeight: Self.side) }
        expectFloats(image.flatMap(\.record), try Ref.f32(row: row, "det_nms_image"), "det_nms_image")
    }

    @Test("face rect, landmark ROI and its corners", arguments: Ref.faceRows)
    func faceROI(row: Int) throws {
        let top = Self.detection(try Ref.f32(row: row, "det_nms_image")[0..<17])
        let rect = RotatedRect(faceDetection: top, imageWidth: Self.side, imageHeight: Self.side)
        expectFloats(Self.values(rect), try Ref.f32(row: row, "face_rect_norm"), "face_rect_norm")
        let roi = rect.expandedForLandmarks()
        expectFloats(Self.values(roi), try Ref.f32(row: row, "roi_norm"), "roi_norm")
        let px = roi.inPixels(imageWidth: Self.side, imageHeight: Self.side)
        expectFloats(Self.values(px), try Ref.f32(row: row, "roi_px"), "roi_px")
        expectFloats(px.corners.points.flatMap { [$0.x, $0.y] },
                     try Ref.f32(row: row, "roi_corners_px"), "roi_corners_px")
    }

    @Test("landmark crop and input tensor", arguments: Ref.faceRows)
    func landmarkInput(row: Int) throws {
        let roi = Self.rect(try Ref.f32(row: row, "roi_px"))
        let expected = try Ref.u8(row: row, "lmk_image")
        expectBytes(Self.warp(Self.rgb(row: row), channels: 3, roi: roi, size: 256, border: .replicate),
                    expected, "lmk_image from RGB")
        expectBytes(Self.warp(Self.gray(row: row), channels: 1, roi: roi, size: 256, border: .replicate),
                    expected, "lmk_image from gray")
        if Ref.exists(row: row, "lmk_input.f32") {
            var input = [Float](repeating: .nan, count: expected.count)
            expected.withUnsafeBufferPointer { src in
                input.withUnsafeMutableBufferPointer { TensorScaling.landmarks.apply(src, into: $0) }
            }
            expectFloats(input, try Ref.f32(row: row, "lmk_input"), "lmk_input")
        }
    }

    @Test("presence, landmark projection and blendshape input", arguments: Ref.faceRows)
    func landmarks(row: Int) throws {
        let raw = try Ref.f32(row: row, "lmk_identity")
        let logit = try Ref.f32(row: row, "lmk_identity_1")[0]
        let presence = FaceMeshDecoding.presence(logit: logit)
        expectFloats([presence], try Ref.f32(row: row, "presence"), "presence")
        #expect(FaceMeshDecoding.isPresent(presence, threshold: 0.5))
        let crop = raw.withUnsafeBufferPointer { raw in
            (0..<FaceMeshDecoding.landmarkCount).flatMap { i -> [Float] in
                let p = FaceMeshDecoding.cropNormalised(raw, i)
                return [p.x, p.y, p.z]
            }
        }
        expectFloats(crop, try Ref.f32(row: row, "landmarks_crop"), "landmarks_crop")
        let roi = Self.rect(try Ref.f32(row: row, "roi_norm"))
        var landmarks = [SIMD3<Float>](repeating: .zero, count: FaceMeshDecoding.landmarkCount)
        raw.withUnsafeBufferPointer { raw in
            landmarks.withUnsafeMutableBufferPointer { FaceMeshDecoding.project(raw: raw, roi: roi, into: $0) }
        }
        expectFloats(landmarks.flatMap { [$0.x, $0.y, $0.z] }, try Ref.f32(row: row, "landmarks"),
                     "landmarks")
        var input = [Float](repeating: .nan, count: 292)
        landmarks.withUnsafeBufferPointer { lm in
            input.withUnsafeMutableBufferPointer {
                Blendshapes.fillInput(landmarks: lm, imageWidth: Self.side, imageHeight: Self.side, into: $0)
            }
        }
        expectFloats(input, try Ref.f32(row: row, "bs_input"), "bs_input")
    }

    @Test("blendshape names and input landmarks match the reference metadata")
    func blendshapeTables() throws {
        let meta = try Ref.metadata(row: 25)
        #expect(Blendshapes.names == meta["blendshape_names"] as? [String])
        #expect(Blendshapes.inputLandmarks == meta["blendshape_landmarks"] as? [Int])
        #expect(Blendshapes.names.count == 52 && Blendshapes.inputLandmarks.count == 146)
    }

    @Test("the whole post-processing chain from raw outputs", arguments: Ref.allRows)
    func chain(row: Int) throws {
        let (_, kept) = try Self.decoded(row: row)
        guard !kept.isEmpty else {
            #expect(row == 161)
            return
        }
        var nms = WeightedNMS(), clusters: [FaceDetection] = []
        nms.run(kept, maxClusters: 1, into: &clusters)
        let top = clusters[0].removingLetterbox(imageWidth: Self.side, imageHeight: Self.side)
        let roi = RotatedRect(faceDetection: top, imageWidth: Self.side, imageHeight: Self.side)
            .expandedForLandmarks()
        let px = roi.inPixels(imageWidth: Self.side, imageHeight: Self.side)
        expectBytes(Self.warp(Self.gray(row: row), channels: 1, roi: px, size: 256, border: .replicate),
                    try Ref.u8(row: row, "lmk_image"), "lmk_image via the chain")
    }
}
