import Basics
import Foundation
import Formats
import Pipeline

/// Reads FER2013 — the Kaggle CSV (plain or .zst) or a folder of PNG or JPEG images laid out
/// `<usage>/<emotion name>/*.png|*.jpg` — into a table of images with emotion, usage and a
/// stable item id (the CSV data row, or the image's path inside the folder).
public struct IngestStage: Stage {
    public static let kind = "ingest"
    // 2: folder images larger than 1024 px on a side are reduced while read.
    // 3: a CSV's images are one fixed-width column, compressed while the file is parsed.
    public static let version = 3
    public static let summary = "read FER2013 (CSV, .csv.zst or a PNG/JPEG folder) into an image table"
    public static let inputCount = 0...0
    public static let sourceHint = """
        FER2013 is distributed on Kaggle ("Challenges in Representation Learning: Facial Expression \
        Recognition Challenge", file fer2013.csv). Put it at ../shared/data/fer2013.csv.zst (or .csv) \
        relative to the project, or point the build at it with --set ingest.source=PATH.
        """
    public static let parameters: [ParameterSpec] = [
        ParameterSpec("source", default: .string("../shared/data/fer2013.csv.zst"),
                      "FER2013 as .csv, .csv.zst, or a folder <usage>/<emotion>/*.png|*.jpg; relative to the pipeline file",
                      role: .inputPath(hint: sourceHint), keysFileName: true),
        ParameterSpec("on_bad_row", default: .string("fail"),
                      "\"fail\" stops at the first bad row or image; \"skip\" drops it and counts it in the stats"),
    ]

    public let source: String
    public let onBadRow: BadRowPolicy

    public init(parameters: StageParameters) throws(PipelineError) {
        source = try parameters.path("source")
        onBadRow = BadRowPolicy(rawValue: try parameters.string("on_bad_row", oneOf: ["fail", "skip"]))!
    }

    public static let usageFolders = ["Training", "PublicTest", "PrivateTest"]
    /// Folder images larger than this on either side are reduced to it as they are read, so
    /// memory holds one full-size image at a time. The face models look at 128 and 256 pixel
    /// crops; 1024 keeps a face that fills a quarter of the frame at full model resolution.
    public static let maxImageSide = 1024

