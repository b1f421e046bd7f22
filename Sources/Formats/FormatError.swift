import Basics

/// The one error type of the Formats module: which file, where in it (when a line makes
/// sense), and a message a user can act on ("expected 2304 pixel values, found 2303").
public struct FormatError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The path (or other source name) the error is about.
    public var file: String
    /// 1-based line number, for line-oriented text formats.
    public var line: Int?
    /// What was expected and what was found.
    public var message: String
    /// What kind of failure: bad input bytes, or an output that could not be written.
    public var kind: Kind

    public enum Kind: Sendable, Equatable {
        /// The bytes read are not what the format needs (EX_DATAERR).
        case badData
        /// An output path that must not be replaced: a FIFO, a device, a symlink, a folder
        /// (EX_CANTCREAT).
        case cannotCreate
        /// Writing failed: disk full, no permission, an I/O error (EX_IOERR).
        case writeFailed
    }

    public init(file: String, line: Int? = nil, message: String, kind: Kind = .badData) {
        self.file = file
        self.line = line
        self.message = message
        self.kind = kind
    }

    /// `path/to/file.csv:17: expected 2304 pixel values, found 2303`, with control characters
    /// escaped and over-long lines shortened (messages quote input bytes).
    public var description: String {
        let text = line.map { "\(file):\($0): \(message)" } ?? "\(file): \(message)"
        return MessageText.sanitized(text)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The C library's text for the current `errno`, for messages about system calls.
func systemErrorText(_ code: Int32 = errno) -> String {
    String(cString: strerror(code))
}

/// `Array.withUnsafeBytes` only rethrows untyped errors; this keeps `throws(FormatError)`.
@inline(__always)
func withBytes<R>(_ array: [UInt8],
                  _ body: (UnsafeRawBufferPointer) throws(FormatError) -> R) throws(FormatError) -> R {
    let result: Result<R, FormatError> = array.withUnsafeBytes { buffer in
        Result { () throws(FormatError) -> R in try body(buffer) }
    }
    return try result.get()
}

/// `read(2)`, named so that types with their own `read` methods can call it.
@inline(__always)
func systemRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
    read(fd, buffer, count)
}

/// `write(2)`, named so that types with their own `write` methods can call it.
@inline(__always)
func systemWrite(_ fd: Int32, _ buffer: UnsafeRawPointer?, _ count: Int) -> Int {
    write(fd, buffer, count)
}
