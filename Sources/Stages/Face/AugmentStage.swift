import Basics
import Foundation
import Formats
import Inference
import Pipeline

/// Train split only: makes seeded augmented copies of every valid training image, runs
/// each through the same landmarker and blendshape model (the one the landmarks stage
/// used, taken from the input), and keeps the copies that still show a face. With `per_class_target`, a class that would stay below the target
/// gets further augmented copies (never duplicated rows) until it reaches it.
///
/// A copy is identified by (item, copy number) and its recipe depends only on those and
/// the seed, so asking for more copies keeps the earlier ones — and their memoised
/// extraction — unchanged.
public struct AugmentStage: Stage {
    public static let kind = "augment"
    public static let version = 2
    public static let summary = "train only: seeded augmented copies of the valid images, re-extracted; faceless copies dropped"
    public static let inputCount = 1...1
    public static let perItem = true
    public static let parameters: [ParameterSpec] = [
        ParameterSpec("copies", default: .int(1), "augmented copies per valid training image"),
        ParameterSpec("per_class_target", default: .int(7500),
                      "fill a class that stays below this many train rows with further copies (0: off)"),
        ParameterSpec("seed", default: .int(42), "seed of every recipe"),
        ParameterSpec("flip_p", default: .number(0.5), "probability of a horizontal flip"),
        ParameterSpec("rotate_p", default: .number(0.5), "probability of a rotation"),
        ParameterSpec("rotate_degrees", default: .number(10), "rotation range: ± degrees"),
        ParameterSpec("scale_p", default: .number(0.5), "probability of a scaling"),
        ParameterSpec("scale_range", default: .number(0.1), "scale factor range: 1 ± this"),
        ParameterSpec("translate_p", default: .number(0.5), "probability of a shift"),
        ParameterSpec("translate_fraction", default: .number(0.1), "shift range: ± this fraction of the image size"),
        ParameterSpec("brightness_p", default: .number(0.5), "probability of a brightness change"),
        ParameterSpec("brightness_range", default: .number(0.2), "brightness factor range: 1 ± this"),
        ParameterSpec("contrast_p", default: .number(0.5), "probability of a contrast change"),
        ParameterSpec("contrast_range", default: .number(0.2), "contrast factor range: 1 ± this"),
        ParameterSpec("noise_p", default: .number(0.3), "probability of Gaussian noise"),
        ParameterSpec("noise_sigma", default: .number(8), "noise standard deviation range: 0 … this (grey levels)"),
    ]
    public static let movedParameters = movedFaceModelParameters(["model", "min_detection_confidence", "min_presence_confidence"])

    public let copies: Int
    public let perClassTarget: Int
    public let seed: UInt64
    public let settings: AugmentationSettings
    /// Rounds of further copies tried when filling a class, beyond `copies`.
    static let maxFillRounds = 20

    public init(parameters: StageParameters) throws(PipelineError) {
        copies = try parameters.int("copies", in: 0...100)
        perClassTarget = try parameters.int("per_class_target", in: 0...100_000_000)
        seed = UInt64(try parameters.int("seed", in: 0...Int.max))
        var s = AugmentationSettings()
        func p(_ n: String) throws(PipelineError) -> Double { try parameters.double(n, in: 0...1) }
        s.flipProbability = try p("flip_p")
        s.rotateProbability = try p("rotate_p")
        s.maxDegrees = try parameters.double("rotate_degrees", in: 0...180)
        s.scaleProbability = try p("scale_p")
        s.maxScale = try parameters.double("scale_range", in: 0...0.9)
        s.translateProbability = try p("translate_p")
        s.maxTranslate = try parameters.double("translate_fraction", in: 0...1)
        s.brightnessProbability = try p("brightness_p")
        s.maxBrightness = try parameters.double("brightness_range", in: 0...1)
        s.contrastProbability = try p("contrast_p")
        s.maxContrast = try parameters.double("contrast_range", in: 0...1)
        s.noiseProbability = try p("noise_p")
        s.maxNoise = try parameters.double("noise_sigma", in: 0...128)
        settings = s
    }

    struct Candidate {
        var source: Int
        var copy: Int
        var recipe: AugmentationRecipe
        var pixels: [UInt8]
        var hash: ContentDigest
    }

