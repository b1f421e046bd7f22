#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// A lock on a cache folder, so two builds never write one cache at once.
///
/// It is an advisory `flock` on `cache/LOCK`: the kernel drops it when the process
/// dies, so a killed build never leaves a stale lock behind. Builds and gc take it
/// exclusively: they write heads, records and versions, and clear stale temporaries.
/// Shards (`build --shard`) take it shared: they only add memo packs under unique names,
/// so they run side by side, while a build or gc on the same host waits for them. The lock
/// is not relied on across hosts (flock over NFS is not dependable): there the merge runs
/// after the shards by the scheduler's dependency.
public final class BuildLock: Sendable {
    private let fd: Int32
    public let path: String

    /// Takes the lock. If another process holds it, either waits (calling `onWait` once
    /// with a description of the holder) or, with `wait == false`, throws `cacheLocked`.
    public init(cacheRoot: String, wait: Bool, shared: Bool = false, onWait: (String) -> Void = { _ in }) throws(PipelineError) {
        let mode = shared ? LOCK_SH : LOCK_EX
        path = cacheRoot + "/LOCK"
        do {
            try FileManager.default.createDirectory(atPath: cacheRoot, withIntermediateDirectories: true)
        } catch {
            throw .io("cannot create the cache folder \(cacheRoot): \(error.localizedDescription)")
        }
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .io("cannot open the cache lock \(path): \(String(cString: strerror(errno)))") }
        if flock(fd, mode | LOCK_NB) != 0 {
            let holder = BuildLock.describeHolder(fd: fd)
            guard wait else {
                close(fd)
                throw .cacheLocked(cache: cacheRoot, holder: holder)
            }
            onWait(holder)
            while flock(fd, mode) != 0 {
                if errno != EINTR {
                    close(fd)
                    throw .io("cannot lock \(path): \(String(cString: strerror(errno)))")
                }
            }
        }
        self.fd = fd
        // Shared holders leave the note alone: it names the exclusive holder.
        guard !shared else { return }
        let note = "pid \(getpid()) since \(isoNow())\n"
        _ = ftruncate(fd, 0)
        _ = note.withCString { pwrite(fd, $0, strlen($0), 0) }
    }

    private static func describeHolder(fd: Int32) -> String {
        var buffer = [UInt8](repeating: 0, count: 256)
        let n = pread(fd, &buffer, buffer.count, 0)
        let text = n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : ""
        return text.isEmpty ? "another process" : text
    }

    deinit {
        _ = flock(fd, LOCK_UN)
        close(fd)
    }
}
