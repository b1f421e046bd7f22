#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a file could not be read. Each module wraps it in its own error type.
public struct FileReadError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Reason: Sendable, Equatable {
        /// `open` failed with this errno.
        case cannotOpen(errno: Int32)
        case isDirectory
        /// A device, FIFO or socket (or a symlink to one): reading it could block or never end.
        case notRegularFile(kind: String)
        /// The file holds more bytes than the caller's limit.
        case tooLarge(bytes: Int, limit: Int)
        /// `read` failed with this errno.
        case readFailed(errno: Int32)
    }
    public let path: String
    public let reason: Reason

    public init(path: String, reason: Reason) {
        self.path = path
        self.reason = reason
    }

    /// The reason alone, without the path (callers put the path where their errors want it).
    public var message: String {
        switch reason {
        case .cannotOpen(let code):
            "cannot open file for reading: \(code == ENOENT ? "no such file" : String(cString: strerror(code)))"
        case .isDirectory:
            "cannot read: it is a directory, expected a file"
        case .notRegularFile(let kind):
            "cannot read: it is a \(kind), expected a regular file"
        case .tooLarge(let bytes, let limit):
            "cannot read: \(bytes) bytes or more, the limit is \(limit) bytes"
        case .readFailed(let code):
            "cannot read file: \(String(cString: strerror(code)))"
        }
    }

    public var description: String { "\(path): \(message)" }
}

/// Whole-file reads with POSIX calls (no Foundation), for every module.
public enum FileBytes {
    /// Opens `path` read-only; the caller closes the descriptor. Refuses directories, and
    /// devices, FIFOs and sockets (also behind symlinks): `/dev/zero` never ends and a FIFO
    /// blocks on open.
    public static func openForReading(_ path: String) throws(FileReadError) -> Int32 {
        var info = stat()
        guard stat(path, &info) == 0 else { throw FileReadError(path: path, reason: .cannotOpen(errno: errno)) }
        try checkKind(info.st_mode, path)
        // O_NONBLOCK: if the path was swapped for a FIFO after the stat, open must not block.
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw FileReadError(path: path, reason: .cannotOpen(errno: errno)) }
        if fstat(fd, &info) != 0 {
            let code = errno
            close(fd)
            throw FileReadError(path: path, reason: .cannotOpen(errno: code))
        }
        do { try checkKind(info.st_mode, path) } catch { close(fd); throw error }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        return fd
    }

    private static func checkKind(_ mode: mode_t, _ path: String) throws(FileReadError) {
        switch mode & S_IFMT {
        case S_IFREG: return
        case S_IFDIR: throw FileReadError(path: path, reason: .isDirectory)
        case S_IFCHR: throw FileReadError(path: path, reason: .notRegularFile(kind: "character device"))
        case S_IFBLK: throw FileReadError(path: path, reason: .notRegularFile(kind: "block device"))
        case S_IFIFO: throw FileReadError(path: path, reason: .notRegularFile(kind: "FIFO (named pipe)"))
        case S_IFSOCK: throw FileReadError(path: path, reason: .notRegularFile(kind: "socket"))
        default: throw FileReadError(path: path, reason: .notRegularFile(kind: "special file"))
        }
    }

    /// Reads a whole file into memory; refuses one larger than `maxBytes`.
    public static func read(atPath path: String, maxBytes: Int = .max) throws(FileReadError) -> [UInt8] {
        let fd = try openForReading(path)
        defer { close(fd) }
        var info = stat()
        let sizeHint = fstat(fd, &info) == 0 ? Int(info.st_size) : 0
        guard sizeHint <= maxBytes else { throw FileReadError(path: path, reason: .tooLarge(bytes: sizeHint, limit: maxBytes)) }
        var bytes = [UInt8]()
        bytes.reserveCapacity(sizeHint + 1)
        var chunk = [UInt8](repeating: 0, count: max(1 << 16, min(sizeHint + 1, 1 << 26)))
        while true {
            let n = chunk.withUnsafeMutableBytes { systemRead(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw FileReadError(path: path, reason: .readFailed(errno: errno))
            }
            if n == 0 { break }
            guard n <= maxBytes - bytes.count else {
                throw FileReadError(path: path, reason: .tooLarge(bytes: bytes.count + n, limit: maxBytes))
            }
            bytes.append(contentsOf: chunk[0..<n])
        }
        return bytes
    }
}

// `read` inside `FileBytes` would name the static method.
@inline(__always)
private func systemRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
    read(fd, buffer, count)
}
