import Basics
import Foundation
import Formats
import Inference
import Pipeline

/// One image to extract from: pixels plus what identifies them.
struct ImageRef {
    var pixels: ArraySlice<UInt8>
    var width: Int
    var height: Int
    var channels: Int
    var hash: ContentDigest
}

/// The landmark step's result for one image, as memoised.
struct LandmarkResult: Equatable {
    enum Status: UInt8 { case face = 0, noFaceAtDetection = 1, noFaceAtPresence = 2 }
    var status: Status
    var detectionScore: Float
    var presence: Float
    /// 478 × (x, y, z), image-normalised; empty without a face.
    var points: [Float]

    var hasFace: Bool { status == .face }

    func encoded() -> [UInt8] {
        [status.rawValue] + encodeFloats([detectionScore, presence] + points)
    }

    init(status: Status, detectionScore: Float, presence: Float, points: [Float]) {
        self.status = status
        self.detectionScore = detectionScore
        self.presence = presence
        self.points = points
    }

    /// The status of an encoded result, checked as `init(decoding:)` checks it, without
    /// decoding the landmarks.
    static func status(decoding bytes: [UInt8]) -> Status? {
        guard let first = bytes.first, let status = Status(rawValue: first), (bytes.count - 1) % 4 == 0 else { return nil }
        return (bytes.count - 1) / 4 == (status == .face ? 2 + 478 * 3 : 2) ? status : nil
    }

    init?(decoding bytes: [UInt8]) {
        guard let first = bytes.first, let status = Status(rawValue: first), (bytes.count - 1) % 4 == 0 else { return nil }
        let floats = decodeFloats(bytes[1...])
        let expected = status == .face ? 2 + 478 * 3 : 2
        guard floats.count == expected else { return nil }
        self.init(status: status, detectionScore: floats[0], presence: floats[1], points: Array(floats[2...]))
    }
}

func encodeFloats(_ values: [Float]) -> [UInt8] {
    var out = [UInt8](); out.reserveCapacity(values.count * 4)
    for f in values { withUnsafeBytes(of: f.bitPattern.littleEndian) { out += $0 } }
    return out
}

func decodeFloats(_ bytes: ArraySlice<UInt8>) -> [Float] {
    var out = [Float](); out.reserveCapacity(bytes.count / 4)
    var i = bytes.startIndex
    while i + 4 <= bytes.endIndex {
        let bits = UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2]) << 16 | UInt32(bytes[i + 3]) << 24
        out.append(Float(bitPattern: bits))
        i += 4
    }
    return out
}

extension MetadataKey {
    /// JSON object written by the landmarks stage and carried by blendshapes: the face
    /// model's digest, both thresholds and the extractor version (see `FaceModelRecord`).
    public static let faceModel = "face_model"
}

/// The artifact holding the face model bundle itself. Its content id is the model's
/// digest, so the stages below landmarks run the very model landmarks ran, found by
/// content rather than by a path that differs from machine to machine.
public let faceModelArtifact = "face_model"

/// The face model (and its thresholds) a table's landmarks were made with. The landmarks
/// stage owns the model configuration; the stages below it take it from their input.
struct FaceModelRecord: Equatable {
    var digest: ContentDigest
    var minDetectionConfidence: Double
    var minPresenceConfidence: Double
    var extractorVersion: Int

    var options: FaceLandmarkerOptions {
        FaceLandmarkerOptions(minDetectionConfidence: Float(minDetectionConfidence),
                              minPresenceConfidence: Float(minPresenceConfidence))
    }

    /// The metadata value: canonical JSON, no paths, so outputs are the same on every machine.
    var json: String {
        JSONValue.object([
            ("digest", .string(digest.hex)),
            ("extractor_version", .int(extractorVersion)),
            ("min_detection_confidence", .number(minDetectionConfidence)),
            ("min_presence_confidence", .number(minPresenceConfidence)),
        ]).canonical
    }

    init(digest: ContentDigest, minDetectionConfidence: Double, minPresenceConfidence: Double,
         extractorVersion: Int = FaceExtractor.version) {
        self.digest = digest
        self.minDetectionConfidence = minDetectionConfidence
        self.minPresenceConfidence = minPresenceConfidence
        self.extractorVersion = extractorVersion
    }

