import Basics
import Formats
import Pipeline

/// Writes a dataset version in formats other tools read: NumPy `.npz` (Keras users
/// `np.load` it directly, no pickle), one CSV per split, and the PNG images of any
/// image-carrying stage.
public enum DatasetExport {
    /// The order rows are written in. A version stores its rows grouped by class; written
    /// that way, Keras' `validation_split` (the last rows) would validate on one class.
    public enum Order: Sendable, Equatable, CustomStringConvertible {
        /// The version's stored order.
        case source
        /// Each split in its own seeded random order (Fisher–Yates with `SeededRandom`,
        /// stream = the split's id, so one split's order does not depend on another's size).
        case shuffled(seed: UInt64)

        public static let defaultSeed: UInt64 = 42
        public static let `default` = Order.shuffled(seed: defaultSeed)

        public var description: String {
            switch self {
            case .source: return "source"
            case .shuffled(let seed): return "shuffled (seed \(seed))"
            }
        }

        /// `{"order": "shuffled", "seed": 42}`, or `{"order": "source", "seed": null}`.
        public var json: [(String, JSONValue)] {
            switch self {
            case .source: return [("order", .string("source")), ("seed", .null)]
            case .shuffled(let seed): return [("order", .string("shuffled")), ("seed", .int(Int(truncatingIfNeeded: seed)))]
            }
        }

        /// `rows` in this order; `stream` tells independent lists apart (a split's id).
        public func apply(_ rows: [Int], stream: UInt64) -> [Int] {
            guard case .shuffled(let seed) = self else { return rows }
            var out = rows
            var random = SeededRandom(seed: seed, stream: stream)
            random.shuffle(&out)
            return out
        }
    }

    /// Row indices of each split (split-id order) in the export's order.
    public static func rows(_ data: VersionDataset, order: Order) -> [[Int]] {
        data.rowsBySplit.enumerated().map { order.apply($0.element, stream: UInt64($0.offset)) }
    }

    /// The model inputs of a version: its float32 features, or, for a version without
    /// features that kept its images, the pixels of same-size images as uint8.
    struct Inputs {
        enum Kind { case features, pixels }
        var kind: Kind
        /// Row-major, `width` values per row (for pixels, `shape` gives the image shape).
        var floats: [Float] = []
        var bytes: [UInt8] = []
        var width: Int
        /// Per-row shape after the row axis: [features] or [height, width] / [height, width, channels].
        var shape: [Int]
        var names: [String]
    }

    static func inputs(_ data: VersionDataset, layout: CacheLayout) throws -> Inputs {
        if let (values, width) = data.features {
            return Inputs(kind: .features, floats: values, width: width, shape: [width], names: data.featureNames)
        }
        let t = data.table
        guard t.column(ColumnName.imageIndex) != nil, data.stage.artifacts[imagesArtifact] != nil else {
            throw VersionError.unsupported("version \(data.version.shortID) has neither features nor images to export; add feature stages (landmarks, blendshapes) or set dataset.include_images=true")
        }
        let index = try t.int32(ColumnName.imageIndex)
        let w = try t.int32(ColumnName.imageWidth), h = try t.int32(ColumnName.imageHeight), c = try t.int32(ColumnName.imageChannels)
        guard let w0 = w.first, let h0 = h.first, let c0 = c.first else {
            return Inputs(kind: .pixels, width: 0, shape: [0, 0], names: [])
        }
        guard w.allSatisfy({ $0 == w0 }), h.allSatisfy({ $0 == h0 }), c.allSatisfy({ $0 == c0 }) else {
            throw VersionError.unsupported("version \(data.version.shortID) has no features, and its images differ in size, so they do not form one array; export them with --format png")
        }
        let images = try VersionDataset.decodeArtifact(imagesArtifact, of: data.stage, in: data.version, layout: layout)
        let (offsets, blob) = try images.rowBytes(ColumnName.image)
        let size = Int(w0 * h0 * c0)
        var bytes = [UInt8]()
        bytes.reserveCapacity(size * t.rowCount)
        for i in index {
            let range = Int(offsets[Int(i)])..<Int(offsets[Int(i) + 1])
            guard range.count == size else { throw VersionError.unsupported("image \(i) of version \(data.version.shortID) has \(range.count) bytes, expected \(size)") }
            bytes.append(contentsOf: blob[range])
        }
        return Inputs(kind: .pixels, bytes: bytes, width: size, shape: c0 == 1 ? [Int(h0), Int(w0)] : [Int(h0), Int(w0), Int(c0)], names: [])
    }

