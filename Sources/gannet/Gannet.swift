import ArgumentParser
import Foundation

@main
struct Gannet: ParsableCommand {
    /// Runs the command line with the exit statuses of the contract: 0 success, 1 runtime
    /// failure, 2 bad usage (ArgumentParser's own code for that is 64).
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            if exitCode(for: error) == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Foundation.exit(2)
            }
            exit(withError: error)
        }
    }

    static let configuration = CommandConfiguration(
        commandName: "gannet",
        abstract: "Trains image-classification networks on ImageNet-scale data, with MXNet-compatible files.",
        discussion: """
            Example:
              gannet bench ops --preset short
              gannet export --network inception-bn --output model/inception-bn
            """,
        subcommands: [Synth.self, List.self, Pack.self, Verify.self, Inspect.self, Mean.self, Train.self, Score.self, Predict.self, Bench.self, Export.self, Plan.self])
}

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measures speed: operators against the machine's sgemm roof.",
        discussion: """
            Example:
              gannet bench ops --json
            """,
        subcommands: [BenchOps.self, BenchTrain.self, BenchMemory.self, BenchIO.self, BenchAllreduce.self])
}
