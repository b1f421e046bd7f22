import CZstd

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// zstd compression of whole buffers.
///
/// Compression is deterministic for a given input and level (single-threaded libzstd), which
/// the table format relies on. Decompression uses the streaming API, so frames without a
/// content size in their header, and several concatenated frames, decode too.
public enum Zstd {
    /// Compresses `bytes` into one zstd frame (content size recorded in the header).
    public static func compress(_ bytes: UnsafeRawBufferPointer, level: Int32 = 3) -> [UInt8] {
        let bound = ZSTD_compressBound(bytes.count)
        // A stack-free empty input still needs a valid source pointer.
        let source = bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!
        return [UInt8](unsafeUninitializedCapacity: bound) { buffer, initialized in
            let written = ZSTD_compress(buffer.baseAddress, bound, source, bytes.count, level)
            // Only fails for out-of-range sizes or memory exhaustion: not a user error.
            precondition(ZSTD_isError(written) == 0,
                         "zstd compression failed: \(String(cString: ZSTD_getErrorName(written)))")
            initialized = written
        }
    }

    /// Compresses `bytes` into one zstd frame.
    public static func compress(_ bytes: [UInt8], level: Int32 = 3) -> [UInt8] {
        bytes.withUnsafeBytes { compress($0, level: level) }
    }

    /// Decompresses every zstd frame in `bytes`. `source` names the data in errors.
    ///
    /// Errors say "truncated" when the input ends inside a frame and "corrupt" otherwise.
    public static func decompress(_ bytes: UnsafeRawBufferPointer, source: String) throws(FormatError) -> [UInt8] {
        guard let base = bytes.baseAddress, bytes.count > 0 else {
            throw FormatError(file: source, message: "is truncated: expected zstd-compressed data, found 0 bytes")
        }
        guard let stream = ZSTD_createDStream() else {
            throw FormatError(file: source, message: "cannot decompress: zstd could not allocate a decoder")
        }
        defer { ZSTD_freeDStream(stream) }
        var output = [UInt8]()
        let declared = ZSTD_getFrameContentSize(base, bytes.count)
        // The header's size is only a hint (hostile input may claim anything).
        if declared < UInt64.max - 1 {
            output.reserveCapacity(Int(min(declared, UInt64(bytes.count) * 64 + (1 << 20), 1 << 30)))
        }
        let chunkSize = max(ZSTD_DStreamOutSize(), 1 << 20)
        let chunk = UnsafeMutableRawPointer.allocate(byteCount: chunkSize, alignment: 16)
        defer { chunk.deallocate() }
        var input = ZSTD_inBuffer(src: base, size: bytes.count, pos: 0)
        var lastHint = 0
        var frame = FrameSizeCheck()
        while true {
            if frame.atFrameStart && input.pos < input.size {
                frame.begin(header: base + input.pos, available: input.size - input.pos)
            }
            var out = ZSTD_outBuffer(dst: chunk, size: chunkSize, pos: 0)
            let hint = ZSTD_decompressStream(stream, &out, &input)
            if ZSTD_isError(hint) != 0 {
                throw corrupt(source, hint)
            }
            try frame.produced(out.pos, hint: hint, source: source)
            output.append(contentsOf: UnsafeRawBufferPointer(start: chunk, count: out.pos))
            lastHint = hint
            if input.pos == input.size && out.pos < out.size { break }
        }
        if lastHint != 0 {
            throw FormatError(file: source, message: "is truncated: the zstd data ends in the middle of a frame")
        }
        return output
    }

    /// Decompresses every zstd frame in `bytes`. `source` names the data in errors.
    public static func decompress(_ bytes: [UInt8], source: String) throws(FormatError) -> [UInt8] {
        try withBytes(bytes) { (buffer) throws(FormatError) in try decompress(buffer, source: source) }
    }

