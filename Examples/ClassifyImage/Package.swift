// swift-tools-version: 6.0
import PackageDescription

// Uses blendset by path: blendset builds its kernels with `-target-cpu native`
// (an unsafeFlags setting), which SwiftPM accepts from a local path dependency
// but refuses from a versioned (URL) one. See blendset's README.
let package = Package(
    name: "ClassifyImage",
    platforms: [.macOS(.v14)],
    dependencies: [.package(name: "blendset", path: "../..")],
    targets: [
        .executableTarget(name: "ClassifyImage", dependencies: [.product(name: "FaceExpression", package: "blendset")]),
    ]
)
