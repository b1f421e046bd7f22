// swift-tools-version: 6.0
import PackageDescription

// Numeric kernels are built for the machine that compiles them: without an FMA
// target CPU, Swift SIMD code falls back to libm calls and runs ~80x slower.
// See README ("Performance and CPU targets").
let numericSettings: [SwiftSetting] = [
    .unsafeFlags(["-target-cpu", "native"]),
]

let package = Package(
    name: "blendset",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "blendset", targets: ["blendset"]),
    ],
    targets: [
        .systemLibrary(name: "CZstd", path: "Sources/CZstd", pkgConfig: "libzstd",
                       providers: [.apt(["libzstd-dev"]), .brew(["zstd"])]),
        .systemLibrary(name: "CPNG", path: "Sources/CPNG", pkgConfig: "libpng",
                       providers: [.apt(["libpng-dev"]), .brew(["libpng"])]),
        .target(name: "Formats", dependencies: ["CZstd", "CPNG"], swiftSettings: numericSettings),
        .target(name: "Pipeline", dependencies: ["Formats"]),
        .target(name: "Inference", swiftSettings: numericSettings),
        .target(name: "Learning", dependencies: ["Formats"], swiftSettings: numericSettings),
        .target(name: "Stages", dependencies: ["Pipeline", "Formats", "Inference", "Learning"]),
        .executableTarget(name: "blendset", dependencies: ["Stages", "Pipeline", "Formats", "Inference", "Learning"]),
        // Release-mode benchmarks whose figures go in BENCHMARKS.md (never timed in tests).
        .executableTarget(name: "blendset-bench", dependencies: ["Formats", "Inference"], swiftSettings: numericSettings),
        .testTarget(name: "FormatsTests", dependencies: ["Formats"]),
        .testTarget(name: "PipelineTests", dependencies: ["Pipeline", "Formats"]),
        .testTarget(name: "InferenceTests", dependencies: ["Inference"]),
        .testTarget(name: "StagesTests", dependencies: ["Stages", "Pipeline", "Formats", "Learning"]),
        .testTarget(name: "CLITests", dependencies: ["Formats"]),
        .testTarget(name: "LearningTests", dependencies: ["Learning"]),
    ],
    swiftLanguageModes: [.v6]
)