    /// The record of a face stage's input, checked against the model artifact it came with.
    init(input: StageInput, table: Table, reader stage: String) throws(PipelineError) {
        func fail(_ message: String) -> PipelineError { .stageFailed(stage: stage, message: message) }
        guard let text = table.metadata[MetadataKey.faceModel] else {
            throw fail("the input from stage '\(input.stage)' does not say which face model made its landmarks "
                + "(no '\(MetadataKey.faceModel)' metadata); put a 'landmarks' stage above '\(stage)': "
                + "the face model and its thresholds are configured there")
        }
        guard let v = try? JSONParser.parse(text), let hex = v["digest"]?.stringValue, let digest = ContentDigest(hex: hex),
              let detection = v["min_detection_confidence"]?.doubleValue, let presence = v["min_presence_confidence"]?.doubleValue,
              let version = v["extractor_version"]?.intValue else {
            throw fail("the input from stage '\(input.stage)' has a damaged face model record: \(text)")
        }
        self.init(digest: digest, minDetectionConfidence: detection, minPresenceConfidence: presence, extractorVersion: version)
        guard version == FaceExtractor.version else {
            throw fail("the input's landmarks were made by face extractor version \(version), this blendset has version "
                + "\(FaceExtractor.version); run the landmarks stage again with this blendset")
        }
        guard let model = input.artifacts[faceModelArtifact] else {
            throw fail("stage '\(input.stage)' did not pass on the face model (no '\(faceModelArtifact)' artifact); "
                + "put a 'landmarks' stage above '\(stage)'")
        }
        guard model == digest else {
            throw fail("the input from stage '\(input.stage)' carries face model \(model.hex.prefix(12)), but its table "
                + "was made with face model \(digest.hex.prefix(12)); its rows and model come from different landmarks runs")
        }
    }
}

/// Runs the native face landmarker over many images on `jobs` threads, memoised per
/// image in the cache, so an image is never extracted twice for the same model,
/// options and extractor version — whatever split, class list or augmentation it
/// reaches the stage through. Output order never depends on the thread count.
// @unchecked: the lazily loaded models and the counters are written only under `lock`, and
// the counters are read only after the workers have finished.
final class FaceExtractor: @unchecked Sendable {
    /// Bump when the extractor's numbers change, so memoised results stop matching.
    /// It is recorded in the landmarks output, so `LandmarksStage.version` follows it.
    static let version = 1

    let model: FaceModelRecord
    /// Names the model in error messages.
    let modelSource: String
    /// The model bundle's bytes; only called on a memo miss.
    private let modelBytes: () throws -> [UInt8]
    let options: FaceLandmarkerOptions
    let context: StageContext
    private let landmarkNamespace: ContentDigest
    private let blendshapeNamespace: ContentDigest
    private var openedLandmarkMemo: MemoStore?
    private var openedBlendshapeMemo: MemoStore?
    private var models: FaceModels?
    private let lock = NSLock()
    /// Images run through the detector and landmark model (memo misses).
    private(set) var extractedImages = 0
    /// Faces run through the blendshape model (memo misses).
    private(set) var blendshapeRuns = 0
    private(set) var memoHits = 0

    private func count(_ counter: ReferenceWritableKeyPath<FaceExtractor, Int>) {
        lock.lock()
        self[keyPath: counter] += 1
        lock.unlock()
    }

    init(context: StageContext, model: FaceModelRecord, source: String, bytes: @escaping () throws -> [UInt8]) throws {
        self.context = context
        self.model = model
        modelSource = source
        modelBytes = bytes
        options = model.options
        // The memo namespaces are unchanged from when each stage had its own model
        // parameter, so results memoised then are still found.
        var h = SHA256()
        h.update("blendset-landmarks-v\(Self.version)\n\(model.digest.hex)\n\(options.minDetectionConfidence.bitPattern) \(options.minPresenceConfidence.bitPattern)\n")
        landmarkNamespace = h.finalize()
        var b = SHA256()
        b.update("blendset-blendshapes-v\(Self.version)\n\(model.digest.hex)\n")
        blendshapeNamespace = b.finalize()
    }

    /// The memos open on first use: opening one reads and verifies every record of it, and
    /// the blendshapes stage never reads the landmark memo (about 5.8 KB per image).
    func openLandmarkMemo() throws -> MemoStore { try openMemo(\.openedLandmarkMemo, landmarkNamespace) }
    func openBlendshapeMemo() throws -> MemoStore { try openMemo(\.openedBlendshapeMemo, blendshapeNamespace) }