    /// Checks each frame's output against the content size its header declares.
    ///
    /// libzstd's streaming decoder skips that check when a frame ends in an empty last block
    /// (its one-shot path does not), so a frame claiming 12 KB but holding none would decode to
    /// nothing in one path and fail in the other. Both paths run this check instead.
    struct FrameSizeCheck {
        private(set) var atFrameStart = true
        private var declared = UInt64.max
        private var produced: UInt64 = 0

        /// Reads the declared size from the frame header at `header` (the start of a frame).
        mutating func begin(header: UnsafeRawPointer, available: Int) {
            // UInt64.max is "unknown", UInt64.max - 1 an unreadable header: the decoder reports those.
            declared = ZSTD_getFrameContentSize(header, available)
            produced = 0
            atFrameStart = false
        }

        /// Counts `count` decoded bytes; `hint` 0 means the frame has ended.
        mutating func produced(_ count: Int, hint: Int, source: String) throws(FormatError) {
            produced &+= UInt64(count)
            guard hint == 0 else { return }
            atFrameStart = true
            if declared < UInt64.max - 1 && produced != declared {
                throw FormatError(file: source, message: "is corrupt: a zstd frame declares \(declared) bytes of content but holds \(produced)")
            }
        }
    }

    static func corrupt(_ source: String, _ code: Int) -> FormatError {
        let name = String(cString: ZSTD_getErrorName(code))
        return FormatError(file: source, message: "is corrupt: zstd could not decode it (\(name))")
    }
}

/// One zstd frame of data that arrives in pieces, compressed as it arrives, so the work
/// overlaps with whatever produces the data (the FER2013 reader compresses pixels as it
/// parses them).
///
/// The frame's bytes are a pure function of the level and of the sequence of `append` calls
/// (single-threaded libzstd, no content size in the header); callers that need stable bytes
/// append in a fixed pattern. They differ from `Zstd.compress` of the same data.
public final class ZstdFrameWriter {
    public struct Frame: Sendable {
        public let bytes: [UInt8]
        /// How many bytes the frame decompresses to.
        public let rawCount: Int
    }

    private let context: OpaquePointer
    private let scratch: UnsafeMutableRawBufferPointer
    private var frame: [UInt8] = []
    private var rawCount = 0
    private var finished = false

    public init(level: Int32 = 3, expectedBytes: Int = 0) {
        // Allocation failure here is memory exhaustion: not a user error.
        context = ZSTD_createCCtx()!
        let set = ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, level)
        precondition(ZSTD_isError(set) == 0, "zstd rejected level \(level)")
        scratch = .allocate(byteCount: ZSTD_CStreamOutSize(), alignment: 64)
        if expectedBytes > 0 { frame.reserveCapacity(expectedBytes) }
    }

    deinit {
        ZSTD_freeCCtx(context)
        scratch.deallocate()
    }

    /// Adds `bytes` to the frame.
    public func append(_ bytes: UnsafeRawBufferPointer) {
        precondition(!finished, "append after finish")
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        rawCount += bytes.count
        var input = ZSTD_inBuffer(src: base, size: bytes.count, pos: 0)
        while input.pos < input.size {
            drain(&input, ZSTD_e_continue)
        }
    }

    /// Ends the frame.
    public func finish() -> Frame {
        precondition(!finished, "finish called twice")
        finished = true
        var input = ZSTD_inBuffer(src: nil, size: 0, pos: 0)
        while drain(&input, ZSTD_e_end) != 0 {}
        defer { frame = [] }
        return Frame(bytes: frame, rawCount: rawCount)
    }

    /// One compression call; returns zstd's count of bytes still to flush.
    @discardableResult
    private func drain(_ input: inout ZSTD_inBuffer, _ directive: ZSTD_EndDirective) -> Int {
        var output = ZSTD_outBuffer(dst: scratch.baseAddress, size: scratch.count, pos: 0)
        let remaining = ZSTD_compressStream2(context, &output, &input, directive)
        precondition(ZSTD_isError(remaining) == 0,
                     "zstd compression failed: \(String(cString: ZSTD_getErrorName(remaining)))")
        frame.append(contentsOf: UnsafeRawBufferPointer(rebasing: scratch[0..<output.pos]))
        return remaining
    }
}

