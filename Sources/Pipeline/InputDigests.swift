import Foundation
import Formats

/// Content digests of input files and folders, remembered by (path, device, inode, size,
/// mtime, ctime) so an unchanged 300 MB input is not hashed again on every build. ctime
/// catches an in-place edit that keeps the size and sets the mtime back (`touch -d`,
/// `utimes`): no user call can set ctime.
// @unchecked: `entries` and `dirty` are mutable and only touched under `lock`.
public final class InputDigests: @unchecked Sendable {
    private struct Entry: Codable {
        var size: Int64
        var mtimeNanos: Int64
        var inode: UInt64
        var device: UInt64
        var ctimeNanos: Int64
        var digest: ContentDigest
    }

    private let path: String
    private var entries: [String: Entry]
    private var dirty = false
    private let lock = NSLock()

    public init(path: String) {
        self.path = path
        if let data = try? Data(contentsOf: URL(fileURLWithPath: path)),
           let decoded = try? JSONDecoder().decode([String: Entry].self, from: data) {
            entries = decoded
        } else {
            entries = [:]
        }
    }

    /// The digest of a file, or of a folder (over its sorted relative paths and the
    /// digests of its regular files; hidden files are ignored).
    public func digest(of path: String) throws(PipelineError) -> ContentDigest {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw .io("\(path) does not exist")
        }
        if !isDirectory.boolValue { return try fileDigest(path) }
        guard let enumerator = FileManager.default.enumerator(atPath: path) else {
            throw .io("cannot list the folder \(path)")
        }
        var files: [String] = []
        while let relative = enumerator.nextObject() as? String {
            if relative.split(separator: "/").contains(where: { $0.hasPrefix(".") }) { continue }
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: path + "/" + relative, isDirectory: &isDir), !isDir.boolValue {
                files.append(relative)
            }
        }
        files.sort()
        var hasher = SHA256()
        hasher.update("blendset-folder-v1\n")
        for relative in files {
            let d = try fileDigest(path + "/" + relative)
            hasher.update(relative + "\t" + d.hex + "\n")
        }
        return hasher.finalize()
    }

    private func fileDigest(_ path: String) throws(PipelineError) -> ContentDigest {
        var info = stat()
        guard stat(path, &info) == 0 else { throw .io("cannot read \(path): \(String(cString: strerror(errno)))") }
        let size = Int64(info.st_size)
        let mtime = Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec)
        let inode = UInt64(info.st_ino)
        let device = UInt64(info.st_dev)
        let ctime = Int64(info.st_ctim.tv_sec) * 1_000_000_000 + Int64(info.st_ctim.tv_nsec)
        let key = URL(fileURLWithPath: path).standardizedFileURL.path
        lock.lock()
        if let e = entries[key], e.size == size, e.mtimeNanos == mtime, e.inode == inode, e.device == device, e.ctimeNanos == ctime {
            lock.unlock()
            return e.digest
        }
        lock.unlock()
        let digest: ContentDigest
        do { digest = try ContentDigest.ofFile(atPath: path) } catch { throw PipelineError(error) }
        lock.lock()
        entries[key] = Entry(size: size, mtimeNanos: mtime, inode: inode, device: device, ctimeNanos: ctime, digest: digest)
        dirty = true
        lock.unlock()
        return digest
    }

    /// Writes the remembered digests back, if any changed.
    public func save() throws(PipelineError) {
        lock.lock()
        defer { lock.unlock() }
        guard dirty else { return }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let data = try? encoder.encode(entries) else { return }
        do { try AtomicFile.write(Array(data), to: path) } catch { throw PipelineError(error) }
        dirty = false
    }
}
