import Foundation
import Pipeline

extension GarbageCollector.Report {
    /// `{"dry_run", "kept", "removed_versions", "removed_tags", "objects", "runs", "versions",
    /// "memo", "temporaries": {"files", "bytes"}, "bytes_freed", "paths"}`.
    public var json: JSONValue {
        func category(_ c: Category) -> JSONValue { .object([("files", .int(c.files)), ("bytes", .int(Int(c.bytes)))]) }
        return .object([
            ("dry_run", .bool(dryRun)), ("kept", .array(kept.map { .string($0.id.hex) })),
            ("removed_versions", .array(removedVersions.map { .string($0.id.hex) })),
            ("removed_tags", .array(removedTags.map { .string($0) })),
            ("objects", category(objects)), ("runs", category(runs)), ("versions", category(versions)),
            ("memo", category(memo)), ("temporaries", category(temporaries)), ("bytes_freed", .int(Int(bytesFreed))),
            ("paths", .array(paths.map { .string($0) })),
        ])
    }

    /// What was kept and removed, and a table of files and bytes per category.
    public var text: String {
        let verb = dryRun ? "would remove" : "removed"
        var out = ["kept \(kept.count) version(s): " + (kept.isEmpty ? "none" : kept.map(\.shortID).joined(separator: ", "))]
        if !removedVersions.isEmpty { out.append("\(verb) \(removedVersions.count) version(s): \(removedVersions.map(\.shortID).joined(separator: ", "))") }
        if !removedTags.isEmpty { out.append("\(verb) tag(s) on them: \(removedTags.joined(separator: ", "))") }
        var grid = [["", "files", "bytes"]]
        for (name, c) in [("artifacts", objects), ("run records", runs), ("version records", versions), ("memo", memo), ("temporaries", temporaries)] {
            grid.append([name, String(c.files), formatBytes(c.bytes)])
        }
        grid.append(["total", String(objects.files + runs.files + versions.files + memo.files + temporaries.files), formatBytes(bytesFreed)])
        out.append(TextTable.render(grid, rightAligned: [1, 2]))
        // A dry run lists exactly the files a real run would remove.
        if dryRun { out += paths.map { "would remove \($0)" } }
        out.append("\n\(dryRun ? "would free" : "freed") \(formatBytes(bytesFreed)) (\(bytesFreed) bytes)" + (dryRun ? " — dry run, nothing removed" : ""))
        return out.joined(separator: "\n")
    }
}

func formatBytes(_ n: Int64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var v = Double(n), u = 0
    while v >= 1024 && u < units.count - 1 { v /= 1024; u += 1 }
    return u == 0 ? "\(n) B" : String(format: "%.1f %@", v, units[u])
}