    /// `X_<split>` (float32 features, or uint8 images), `y_<split>` (float32 one-hot) and,
    /// when the version has it, `emotion_<split>` (int32 FER2013 emotion 0-6) for train, val
    /// and test, then `feature_names`, `label_names` and `emotion_names` (Unicode arrays),
    /// then how the rows are ordered: `order` (["shuffled"] or ["source"]), `seed` (int64,
    /// one value, or none for source order) and `index_<split>` (int64: each row's position
    /// in the version's stored order of its split, so `argsort` restores that order).
    public static func npz(_ data: VersionDataset, layout: CacheLayout, order: Order = .default) throws -> [UInt8] {
        let x = try inputs(data, layout: layout)
        let classCount = data.classes.count
        // Each row's source FER2013 emotion (0-6): which emotions a merged class is made of.
        let emotions = data.table.column(ColumnName.emotion) != nil ? try data.table.int32(ColumnName.emotion) : nil
        var arrays: [(name: String, array: NPYArray)] = []
        let ordered = Self.rows(data, order: order)
        for (s, rows) in ordered.enumerated() {
            let name = data.splits[s]
            switch x.kind {
            case .features:
                var v = [Float](); v.reserveCapacity(rows.count * x.width)
                for r in rows { v.append(contentsOf: x.floats[(r * x.width)..<((r + 1) * x.width)]) }
                arrays.append(("X_\(name)", try NPYArray(float32: v, shape: [rows.count] + x.shape)))
            case .pixels:
                var v = [UInt8](); v.reserveCapacity(rows.count * x.width)
                for r in rows { v.append(contentsOf: x.bytes[(r * x.width)..<((r + 1) * x.width)]) }
                arrays.append(("X_\(name)", try NPYArray(uint8: v, shape: [rows.count] + x.shape)))
            }
            // One-hot from the labels, so the export does not depend on an onehot stage.
            var y = [Float](repeating: 0, count: rows.count * classCount)
            for (i, r) in rows.enumerated() where data.labels[r] >= 0 && Int(data.labels[r]) < classCount { y[i * classCount + Int(data.labels[r])] = 1 }
            arrays.append(("y_\(name)", try NPYArray(float32: y, shape: [rows.count, classCount])))
            if let emotions { arrays.append(("emotion_\(name)", try NPYArray(int32: rows.map { emotions[$0] }, shape: [rows.count]))) }
        }
        arrays.append(("feature_names", try NPYArray(strings: x.names)))
        arrays.append(("label_names", try NPYArray(strings: data.classes)))
        if emotions != nil { arrays.append(("emotion_names", try NPYArray(strings: Emotion.names))) }
        switch order {
        case .source:
            arrays.append(("order", try NPYArray(strings: ["source"])))
            arrays.append(("seed", try NPYArray(int64: [], shape: [0])))
        case .shuffled(let seed):
            arrays.append(("order", try NPYArray(strings: ["shuffled"])))
            arrays.append(("seed", try NPYArray(int64: [Int64(bitPattern: seed)], shape: [1])))
        }
        for (s, stored) in data.rowsBySplit.enumerated() {
            var position = [Int: Int64](minimumCapacity: stored.count)
            for (i, r) in stored.enumerated() { position[r] = Int64(i) }
            arrays.append(("index_\(data.splits[s])", try NPYArray(int64: ordered[s].map { position[$0]! }, shape: [stored.count])))
        }
        return try NumPyFile.npz(arrays)
    }