    private func openMemo(_ slot: ReferenceWritableKeyPath<FaceExtractor, MemoStore?>, _ namespace: ContentDigest) throws -> MemoStore {
        lock.lock()
        defer { lock.unlock() }
        if let memo = self[keyPath: slot] { return memo }
        let memo = try context.memo(namespace: namespace)
        self[keyPath: slot] = memo
        return memo
    }

    private func loadedModels() throws -> FaceModels {
        lock.lock()
        defer { lock.unlock() }
        if let models { return models }
        let bytes = try modelBytes()
        guard SHA256.digest(bytes) == model.digest else {
            throw PipelineError.stageFailed(stage: context.stage, message:
                "the face model \(modelSource) no longer has the content recorded for it (sha256 \(model.digest.hex.prefix(12))); build again")
        }
        do {
            let m = try FaceModels(bundle: try TaskBundle(bytes: bytes, source: modelSource))
            models = m
            return m
        } catch {
            throw PipelineError.stageFailed(stage: context.stage, message: "cannot load the face model \(modelSource): \(error)")
        }
    }

    static func landmarkKey(_ image: ImageRef) -> ContentDigest {
        var h = SHA256()
        h.update(image.hash.bytes)
        h.update("\(image.width)x\(image.height)x\(image.channels)")
        return h.finalize()
    }

    static func blendshapeKey(points: [Float], width: Int, height: Int) -> ContentDigest {
        points.withUnsafeBufferPointer { blendshapeKey(points: $0, width: width, height: height) }
    }

    /// The SHA-256 of the points' little-endian bytes and the image size.
    static func blendshapeKey(points: UnsafeBufferPointer<Float>, width: Int, height: Int) -> ContentDigest {
        var h = SHA256()
        #if _endian(little)
        // The floats' memory is their little-endian encoding: hashed in place, not copied.
        h.update(UnsafeRawBufferPointer(points))
        #else
        h.update(encodeFloats(Array(points)))
        #endif
        h.update("\(width)x\(height)")
        return h.finalize()
    }

    /// The blendshape key of each row of `points` (`width` floats per row), hashed on `jobs` threads.
    static func blendshapeKeys(_ points: [Float], width: Int, sizes: [(width: Int, height: Int)], jobs: Int) -> [ContentDigest] {
        let rows = sizes.count
        let chunk = 256
        let chunks = ParallelLoop.map(count: (rows + chunk - 1) / chunk, jobs: jobs, makeWorker: {}) { (_: inout Void, c: Int) -> [ContentDigest] in
            points.withUnsafeBufferPointer { p in
                (c * chunk..<min(rows, (c + 1) * chunk)).map { i in
                    blendshapeKey(points: UnsafeBufferPointer(rebasing: p[(i * width)..<((i + 1) * width)]),
                                  width: sizes[i].width, height: sizes[i].height)
                }
            }
        }
        return chunks.flatMap { $0 }
    }

