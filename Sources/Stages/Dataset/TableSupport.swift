import Formats
import Pipeline

/// Column and metadata names shared by the stages, so each stage reads what the one
/// before it wrote.
public enum ColumnName {
    public static let itemID = "item_id"
    public static let sourceRow = "source_row"
    public static let emotion = "emotion"
    public static let usage = "usage"
    public static let image = "image"
    /// Row of the image in the `images` artifact.
    public static let imageIndex = "image_index"
    public static let imageWidth = "image_width"
    public static let imageHeight = "image_height"
    public static let imageChannels = "image_channels"
    public static let imageHash = "image_hash"
    public static let label = "label"
    public static let split = "split"
    public static let features = "features"
    public static let onehot = "onehot"
    public static let balanceCopy = "balance_copy"
    /// 478 × (x, y, z) image-normalised landmarks.
    public static let landmarks = "landmarks"
    public static let detectionScore = "detection_score"
    public static let presence = "presence"
    public static let augmentSource = "augment_source"
    public static let augmentRecipe = "augment_recipe"
    public static let augmentSeed = "augment_seed"
}

public enum MetadataKey {
    /// JSON array of class names, in label order.
    public static let classes = "classes"
    /// JSON array of feature names, in column order.
    public static let features = "features"
    /// JSON array of split names, in split-id order.
    public static let splits = "splits"
    public static let source = "source"
    public static let format = "format"
}

/// The three splits; the `split` column holds their raw values.
public enum Split: Int32, CaseIterable, Sendable {
    case train = 0, val = 1, test = 2
    public var name: String { ["train", "val", "test"][Int(rawValue)] }
    public init?(name: String) {
        guard let i = ["train", "val", "test"].firstIndex(of: name) else { return nil }
        self.init(rawValue: Int32(i))
    }
}

/// FER2013's seven emotion names by id.
public enum Emotion {
    public static let names = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
}

/// The artifact name every table-producing stage uses.
public let tableArtifact = "table"
/// The artifact holding the pixels (a table with one `image` column: `blobs`, or `uint8`
/// when every image has the same size, as a FER2013 CSV's do); row tables
/// point into it through `image_index`, and stages that do not touch pixels forward it
/// by id, so the images are stored once.
public let imagesArtifact = "images"

extension StageContext {
    /// The input's images artifact, forwarded unchanged.
    var forwardedImages: [String: ContentDigest] {
        inputs.first?.artifacts[imagesArtifact].map { [imagesArtifact: $0] } ?? [:]
    }
}

/// Decoded images: pixel rows addressed by `image_index`.
struct ImageSet {
    let offsets: [Int64]
    let bytes: [UInt8]
    var count: Int { offsets.count - 1 }

    init(offsets: [Int64], bytes: [UInt8]) {
        self.offsets = offsets
        self.bytes = bytes
    }

    init(_ input: StageInput) throws {
        let (file, sealed) = try input.sealedBytes(imagesArtifact)
        let t = try TableFile.decode(file, source: "images of stage '\(input.stage)'", sealVerified: sealed)
        (offsets, bytes) = try t.rowBytes(ColumnName.image)
    }

    func pixels(_ i: Int) -> ArraySlice<UInt8> { bytes[Int(offsets[i])..<Int(offsets[i + 1])] }

    func encoded() throws(FormatError) -> [UInt8] { try sealed().bytes }

    /// The file bytes and their content id.
    func sealed() throws(FormatError) -> SealedBytes {
        TableFile.encodeSealed(try Table(rowCount: count, columns: [Column(name: ColumnName.image, data: .blobs(offsets: offsets, bytes: bytes))]))
    }
}

extension StageInput {
    /// Decodes this input's table artifact.
    func table() throws -> Table {
        let (bytes, sealed) = try sealedBytes(tableArtifact)
        return try TableFile.decode(bytes, source: "output of stage '\(stage)'", sealVerified: sealed)
    }
}

