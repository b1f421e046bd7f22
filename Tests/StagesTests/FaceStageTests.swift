import Basics
import Foundation
import Formats
import Inference
import Pipeline
import Testing
import Learning
@testable import Stages

let modelPath = URL(fileURLWithPath: "../shared/models/face_landmarker.task").standardizedFileURL.path

/// ingest → select → split → landmarks → blendshapes → augment → balance → truncate → onehot → dataset on the fixture.
func facePipelineJSON(upTo last: String = "dataset") -> String {
    let stages: [(String, String)] = [
        ("ingest", #"{ "name": "ingest", "params": { "source": "\#(fixtureCSV)" } }"#),
        ("select", #"{ "name": "select" }"#),
        ("split", #"{ "name": "split" }"#),
        ("landmarks", #"{ "name": "landmarks", "params": { "model": "\#(modelPath)" } }"#),
        ("blendshapes", #"{ "name": "blendshapes" }"#),
        ("augment", #"{ "name": "augment", "params": { "per_class_target": 0 } }"#),
        ("balance", #"{ "name": "balance", "params": { "per_class": 50 } }"#),
        ("truncate", #"{ "name": "truncate" }"#),
        ("onehot", #"{ "name": "onehot" }"#),
        ("dataset", #"{ "name": "dataset" }"#),
    ]
    let upTo = stages.firstIndex { $0.0 == last }!
    return #"{ "version": 1, "stages": [ "# + stages[...upTo].map(\.1).joined(separator: ", ") + " ] }"
}

/// MediaPipe's own results for the fixture's emotion-3/4/6 rows: fixture row → detected.
func mediaPipeDetections() throws -> [Int: Bool] {
    let text = try String(contentsOfFile: "../shared/reference/mediapipe/fer2013-mini.blendshapes.csv", encoding: .utf8)
    let lines = text.split(separator: "\n")
    let header = lines[0].split(separator: ",").map(String.init)
    let rowColumn = header.firstIndex(of: "fixture_row")!, detectedColumn = header.firstIndex(of: "detected")!
    var out: [Int: Bool] = [:]
    for line in lines.dropFirst() {
        let f = line.split(separator: ",", omittingEmptySubsequences: false)
        out[Int(f[rowColumn])!] = f[detectedColumn] == "1" || f[detectedColumn].lowercased() == "true"
    }
    return out
}

func stat(_ b: BuiltPipeline, _ stage: String, _ key: String) -> Int? { b.stats(stage)[key]?.intValue }

@Suite("face stages", .serialized)
struct FaceStageTests {
    @Test("landmarks keeps exactly the images where MediaPipe finds a face, and reports validity per split and class")
    func landmarksMatchMediaPipe() throws {
        let b = try BuiltPipeline(facePipelineJSON(upTo: "landmarks"))
        let t = try b.table("landmarks")
        let reference = try mediaPipeDetections()
        let kept = Set(try t.strings(ColumnName.itemID).map { Int($0)! })
        #expect(reference.count == 126)
        for (row, detected) in reference { #expect(kept.contains(row) == detected, "fixture row \(row)") }
        #expect(t.rowCount == 107)
        #expect(try t.float32(ColumnName.landmarks).width == 1434)
        let validity = b.stats("landmarks")["validity"]
        let trainHappy = validity?["train"]?["happy"]
        #expect(trainHappy?["images"] == .int(30))
        let faces = Split.allCases.flatMap { s in ["happy", "sad", "neutral"].map { validity?[s.name]?[$0]?["faces"]?.intValue ?? 0 } }
        #expect(faces.reduce(0, +) == 107)
        #expect(stat(b, "landmarks", "extracted") == 126)
    }

    @Test("blendshapes keep the configured features, in order, equal to the landmarker's scores")
    func blendshapeFeatures() throws {
        let b = try BuiltPipeline(facePipelineJSON(upTo: "blendshapes"), overrides: [#"blendshapes.features=["jawOpen","browInnerUp"]"#])
        let t = try b.table("blendshapes")
        #expect(t.names(MetadataKey.features) == ["jawOpen", "browInnerUp"])
        #expect(t.column(ColumnName.landmarks) == nil)
        let (values, width) = try t.float32(ColumnName.features)
        #expect(width == 2)
        // The first row, through the whole landmarker directly.
        let images = try b.images("blendshapes")
        let index = Int(try t.int32(ColumnName.imageIndex)[0])
        let landmarker = try FaceLandmarker(models: try FaceModels(taskPath: modelPath))
        let result = try Array(images.pixels(index)).withUnsafeBufferPointer { try landmarker.detect(gray: $0, width: 48, height: 48) }
        guard case .face(let face) = result else { Issue.record("expected a face"); return }
        #expect(values[0] == face.blendshapes[Blendshapes.names.firstIndex(of: "jawOpen")!])
        #expect(values[1] == face.blendshapes[Blendshapes.names.firstIndex(of: "browInnerUp")!])
    }

    @Test("an unknown blendshape name is an error naming it and listing the valid names")
    func unknownFeature() {
        #expect {
            try BuiltPipeline(facePipelineJSON(upTo: "blendshapes"), overrides: [#"blendshapes.features=["jawOpen","smile"]"#])
        } throws: { error in
            let text = "\(error)"
            return text.contains("'smile' is not a blendshape") && text.contains("mouthSmileLeft")
        }
    }

    @Test("the default feature list is the 33 of the recipe")
    func defaultFeatures() {
        #expect(BlendshapesStage.defaultFeatures.count == 33)
        #expect(BlendshapesStage.defaultFeatures.allSatisfy(Blendshapes.names.contains))
    }

    @Test("augment adds valid copies of train images only, with provenance; more copies extract only the new images")
    func augmentCopies() throws {
        let folder = temporaryFolder()
        let one = try BuiltPipeline(facePipelineJSON(upTo: "augment"), folder: folder)
        let t = try one.table("augment")
        let split = try t.int32(ColumnName.split), sources = try t.strings(ColumnName.augmentSource)
        let recipes = try t.strings(ColumnName.augmentRecipe), ids = try t.strings(ColumnName.itemID)
        let input = try one.table("blendshapes")
        let trainOriginals = try input.int32(ColumnName.split).filter { $0 == 0 }.count
        let augmentedRows = sources.indices.filter { !sources[$0].isEmpty }
        #expect(t.rowCount == input.rowCount + augmentedRows.count)
        #expect(augmentedRows.allSatisfy { split[$0] == 0 && !recipes[$0].isEmpty && ids[$0] == sources[$0] + "~aug0" })
        #expect(augmentedRows.count <= trainOriginals && augmentedRows.count >= trainOriginals * 8 / 10)
        #expect(stat(one, "augment", "extracted") == trainOriginals)
        // The augmented images are stored: each row's image hash is its pixels' hash.
        let images = try one.images("augment"), hashes = try t.digests(ColumnName.imageHash), index = try t.int32(ColumnName.imageIndex)
        for r in augmentedRows.prefix(5) { #expect(SHA256.digest(Array(images.pixels(Int(index[r])))) == hashes[r]) }

        let two = try BuiltPipeline(facePipelineJSON(upTo: "augment"), overrides: ["augment.copies=2"], folder: folder)
        #expect(stat(two, "augment", "extracted") == trainOriginals)   // only the second copies are new
        #expect(stat(two, "augment", "memo_hits") == trainOriginals)
        let t2 = try two.table("augment")
        let ids2 = Set(try t2.strings(ColumnName.itemID))
        #expect(Set(ids).isSubset(of: ids2))
    }

    @Test("per_class_target fills short classes with further augmented copies, not repeats")
    func augmentFill() throws {
        let b = try BuiltPipeline(facePipelineJSON(upTo: "augment"), overrides: ["augment.per_class_target=60"])
        let t = try b.table("augment")
        let split = try t.int32(ColumnName.split), labels = try t.int32(ColumnName.label), ids = try t.strings(ColumnName.itemID)
        for c in Int32(0)..<3 {
            let rows = split.indices.filter { split[$0] == 0 && labels[$0] == c }
            #expect(rows.count == 60, "class \(c)")
            #expect(Set(rows.map { ids[$0] }).count == rows.count)
        }
        #expect(b.stats("augment")["classes"]?["sad"]?["from_fill"]?.intValue ?? 0 > 0)
    }

    @Test("changing the split, classes, balance, truncation or feature list never re-runs the landmark model")
    func memoAvoidsReExtraction() throws {
        let folder = temporaryFolder()
        _ = try BuiltPipeline(facePipelineJSON(), folder: folder)
        let changes: [[String]] = [
            ["split.method=stratified"],
            [#"select.classes=[{"name":"happy","emotions":[3]},{"name":"other","emotions":[4,6]}]"#],
            ["balance.per_class=20", "balance.seed=9"],
            ["truncate.digits=2"],
            [#"blendshapes.features=["jawOpen","mouthSmileLeft","mouthSmileRight"]"#],
        ]
        for overrides in changes {
            let b = try BuiltPipeline(facePipelineJSON(), overrides: overrides, folder: folder)
            if b.stage("landmarks").status == .ran { #expect(stat(b, "landmarks", "extracted") == 0, "\(overrides)") }
            // A new split puts other images in train, whose copies are new images; nothing else may extract.
            if b.stage("augment").status == .ran && overrides != changes[0] {
                #expect(stat(b, "augment", "extracted") == 0, "\(overrides): augment extracted images")
            }
            if b.stage("blendshapes").status == .ran { #expect(stat(b, "blendshapes", "extracted") == 0, "\(overrides)") }
        }
    }

    @Test("the blendshapes stage never opens the landmark memo (opening one reads and verifies all of it)")
    func blendshapesLeavesLandmarkMemo() throws {
        let folder = temporaryFolder()
        _ = try BuiltPipeline(facePipelineJSON(upTo: "landmarks"), folder: folder)
        let memoRoot = folder + "/cache/memo"
        let namespaces = try FileManager.default.contentsOfDirectory(atPath: memoRoot)
        #expect(namespaces.count == 1)
        let landmarkMemo = memoRoot + "/" + namespaces[0]
        let pack = landmarkMemo + "/" + (try FileManager.default.contentsOfDirectory(atPath: landmarkMemo).first { $0.hasSuffix(".pack") }!)
        // A damaged pack is moved to quarantine by whoever opens its memo.
        var bytes = try readFileBytes(atPath: pack)
        bytes[100] ^= 0xFF
        try AtomicFile.write(bytes, to: pack)
        let b = try BuiltPipeline(facePipelineJSON(upTo: "blendshapes"), folder: folder)
        #expect(b.stage("blendshapes").status == .ran)
        #expect(FileManager.default.fileExists(atPath: pack), "blendshapes opened the landmark memo")
    }

    @Test("blendshape memo keys are the SHA-256 of the points' little-endian bytes and the size, on any thread count")
    func blendshapeKeysUnchanged() throws {
        let points = try referenceLandmarks()
        var h = SHA256()
        h.update(encodeFloats(points))
        h.update("48x48")
        let expected = h.finalize()
        #expect(FaceExtractor.blendshapeKey(points: points, width: 48, height: 48) == expected)
        let rows = 700
        let many = (0..<rows).flatMap { r in points.map { $0 + Float(r % 5) } }
        let sizes = (0..<rows).map { r in (width: 48 + r % 3, height: 48) }
        let one = FaceExtractor.blendshapeKeys(many, width: 1434, sizes: sizes, jobs: 1)
        #expect(one[0] == expected)
        #expect(one[15] == expected)
        #expect(FaceExtractor.blendshapeKeys(many, width: 1434, sizes: sizes, jobs: 3) == one)
        for r in [1, 2, 699] {
            #expect(one[r] == FaceExtractor.blendshapeKey(points: Array(many[(r * 1434)..<((r + 1) * 1434)]), width: sizes[r].width, height: 48))
        }
    }

    @Test("one or two jobs give a byte-identical dataset")
    func jobs() throws {
        let one = try BuiltPipeline(facePipelineJSON(), jobs: 1)
        let two = try BuiltPipeline(facePipelineJSON(), jobs: 2)
        #expect(one.report.version.id == two.report.version.id)
        #expect(one.stage("augment").contentID == two.stage("augment").contentID)
    }

    @Test("the dataset has truncated features, one-hot labels and augmentation provenance")
    func dataset() throws {
        let b = try BuiltPipeline(facePipelineJSON())
        let t = try b.table("dataset")
        let (f, w) = try t.float32(ColumnName.features)
        #expect(w == 33)
        #expect(f.allSatisfy { FeatureDigits.truncate($0, digits: 4) == $0 })
        let decimals = f.map { v -> Int in
            let text = "\(v)"
            guard !text.contains("e"), let dot = text.firstIndex(of: ".") else { return text.contains("e") ? 99 : 0 }
            return text[text.index(after: dot)...] == "0" ? 0 : text.distance(from: dot, to: text.endIndex) - 1
        }
        #expect(decimals.max()! <= 4)
        #expect(t.column(ColumnName.augmentRecipe) != nil && t.column(ColumnName.image) == nil)
        #expect(b.stage("dataset").artifacts[imagesArtifact] == nil)
    }
}

@Suite("augmentation recipes")
struct AugmentationTests {
    @Test("a recipe depends only on seed, item and copy; the identity recipe changes nothing")
    func recipes() {
        var a = SeededRandom.forItem("17", copy: 0, seed: 42), b = SeededRandom.forItem("17", copy: 0, seed: 42)
        var c = SeededRandom.forItem("17", copy: 1, seed: 42)
        let s = AugmentationSettings()
        let ra = AugmentationRecipe.draw(s, width: 48, height: 48, rng: &a)
        #expect(ra == AugmentationRecipe.draw(s, width: 48, height: 48, rng: &b))
        #expect(ra != AugmentationRecipe.draw(s, width: 48, height: 48, rng: &c))
        let pixels = (0..<(48 * 48)).map { UInt8($0 % 251) }
        #expect(AugmentationRecipe().apply(to: pixels[...], width: 48, height: 48, channels: 1) == pixels)
        var flip = AugmentationRecipe(); flip.flip = true
        let flipped = flip.apply(to: pixels[...], width: 48, height: 48, channels: 1)
        #expect(flipped[0] == pixels[47] && flipped[48 + 5] == pixels[48 + 42])
        #expect(flip.description == "flip")
    }

    @Test("isIdentity says what the description says, for drawn recipes of every kind")
    func identity() {
        #expect(AugmentationRecipe().isIdentity && AugmentationRecipe().description == "identity")
        var none = AugmentationSettings()
        none.flipProbability = 0; none.rotateProbability = 0; none.scaleProbability = 0; none.translateProbability = 0
        none.brightnessProbability = 0; none.contrastProbability = 0; none.noiseProbability = 0
        var few = none
        few.noiseProbability = 0.1; few.flipProbability = 0.1; few.translateProbability = 0.1
        var identities = 0
        // Defaults draw few identities, `none` only identities, `few` a mix.
        for (k, s) in [AugmentationSettings(), none, few].enumerated() {
            for item in 0..<300 {
                var rng = SeededRandom.forItem("\(item)", copy: k, seed: 7)
                let r = AugmentationRecipe.draw(s, width: 48, height: 48, rng: &rng)
                #expect(r.isIdentity == (r.description == "identity"), "\(r)")
                if r.isIdentity { identities += 1 }
            }
        }
        #expect(identities > 300 && identities < 900)
    }
}

