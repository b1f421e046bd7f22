import Foundation
import Formats
import Inference

/// `models`: each face model alone, single thread, on a fixed seeded input: median ms per
/// invoke, then ms per image by operator kind (after fusion), largest first.
func modelsBenchmark(task: String, runs: Int) throws {
    let models = try FaceModels(taskPath: task)
    print("kernel path: \(KernelPath.preferred.rawValue) (BLENDSET_SIMD=\(ProcessInfo.processInfo.environment["BLENDSET_SIMD"] ?? "unset"); detected \(KernelPath.detected.rawValue))")
    var total = 0.0
    for (name, model) in [("detector", models.detector), ("landmarks", models.landmarks), ("blendshapes", models.blendshapes)] {
        let interpreter = try Interpreter(model: model)
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        let count = interpreter.inputShape.reduce(1, *)
        let input: [Float] = (0..<count).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(Int(state >> 40) % 2001 - 1000) / 1000
        }
        try input.withUnsafeBufferPointer { buffer in
            for _ in 0..<3 { try interpreter.invoke(input: buffer) }  // warm
            var times: [Double] = []
            for _ in 0..<runs { times.append(try seconds { try interpreter.invoke(input: buffer) }) }
            var byKind: [String: Double] = [:], order: [String] = []
            for _ in 0..<runs {
                for (kind, s) in try interpreter.profile(input: buffer) {
                    if byKind[kind] == nil { order.append(kind) }
                    byKind[kind, default: 0] += s / Double(runs)
                }
            }
            let ms = median(times) * 1000
            total += ms
            print(String(format: "\n%@: median %.3f ms per image (min %.3f, max %.3f; %d runs), input %@, %.1f M multiply-adds", name, ms, times.min()! * 1000, times.max()! * 1000, runs, "\(interpreter.inputShape)", Double(interpreter.multiplyAdds) / 1e6))
            let profiled = byKind.values.reduce(0, +)
            for kind in order.sorted(by: { byKind[$0]! > byKind[$1]! }) {
                print("  " + kind.padding(toLength: 32, withPad: " ", startingAt: 0) + String(format: "%8.3f ms  %5.1f%%", byKind[kind]! * 1000, 100 * byKind[kind]! / profiled))
            }
        }
    }
    print(String(format: "\nthree models: %.3f ms per image per core", total))
}

/// `extract`: the whole landmarker (letterbox, warp, three models, NMS, projection) over the
/// first `limit` emotion-3/4/6 images of FER2013, on `jobs` threads: images/s and ms per
/// image per core. No memo, no files: the landmarker alone.
func extractBenchmark(path: String, task: String, limit: Int, jobs: Int) throws {
    let models = try FaceModels(taskPath: task)
    let csv = try FER2013CSV.read(path: path)
    let rows = (0..<csv.count).filter { [3, 4, 6].contains(csv.emotions[$0]) }.prefix(limit).map { $0 }
    let pixels = csv.pixels
    print("kernel path: \(KernelPath.preferred.rawValue); \(rows.count) images of \(path); \(jobs) thread(s)")
    // Warm: page in the models and code on one image per worker.
    _ = try LandmarkerPool.map(count: jobs, jobs: jobs, models: models) { landmarker, _ in
        try pixels.withUnsafeBufferPointer { p in try landmarker.detect(gray: UnsafeBufferPointer(rebasing: p[0..<2304]), width: 48, height: 48) }
    }
    let clock = ProcessInfo.processInfo.systemUptime
    let cpu0 = cpuSeconds()
    let found = try LandmarkerPool.map(count: rows.count, jobs: jobs, models: models) { landmarker, i -> Bool in
        let start = rows[i] * 2304
        let result = try pixels.withUnsafeBufferPointer { p in
            try landmarker.detect(gray: UnsafeBufferPointer(rebasing: p[start..<(start + 2304)]), width: 48, height: 48)
        }
        if case .face = result { return true }
        return false
    }
    let wall = ProcessInfo.processInfo.systemUptime - clock
    let cpu = cpuSeconds() - cpu0
    print(String(format: "%d images in %.2f s: %.1f images/s; %.2f ms per image per core (CPU %.1f s); faces %d (%.2f%%)",
                 rows.count, wall, Double(rows.count) / wall, 1000 * cpu / Double(rows.count), cpu,
                 found.filter { $0 }.count, 100 * Double(found.filter { $0 }.count) / Double(max(rows.count, 1))))
}

func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}
