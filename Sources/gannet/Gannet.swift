import ArgumentParser

@main
struct Gannet: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gannet",
        abstract: "Trains image-classification networks on ImageNet-scale data, with MXNet-compatible files.",
        discussion: """
            Example:
              gannet bench ops --preset short
            """,
        subcommands: [Bench.self])
}

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measures speed: operators against the machine's sgemm roof.",
        discussion: """
            Example:
              gannet bench ops --json
            """,
        subcommands: [BenchOps.self])
}
