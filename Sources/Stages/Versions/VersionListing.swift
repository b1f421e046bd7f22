import Formats
import Pipeline

/// The dataset versions of a cache, newest first, with their tags and the parameters that
/// changed from the version below (`blendset versions`).
public struct VersionListing: Sendable {
    public var root: String
    public var versions: [DatasetVersion]
    public var tags: [ContentDigest: [String]]

    public init(layout: CacheLayout) throws {
        root = layout.root
        versions = try VersionStore(layout: layout).all()
        tags = TagStore(layout: layout).byVersion()
    }

    /// `stage.param=value` for each parameter that differs from the version below the i-th.
    public func changes(_ i: Int) -> [String] {
        guard i + 1 < versions.count else { return [] }
        let (params, _) = DatasetDiff.pipelineChanges(versions[i + 1], versions[i])
        return params.map { p in p.parameter.map { "\(p.stage).\($0)=\(p.new ?? "(default)")" } ?? (p.new != nil ? "+\(p.stage)" : "-\(p.stage)") }
    }

    func rows(_ v: DatasetVersion) -> Int? { VersionDataset.finalStage(of: v)?.rowsOut }

    public var json: JSONValue {
        .object([("versions", .array(versions.enumerated().map { i, v in
            .object([
                ("ref", .string(i == 0 ? "latest" : "latest~\(i)")), ("id", .string(v.id.hex)), ("short_id", .string(v.shortID)),
                ("created_at", .string(v.createdAt)), ("built_at", .string(v.lastBuilt)),
                ("tags", .array((tags[v.id] ?? []).map { .string($0) })),
                ("rows", rows(v).map { .int($0) } ?? .null),
                ("final_stage", VersionDataset.finalStage(of: v).map { .string($0.name) } ?? .null),
                ("blendset_version", .string(v.blendsetVersion)), ("pipeline_file", .string(v.pipelineFile)),
                ("changes", .array(changes(i).map { .string($0) })),
                ("warnings", .int(Manifest.warnings(of: v).count)),
            ])
        }))])
    }

    public var text: String {
        guard !versions.isEmpty else { return "no dataset versions in \(root) yet; run 'blendset build'" }
        var table = [["ref", "id", "built", "tags", "rows", "warnings", "changes vs the version below"]]
        for (i, v) in versions.enumerated() {
            let c = changes(i)
            table.append([i == 0 ? "latest" : "latest~\(i)", v.shortID, DatasetVersion.shortTime(v.lastBuilt), (tags[v.id] ?? []).joined(separator: ","),
                          rows(v).map(String.init) ?? "-", String(Manifest.warnings(of: v).count), i + 1 == versions.count ? "(oldest)" : c.isEmpty ? "-" : c.joined(separator: " ")])
        }
        return TextTable.render(table, rightAligned: [4, 5])
    }
}
