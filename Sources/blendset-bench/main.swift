import Foundation
import Formats
import Learning
import FaceExpression

// Benchmarks for BENCHMARKS.md. Build with `swift build -c release` and run
// `.build/release/blendset-bench csv|gbt|models|extract|image ...` (no arguments: usage).
// benchmarks/gbt-vs-sklearn.sh runs gbt beside scikit-learn.

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

/// A positive count from the command line (runs, megabytes), or `fallback` when it is not
/// given; anything else stops with a message rather than silently using the default.
func countArgument(_ args: [String], at index: Int, name: String, default fallback: Int) -> Int {
    guard args.count > index else { return fallback }
    guard let n = Int(args[index]), n > 0 else {
        FileHandle.standardError.write(Data("blendset-bench: \(name) must be a positive integer, found '\(args[index])'\n".utf8))
        exit(64)
    }
    return n
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

struct BenchError: Error, CustomStringConvertible { var description: String }

/// The float32 arrays of an `.npz` that `blendset export` wrote (a stored zip of .npy files).
func readNPZ(_ path: String) throws -> [String: (shape: [Int], values: [Float])] {
    let b = try readFileBytes(atPath: path)
    func u16(_ i: Int) -> Int { Int(b[i]) | Int(b[i + 1]) << 8 }
    func u32(_ i: Int) -> Int { u16(i) | u16(i + 2) << 16 }
    var out: [String: (shape: [Int], values: [Float])] = [:]
    var p = 0
    while p + 30 <= b.count, u32(p) == 0x0403_4b50 {
        guard u16(p + 8) == 0 else { throw BenchError(description: "\(path): member at byte \(p) is compressed; expected a blendset export") }
        let size = u32(p + 18), nameLength = u16(p + 26), start = p + 30 + nameLength + u16(p + 28)
        let name = String(decoding: b[(p + 30)..<(p + 30 + nameLength)], as: UTF8.self)
        let headerLength = u16(start + 8)
        let header = String(decoding: b[(start + 10)..<(start + 10 + headerLength)], as: UTF8.self)
        if header.contains("'<f4'"), let open = header.range(of: "'shape': ("), let close = header[open.upperBound...].firstIndex(of: ")") {
            let shape = header[open.upperBound..<close].split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
            let data = start + 10 + headerLength, count = (size - 10 - headerLength) / 4
            let values = (0..<count).map { i in Float(bitPattern: UInt32(b[data + 4 * i]) | UInt32(b[data + 4 * i + 1]) << 8 | UInt32(b[data + 4 * i + 2]) << 16 | UInt32(b[data + 4 * i + 3]) << 24) }
            out[String(name.dropLast(4))] = (shape, values)
        }
        p = start + size
    }
    return out
}

/// Native gradient-boosted trees on a `blendset export --format npz` file: trains on
/// X_train, early-stops on X_val, reports test accuracy, macro-F1 and the training seconds
/// (binning included, reading the file not), one line of JSON per seed.
func gbtBenchmark(_ args: [String]) throws {
    guard let path = args.first else { throw BenchError(description: "usage: blendset-bench gbt FILE.npz [KEY=VALUE ...]") }
    var o = BoostingOptions(rounds: 600, learningRate: 0.05, maxLeaves: 31, minSamplesLeaf: 20, l2: 1, patience: 10, threads: 2)
    var seeds: [UInt64] = [42]
    for kv in args.dropFirst() {
        let parts = kv.split(separator: "=", maxSplits: 1).map(String.init)
        guard parts.count == 2, let v = Double(parts[1]) ?? (parts[0] == "seeds" ? 0 : nil) else { throw BenchError(description: "expected KEY=VALUE, found '\(kv)'") }
        switch parts[0] {
        case "rounds": o.rounds = Int(v)
        case "lr": o.learningRate = v
        case "max_leaves": o.maxLeaves = Int(v)
        case "max_depth": o.maxDepth = Int(v)
        case "min_samples_leaf": o.minSamplesLeaf = Int(v)
        case "l2": o.l2 = v
        case "max_bins": o.maxBins = Int(v)
        case "feature_fraction": o.featureFraction = v
        case "subsample": o.subsample = v
        case "patience": o.patience = Int(v)
        case "threads": o.threads = Int(v)
        case "seeds": seeds = parts[1].split(separator: ",").compactMap { UInt64($0) }
        default: throw BenchError(description: "unknown option '\(parts[0])'")
        }
    }
    let d = try readNPZ(path)
    func split(_ name: String) throws -> (LabeledData, Int) {
        guard let x = d["X_" + name], let y = d["y_" + name], x.shape.count == 2, y.shape.count == 2 else {
            throw BenchError(description: "\(path) lacks X_\(name) or y_\(name) of two dimensions")
        }
        let k = y.shape[1]
        let labels = (0..<y.shape[0]).map { r in Int32((0..<k).max { y.values[r * k + $0] < y.values[r * k + $1] }!) }
        return (LabeledData(features: x.values, labels: labels), k)
    }
    let (train, classes) = try split("train"), (val, _) = try split("val"), (test, _) = try split("test")
    let width = d["X_train"]!.shape[1]
    for seed in seeds {
        o.seed = seed
        let r = try TreeBooster.train(train: train, validation: val, width: width, classes: classes, options: o)
        let e = Trainer.evaluate(probabilities: r.model.predict(features: test.features, threads: o.threads), labels: test.labels, classes: classes)
        print(String(format: "{\"model\": \"blendset gbt\", \"seed\": %llu, \"rows\": %d, \"features\": %d, \"rounds\": %d, \"best_round\": %d, \"seconds\": %.3f, \"test_accuracy\": %.6f, \"test_macro_f1\": %.6f}",
                     seed, train.count, width, r.history.count, r.bestRound, r.seconds, e.metrics.accuracy, e.metrics.macroF1))
        FileHandle.standardOutput.synchronizeFile()
    }
}

/// Latency of one image through FaceExpression on this thread, warm: decode (PNG/JPEG file →
/// pixels), then face landmarker → blendshapes → model. Prints the medians of `runs` runs.
func imageBenchmark(_ args: [String]) throws {
    guard args.count >= 2 else { throw BenchError(description: "usage: blendset-bench image MODEL.blsmodel IMAGE [face_landmarker.task] [runs]") }
    let faceModel = args.count > 2 ? args[2] : "../shared/models/face_landmarker.task"
    let runs = countArgument(args, at: 3, name: "RUNS", default: 50)
    let classifier = try ExpressionClassifier(modelPath: args[0], faceLandmarkerPath: faceModel)
    var label = "no face"
    for _ in 0..<5 { _ = try classifier.classify(image: FaceImage(contentsOfFile: args[1])) }  // warm up
    var decode: [Double] = [], classify: [Double] = [], total: [Double] = []
    for _ in 0..<runs {
        var image: FaceImage?
        let d = try seconds { image = try FaceImage(contentsOfFile: args[1]) }
        let c = try seconds { label = try classifier.classify(image: image!)?.label ?? "no face" }
        decode.append(d); classify.append(c); total.append(d + c)
    }
    let simd = ProcessInfo.processInfo.environment["BLENDSET_SIMD"] ?? "auto"
    print(String(format: "image %@, %d runs, one thread, BLENDSET_SIMD=%@: median total %.2f ms (decode %.2f ms, landmarker+blendshapes+model %.2f ms); min total %.2f ms; label %@",
                 args[1], runs, simd, median(total) * 1e3, median(decode) * 1e3, median(classify) * 1e3, total.min()! * 1e3, label))
}

/// `hash`: SHA-256 and CRC-32C over one buffer in memory, every way this build and CPU can
/// take (the cache hashes every artifact it writes and serves): GB/s, median of `runs`.
func hashBenchmark(megabytes: Int, runs: Int) {
    let bytes = (0..<(megabytes << 20)).map { UInt8(truncatingIfNeeded: ($0 &* 2_654_435_761) >> 13) }
    print("SHA extensions: \(SHA256.usesExtensions ? "used" : "not built in or not on this CPU"); CRC32 instruction: \(CRC32C.usesInstruction ? "used" : "not built in or not on this CPU")")
    bytes.withUnsafeBytes { buffer in
        func rate(_ name: String, _ body: () -> Void) {
            var times: [Double] = []
            for _ in 0..<runs { times.append(seconds(body)) }
            print(name.padding(toLength: 28, withPad: " ", startingAt: 0)
                  + String(format: "%6.2f GB/s  (%.1f ms for %d MB, median of %d)", Double(buffer.count) / median(times) / 1e9, median(times) * 1e3, megabytes, runs))
        }
        var state = SHA256.State(), crc: UInt32 = 0
        rate("SHA-256, portable") { SHA256.compressPortably(&state, buffer.baseAddress!, blocks: buffer.count / 64) }
        if SHA256.usesExtensions {
            rate("SHA-256, SHA extensions") { SHA256.compressWithExtensions(&state, buffer.baseAddress!, blocks: buffer.count / 64) }
        }
        // Per-image hashes: FER2013-sized messages, eight SIMD lanes at once or one by one.
        let images = buffer.count / 2304
        var digests = [UInt8](repeating: 0, count: images * 32)
        rate("SHA-256, 2304-byte, 8 lanes") {
            digests.withUnsafeMutableBytes { SHA256.digests(ofMessages: UnsafeRawBufferPointer(rebasing: buffer[0..<(images * 2304)]), length: 2304, into: $0) }
        }
        rate("SHA-256, 2304-byte, 1 by 1") {
            for i in 0..<images { crc ^= UInt32(SHA256.digest(UnsafeRawBufferPointer(rebasing: buffer[(i * 2304)..<((i + 1) * 2304)])).bytes[0]) }
        }
        rate("CRC-32C, slicing-by-8") { crc ^= CRC32C.checksumPortably(buffer) }
        if CRC32C.usesInstruction {
            rate("CRC-32C, CRC32 instruction") { crc ^= CRC32C.checksumWithInstruction(buffer) }
        }
        // Keeps the results alive, so nothing is optimised away.
        if state == SHA256.State() && crc == 1 { print("") }
    }
}

let args = Array(CommandLine.arguments.dropFirst())
switch args.first {
case "hash":
    hashBenchmark(megabytes: countArgument(args, at: 1, name: "MB", default: 64), runs: 9)
case "csv":
    try csvBenchmark(args.count > 1 ? args[1] : "../shared/data/fer2013.csv.zst", runs: 7)
case "gbt":
    do { try gbtBenchmark(Array(args.dropFirst())) } catch { print("blendset-bench: \(error)"); exit(65) }
case "models":
    do { try modelsBenchmark(task: args.count > 1 ? args[1] : "../shared/models/face_landmarker.task", runs: countArgument(args, at: 2, name: "RUNS", default: 50)) } catch { print("blendset-bench: \(error)"); exit(65) }
case "extract":
    let options = Dictionary(uniqueKeysWithValues: args.dropFirst().compactMap { a -> (String, String)? in
        let parts = a.split(separator: "=", maxSplits: 1).map(String.init)
        return parts.count == 2 ? (parts[0], parts[1]) : nil
    })
    do {
        try extractBenchmark(path: options["data"] ?? "../shared/data/fer2013.csv.zst", task: options["model"] ?? "../shared/models/face_landmarker.task",
                             limit: Int(options["images"] ?? "") ?? 21264, jobs: Int(options["jobs"] ?? "") ?? 2)
    } catch { print("blendset-bench: \(error)"); exit(65) }
case "image":
    do { try imageBenchmark(Array(args.dropFirst())) } catch { print("blendset-bench: \(error)"); exit(65) }
default:
    print("""
        usage: blendset-bench csv [FILE]
               blendset-bench hash [MB]                     (SHA-256 and CRC-32C, each way this build can take)
               blendset-bench gbt FILE.npz [rounds=600 lr=0.05 max_leaves=31 min_samples_leaf=20 l2=1 patience=10 threads=2 seeds=1,2,3 ...]
               blendset-bench image MODEL.blsmodel IMAGE [face_landmarker.task] [RUNS]   (decode → landmarker → model, one thread)
               blendset-bench models [TASK] [RUNS]          (each face model alone, by operator kind)
               blendset-bench extract [images=N] [jobs=J] [data=FILE] [model=TASK]   (the landmarker alone)
        BLENDSET_SIMD=avx2|avx512 forces a kernel path.
        """)
    exit(64)
}