    /// One CSV per split (`<split>.csv`): provenance, `label`, `label_name`, `emotion` and
    /// `emotion_name` (the source FER2013 emotion, when the version has it), one column per
    /// feature (by name) or a `pixels` column, and one `onehot_<class>` column per class;
    /// rows in `order`. `record` says how they were written (the CLI saves it as `export.json`).
    public static func csv(_ data: VersionDataset, layout: CacheLayout, order: Order = .default) throws -> [(split: String, bytes: [UInt8])] {
        let x = try inputs(data, layout: layout)
        let t = data.table
        var out: [(String, [UInt8])] = []
        for (s, rows) in Self.rows(data, order: order).enumerated() {
            var columns: [Formats.Column] = []
            for name in DatasetStage.provenanceColumns where name != ColumnName.imageHash {
                if let c = t.column(name) { columns.append(c) }
            }
            if let c = t.column(ColumnName.imageHash) { columns.append(c) }
            columns.append(Formats.Column(name: ColumnName.label, data: .int32(data.labels)))
            columns.append(Formats.Column(name: "label_name", data: .strings(data.labels.map {
                data.classes.indices.contains(Int($0)) ? data.classes[Int($0)] : ""
            })))
            if let e = t.column(ColumnName.emotion), case .int32(let codes) = e.data {
                columns.append(e)
                columns.append(Formats.Column(name: "emotion_name", data: .strings(codes.map { Emotion.names.indices.contains(Int($0)) ? Emotion.names[Int($0)] : "" })))
            }
            var expanded: [String: [String]] = [:]
            switch x.kind {
            case .features:
                columns.append(Formats.Column(name: ColumnName.features, data: .float32(values: x.floats, width: x.width)))
                expanded[ColumnName.features] = x.names
            case .pixels:
                if x.width > 0 { columns.append(Formats.Column(name: "pixels", data: .uint8(values: x.bytes, width: x.width))) }
            }
            var onehot = [Float](repeating: 0, count: t.rowCount * max(1, data.classes.count))
            for (r, l) in data.labels.enumerated() where data.classes.indices.contains(Int(l)) { onehot[r * data.classes.count + Int(l)] = 1 }
            if !data.classes.isEmpty {
                columns.append(Formats.Column(name: ColumnName.onehot, data: .float32(values: onehot, width: data.classes.count)))
                expanded[ColumnName.onehot] = data.classes.map { "onehot_\($0)" }
            }
            let whole = try Table(rowCount: t.rowCount, columns: columns)
            let part = try whole.gathering(rows)
            // A one-class one-hot is a width-1 column, which TableCSV names plainly.
            if data.classes.count == 1 { expanded[ColumnName.onehot] = nil }
            out.append((data.splits[s], try TableCSV.encode(part, expandedNames: expanded)))
        }
        return out
    }

    /// What an export wrote, for `export.json` beside CSV and PNG files: the version, the
    /// format, the row order and the rows per split.
    public static func record(version: DatasetVersion, format: String, order: Order, rows: [(String, Int)]) -> JSONValue {
        .object([("version", .string(version.id.hex)), ("format", .string(format))] + order.json
                + [("rows", .object(rows.map { ($0.0, .int($0.1)) }))])
    }

