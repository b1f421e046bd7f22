import Foundation

/// Moves damaged cache files to `cache/quarantine/` instead of deleting them: a damaged
/// version record or tag is still the user's history, and a moved file is rebuilt on the
/// next build because it is no longer found.
public struct Quarantine: Sendable {
    public let layout: CacheLayout
    public init(layout: CacheLayout) { self.layout = layout }

    /// Moves `path` (a file inside the cache) aside and returns where it went. The name
    /// keeps the file's place in the cache (`runs_<key>.json`) plus a time and a counter,
    /// so quarantining the same path twice keeps both copies.
    @discardableResult
    public func move(_ path: String) throws(PipelineError) -> String {
        let root = layout.root.hasSuffix("/") ? layout.root : layout.root + "/"
        let relative = path.hasPrefix(root) ? String(path.dropFirst(root.count)) : URL(fileURLWithPath: path).lastPathComponent
        let stamp = Int(Date().timeIntervalSince1970)
        do {
            try FileManager.default.createDirectory(atPath: layout.quarantine, withIntermediateDirectories: true)
        } catch {
            throw .io("cannot create \(layout.quarantine): \(error.localizedDescription)")
        }
        for counter in 0..<10_000 {
            let target = layout.quarantine + "/" + relative.replacingOccurrences(of: "/", with: "_") + ".\(stamp)-\(counter)"
            if FileManager.default.fileExists(atPath: target) { continue }
            guard rename(path, target) == 0 else {
                throw .io("cannot move the damaged file \(path) to \(target): \(String(cString: strerror(errno)))")
            }
            return target
        }
        throw .io("cannot move the damaged file \(path): \(layout.quarantine) holds too many copies of it")
    }

    /// The cache file a damaged-cache error names, if it lies inside this cache and still exists.
    public func damagedFile(in error: any Error) -> String? {
        guard case .cacheCorrupt(let path, _)? = ((error as? PipelineError)?.underlyingError as? PipelineError) else { return nil }
        let root = layout.root.hasSuffix("/") ? layout.root : layout.root + "/"
        guard path.hasPrefix(root), !path.hasPrefix(layout.quarantine + "/"), FileManager.default.fileExists(atPath: path) else { return nil }
        return path
    }
}
