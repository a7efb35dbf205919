// swift-tools-version:6.0
import Foundation
import PackageDescription

// oneDNN: Debian's 2.6 by default; 3.2 from the project's own prefix `.deps/onednn` with
// GANNET_ONEDNN=3 (`make check-onednn3` installs it there and builds against it). The
// prefix's headers then come before /usr/include for every module that imports CDNNL, and
// the binary finds the library through its run path (no LD_LIBRARY_PATH).
let onednnPrefix = URL(fileURLWithPath: #filePath).deletingLastPathComponent().path + "/.deps/onednn"
let useOneDNN3 = ProcessInfo.processInfo.environment["GANNET_ONEDNN"] == "3"
let onednnHeaders: [SwiftSetting] = useOneDNN3 ? [.unsafeFlags(["-Xcc", "-I\(onednnPrefix)/include"])] : []
let onednnLibrary: [LinkerSetting] =
    useOneDNN3
    ? [.unsafeFlags(["-L\(onednnPrefix)/lib", "-Xlinker", "-rpath", "-Xlinker", "\(onednnPrefix)/lib"])] : []

let package = Package(
    name: "Gannet",
    products: [
        .executable(name: "gannet", targets: ["gannet"]),
        .library(name: "Operators", targets: ["Operators"]),
        .library(name: "TensorCore", targets: ["TensorCore"]),
        .library(name: "Graph", targets: ["Graph"]),
        .library(name: "Models", targets: ["Models"]),
        .library(name: "DataIO", targets: ["DataIO"]),
        .library(name: "Training", targets: ["Training"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0")
    ],
    targets: [
        .systemLibrary(name: "CDNNL", path: "Sources/CDNNL"),
        .target(
            name: "DNNL", dependencies: ["CDNNL"], swiftSettings: useOneDNN3 ? [.define("ONEDNN3")] : [],
            linkerSettings: onednnLibrary),
        .target(name: "TensorCore"),
        .target(name: "CHeapStatistics"),
        .target(name: "CJPEG", linkerSettings: [.linkedLibrary("jpeg")]),
        .target(name: "CPNG", linkerSettings: [.linkedLibrary("png16")]),
        .target(name: "DataIO", dependencies: ["CJPEG", "CPNG", "TensorCore"]),
        .systemLibrary(name: "CMPI", path: "Sources/CMPI", pkgConfig: "ompi-c"),
        .target(name: "Distributed", dependencies: ["CMPI"]),
        .target(name: "Operators", dependencies: ["DNNL", "TensorCore"]),
        .target(name: "Graph", dependencies: ["Operators", "TensorCore"]),
        .target(name: "Models", dependencies: ["Graph", "Operators"]),
        .target(name: "Training", dependencies: ["DataIO", "Distributed", "Graph", "Operators", "TensorCore"]),
        .target(name: "Benchmarks", dependencies: ["DNNL", "Operators", "TensorCore"]),
        .executableTarget(
            name: "gannet",
            dependencies: [
                "DNNL", "Operators", "TensorCore", "Graph", "Models", "Training", "DataIO", "Distributed", "Benchmarks",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .testTarget(name: "TensorCoreTests", dependencies: ["TensorCore"]),
        .testTarget(name: "DataIOTests", dependencies: ["DataIO", "TensorCore"], exclude: ["Fixtures"]),
        .testTarget(name: "OperatorsTests", dependencies: ["Operators", "TensorCore", "DNNL"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "Graph", "Models", "Operators", "TensorCore"]),
        .testTarget(
            name: "GraphTests",
            dependencies: ["DNNL", "Graph", "Models", "Operators", "TensorCore", "CHeapStatistics"],
            exclude: ["Fixtures"]),
    ],
    swiftLanguageModes: [.v6]
)

for target in package.targets where target.type != .system {
    target.swiftSettings = (target.swiftSettings ?? []) + onednnHeaders
}
