import Testing
@testable import Inference

/// Non-square images, RGB with distinct channels, and a rotated ROI far outside the image:
/// cases the 48x48 gray fixtures do not reach. Inputs come from integer formulas; the
/// expected values were produced by `tools/landmarker_reference.py` (its functions, with
/// numpy's float32 `arctan2` on glibc's `atan2f`, i.e. without numpy's AVX-512 dispatch).
@Suite("Landmarker synthetic non-square cases against the reference tool")
struct LandmarkerSyntheticTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var width: Int
        var height: Int
        /// FNV-1a 64 of the detector warp and the landmark crop, from RGB and from gray.
        var detector: UInt64, crop: UInt64, grayDetector: UInt64, grayCrop: UInt64
        /// The top cluster image-normalised (17 values) and the landmark ROI (5), as bits.
        var top: [UInt32]
        var roi: [UInt32]
        var testDescription: String { "\(width)x\(height)" }
    }

    /// Weighted-NMS output shared by all cases (before the letterbox is undone).
    static let firstCluster: [UInt32] = [
        0x3f7a1e28, 0x3f102a5e, 0xbeeb95f6, 0x3f0812a2, 0x3f0a12a3, 0x3f61b3b0, 0xbe0d06a8,
        0x3f2833b0, 0x3e0ef959, 0x3f2f4938, 0xbdae0d50, 0x3f35b3af, 0x3e44f957, 0x3ef8675f,
        0xbd041aa0, 0x3f4333b0, 0x3e7af958,
    ]

    static let cases: [Case] = [
        Case(width: 64, height: 48, detector: 0x78af5550fcc68e3a, crop: 0xb962063ba6eb9336,
             grayDetector: 0x2385aa5a710a3afb, grayCrop: 0x7fc9774bb056325d,
             top: [0x3f7a1e28, 0x3f102a5e, 0xbf47b94f, 0x3f0812a2, 0x3f3818da, 0x3f61b3b0,
                   0xbeb359c6, 0x3f2833b0, 0x3c9fb908, 0x3f2f4938, 0xbe8f59c6, 0x3f35b3af,
                   0x3db7ee3e, 0x3ef8675f, 0xbe56b38b, 0x3f4333b0, 0x3e23f721],
             roi: [0x3f5433af, 0xbed759c4, 0x3f4c1bf3, 0x3f8a12a4, 0x401018e8]),
        Case(width: 30, height: 41, detector: 0x77673d43a254dd19, crop: 0x97c4c7a989bc58d1,
             grayDetector: 0x3c3bc956216c50ad, grayCrop: 0x8d3ddadd3e754716,
             top: [0x3f7a1e28, 0x3f1617c6, 0xbeeb95f5, 0x3f39f756, 0x3f0a12a2, 0x3f82c352,
                   0xbe0d06a7, 0x3f36f150, 0x3e0ef958, 0x3f409fce, 0xbdae0d4f, 0x3f496482,
                   0x3e44f956, 0x3ef59e5a, 0xbd041a9f, 0x3f5bd7b7, 0x3e7af957],
             roi: [0x3f731371, 0xbe4306a6, 0x3f8b7980, 0x3f4f1bf3, 0x401018e8]),
        Case(width: 17, height: 17, detector: 0x1e3667e03aa10157, crop: 0x6cfae0ffe81d83e8,
             grayDetector: 0xb8972bd2e2ddf4fa, grayCrop: 0xdc5a7040f2b72af2,
             top: [0x3f7a1e28, 0x3f102a5e, 0xbeeb95f6, 0x3f0812a2, 0x3f0a12a3, 0x3f61b3b0,
                   0xbe0d06a8, 0x3f2833b0, 0x3e0ef959, 0x3f2f4938, 0xbdae0d50, 0x3f35b3af,
                   0x3e44f957, 0x3ef8675f, 0xbd041aa0, 0x3f4333b0, 0x3e7af958],
             roi: [0x3f5433af, 0xbe4306a6, 0x3f4c1bf3, 0x3f4f1bf4, 0x401018e8]),
    ]

    static func image(width: Int, height: Int, channels: Int) -> [UInt8] {
        var pixels: [UInt8] = []
        for y in 0..<height {
            for x in 0..<width {
                for c in 0..<channels {
                    pixels.append(UInt8((x * 37 + y * 91 + c * 53 + x * y * 7) & 255))
                }
            }
        }
        return pixels
    }

    /// Detector outputs from integer formulas, exactly representable in float32.
    static func rawDetectorOutputs() -> (regressors: [Float], classificators: [Float]) {
        var regressors: [Float] = []
        for i in 0..<896 {
            for j in 0..<16 {
                regressors.append(j == 2 || j == 3 ? Float(40 + (i * 13 + j) % 40)
                                                   : Float((i * 131 + j * 71 + 17) % 257 - 128) * 0.25)
            }
        }
        return (regressors, (0..<896).map { Float(($0 * 29) % 61 - 30) * 0.125 })
    }

    static func fnv1a(_ bytes: [UInt8]) -> UInt64 {
        bytes.reduce(0xcbf2_9ce4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
    }

    static func warp(_ source: [UInt8], _ c: Case, channels: Int, roi: RotatedRect, size: Int,
                     border: WarpBorder) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: size * size * 3)
        source.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer {
                ImageWarp.warp(source: src, sourceWidth: c.width, sourceHeight: c.height,
                               channels: channels, quad: roi.corners, border: border,
                               into: $0, outputWidth: size, outputHeight: size)
            }
        }
        return out
    }

    @Test("decode and weighted NMS of synthetic outputs")
    func nms() {
        let (regressors, classificators) = Self.rawDetectorOutputs()
        var kept: [FaceDetection] = []
        regressors.withUnsafeBufferPointer { reg in
            classificators.withUnsafeBufferPointer { cls in
                FaceDetectorDecoding.decodeAll(regressors: reg, classificators: cls, minScore: 0.5, into: &kept)
            }
        }
        #expect(kept.count == 455)
        var nms = WeightedNMS(), clusters: [FaceDetection] = []
        nms.run(kept, into: &clusters)
        #expect(clusters.count == 95)
        #expect(clusters[0].record.map(\.bitPattern) == Self.firstCluster)
    }

    @Test("letterbox, face ROI and both warps", arguments: cases)
    func geometry(_ c: Case) {
        let (regressors, classificators) = Self.rawDetectorOutputs()
        var kept: [FaceDetection] = [], clusters: [FaceDetection] = []
        regressors.withUnsafeBufferPointer { reg in
            classificators.withUnsafeBufferPointer { cls in
                FaceDetectorDecoding.decodeAll(regressors: reg, classificators: cls, minScore: 0.5, into: &kept)
            }
        }
        var nms = WeightedNMS()
        nms.run(kept, maxClusters: 1, into: &clusters)
        let top = clusters[0].removingLetterbox(imageWidth: c.width, imageHeight: c.height)
        #expect(top.record.map(\.bitPattern) == c.top)
        let roi = RotatedRect(faceDetection: top, imageWidth: c.width, imageHeight: c.height)
            .expandedForLandmarks()
        #expect([roi.centerX, roi.centerY, roi.width, roi.height, roi.rotation].map(\.bitPattern) == c.roi)

        let detectorROI = RotatedRect.detectorROI(imageWidth: c.width, imageHeight: c.height)
        let cropROI = roi.inPixels(imageWidth: c.width, imageHeight: c.height)
        let rgb = Self.image(width: c.width, height: c.height, channels: 3)
        let gray = Self.image(width: c.width, height: c.height, channels: 1)
        #expect(Self.fnv1a(Self.warp(rgb, c, channels: 3, roi: detectorROI, size: 128, border: .zero)) == c.detector)
        #expect(Self.fnv1a(Self.warp(rgb, c, channels: 3, roi: cropROI, size: 256, border: .replicate)) == c.crop)
        #expect(Self.fnv1a(Self.warp(gray, c, channels: 1, roi: detectorROI, size: 128, border: .zero)) == c.grayDetector)
        #expect(Self.fnv1a(Self.warp(gray, c, channels: 1, roi: cropROI, size: 256, border: .replicate)) == c.grayCrop)
    }

    @Test("degenerate ROIs and extreme image shapes do not trap")
    func degenerate() throws {
        let c = Case(width: 3, height: 500, detector: 0, crop: 0, grayDetector: 0, grayCrop: 0, top: [], roi: [])
        let gray = Self.image(width: c.width, height: c.height, channels: 1)
        for roi in [RotatedRect(centerX: 1, centerY: 1, width: 0, height: 0, rotation: 0),
                    RotatedRect(centerX: .nan, centerY: 1, width: 5, height: 5, rotation: .nan),
                    RotatedRect(centerX: 1e30, centerY: -1e30, width: 1e35, height: .infinity, rotation: 1)] {
            for border in [WarpBorder.zero, .replicate] {
                _ = Self.warp(gray, c, channels: 1, roi: roi, size: 16, border: border)
            }
        }
        // The whole pipeline on 1x1 and very elongated images (reference outputs of row 25).
        for (width, height) in [(1, 1), (3, 500), (500, 3)] {
            let landmarker = FaceLandmarker(networks: ReferenceNetworks(row: 25), options: .init())
            let pixels = Self.image(width: width, height: height, channels: 3)
            let result = try pixels.withUnsafeBufferPointer {
                try landmarker.detect(rgb: $0, width: width, height: height)
            }
            guard case .face(let face) = result else {
                Issue.record("\(width)x\(height): expected the stubbed face")
                continue
            }
            #expect(face.landmarks.count == 478 && face.blendshapes.count == 52)
        }
    }
}
