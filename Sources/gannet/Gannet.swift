import ArgumentParser
import DNNL
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
              gannet synth photos --classes 10 --images-per-class 100 --size 40
              gannet list data/photos photos --recursive --train-ratio 0.9
              gannet pack data/photos_train photos
              gannet train --network inception-bn-small --train data/photos_train.rec \\
                --num-classes 10 --data-shape 3,28,28 --model-prefix model/small
            """,
        version: "gannet \(gannetVersion) (oneDNN \(Library.version), ISA \(Library.instructionSet))",
        subcommands: [
            Synth.self, List.self, Pack.self, Verify.self, Inspect.self, Mean.self, Train.self, Score.self,
            Predict.self, Serve.self, Bench.self, Export.self, Plan.self,
        ])
}

/// The release of this build.
let gannetVersion = "0.12.0"

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure speed: operators, training, input pipeline, memory and communication.",
        discussion: """
            Example:
              gannet bench ops --json
            """,
        subcommands: [BenchOps.self, BenchTrain.self, BenchMemory.self, BenchIO.self, BenchAllreduce.self])
}
