import Formats

extension TextTable {
    /// A table's schema and first rows, as `blendset show` prints them.
    public static func describe(_ table: Table, rows: Int) -> String {
        var out: [String] = ["\(table.rowCount) rows, \(table.columns.count) columns"]
        for (k, v) in table.metadata.sorted(by: { $0.key < $1.key }) {
            out.append("  \(k): \(v.count > 200 ? String(v.prefix(200)) + "…" : v)")
        }
        out.append("")
        var grid = [table.columns.map { "\($0.name) \(kindName($0.data))" }]
        for r in 0..<min(rows, table.rowCount) {
            grid.append(table.columns.map { cell($0.data, r) })
        }
        out.append(render(grid))
        if table.rowCount > rows { out.append("… \(table.rowCount - rows) more rows") }
        return out.joined(separator: "\n")
    }

    static func kindName(_ d: ColumnData) -> String {
        switch d {
        case .float32(_, let w): return w == 1 ? "f32" : "f32×\(w)"
        case .int32: return "i32"
        case .int64: return "i64"
        case .uint8(_, let w): return w == 1 ? "u8" : "u8×\(w)"
        case .strings: return "str"
        case .blobs: return "bytes"
        }
    }

    static func cell(_ d: ColumnData, _ r: Int) -> String {
        switch d {
        case let .float32(v, w):
            let row = v[(r * w)..<((r + 1) * w)]
            let shown = row.prefix(6).map { "\($0)" }.joined(separator: " ")
            return w == 1 ? shown : "[" + shown + (w > 6 ? " …" : "") + "]"
        case .int32(let v): return String(v[r])
        case .int64(let v): return String(v[r])
        case let .uint8(v, w):
            let row = v[(r * w)..<((r + 1) * w)]
            if w == 32 { return row.prefix(6).map { String(format: "%02x", $0) }.joined() + "…" }
            return "[" + row.prefix(8).map(String.init).joined(separator: " ") + (w > 8 ? " …" : "") + "]"
        case .strings(let v): return v[r].count > 40 ? String(v[r].prefix(40)) + "…" : v[r]
        case let .blobs(o, _): return "<\(o[r + 1] - o[r]) bytes>"
        }
    }
}
