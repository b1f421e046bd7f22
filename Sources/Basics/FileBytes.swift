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
        case .readFailed(let code):
            "cannot read file: \(String(cString: strerror(code)))"
        }
    }

    public var description: String { "\(path): \(message)" }
}

/// Whole-file reads with POSIX calls (no Foundation), for every module.
public enum FileBytes {
    /// Opens `path` read-only; the caller closes the descriptor. Refuses directories.
    public static func openForReading(_ path: String) throws(FileReadError) -> Int32 {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileReadError(path: path, reason: .cannotOpen(errno: errno)) }
        var info = stat()
        if fstat(fd, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR {
            close(fd)
            throw FileReadError(path: path, reason: .isDirectory)
        }
        return fd
    }

    /// Reads a whole file into memory.
    public static func read(atPath path: String) throws(FileReadError) -> [UInt8] {
        let fd = try openForReading(path)
        defer { close(fd) }
        var info = stat()
        let sizeHint = fstat(fd, &info) == 0 ? Int(info.st_size) : 0
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
