import Foundation
import Formats

// Benchmarks for BENCHMARKS.md. Build with `swift build -c release` and run
// `.build/release/blendset-bench csv [FILE]`.

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

func seconds(_ body: () throws -> Void) rethrows -> Double {
    let t = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - t) / 1e9
}

/// FER2013 CSV parsing throughput: the parser alone on bytes already in memory, and the
/// whole streamed read (zstd decompression + parsing) from the file.
func csvBenchmark(_ path: String, runs: Int) throws {
    let compressed = try readFileBytes(atPath: path)
    let raw = path.hasSuffix(".zst") ? try compressed.withUnsafeBytes { try Zstd.decompress($0, source: path) } : compressed
    let mb = Double(raw.count) / 1e6
    print("input: \(path), \(String(format: "%.1f", mb)) MB uncompressed CSV")
    var parse: [Double] = [], stream: [Double] = []
    var rows = 0
    for _ in 0..<runs {
        parse.append(try seconds { rows = try FER2013CSV.parse(raw, source: path, onBadRow: .fail).count })
        stream.append(try seconds { _ = try FER2013CSV.read(path: path) })
    }
    print("rows: \(rows)")
    print(String(format: "parse from memory:        median %.3f s  = %.0f MB/s  (min %.3f, max %.3f; %d runs)", median(parse), mb / median(parse), parse.min()!, parse.max()!, runs))
    print(String(format: "streamed read incl. zstd: median %.3f s  = %.0f MB/s of CSV  (min %.3f, max %.3f; %d runs)", median(stream), mb / median(stream), stream.min()!, stream.max()!, runs))
}

let args = Array(CommandLine.arguments.dropFirst())
switch args.first {
case "csv":
    try csvBenchmark(args.count > 1 ? args[1] : "../shared/data/fer2013.csv.zst", runs: 7)
default:
    print("usage: blendset-bench csv [FILE]")
    exit(64)
}