extension Table {
    /// The same table with only the given rows, in the given order (rows may repeat).
    func gathering(_ rows: [Int]) throws(FormatError) -> Table {
        var out: [Column] = []
        for c in columns {
            let data: ColumnData
            switch c.data {
            case let .float32(values, width):
                var v = [Float](); v.reserveCapacity(rows.count * width)
                for r in rows { v.append(contentsOf: values[(r * width)..<((r + 1) * width)]) }
                data = .float32(values: v, width: width)
            case let .uint8(values, width):
                var v = [UInt8](); v.reserveCapacity(rows.count * width)
                for r in rows { v.append(contentsOf: values[(r * width)..<((r + 1) * width)]) }
                data = .uint8(values: v, width: width)
            case let .int32(values): data = .int32(rows.map { values[$0] })
            case let .int64(values): data = .int64(rows.map { values[$0] })
            case let .strings(values): data = .strings(rows.map { values[$0] })
            case let .blobs(offsets, bytes):
                var o: [Int64] = [0]; o.reserveCapacity(rows.count + 1)
                var b = [UInt8]()
                for r in rows {
                    b.append(contentsOf: bytes[Int(offsets[r])..<Int(offsets[r + 1])])
                    o.append(Int64(b.count))
                }
                data = .blobs(offsets: o, bytes: b)
            }
            out.append(Column(name: c.name, data: data))
        }
        return try Table(rowCount: rows.count, columns: out, metadata: metadata)
    }

    /// The same table with a column added, or replaced if one has that name.
    func setting(_ column: Column) throws(FormatError) -> Table {
        var cols = columns.filter { $0.name != column.name }
        cols.append(column)
        return try Table(rowCount: rowCount, columns: cols, metadata: metadata)
    }

    func removing(_ names: Set<String>) throws(FormatError) -> Table {
        try Table(rowCount: rowCount, columns: columns.filter { !names.contains($0.name) }, metadata: metadata)
    }

    /// A JSON-array metadata entry, e.g. the class names.
    func names(_ key: String) -> [String] {
        guard let text = metadata[key], let v = try? JSONParser.parse(text), let a = v.arrayValue else { return [] }
        return a.compactMap(\.stringValue)
    }

    func encoded() -> [UInt8] { TableFile.encode(self) }
    /// The file bytes and their content id (see `StageResult.digests`).
    func sealed() -> SealedBytes { TableFile.encodeSealed(self) }
}

func jsonNames(_ names: [String]) -> String {
    JSONValue.array(names.map { .string($0) }).canonical
}

/// Counts rows by (split, label) for stats and summaries.
func countsBySplitAndClass(splits: [Int32]?, labels: [Int32], classes: [String]) -> JSONValue {
    var members: [(String, JSONValue)] = []
    let splitList: [(String, Int32?)] = splits == nil ? [("all", nil)] : Split.allCases.map { ($0.name, $0.rawValue) }
    for (name, id) in splitList {
        var counts = [Int](repeating: 0, count: classes.count)
        for i in 0..<labels.count where id == nil || splits![i] == id! {
            let l = Int(labels[i])
            if l >= 0 && l < counts.count { counts[l] += 1 }
        }
        members.append((name, .object(zip(classes, counts).map { ($0, .int($1)) })))
    }
    return .object(members)
}

/// Wraps a Formats error as a stage failure.
func stageError(_ context: StageContext, _ message: String) -> PipelineError {
    .stageFailed(stage: context.stage, message: message)
}

extension Table {
    /// This table's rows followed by `other`'s; both must have the same columns.
    func appending(_ other: Table) throws(FormatError) -> Table {
        var out: [Column] = []
        for c in columns {
            guard let o = other.column(c.name) else {
                throw FormatError(file: source, message: "cannot append: the other table has no column '\(c.name)'")
            }
            let data: ColumnData
            switch (c.data, o.data) {
            case let (.float32(a, w), .float32(b, w2)) where w == w2: data = .float32(values: a + b, width: w)
            case let (.uint8(a, w), .uint8(b, w2)) where w == w2: data = .uint8(values: a + b, width: w)
            case let (.int32(a), .int32(b)): data = .int32(a + b)
            case let (.int64(a), .int64(b)): data = .int64(a + b)
            case let (.strings(a), .strings(b)): data = .strings(a + b)
            case let (.blobs(ao, ab), .blobs(bo, bb)):
                data = .blobs(offsets: ao + bo.dropFirst().map { $0 + Int64(ab.count) }, bytes: ab + bb)
            default:
                throw FormatError(file: source, message: "cannot append: column '\(c.name)' differs in type or width")
            }
            out.append(Column(name: c.name, data: data))
        }
        return try Table(rowCount: rowCount + other.rowCount, columns: out, metadata: metadata)
    }
}
