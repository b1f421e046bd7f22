// swift-tools-version: 6.0
import Foundation
import PackageDescription

// Numeric kernels are built for the machine that compiles them: without an FMA
// target CPU, Swift SIMD code falls back to libm calls and runs ~80x slower.
// See README ("Performance and CPU targets").
// BLENDSET_TARGET_CPU overrides it, e.g. `znver3` (AMD Zen 3: AVX2 + FMA, no AVX-512) to build and
// measure the AVX2 path faithfully on an AVX-512 machine (BENCHMARKS.md, issue 16).
let targetCPU = Context.environment["BLENDSET_TARGET_CPU"].flatMap { $0.isEmpty ? nil : $0 } ?? "native"
let numericSettings: [SwiftSetting] = [
    .unsafeFlags(["-target-cpu", targetCPU]),
]

// SHA-256 (every content id and cache check) uses the x86 SHA extensions, and CRC-32C (every
// table block) the SSE4.2 CRC32 instruction, when the target CPU has them. Their intrinsics do
// not compile for a CPU without them, so they are built in only then (the code still checks
// the running CPU). BLENDSET_SHA_EXTENSIONS=0 leaves them out; =1 forces them in, for a named
// target CPU missing from the list below (one without SHA then fails to compile).
func targetCPUHas(cpuinfoFlag: String, namedCPU: (String) -> Bool) -> Bool {
    #if arch(x86_64)
    if targetCPU == "native" {
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let flags = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return false }
        return flags.split(separator: " ").contains(Substring(cpuinfoFlag))
    }
    return namedCPU(targetCPU)
    #else
    return false
    #endif
}
let targetHasSHAExtensions: Bool = {
    if let forced = Context.environment["BLENDSET_SHA_EXTENSIONS"], !forced.isEmpty { return forced == "1" }
    // LLVM's CPUs with SHA: every Zen, and Intel's from Goldmont and Ice Lake on.
    let withSHA = ["znver", "goldmont", "tremont", "gracemont", "icelake", "tigerlake", "rocketlake", "alderlake",
                   "raptorlake", "meteorlake", "arrowlake", "lunarlake", "pantherlake", "sapphirerapids",
                   "emeraldrapids", "graniterapids", "diamondrapids", "sierraforest", "grandridge", "clearwaterforest"]
    return targetCPUHas(cpuinfoFlag: "sha_ni") { cpu in withSHA.contains { cpu.hasPrefix($0) } }
}()
// Every x86-64 CPU LLVM names has SSE4.2 except the baseline and the oldest ones.
let targetHasSSE42 = targetCPUHas(cpuinfoFlag: "sse4_2") { cpu in
    let without = ["generic", "core2", "penryn", "nocona", "prescott", "pentium", "bonnell", "atom", "k8", "opteron",
                   "athlon", "amdfam10", "barcelona", "btver1"]
    return cpu.hasPrefix("x86-64-v") || (cpu != "x86-64" && !without.contains { cpu.hasPrefix($0) })
}
let formatsSettings = numericSettings + (targetHasSHAExtensions ? [.define("BLENDSET_SHA_EXTENSIONS")] : [])
    + (targetHasSSE42 ? [.define("BLENDSET_CRC32_INSTRUCTION")] : [])

let package = Package(
    name: "blendset",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "blendset", targets: ["blendset"]),
        // For applications: face image → expression label (see README, "The FaceExpression library").
        .library(name: "FaceExpression", targets: ["FaceExpression"]),
    ],
    targets: [
        .systemLibrary(name: "CZstd", path: "Sources/CZstd", pkgConfig: "libzstd",
                       providers: [.apt(["libzstd-dev"]), .brew(["zstd"])]),
        .systemLibrary(name: "CPNG", path: "Sources/CPNG", pkgConfig: "libpng",
                       providers: [.apt(["libpng-dev"]), .brew(["libpng"])]),
        .systemLibrary(name: "CTurboJPEG", path: "Sources/CTurboJPEG", pkgConfig: "libturbojpeg",
                       providers: [.apt(["libturbojpeg0-dev"]), .brew(["jpeg-turbo"])]),
        // Low-level utilities every module may use: the seeded generator, CRC-32, whole-file
        // reads, the parallel loop. Depends on nothing of ours.
        .target(name: "Basics"),
        .target(name: "Formats", dependencies: ["Basics", "CZstd", "CPNG", "CTurboJPEG"], swiftSettings: formatsSettings),
        .target(name: "Pipeline", dependencies: ["Basics", "Formats"]),
        .target(name: "Inference", dependencies: ["Basics"], swiftSettings: numericSettings),
        .target(name: "Learning", dependencies: ["Basics", "Formats"], swiftSettings: numericSettings),
        .target(name: "Stages", dependencies: ["Basics", "Pipeline", "Formats", "Inference", "Learning"]),
        // Image → blendshapes → trained model, for other Swift programs; the core lives in Stages.
        .target(name: "FaceExpression", dependencies: ["Formats", "Inference", "Learning", "Stages"]),
        .executableTarget(name: "blendset", dependencies: ["Basics", "Stages", "Pipeline", "Formats", "Inference", "Learning"]),
        // Release-mode benchmarks whose figures go in BENCHMARKS.md (never timed in tests).
        .executableTarget(name: "blendset-bench", dependencies: ["Formats", "Inference", "Learning", "FaceExpression"], swiftSettings: numericSettings),
        .testTarget(name: "BasicsTests", dependencies: ["Basics"]),
        .testTarget(name: "FormatsTests", dependencies: ["Basics", "Formats"]),
        .testTarget(name: "PipelineTests", dependencies: ["Pipeline", "Formats"]),
        .testTarget(name: "InferenceTests", dependencies: ["Basics", "Inference", "Formats"]),
        .testTarget(name: "StagesTests", dependencies: ["Basics", "Stages", "Pipeline", "Formats", "Learning"]),
        .testTarget(name: "CLITests", dependencies: ["Formats"]),
        .testTarget(name: "LearningTests", dependencies: ["Basics", "Learning"]),
        .testTarget(name: "FaceExpressionTests", dependencies: ["FaceExpression", "Formats", "Stages", "Learning", "Inference"]),
    ],
    swiftLanguageModes: [.v6]
)
