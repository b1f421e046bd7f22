/// The values of one table column. Every case holds `rowCount` rows.
public enum ColumnData: Sendable, Equatable {
    /// `rowCount x width` floats, row-major (e.g. 33 blendshape features per row).
    case float32(values: [Float], width: Int)
    case int32([Int32])
    case int64([Int64])
    /// `rowCount x width` fixed-size byte rows (e.g. 48x48 images, 32-byte digests).
    case uint8(values: [UInt8], width: Int)
    case strings([String])
    /// Variable-size byte rows: row `i` is `bytes[offsets[i] ..< offsets[i + 1]]`;
    /// `offsets` has `rowCount + 1` entries and starts at 0.
    case blobs(offsets: [Int64], bytes: [UInt8])

    /// The kind's name in messages and schemas: `float32`, `int32`, `int64`, `uint8`,
    /// `strings`, `blobs`.
    public var kindName: String {
        switch self {
        case .float32: "float32"
        case .int32: "int32"
        case .int64: "int64"
        case .uint8: "uint8"
        case .strings: "strings"
        case .blobs: "blobs"
        }
    }

    /// Values per row for the fixed-width kinds; 1 for the others.
    public var width: Int {
        switch self {
        case .float32(_, let width), .uint8(_, let width): width
        default: 1
        }
    }

    /// The number of rows, or a description of why the data is not a whole number of rows.
    func rowCount() -> Result<Int, ShapeProblem> {
        switch self {
        case .float32(let values, let width):
            return Self.rows(values.count, width)
        case .uint8(let values, let width):
            return Self.rows(values.count, width)
        case .int32(let values): return .success(values.count)
        case .int64(let values): return .success(values.count)
        case .strings(let values): return .success(values.count)
        case .blobs(let offsets, let bytes):
            guard let first = offsets.first, first == 0 else {
                return .failure(ShapeProblem("blob offsets must start with 0 (rowCount + 1 entries)"))
            }
            for i in 1..<offsets.count where offsets[i] < offsets[i - 1] {
                return .failure(ShapeProblem("blob offsets must not decrease, found \(offsets[i - 1]) then \(offsets[i]) at row \(i - 1)"))
            }
            guard offsets.last! == Int64(bytes.count) else {
                return .failure(ShapeProblem("the last blob offset must equal the byte count \(bytes.count), found \(offsets.last!)"))
            }
            return .success(offsets.count - 1)
        }
    }

    private static func rows(_ count: Int, _ width: Int) -> Result<Int, ShapeProblem> {
        guard width >= 1 else { return .failure(ShapeProblem("width must be at least 1, found \(width)")) }
        guard count % width == 0 else {
            return .failure(ShapeProblem("\(count) values are not a whole number of rows of width \(width)"))
        }
        return .success(count / width)
    }
}

/// Why column data is not a whole number of rows.
struct ShapeProblem: Error {
    var reason: String
    init(_ reason: String) { self.reason = reason }
}

/// A named column.
public struct Column: Sendable, Equatable {
    public var name: String
    public var data: ColumnData

    public init(name: String, data: ColumnData) {
        self.name = name
        self.data = data
    }
}

/// A column-oriented table with schema metadata: the in-memory form of every stage output.
/// Stored on disk by `TableFile`.
public struct Table: Sendable, Equatable {
    /// Schema information (feature names, label names, versions...). Stored sorted by key.
    public var metadata: [String: String]
    public var columns: [Column]
    public var rowCount: Int
    /// Where the table was read from; used in error messages, ignored by `==`.
    public var source: String = "table"

    /// Checks that every column holds `rowCount` rows and that names are unique and non-empty.
    public init(rowCount: Int, columns: [Column], metadata: [String: String] = [:]) throws(FormatError) {
        try self.init(rowCount: rowCount, columns: columns, metadata: metadata, source: "table")
    }