    /// The images of an image-carrying stage as PNG files named
    /// `<row>-<label or emotion>-<item id>.png`, with an `index.csv` that maps file names
    /// to rows. `rows` limits how many are written: the first ones in `order` (a seeded
    /// sample of the stage's rows when shuffled; index.csv lists them in that order).
    /// With `augmentedOnly`, only rows made by augmentation (a non-empty `augment_recipe`);
    /// with `split`, only rows of that split (train, val or test).
    public static func png(stage: DatasetVersion.StageEntry, of version: DatasetVersion, layout: CacheLayout, rows limit: Int,
                           augmentedOnly: Bool = false, split: String? = nil, order: Order = .default) throws -> [(name: String, bytes: [UInt8])] {
        guard stage.artifacts[imagesArtifact] != nil else {
            let carrying = version.stages.filter { $0.artifacts[imagesArtifact] != nil }.map(\.name)
            throw VersionError.unsupported("stage '\(stage.name)' of version \(version.shortID) carries no images; stages with images: \(carrying.isEmpty ? "none" : carrying.joined(separator: ", "))")
        }
        let t = try VersionDataset.table(of: stage, in: version, layout: layout)
        guard t.column(ColumnName.imageIndex) != nil else {
            throw VersionError.unsupported("the table of stage '\(stage.name)' has no '\(ColumnName.imageIndex)' column, so its rows do not point at images")
        }
        let images = try VersionDataset.decodeArtifact(imagesArtifact, of: stage, in: version, layout: layout)
        let (offsets, blob) = try images.rowBytes(ColumnName.image)
        let index = try t.int32(ColumnName.imageIndex)
        let w = try t.int32(ColumnName.imageWidth), h = try t.int32(ColumnName.imageHeight), c = try t.int32(ColumnName.imageChannels)
        let ids = (try? t.strings(ColumnName.itemID)) ?? (0..<t.rowCount).map(String.init)
        let classes = t.names(MetadataKey.classes)
        let labels = try? t.int32(ColumnName.label)
        let emotions = try? t.int32(ColumnName.emotion)
        let splits = try? t.int32(ColumnName.split)
        let digits = String(max(0, t.rowCount - 1)).count
        var files: [(String, [UInt8])] = []
        let recipes = try? t.strings(ColumnName.augmentRecipe)
        var selected = Array(0..<t.rowCount)
        if augmentedOnly {
            guard let recipes else {
                throw VersionError.unsupported("stage '\(stage.name)' has no '\(ColumnName.augmentRecipe)' column, so it has no augmented rows to pick; drop --augmented or pick the augment stage")
            }
            selected = selected.filter { !recipes[$0].isEmpty }
        }
        if let split {
            guard let splits else {
                throw VersionError.unsupported("stage '\(stage.name)' has no '\(ColumnName.split)' column; pick a stage at or below the split stage, or drop --split")
            }
            guard let wanted = Split(name: split) else {
                throw VersionError.unsupported("--split expects one of \(Split.allCases.map(\.name).joined(separator: ", ")), found '\(split)'")
            }
            selected = selected.filter { splits[$0] == wanted.rawValue }
        }
        var index_csv = "row,file,item_id,split,label,width,height,channels,augment_recipe\n"
        for r in order.apply(selected, stream: 0).prefix(limit) {
            var what = ""
            if let labels, classes.indices.contains(Int(labels[r])) { what = classes[Int(labels[r])] }
            else if let emotions, Emotion.names.indices.contains(Int(emotions[r])) { what = Emotion.names[Int(emotions[r])] }
            let row = String(repeating: "0", count: digits - String(r).count) + String(r)
            let name = [row, what, safeFileName(ids[r])].filter { !$0.isEmpty }.joined(separator: "-") + ".png"
            let i = Int(index[r])
            let pixels = Array(blob[Int(offsets[i])..<Int(offsets[i + 1])])
            let image = PixelImage(width: Int(w[r]), height: Int(h[r]), channels: Int(c[r]), pixels: pixels)
            files.append((name, try PNGCodec.encode(image)))
            let split = splits.map { Split(rawValue: $0[r])?.name ?? String($0[r]) } ?? ""
            index_csv += "\(r),\(name),\(csvField(ids[r])),\(split),\(what),\(w[r]),\(h[r]),\(c[r]),\(csvField(recipes?[r] ?? ""))\n"
        }
        files.append(("index.csv", Array(index_csv.utf8)))
        return files
    }

    /// Item ids may be paths (`Training/happy/x.png`); keep them readable but flat.
    static func safeFileName(_ s: String) -> String {
        let mapped = s.map { $0.isLetter || $0.isNumber || $0 == "." || $0 == "_" ? $0 : "_" }
        var name = String(mapped.prefix(80))
        if name.hasSuffix(".png") { name.removeLast(4) }
        return name
    }

    static func csvField(_ s: String) -> String {
        s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }
}
