import Basics
import Foundation
import Formats
import Inference
import Pipeline
import Testing
@testable import Stages

/// MediaPipe's own 478 landmarks of the first fixture face (image-normalised, 48x48).
func referenceLandmarks() throws -> [Float] {
    let bytes = try readFileBytes(atPath: "../shared/reference/mediapipe/fer2013-mini.landmarks.f32")
    let all = decodeFloats(bytes[...])
    let faces = stride(from: 0, to: all.count, by: 1434).map { Array(all[$0..<($0 + 1434)]) }
    return try #require(faces.first { !$0[0].isNaN })
}

/// Moves a face in pixel space: rotation by `degrees` about (cx, cy), scale, shift.
func moved(_ points: [Float], degrees: Float, scale: Float, shift: SIMD2<Float>, side: Float = 48) -> [Float] {
    let a = degrees * .pi / 180, c = cos(a), s = sin(a), center = SIMD2<Float>(24, 24)
    var out = points
    for i in 0..<478 {
        let p = SIMD2(points[3 * i] * side, points[3 * i + 1] * side) - center
        let q = SIMD2(c * p.x - s * p.y, s * p.x + c * p.y) * scale + center + shift
        out[3 * i] = q.x / side
        out[3 * i + 1] = q.y / side
    }
    return out
}

func geometry(_ points: [Float], _ name: String) -> Float {
    FaceGeometry.all(points: points[...], width: 48, height: 48)[FaceGeometry.index[name]!]
}

@Suite("face geometry features", .serialized)
struct FaceGeometryTests {
    @Test("distances and aligned coordinates do not change when the face is rolled, scaled and moved; roll is measured")
    func poseInvariance() throws {
        let face = try referenceLandmarks()
        let base = FaceGeometry.all(points: face[...], width: 48, height: 48)
        let other = FaceGeometry.all(points: moved(face, degrees: 20, scale: 1.3, shift: [3, -2])[...], width: 48, height: 48)
        #expect(base.count == FaceGeometry.allNames.count)
        for name in FaceGeometry.distanceNames + FaceGeometry.alignedNames {
            let i = FaceGeometry.index[name]!
            #expect(abs(base[i] - other[i]) < 1e-3, "\(name): \(base[i]) vs \(other[i])")
        }
        let roll = geometry(moved(face, degrees: 20, scale: 1, shift: [0, 0]), "geo_roll") - geometry(face, "geo_roll")
        #expect(abs(roll - 20 * .pi / 180) < 1e-4)
    }

    @Test("mouth width is the corner distance over the inter-ocular distance; opening the mouth raises mouth_open")
    func values() throws {
        var face = try referenceLandmarks()
        func p(_ i: Int) -> SIMD2<Float> { SIMD2(face[3 * i], face[3 * i + 1]) * 48 }
        func d(_ a: SIMD2<Float>, _ b: SIMD2<Float>) -> Float { ((a - b) * (a - b)).sum().squareRoot() }
        let iod = d((p(33) + p(133)) / 2, (p(362) + p(263)) / 2)
        #expect(abs(geometry(face, "geo_mouth_width") - d(p(61), p(291)) / iod) < 1e-5)
        #expect(geometry(face, "geo_brow_inner_right") > 0)   // brows are above the eye line
        let closed = geometry(face, "geo_mouth_open")
        face[3 * 14 + 1] += 3 / 48   // lower inner lip 3 pixels down
        #expect(abs(geometry(face, "geo_mouth_open") - closed - 3 / iod) < 0.02)
    }

    @Test("the sets are disjoint, named geo_*, and the distances are 29")
    func names() {
        let all = FaceGeometry.setNames.flatMap { FaceGeometry.sets[$0]! }
        #expect(Set(all).count == all.count && all.allSatisfy { $0.hasPrefix("geo_") })
        #expect(FaceGeometry.sets["distances"]!.count == 29 && FaceGeometry.sets["aligned"]!.count == 292)
        #expect(Set(all).isDisjoint(with: Blendshapes.names))
    }

