// libFuzzer target: the FER2013 CSV reader, whole and in chunks, under both bad-row policies.
// The first input byte picks the chunk size; chunked and whole parses must agree.
import Formats

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let chunkSize = Int(data[0]) + 1
    let text = UnsafeRawBufferPointer(start: data + 1, count: size - 1)
    for policy in [BadRowPolicy.fail, .skip] {
        let whole = Result { () throws(FormatError) in try FER2013CSV.parse(text, source: "fuzz.csv", onBadRow: policy) }
        let chunked = Result { () throws(FormatError) in
            var parser = FER2013Parser(source: "fuzz.csv", onBadRow: policy)
            var offset = 0
            while offset < text.count {
                let n = min(chunkSize, text.count - offset)
                try parser.consume(UnsafeRawBufferPointer(rebasing: text[offset ..< offset + n]))
                offset += n
            }
            return try parser.finish()
        }
        switch (whole, chunked) {
        case let (.success(a), .success(b)):
            precondition(a.emotions == b.emotions && a.usages == b.usages && a.pixels == b.pixels
                         && a.lines == b.lines && a.skipped == b.skipped, "chunked parse differs from whole parse")
            precondition(a.pixels.count == a.count * FER2013CSV.pixelsPerImage)
        case let (.failure(a), .failure(b)):
            precondition(a == b, "chunked parse fails differently: \(a) vs \(b)")
        default:
            preconditionFailure("chunked and whole parse disagree: \(whole) vs \(chunked)")
        }
    }
    return 0
}