    public func run(_ context: StageContext) throws -> StageResult {
        let input = try context.input.table()
        let images = try ImageSet(context.input)
        let featureNames = input.names(MetadataKey.features)
        // A shard's second pass that only fills (see below) reads no features.
        let onlyFill = context.onlyDeferredWork && context.outputUnused
        guard input.column(ColumnName.features) != nil || onlyFill, let featureMap = FaceFeatureMap(featureNames), !featureNames.isEmpty else {
            throw stageError(context, "the input has no blendshape features; put a 'blendshapes' stage before 'augment'")
        }
        let split = try input.int32(ColumnName.split), labels = try input.int32(ColumnName.label)
        let itemIDs = try input.strings(ColumnName.itemID)
        let refs = try imageRefs(input, images)
        let classes = input.names(MetadataKey.classes)
        let train = (0..<input.rowCount).filter { split[$0] == Split.train.rawValue }
        let model = try FaceModelRecord(input: context.input, table: input, reader: context.stage)
        let extractor = try FaceExtractor(context: context, model: model, source: modelSource(context.input, model)) {
            try context.input.bytes(faceModelArtifact)
        }

        func candidate(_ row: Int, copy: Int) -> Candidate {
            let r = refs[row]
            var rng = SeededRandom.forItem(itemIDs[row], copy: copy, seed: seed)
            // An identity recipe would copy the original row; draw again (bounded, for
            // settings whose probabilities are all zero).
            var recipe = AugmentationRecipe.draw(settings, width: r.width, height: r.height, rng: &rng)
            for _ in 0..<64 where recipe.isIdentity {
                recipe = AugmentationRecipe.draw(settings, width: r.width, height: r.height, rng: &rng)
            }
            let pixels = recipe.apply(to: r.pixels, width: r.width, height: r.height, channels: r.channels)
            return Candidate(source: row, copy: copy, recipe: recipe, pixels: pixels, hash: SHA256.digest(pixels))
        }
        // Transforms and hashes of the copies, on every thread; each copy has its own seeded generator.
        func candidates(_ rows: some Collection<Int>, copy: Int) -> [Candidate] {
            let rows = Array(rows)
            return ParallelLoop.map(count: rows.count, jobs: context.jobs, makeWorker: {}) { (_: inout Void, k: Int) -> Candidate in
                candidate(rows[k], copy: copy)
            }
        }
        // A copy goes with its source image: the shard that owns the image extracts its copies.
        func extract(_ cands: [Candidate], claimAll: Bool = false) throws -> [(LandmarkResult, [Float]?)?] {
            try extractor.extract(cands.map { c in
                let r = refs[c.source]
                return ImageRef(pixels: c.pixels[...], width: r.width, height: r.height, channels: r.channels, hash: c.hash)
            }, owners: cands.map { refs[$0.source].hash }, claimAll: claimAll, unit: "augmented images", wantBlendshapes: true)
        }

        // Regular copies: every train image, copies 0..<copies.
        var accepted: [(Candidate, LandmarkResult, [Float])] = []
        var attempted = [Int](repeating: 0, count: classes.count), valid = [Int](repeating: 0, count: classes.count)
        var filled = [Int](repeating: 0, count: classes.count)
        var leftToOthers = 0
        for copy in 0..<copies {
            let cands = candidates(train, copy: copy)
            if onlyFill {
                // Only which copies kept their face counts for the fill: no landmarks are decoded.
                let statuses = try extractor.faceStatuses(cands.map { c in
                    let r = refs[c.source]
                    return ImageRef(pixels: c.pixels[...], width: r.width, height: r.height, channels: r.channels, hash: c.hash)
                }, owners: cands.map { refs[$0.source].hash }, unit: "augmented images", wantBlendshapes: true)
                for (c, status) in zip(cands, statuses) {
                    guard let status else { leftToOthers += 1; continue }
                    let label = Int(labels[c.source])
                    attempted[label] += 1
                    if status == .face { valid[label] += 1 }
                }
                continue
            }
            for (c, found) in zip(cands, try extract(cands)) {
                guard let r = found else { leftToOthers += 1; continue }
                let label = Int(labels[c.source])
                attempted[label] += 1
                if r.0.hasFace, let scores = r.1 {
                    valid[label] += 1
                    accepted.append((c, r.0, scores))
                }
            }
        }

        // Fill short classes with further copies, in a seeded order of their images. How many
        // copies that takes depends on every image's result: a shard that lacks some leaves
        // it to the last shard (or the merge); one that has them all extracts every copy.
        let complete = context.inputsComplete && leftToOthers == 0
        if perClassTarget > 0 && !complete {
            context.deferWork("augment: filling classes below per_class_target \(perClassTarget) (it needs every shard's images)")
        }
        if perClassTarget > 0 && complete {
            for c in 0..<classes.count {
                let sources = train.filter { labels[$0] == Int32(c) }
                guard !sources.isEmpty else { continue }
                var deficit = perClassTarget - sources.count - valid[c]
                var order = sources
                var rng = SeededRandom(seed: seed, stream: UInt64(c) &+ 0xF111)
                rng.shuffle(&order)
                var round = 0, position = 0
                while deficit > 0 && round < Self.maxFillRounds {
                    // A batch a little larger than the deficit, since some copies lose the face.
                    let batch = min(order.count - position, deficit + deficit / 8 + 8)
                    let cands = candidates(order[position..<(position + batch)], copy: copies + round)
                    for (cand, found) in zip(cands, try extract(cands, claimAll: true)) where deficit > 0 {
                        let r = found!
                        attempted[c] += 1
                        if r.0.hasFace, let scores = r.1 {
                            accepted.append((cand, r.0, scores))
                            filled[c] += 1
                            deficit -= 1
                        }
                    }
                    position += batch
                    if position == order.count { position = 0; round += 1 }
                }
                if deficit > 0 {
                    context.warn("class '\(classes[c])' is still \(deficit) rows short of per_class_target \(perClassTarget) after \(Self.maxFillRounds) extra rounds of copies")
                }
            }
        }

        var perClass: [(String, JSONValue)] = []
        for (c, name) in classes.enumerated() {
            let originalsCount = train.filter { labels[$0] == Int32(c) }.count
            perClass.append((name, .object([
                ("originals", .int(originalsCount)), ("attempted", .int(attempted[c])),
                ("augmented", .int(valid[c] + filled[c])), ("from_fill", .int(filled[c])),
                ("dropped_no_face", .int(attempted[c] - valid[c] - filled[c])),
                ("train_rows", .int(originalsCount + valid[c] + filled[c])),
            ])))
        }
        let stats = JSONValue.object([
            ("copies", .int(copies)), ("per_class_target", .int(perClassTarget)),
            ("classes", .object(perClass)),
            ("extracted", .int(extractor.extractedImages)), ("memo_hits", .int(extractor.memoHits)),
        ])
        // In a shard nothing reads this output: the memo entries are the work.
        if context.outputUnused { return StageResult(artifacts: [:], rowsIn: input.rowCount, stats: stats) }

        // Augmented rows: the source row's columns, with a new image, features and provenance.
        var augmented = try input.gathering(accepted.map { $0.0.source })
        var imageOffsets = images.offsets, imageBytes = images.bytes
        var features: [Float] = [], scores: [Float] = [], presences: [Float] = [], hashes: [UInt8] = [], index: [Int32] = []
        var ids: [String] = [], recipes: [String] = [], seeds: [Int64] = []
        for (c, landmarks, all) in accepted {
            index.append(Int32(imageOffsets.count - 1))
            imageBytes += c.pixels
            imageOffsets.append(Int64(imageBytes.count))
            hashes += c.hash.bytes
            let r = refs[c.source]
            featureMap.append(to: &features, scores: all, points: landmarks.points[...], width: r.width, height: r.height)
            scores.append(landmarks.detectionScore)
            presences.append(landmarks.presence)
            ids.append("\(itemIDs[c.source])~aug\(c.copy)")
            recipes.append(c.recipe.description)
            seeds.append(Int64(bitPattern: seed))
        }
        augmented = try augmented
            .setting(Column(name: ColumnName.itemID, data: .strings(ids)))
            .setting(Column(name: ColumnName.imageIndex, data: .int32(index)))
            .setting(Column(name: ColumnName.imageHash, data: .uint8(values: hashes, width: 32)))
            .setting(Column(name: ColumnName.features, data: .float32(values: features, width: featureNames.count)))
        if input.column(ColumnName.detectionScore) != nil {
            augmented = try augmented
                .setting(Column(name: ColumnName.detectionScore, data: .float32(values: scores, width: 1)))
                .setting(Column(name: ColumnName.presence, data: .float32(values: presences, width: 1)))
        }
        augmented = try withProvenance(augmented, sources: accepted.map { itemIDs[$0.0.source] }, recipes: recipes, seeds: seeds)
        let originals = try withProvenance(input, sources: .init(repeating: "", count: input.rowCount),
                                           recipes: .init(repeating: "", count: input.rowCount), seeds: .init(repeating: 0, count: input.rowCount))
        var table = try originals.appending(augmented)
        // The record belongs to the face stages; without it this output, and so the
        // dataset, is the same as when augment had its own model parameter.
        table.metadata[MetadataKey.faceModel] = nil
        let newImages = ImageSet(offsets: imageOffsets, bytes: imageBytes)
        return StageResult(sealed: [tableArtifact: table.sealed(), imagesArtifact: try newImages.sealed()],
                           rowsIn: input.rowCount, rowsOut: table.rowCount, stats: stats)
    }

    private func withProvenance(_ t: Table, sources: [String], recipes: [String], seeds: [Int64]) throws(FormatError) -> Table {
        try t.setting(Column(name: ColumnName.augmentSource, data: .strings(sources)))
            .setting(Column(name: ColumnName.augmentRecipe, data: .strings(recipes)))
            .setting(Column(name: ColumnName.augmentSeed, data: .int64(seeds)))
    }
}