    @Test("features \"all\" keeps the 52 in model order; geometry sets follow them; bad values are named")
    func parameters() throws {
        func stage(_ values: [String: JSONValue]) throws(PipelineError) -> BlendshapesStage {
            var v: [String: JSONValue] = ["features": .array(BlendshapesStage.defaultFeatures.map { .string($0) }), "geometry": .array([])]
            v.merge(values) { $1 }
            return try BlendshapesStage(parameters: StageParameters(stage: "blendshapes", values: v))
        }
        #expect(try stage([:]).features == BlendshapesStage.defaultFeatures)
        let all = try stage(["features": .string("all")])
        #expect(all.features == Blendshapes.names && all.indices == Array(0..<52))
        let geo = try stage(["features": .string("all"), "geometry": .array([.string("distances"), .string("pose")])])
        #expect(geo.features == Blendshapes.names + FaceGeometry.distanceNames + FaceGeometry.poseNames)
        #expect(try stage(["geometry": .string("pose")]).features.suffix(5) == FaceGeometry.poseNames[...])
        #expect { try stage(["features": .string("most")]) } throws: { "\($0)".contains(#"expected "all" or a non-empty array of blendshape names, found "most""#) }
        #expect { try stage(["geometry": .array([.string("angles")])]) } throws: { "\($0)".contains(#""angles" is not a geometry set; valid sets: distances, aligned, pose"#) }
        #expect { try stage(["geometry": .array([.string("pose"), .string("pose")])]) } throws: { "\($0)".contains("'pose' is listed twice") }
    }

    @Test("new features on a cache where the default pipeline was built run no face model, and augmented rows get geometry too")
    func newFeaturesFromTheMemo() throws {
        let folder = temporaryFolder()
        let first = try BuiltPipeline(facePipelineJSON(), folder: folder)
        let b = try BuiltPipeline(facePipelineJSON(), overrides: [#"blendshapes.features="all""#, #"blendshapes.geometry=["distances","pose"]"#], folder: folder)
        #expect(b.stage("landmarks").status == .cached)
        #expect(b.stage("blendshapes").status == .ran && b.stage("augment").status == .ran)
        for s in ["blendshapes", "augment"] { #expect(stat(b, s, "extracted") == 0, "\(s)") }
        #expect(b.report.text.contains("face models: 0 images extracted"))
        let t = try b.table("augment")
        let (f, w) = try t.float32(ColumnName.features)
        #expect(w == 52 + 29 + 5)
        #expect(t.names(MetadataKey.features) == Blendshapes.names + FaceGeometry.distanceNames + FaceGeometry.poseNames)
        #expect(f.allSatisfy { $0.isFinite })
        // An augmented row's mouth width differs from its source's (the image moved), but stays a mouth width.
        let sources = try t.strings(ColumnName.augmentSource)
        let width = w, col = 52 + FaceGeometry.distanceNames.firstIndex(of: "geo_mouth_width")!
        let augmented = sources.indices.filter { !sources[$0].isEmpty }
        #expect(!augmented.isEmpty && augmented.allSatisfy { (0.4...2).contains(f[$0 * width + col]) })
        // The default pipeline's output is untouched by the new options.
        let again = try BuiltPipeline(facePipelineJSON(), folder: folder)
        #expect(again.report.version.id == first.report.version.id)
    }
}

@Suite("ready pipelines")
struct ReadyPipelineTests {
    @Test("pipelines/best.json: the stages of pipeline.json, all 52 blendshapes plus valid geometry sets, a seeded GBT")
    func best() throws {
        let best = try JSONParser.parse(try readFileBytes(atPath: "pipelines/best.json"))
        let base = try JSONParser.parse(try readFileBytes(atPath: "pipeline.json"))
        let stages = try #require(best["stages"]?.arrayValue), baseStages = try #require(base["stages"]?.arrayValue)
        #expect(stages.map { $0["name"] } == baseStages.map { $0["name"] })
        let blendshapes = try #require(stages.first { $0["name"]?.stringValue == "blendshapes" }?["params"])
        let stage = try BlendshapesStage(parameters: StageParameters(stage: "blendshapes", values: [
            "features": try #require(blendshapes["features"]), "geometry": try #require(blendshapes["geometry"])]))
        #expect(Array(stage.features.prefix(52)) == Blendshapes.names && stage.features.count > 52)
        let train = try #require(stages.last?["params"])
        #expect(train["model"]?.stringValue == "gbt" && train["seeds"] == .array([.int(1), .int(2), .int(3)]))
        // Paths resolve from pipelines/, as from benchmarks/.
        #expect(stages[0]["params"]?["source"]?.stringValue == "../../shared/data/fer2013.csv.zst")
    }
}
