// swift-tools-version:6.0
// libFuzzer targets for Gannet's parsers, built apart from the main package (libFuzzer
// supplies `main`): `make fuzz` builds this with -sanitize=fuzzer,address and runs each target.
import PackageDescription

let package = Package(
    name: "GannetFuzz",
    dependencies: [.package(name: "Gannet", path: "..")],
    targets: [
        .executableTarget(
            name: "GannetFuzz",
            dependencies: [
                .product(name: "DataIO", package: "Gannet"), .product(name: "Graph", package: "Gannet"),
                .product(name: "TensorCore", package: "Gannet"), .product(name: "Training", package: "Gannet"),
            ])
    ],
    swiftLanguageModes: [.v6]
)
