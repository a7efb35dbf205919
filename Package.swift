// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Gannet",
    products: [
        .executable(name: "gannet", targets: ["gannet"]),
        .library(name: "Operators", targets: ["Operators"]),
        .library(name: "TensorCore", targets: ["TensorCore"]),
        .library(name: "Graph", targets: ["Graph"]),
        .library(name: "Models", targets: ["Models"]),
        .library(name: "DataIO", targets: ["DataIO"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0")
    ],
    targets: [
        .systemLibrary(name: "CDNNL", path: "Sources/CDNNL"),
        .target(name: "DNNL", dependencies: ["CDNNL"]),
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