    /// Landmarks and, for faces, the 52 blendshape scores of each image. In a shard
    /// (`StageContext.owns`), an image neither in the memo nor owned is left to the other
    /// shards: its result is nil. `owners` gives the content key that decides ownership
    /// (default: the image's hash; an augmented copy goes with its source image, so a shard
    /// extracts the whole chain of the images it owns); `claimAll` computes every miss.
    func extract(_ images: [ImageRef], owners: [ContentDigest]? = nil, claimAll: Bool = false, unit: String = "images",
                 wantBlendshapes: Bool) throws -> [(LandmarkResult, [Float]?)?] {
        var results = [(LandmarkResult, [Float]?)?](repeating: nil, count: images.count)
        var misses: [Int] = []
        var others = 0
        let landmarkMemo = try openLandmarkMemo()
        var wanted: MemoStore?
        if wantBlendshapes { wanted = try openBlendshapeMemo() }
        let blendshapeMemo = wanted
        // Look-ups decode records and hash landmarks (5.7 KB a face): on every thread.
        let chunk = 8
        let looked = ParallelLoop.map(count: (images.count + chunk - 1) / chunk, jobs: context.jobs, progress: { done in
            self.reportLookups(min(done * chunk, images.count), of: images.count, unit: unit)
        }, makeWorker: {}) { (_: inout Void, c: Int) -> [(LandmarkResult, [Float]?)?] in
            (c * chunk..<min(images.count, (c + 1) * chunk)).map { i in
                let image = images[i]
                guard let cached = landmarkMemo.get(Self.landmarkKey(image)).flatMap(LandmarkResult.init(decoding:)) else { return nil }
                guard cached.hasFace, let blendshapeMemo else { return (cached, nil) }
                let key = Self.blendshapeKey(points: cached.points, width: image.width, height: image.height)
                return blendshapeMemo.get(key).map { (cached, decodeFloats($0[...])) }
            }
        }
        for (i, found) in looked.joined().enumerated() {
            if let found {
                results[i] = found
            } else if claimAll || context.owns(owners?[i] ?? images[i].hash) { misses.append(i) } else { others += 1 }
        }
        let alreadyDone = images.count - misses.count - others
        let total = images.count - others
        memoHits += alreadyDone
        context.countItems(computed: misses.count, fromMemo: alreadyDone, skipped: others)
        context.progress(done: alreadyDone, total: total, unit: unit, fromMemo: alreadyDone)
        if misses.isEmpty { return results }

        let todo = misses
        let computed = try runParallel(todo.count) { landmarker, k in
            try self.extractOne(images[todo[k]], landmarker: landmarker, landmarkMemo: landmarkMemo, blendshapeMemo: blendshapeMemo)
        } progress: { done in
            self.context.progress(done: alreadyDone + done, total: total, unit: unit, fromMemo: alreadyDone)
        }
        for (k, i) in misses.enumerated() { results[i] = computed[k] }
        return results
    }

    /// Only whether each image has a face, for a run that needs no landmarks or scores
    /// (`StageContext.onlyDeferredWork`): a memo hit reads the status alone, and the misses
    /// go through `extract` (which computes and memoises them, scores too with
    /// `wantBlendshapes`). In a shard, an image neither in the memo nor owned is nil.
    func faceStatuses(_ images: [ImageRef], owners: [ContentDigest]? = nil, unit: String = "images",
                      wantBlendshapes: Bool) throws -> [LandmarkResult.Status?] {
        var statuses = [LandmarkResult.Status?](repeating: nil, count: images.count)
        var misses: [Int] = []
        let landmarkMemo = try openLandmarkMemo()
        for (i, image) in images.enumerated() {
            reportLookups(i, of: images.count, unit: unit)
            if let bytes = landmarkMemo.get(Self.landmarkKey(image)), let status = LandmarkResult.status(decoding: bytes) {
                statuses[i] = status
            } else {
                misses.append(i)
            }
        }
        let hits = images.count - misses.count
        memoHits += hits
        context.countItems(fromMemo: hits)
        context.progress(done: hits, total: images.count, unit: unit, fromMemo: hits)
        if misses.isEmpty { return statuses }
        let found = try extract(misses.map { images[$0] }, owners: owners.map { o in misses.map { o[$0] } }, unit: unit,
                                wantBlendshapes: wantBlendshapes)
        for (k, i) in misses.enumerated() { statuses[i] = found[k]?.0.status }
        return statuses
    }

    /// The 52 blendshape scores of each row of a table that has landmarks. Only the image
    /// sizes matter here (landmarks are image-normalised), so no pixels are needed. In a
    /// shard, a row neither in the memo nor owned (by its image's hash, `owners`) is nil.
    func blendshapes(rows table: Table, sizes: [(width: Int, height: Int)], owners: [ContentDigest]) throws -> [[Float]?] {
        let (points, width) = try table.float32(ColumnName.landmarks)
        let memo = try openBlendshapeMemo()
        // Each key hashes a row's 5.7 KB of landmarks: hashed once, on every thread.
        let keys = Self.blendshapeKeys(points, width: width, sizes: sizes, jobs: context.jobs)
        var results = [[Float]?](repeating: nil, count: table.rowCount)
        var misses: [Int] = []
        var others = 0
        for i in 0..<table.rowCount {
            reportLookups(i, of: table.rowCount, unit: "faces")
            if let cached = memo.get(keys[i]) {
                results[i] = decodeFloats(cached[...])
            } else if context.owns(owners[i]) {
                misses.append(i)
            } else {
                others += 1
            }
        }
        let alreadyDone = table.rowCount - misses.count - others
        let total = table.rowCount - others
        memoHits += alreadyDone
        context.countItems(computed: misses.count, fromMemo: alreadyDone, skipped: others)
        context.progress(done: alreadyDone, total: total, unit: "faces", fromMemo: alreadyDone)
        if misses.isEmpty { return results }
        let todo = misses
        let computed = try runParallel(todo.count) { landmarker, k in
            let i = todo[k]
            return try points.withUnsafeBufferPointer { p in
                try self.runBlendshapes(key: keys[i], points: UnsafeBufferPointer(rebasing: p[(i * width)..<((i + 1) * width)]),
                                        width: sizes[i].width, height: sizes[i].height, landmarker: landmarker, memo: memo)
            }
        } progress: { done in
            self.context.progress(done: alreadyDone + done, total: total, unit: "faces", fromMemo: alreadyDone)
        }
        for (k, i) in misses.enumerated() { results[i] = computed[k] }
        return results
    }