    init(rowCount: Int, columns: [Column], metadata: [String: String], source: String) throws(FormatError) {
        guard rowCount >= 0 else {
            throw FormatError(file: source, message: "row count must not be negative, found \(rowCount)")
        }
        var seen = Set<String>()
        for column in columns {
            guard !column.name.isEmpty else {
                throw FormatError(file: source, message: "a column has an empty name")
            }
            guard seen.insert(column.name).inserted else {
                throw FormatError(file: source, message: "duplicate column name '\(column.name)'")
            }
            switch column.data.rowCount() {
            case .failure(let problem):
                throw FormatError(file: source, message: "column '\(column.name)' (\(column.data.kindName)): \(problem.reason)")
            case .success(let rows) where rows != rowCount:
                throw FormatError(file: source, message:
                    "column '\(column.name)' has \(rows) rows, expected \(rowCount) (the table's row count)")
            case .success:
                break
            }
        }
        self.rowCount = rowCount
        self.columns = columns
        self.metadata = metadata
        self.source = source
    }

    public static func == (lhs: Table, rhs: Table) -> Bool {
        lhs.rowCount == rhs.rowCount && lhs.metadata == rhs.metadata && lhs.columns == rhs.columns
    }

    /// The column named `name`, if any.
    public func column(_ name: String) -> Column? {
        columns.first { $0.name == name }
    }

    /// The names of the columns, in order.
    public var columnNames: [String] { columns.map(\.name) }

    private func data(_ name: String, expected kind: String) throws(FormatError) -> ColumnData {
        guard let column = column(name) else {
            let names = columns.map { "'\($0.name)'" }.joined(separator: ", ")
            throw FormatError(file: source, message: "has no column '\(name)' (expected \(kind)); its columns are \(names.isEmpty ? "none" : names)")
        }
        guard column.data.kindName == kind else {
            throw FormatError(file: source, message: "column '\(name)' holds \(column.data.kindName), expected \(kind)")
        }
        return column.data
    }

    /// The `float32` column `name` as row-major values and width.
    public func float32(_ name: String) throws(FormatError) -> (values: [Float], width: Int) {
        guard case .float32(let values, let width) = try data(name, expected: "float32") else { fatalError() }
        return (values, width)
    }

    /// The `int32` column `name`.
    public func int32(_ name: String) throws(FormatError) -> [Int32] {
        guard case .int32(let values) = try data(name, expected: "int32") else { fatalError() }
        return values
    }

    /// The `int64` column `name`.
    public func int64(_ name: String) throws(FormatError) -> [Int64] {
        guard case .int64(let values) = try data(name, expected: "int64") else { fatalError() }
        return values
    }

    /// The `uint8` column `name` as row-major bytes and width.
    public func uint8(_ name: String) throws(FormatError) -> (values: [UInt8], width: Int) {
        guard case .uint8(let values, let width) = try data(name, expected: "uint8") else { fatalError() }
        return (values, width)
    }

    /// The `strings` column `name`.
    public func strings(_ name: String) throws(FormatError) -> [String] {
        guard case .strings(let values) = try data(name, expected: "strings") else { fatalError() }
        return values
    }

    /// Row `i`'s bytes are `bytes[offsets[i] ..< offsets[i + 1]]`, for a `blobs` column or a
    /// `uint8` column (whose rows all have its width) alike.
    public func rowBytes(_ name: String) throws(FormatError) -> (offsets: [Int64], bytes: [UInt8]) {
        if case .uint8(let values, let width)? = column(name)?.data {
            return ((0...rowCount).map { Int64($0 * width) }, values)
        }
        return try blobs(name)
    }

    /// The `blobs` column `name`: row `i` is `bytes[offsets[i] ..< offsets[i + 1]]`.
    public func blobs(_ name: String) throws(FormatError) -> (offsets: [Int64], bytes: [UInt8]) {
        guard case .blobs(let offsets, let bytes) = try data(name, expected: "blobs") else { fatalError() }
        return (offsets, bytes)
    }

    /// The `uint8` column `name` read as 32-byte content digests (width must be 32).
    public func digests(_ name: String) throws(FormatError) -> [ContentDigest] {
        let (values, width) = try uint8(name)
        guard width == ContentDigest.byteCount else {
            throw FormatError(file: source, message: "column '\(name)' has width \(width), expected 32 to hold SHA-256 digests")
        }
        return (0..<rowCount).map { ContentDigest(bytes: values[$0 * 32 ..< $0 * 32 + 32])! }
    }
}
