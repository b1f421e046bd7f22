// libFuzzer target: zstd frames, in memory (Zstd.decompress) and streamed from a `.zst` file
// (ByteStream, small chunks). Both must agree: same bytes, or both an error.
#if canImport(Glibc)
import Glibc
#endif
import Formats

private let path: String = {
    let dir = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
    return "\(dir)/blendset-fuzz-\(getpid()).zst"
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    let memory = Result { () throws(FormatError) in try Zstd.decompress(bytes, source: path) }

    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    precondition(fd >= 0)
    precondition(size == 0 || write(fd, data, size) == size)
    close(fd)
    defer { unlink(path) }
    let streamed = Result { () throws(FormatError) -> [UInt8] in
        var out: [UInt8] = []
        try ByteStream.forEachChunk(path: path, chunkSize: 4099) { chunk in out.append(contentsOf: chunk) }
        return out
    }
    switch (memory, streamed) {
    case let (.success(a), .success(b)):
        precondition(a == b, "streamed and in-memory decompression differ")
    case (.failure, .failure):
        break
    case (.failure, .success(let b)) where size == 0 && b.isEmpty:
        break  // an empty file streams as nothing; in memory it is "truncated"
    default:
        preconditionFailure("streamed and in-memory decompression disagree: \(memory) vs \(streamed)")
    }
    return 0
}