    public func run(_ context: StageContext) throws -> StageResult {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: source, isDirectory: &isDirectory) else {
            throw PipelineError.missingInput(stage: context.stage, parameter: "source", path: source, hint: Self.sourceHint)
        }
        let images: IngestedImages
        if isDirectory.boolValue {
            images = try readFolder(context)
        } else {
            let csv = try FER2013CSV.read(path: source, onBadRow: onBadRow, hashImages: true, compressPixels: true)
            let side = FER2013CSV.imageSide
            images = IngestedImages(
                itemIDs: csv.dataRows.map { String($0) },
                sourceRows: csv.dataRows.map { Int64($0) },
                emotions: csv.emotions.map { Int32($0) },
                usages: csv.usages.map { Int32($0.rawValue) },
                widths: .init(repeating: Int32(side), count: csv.count),
                heights: .init(repeating: Int32(side), count: csv.count),
                channels: .init(repeating: 1, count: csv.count),
                offsets: (0...csv.count).map { Int64($0 * side * side) },
                pixels: csv.pixels,
                skipped: csv.skipped.map { "line \($0.line): \($0.reason)" },
                skippedCount: csv.skippedCount,
                hashes: csv.imageHashes,
                compressedPixels: csv.compressedPixels)
        }
        guard !images.emotions.isEmpty else {
            let why = images.skipped.isEmpty ? "it has no data rows (only a header?)" : "all \(images.skipped.count) of its rows are bad and were skipped; first: \(images.skipped[0])"
            throw PipelineError.stageFailed(stage: context.stage, message: "the source \(source) yields no images: \(why). Point ingest.source at FER2013 data")
        }
        // The CSV reader compressed the pixels while it parsed, so only the images file's
        // seal is left; a folder's pixels are compressed here (one core, the longest task)
        // while the images are hashed.
        nonisolated(unsafe) var sealedImages: Result<SealedBytes, FormatError>?
        nonisolated(unsafe) var hashes = images.hashes
        ParallelLoop.run(count: 2, jobs: min(context.jobs, 2)) { task in
            if task == 0 {
                sealedImages = Result { () throws(FormatError) in try sealImages(images) }
            } else if hashes.isEmpty {
                hashes = imageHashes(images, jobs: max(1, context.jobs - 1))
            }
        }
        let n = images.emotions.count
        let table = try Table(rowCount: n, columns: [
            Column(name: ColumnName.itemID, data: .strings(images.itemIDs)),
            Column(name: ColumnName.sourceRow, data: .int64(images.sourceRows)),
            Column(name: ColumnName.emotion, data: .int32(images.emotions)),
            Column(name: ColumnName.usage, data: .int32(images.usages)),
            Column(name: ColumnName.imageWidth, data: .int32(images.widths)),
            Column(name: ColumnName.imageHeight, data: .int32(images.heights)),
            Column(name: ColumnName.imageChannels, data: .int32(images.channels)),
            Column(name: ColumnName.imageIndex, data: .int32((0..<Int32(n)).map { $0 })),
            Column(name: ColumnName.imageHash, data: .uint8(values: hashes, width: 32)),
        ], metadata: [MetadataKey.source: URL(fileURLWithPath: source).lastPathComponent])
        if !images.skipped.isEmpty {
            context.warn("skipped \(images.skippedCount) bad row(s); first: \(images.skipped[0])")
        }
        var perUsage: [(String, JSONValue)] = []
        for (u, name) in Self.usageFolders.enumerated() {
            var counts = [Int](repeating: 0, count: 7)
            for i in 0..<n where images.usages[i] == Int32(u) { counts[Int(images.emotions[i])] += 1 }
            perUsage.append((name, .object(zip(Emotion.names, counts).map { ($0, .int($1)) })))
        }
        let stats = JSONValue.object([
            ("rows", .int(n)),
            ("skipped", .int(images.skippedCount)),
            ("skipped_examples", .array(images.skipped.prefix(10).map { .string($0) })),
            ("by_usage", .object(perUsage)),
        ])
        return StageResult(sealed: [tableArtifact: table.sealed(), imagesArtifact: try sealedImages!.get()],
                           rowsIn: n + images.skippedCount, rowsOut: n, stats: stats)
    }

    struct IngestedImages {
        var itemIDs: [String] = []
        var sourceRows: [Int64] = []
        var emotions: [Int32] = []
        var usages: [Int32] = []
        var widths: [Int32] = []
        var heights: [Int32] = []
        var channels: [Int32] = []
        var offsets: [Int64] = [0]
        var pixels: [UInt8] = []
        var skipped: [String] = []
        /// All skipped rows; `skipped` keeps only the first ones (see `FER2013CSV.maxSkippedKept`).
        var skippedCount = 0
        /// The images' SHA-256, 32 bytes each, when the reader took them; else empty.
        var hashes: [UInt8] = []
        /// `pixels` compressed by the reader (a CSV's images, all 48x48); else nil.
        var compressedPixels: ZstdFrameWriter.Frame?
    }

    /// The images artifact: a CSV's equal-size images as one `uint8` column, whose zstd frame
    /// the reader made; other images as a `blobs` column.
    private func sealImages(_ images: IngestedImages) throws(FormatError) -> SealedBytes {
        guard let frame = images.compressedPixels else {
            return try ImageSet(offsets: images.offsets, bytes: images.pixels).sealed()
        }
        let n = images.emotions.count
        let table = try Table(rowCount: n, columns: [
            Column(name: ColumnName.image, data: .uint8(values: images.pixels, width: FER2013CSV.pixelsPerImage)),
        ])
        return TableFile.encodeSealed(table, compressed: [ColumnName.image: frame])
    }

    private func imageHashes(_ images: IngestedImages, jobs: Int) -> [UInt8] {
        let n = images.emotions.count
        var out = [UInt8](repeating: 0, count: n * 32)
        let chunk = max(1, (n + jobs * 8 - 1) / (jobs * 8))
        out.withUnsafeMutableBufferPointer { dst in
            images.pixels.withUnsafeBytes { source in
                // Each chunk writes its own rows, so sharing the buffers is race-free.
                nonisolated(unsafe) let d = dst.baseAddress!
                nonisolated(unsafe) let src = source
                ParallelLoop.run(count: (n + chunk - 1) / chunk, jobs: jobs) { c in
                    for i in (c * chunk)..<min(n, (c + 1) * chunk) {
                        let a = Int(images.offsets[i]), b = Int(images.offsets[i + 1])
                        let digest = SHA256.digest(UnsafeRawBufferPointer(rebasing: src[a..<b]))
                        digest.bytes.withUnsafeBufferPointer { (d + i * 32).update(from: $0.baseAddress!, count: 32) }
                    }
                }
            }
        }
        return out
    }

    /// Walks `<usage>/<emotion>/*.png|*.jpg` (PNG or JPEG, told apart by content); each file's path inside the folder is its item id.
    private func readFolder(_ context: StageContext) throws -> IngestedImages {
        var files: [(path: String, usage: Int, emotion: Int)] = []
        let fm = FileManager.default
        let top = (try? fm.contentsOfDirectory(atPath: source)) ?? []
        for usageName in top.sorted() where !usageName.hasPrefix(".") {
            var isDir: ObjCBool = false
            guard fm.fileExists(atPath: source + "/" + usageName, isDirectory: &isDir), isDir.boolValue else { continue }
            guard let usage = Self.usageFolders.firstIndex(where: { $0.lowercased() == usageName.lowercased() }) else {
                throw PipelineError.stageFailed(stage: context.stage, message: "\(source)/\(usageName): unknown usage folder; expected one of \(Self.usageFolders.joined(separator: ", "))")
            }
            let usagePath = source + "/" + usageName
            for emotionName in ((try? fm.contentsOfDirectory(atPath: usagePath)) ?? []).sorted() where !emotionName.hasPrefix(".") {
                guard let emotion = Emotion.names.firstIndex(of: emotionName.lowercased()) else {
                    throw PipelineError.stageFailed(stage: context.stage, message: "\(usagePath)/\(emotionName): unknown emotion folder; expected one of \(Emotion.names.joined(separator: ", "))")
                }
                let emotionPath = usagePath + "/" + emotionName
                for file in ((try? fm.contentsOfDirectory(atPath: emotionPath)) ?? []).sorted() where !file.hasPrefix(".") {
                    files.append((usageName + "/" + emotionName + "/" + file, usage, emotion))
                }
            }
        }
        if files.isEmpty {
            throw PipelineError.stageFailed(stage: context.stage, message: "\(source) holds no images; expected <usage>/<emotion>/*.png or *.jpg with usage in \(Self.usageFolders.joined(separator: ", ")) and emotion in \(Emotion.names.joined(separator: ", "))")
        }
        var out = IngestedImages()
        for (i, f) in files.enumerated() {
            let full = source + "/" + f.path
            let image: PixelImage
            do {
                image = try ImageFile.decodeFile(atPath: full, maxSide: Self.maxImageSide)
            } catch {
                if onBadRow == .skip {
                    out.skipped.append("\(f.path): \(error.message)")
                    out.skippedCount += 1
                    continue
                }
                throw PipelineError.stageFailed(stage: context.stage, message: "\(error)")
            }
            out.itemIDs.append(f.path)
            out.sourceRows.append(Int64(i))
            out.emotions.append(Int32(f.emotion))
            out.usages.append(Int32(f.usage))
            out.widths.append(Int32(image.width))
            out.heights.append(Int32(image.height))
            out.channels.append(Int32(image.channels))
            out.pixels.append(contentsOf: image.pixels)
            out.offsets.append(Int64(out.pixels.count))
            if i % 256 == 0 { context.progress(done: i, total: files.count, unit: "images") }
        }
        return out
    }
}