/// Reads a file in chunks, decompressing on the fly when its name ends in `.zst`.
///
/// Memory stays bounded (a few MiB) whatever the file size. A `.zst` file that ends inside a
/// frame, or has damaged data, fails with an error naming the file.
///
///     let stream = try ByteStream(path: "data/fer2013.csv.zst")
///     while let chunk = try stream.next() { parser.consume(chunk) }
public final class ByteStream {
    /// The path being read.
    public let path: String
    /// True when the file is decompressed as zstd.
    public let isCompressed: Bool

    private let fd: Int32
    private let chunkSize: Int
    private let output: UnsafeMutableRawPointer
    private var dstream: OpaquePointer?
    private var input: UnsafeMutableRawPointer?
    private let inputCapacity: Int
    private var inBuffer = ZSTD_inBuffer(src: nil, size: 0, pos: 0)
    private var endOfFile = false
    private var lastHint = 0
    private var sawAnyInput = false
    private var finished = false
    private var frame = Zstd.FrameSizeCheck()

    /// Opens `path`. `chunkSize` is the most bytes one call of `next()` returns.
    public init(path: String, chunkSize: Int = 4 << 20) throws(FormatError) {
        self.path = path
        self.chunkSize = max(chunkSize, 1)
        isCompressed = path.hasSuffix(".zst")
        fd = try openForReading(path)
        output = .allocate(byteCount: self.chunkSize, alignment: 64)
        if isCompressed {
            inputCapacity = max(ZSTD_DStreamInSize(), 1 << 20)
            input = .allocate(byteCount: inputCapacity, alignment: 64)
            dstream = ZSTD_createDStream()
            if dstream == nil {
                close(fd)
                throw FormatError(file: path, message: "cannot decompress: zstd could not allocate a decoder")
            }
        } else {
            inputCapacity = 0
        }
    }

    deinit {
        close(fd)
        output.deallocate()
        input?.deallocate()
        if let dstream { ZSTD_freeDStream(dstream) }
    }

    /// The next chunk of (decompressed) bytes, or nil at the end of the file.
    ///
    /// The buffer belongs to the stream and is valid only until the next call.
    public func next() throws(FormatError) -> UnsafeRawBufferPointer? {
        let filled = try read(into: UnsafeMutableRawBufferPointer(start: output, count: chunkSize))
        return filled == 0 ? nil : UnsafeRawBufferPointer(start: output, count: filled)
    }

