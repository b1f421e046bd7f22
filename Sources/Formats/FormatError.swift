/// The one error type of the Formats module: which file, where in it (when a line makes
/// sense), and a message a user can act on ("expected 2304 pixel values, found 2303").
public struct FormatError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The path (or other source name) the error is about.
    public var file: String
    /// 1-based line number, for line-oriented text formats.
    public var line: Int?
    /// What was expected and what was found.
    public var message: String

    public init(file: String, line: Int? = nil, message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    /// `path/to/file.csv:17: expected 2304 pixel values, found 2303`
    public var description: String {
        if let line { return "\(file):\(line): \(message)" }
        return "\(file): \(message)"
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