    /// Memo look-ups are a pass of their own: on a cache that holds every image they are
    /// most of the stage, so they report their own progress (and rate, and ETA) as they go.
    private func reportLookups(_ i: Int, of total: Int, unit: String) {
        if i > 0 && i % 512 == 0 { context.progress(done: i, total: total, unit: "\(unit) looked up in the memo") }
    }

    /// Runs `body` for 0..<count on the stage's threads; results in index order.
    private func runParallel<T>(_ count: Int, _ body: @escaping @Sendable (FaceLandmarker, Int) throws -> T,
                                progress: @escaping @Sendable (Int) -> Void) throws -> [T] {
        let results = try LandmarkerPool.map(count: count, jobs: context.jobs, models: try loadedModels(),
                                             options: options, progress: progress, body)
        lock.lock()
        let opened = [openedLandmarkMemo, openedBlendshapeMemo]
        lock.unlock()
        for memo in opened { memo?.flush() }
        return results
    }

    /// Runs the blendshape model on one face (unless another thread memoised it meanwhile).
    private func runBlendshapes(key: ContentDigest, points: UnsafeBufferPointer<Float>, width: Int, height: Int,
                                landmarker: FaceLandmarker, memo: MemoStore) throws -> [Float] {
        if let cached = memo.get(key) { return decodeFloats(cached[...]) }
        let n = points.count / 3
        let simd = [SIMD3<Float>](unsafeUninitializedCapacity: n) { out, initialized in
            for j in 0..<n { out[j] = SIMD3(points[3 * j], points[3 * j + 1], points[3 * j + 2]) }
            initialized = n
        }
        let scores = try simd.withUnsafeBufferPointer { p in
            try landmarker.blendshapes(landmarks: p, imageWidth: width, imageHeight: height)
        }
        try memo.put(key, encodeFloats(scores))
        count(\.blendshapeRuns)
        return scores
    }

    private func extractOne(_ image: ImageRef, landmarker: FaceLandmarker, landmarkMemo: MemoStore,
                            blendshapeMemo: MemoStore?) throws -> (LandmarkResult, [Float]?) {
        let key = Self.landmarkKey(image)
        var result = landmarkMemo.get(key).flatMap(LandmarkResult.init(decoding:))
        if result == nil {
            let detection = try image.pixels.withUnsafeBufferPointer { p in
                image.channels == 1
                    ? try landmarker.detectLandmarks(gray: p, width: image.width, height: image.height)
                    : try landmarker.detectLandmarks(rgb: p, width: image.width, height: image.height)
            }
            let r: LandmarkResult
            switch detection {
            case .noFace(let reason):
                r = LandmarkResult(status: reason == .detection ? .noFaceAtDetection : .noFaceAtPresence, detectionScore: 0, presence: 0, points: [])
            case .face(let landmarks, let score, let presence):
                var points = [Float](); points.reserveCapacity(landmarks.count * 3)
                for p in landmarks { points += [p.x, p.y, p.z] }
                r = LandmarkResult(status: .face, detectionScore: score, presence: presence, points: points)
            }
            try landmarkMemo.put(key, r.encoded())
            count(\.extractedImages)
            result = r
        }
        guard let landmarks = result, landmarks.hasFace, let blendshapeMemo else { return (result!, nil) }
        let bkey = Self.blendshapeKey(points: landmarks.points, width: image.width, height: image.height)
        return (landmarks, try landmarks.points.withUnsafeBufferPointer { p in
            try runBlendshapes(key: bkey, points: p, width: image.width, height: image.height, landmarker: landmarker, memo: blendshapeMemo)
        })
    }
}

