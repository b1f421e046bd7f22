#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Basics

/// Crash-safe whole-file writes: readers see the old complete file or the new complete
/// file, never a partial one.
///
/// The bytes go to `.tmp-<name>-<random>` in the destination's directory (same file system,
/// so `rename` is atomic), which is `fsync`ed, renamed over the destination, and then the
/// directory is `fsync`ed so the rename itself survives a power loss. A process killed
/// mid-write leaves at most a `.tmp-` file behind, which `removeStaleTemporaries` clears.
///
/// It never replaces what is not a regular file: an existing destination that is a symlink,
/// FIFO, device, socket or folder is refused (`OutputPath.check`), so `--out /dev/stdout`
/// or a symlink planted at the output path is left alone.
public enum AtomicFile {
    /// Writes `bytes` to `path`, creating parent directories as needed.
    public static func write(_ bytes: [UInt8], to path: String) throws(FormatError) {
        try withBytes(bytes) { (buffer) throws(FormatError) in
            try write(buffer, to: path, faultAfterBytes: nil)
        }
    }

    /// Writes `bytes` to `path`, creating parent directories as needed.
    public static func write(_ bytes: UnsafeRawBufferPointer, to path: String) throws(FormatError) {
        try write(bytes, to: path, faultAfterBytes: nil)
    }

    /// Testing hook: with `faultAfterBytes` set, behaves like a process killed after writing
    /// that many bytes of the temporary file. The temporary file is left behind as a real
    /// crash would leave it, nothing is renamed, and a "simulated crash" error is thrown.
    package static func write(_ bytes: [UInt8], to path: String, faultAfterBytes: Int?) throws(FormatError) {
        try withBytes(bytes) { (buffer) throws(FormatError) in
            try write(buffer, to: path, faultAfterBytes: faultAfterBytes)
        }
    }

    package static func write(_ bytes: UnsafeRawBufferPointer, to path: String,
                              faultAfterBytes: Int?) throws(FormatError) {
        try OutputPath.check(path)
        let (directory, name) = splitPath(path)
        try createDirectories(directory, for: path)
        // Shortened so the temporary name stays within NAME_MAX (255 bytes) for long names.
        // The writer's pid in the name lets `removeStaleTemporaries` spare live writers.
        let temporary = directory + "/.tmp-" + String(name.prefix(64)) + "-" + String(getpid()) + "-" + randomSuffix()
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw FormatError(file: path, message: "cannot create temporary file '\(temporary)' to write it: \(systemErrorText())", kind: .writeFailed)
        }
        var keepTemporary = false
        var succeeded = false
        defer {
            if !succeeded && !keepTemporary { unlink(temporary) }
        }
        do {
            defer { close(fd) }
            let limit = faultAfterBytes.map { min(max($0, 0), bytes.count) } ?? bytes.count
            try writeAll(fd, UnsafeRawBufferPointer(rebasing: bytes[0..<limit]), path: path)
            if faultAfterBytes != nil {
                keepTemporary = true
                throw FormatError(file: path, message: "simulated crash after writing \(limit) of \(bytes.count) bytes")
            }
            guard fsync(fd) == 0 else {
                throw FormatError(file: path, message: "cannot sync the written bytes to disk: \(systemErrorText())", kind: .writeFailed)
            }
        }
        guard rename(temporary, path) == 0 else {
            throw FormatError(file: path, message: "cannot move the new content into place: \(systemErrorText())", kind: .writeFailed)
        }
        succeeded = true
        syncDirectory(directory)
    }

    /// Removes `.tmp-` files left in `directory` by writers that were killed mid-write.
    /// A temporary of another process that is still running is kept: a build holding the
    /// cache lock must not delete the file that a command writing outside the lock (the
    /// manifest after a build, `blendset manifest`) is about to rename into place.
    public static func removeStaleTemporaries(in directory: String) {
        guard let dir = opendir(directory) else { return }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name.hasPrefix(".tmp-") && !isLiveWriter(temporaryName: name) { unlink(directory + "/" + name) }
        }
    }

    /// Whether `.tmp-<name>-<pid>-<random>` belongs to another process that is alive.
    static func isLiveWriter(temporaryName name: String) -> Bool {
        let parts = name.split(separator: "-")
        guard parts.count >= 4, let pid = Int32(parts[parts.count - 2]), pid > 0, pid != getpid() else { return false }
        return kill(pid, 0) == 0 || errno == EPERM
    }

    private static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws(FormatError) {
        var offset = 0
        while offset < bytes.count {
            let n = systemWrite(fd, bytes.baseAddress! + offset, min(bytes.count - offset, 1 << 30))
            if n < 0 {
                if errno == EINTR { continue }
                throw FormatError(file: path, message: "cannot write: \(systemErrorText())", kind: .writeFailed)
            }
            offset += n
        }
    }

    private static func splitPath(_ path: String) -> (directory: String, name: String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        let directory = String(path[..<slash])
        return (directory.isEmpty ? "/" : directory, String(path[path.index(after: slash)...]))
    }

    /// `mkdir -p`: tolerant of directories created concurrently by other writers.
    private static func createDirectories(_ directory: String, for path: String) throws(FormatError) {
        var info = stat()
        if stat(directory, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFDIR else {
                throw FormatError(file: path, message: "cannot write: '\(directory)' exists and is \(OutputPath.describe(info.st_mode)), not a folder", kind: .cannotCreate)
            }
            return
        }
        let (parent, _) = splitPath(directory)
        if parent != directory { try createDirectories(parent, for: path) }
        if mkdir(directory, 0o755) != 0 && errno != EEXIST {
            throw FormatError(file: path, message: "cannot create directory '\(directory)': \(systemErrorText())", kind: .writeFailed)
        }
    }

    private static func syncDirectory(_ directory: String) {
        // Best effort: some file systems refuse fsync on directories, and the data itself
        // is already durable at this point.
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        close(fd)
    }

    private static func randomSuffix() -> String {
        var generator = SystemRandomNumberGenerator()
        return String(generator.next() as UInt64, radix: 16)
    }
}