    /// Fills `buffer` with the next (decompressed) bytes and returns how many; fewer than
    /// `buffer.count` only at the end of the file, 0 once it is reached.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(FormatError) -> Int {
        guard !finished, let destination = buffer.baseAddress, buffer.count > 0 else { return 0 }
        let filled = isCompressed
            ? try fillDecompressed(destination, buffer.count)
            : try fillRaw(destination, buffer.count)
        if filled == 0 { finished = true }
        return filled
    }

    /// Calls `body` with each chunk of the file in order.
    public static func forEachChunk(path: String, chunkSize: Int = 4 << 20,
                                    _ body: (UnsafeRawBufferPointer) throws(FormatError) -> Void) throws(FormatError) {
        let stream = try ByteStream(path: path, chunkSize: chunkSize)
        while let chunk = try stream.next() { try body(chunk) }
    }

    /// The whole (decompressed) content of `path`.
    public static func readAll(path: String) throws(FormatError) -> [UInt8] {
        var bytes = [UInt8]()
        try forEachChunk(path: path) { chunk in bytes.append(contentsOf: chunk) }
        return bytes
    }

    private func readSome(into buffer: UnsafeMutableRawPointer, capacity: Int) throws(FormatError) -> Int {
        while true {
            let n = systemRead(fd, buffer, capacity)
            if n >= 0 { return n }
            if errno != EINTR {
                throw FormatError(file: path, message: "cannot read file: \(systemErrorText())")
            }
        }
    }

    private func fillRaw(_ destination: UnsafeMutableRawPointer, _ capacity: Int) throws(FormatError) -> Int {
        var filled = 0
        while filled < capacity && !endOfFile {
            let n = try readSome(into: destination + filled, capacity: capacity - filled)
            if n == 0 { endOfFile = true } else { filled += n }
        }
        return filled
    }

    /// Makes sure a whole frame header (at most 18 bytes) is in the input buffer when the
    /// file holds one, moving a header split across two reads to the buffer's start.
    private func bufferFrameHeader() throws(FormatError) {
        let headerMax = 18
        var left = inBuffer.size - inBuffer.pos
        guard left < headerMax && !endOfFile, let input else { return }
        if inBuffer.pos > 0 {
            memmove(input, input + inBuffer.pos, left)
        }
        while left < headerMax && !endOfFile {
            let n = try readSome(into: input + left, capacity: inputCapacity - left)
            if n == 0 { endOfFile = true } else { left += n; sawAnyInput = true }
        }
        inBuffer = ZSTD_inBuffer(src: input, size: left, pos: 0)
    }

    private func fillDecompressed(_ destination: UnsafeMutableRawPointer, _ capacity: Int) throws(FormatError) -> Int {
        var out = ZSTD_outBuffer(dst: destination, size: capacity, pos: 0)
        while out.pos < out.size {
            if inBuffer.pos == inBuffer.size && !endOfFile {
                let n = try readSome(into: input!, capacity: inputCapacity)
                if n == 0 {
                    endOfFile = true
                } else {
                    sawAnyInput = true
                    inBuffer = ZSTD_inBuffer(src: input, size: n, pos: 0)
                }
            }
            let inputLeft = inBuffer.pos < inBuffer.size
            if !inputLeft && endOfFile {
                // No input left: flush whatever the decoder still holds, then stop.
                let before = out.pos
                if lastHint != 0 {
                    let hint = ZSTD_decompressStream(dstream, &out, &inBuffer)
                    if ZSTD_isError(hint) != 0 { throw Zstd.corrupt(path, hint) }
                    try frame.produced(out.pos - before, hint: hint, source: path)
                    lastHint = hint
                }
                if out.pos == before { break }
                continue
            }
            if frame.atFrameStart {
                try bufferFrameHeader()
                frame.begin(header: input! + inBuffer.pos, available: inBuffer.size - inBuffer.pos)
            }
            let before = out.pos
            let hint = ZSTD_decompressStream(dstream, &out, &inBuffer)
            if ZSTD_isError(hint) != 0 { throw Zstd.corrupt(path, hint) }
            try frame.produced(out.pos - before, hint: hint, source: path)
            lastHint = hint
        }
        if out.pos == 0 && endOfFile && inBuffer.pos == inBuffer.size {
            if !sawAnyInput {
                throw FormatError(file: path, message: "is truncated: the file is empty, expected zstd-compressed data")
            }
            if lastHint != 0 {
                throw FormatError(file: path, message: "is truncated: the zstd data ends in the middle of a frame")
            }
        }
        return out.pos
    }
}

extension Zstd {
    /// Decompresses `block` into `destination`, succeeding only when it yields exactly
    /// `expected` bytes. Used for table columns, whose sizes are known in advance.
    static func decompressExactly(into destination: UnsafeMutableRawBufferPointer, expected: Int,
                                  _ block: UnsafeRawBufferPointer) -> ZstdOutcome {
        guard let source = block.baseAddress, block.count > 0 else { return .failed("empty block") }
        var scratch: UInt8 = 0
        return withUnsafeMutablePointer(to: &scratch) { fallback in
            let target = destination.baseAddress ?? UnsafeMutableRawPointer(fallback)
            let written = ZSTD_decompress(target, expected, source, block.count)
            if ZSTD_isError(written) != 0 { return .failed(String(cString: ZSTD_getErrorName(written))) }
            return written == expected ? .ok : .failed("\(written) bytes instead of \(expected)")
        }
    }
}