/// The rule for every path blendset writes to (`--out`, `--save`, `--plots`, the cache):
/// a missing path or a regular file may be (atomically) replaced; anything else is refused
/// with `FormatError.Kind.cannotCreate`. A symlink is refused rather than followed or
/// replaced: writing through it could reach anywhere, and replacing it would surprise
/// whoever planted it. Folders on the way may be symlinks.
public enum OutputPath {
    /// Throws unless `path` is missing or a regular file. Call it before long work whose
    /// result goes to `path`, so a bad `--out` fails at once; `AtomicFile.write` calls it too.
    public static func check(_ path: String) throws(FormatError) {
        var info = stat()
        guard lstat(path, &info) == 0 else {
            if errno == ENOENT || errno == ENOTDIR { return }  // missing: ours to create
            throw FormatError(file: path, message: "cannot inspect the output path: \(systemErrorText())", kind: .writeFailed)
        }
        let type = info.st_mode & S_IFMT
        guard type != S_IFREG else { return }
        throw FormatError(file: path, message: "refusing to write here: the path exists and is \(describe(info.st_mode)), not a regular file. Remove it or choose another output path", kind: .cannotCreate)
    }

    /// "a symbolic link", "a FIFO", … for a `st_mode`.
    static func describe(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFLNK: return "a symbolic link"
        case S_IFIFO: return "a FIFO (named pipe)"
        case S_IFCHR: return "a character device"
        case S_IFBLK: return "a block device"
        case S_IFSOCK: return "a socket"
        case S_IFDIR: return "a folder"
        case S_IFREG: return "a regular file"
        default: return "not a regular file"
        }
    }
}

/// Reads a whole file into memory.
public func readFileBytes(atPath path: String) throws(FormatError) -> [UInt8] {
    do { return try FileBytes.read(atPath: path) } catch { throw FormatError(error) }
}

/// Opens `path` read-only, with an error that says why not (missing, a directory, no permission).
func openForReading(_ path: String) throws(FormatError) -> Int32 {
    do { return try FileBytes.openForReading(path) } catch { throw FormatError(error) }
}

extension FormatError {
    init(_ error: FileReadError) {
        self.init(file: error.path, message: error.message)
    }
}
