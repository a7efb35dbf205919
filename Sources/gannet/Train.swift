import ArgumentParser
import DNNL
import DataIO
import Distributed
import Foundation
import Graph
import Models
import TensorCore
import Training

/// `gannet train`: trains a network on image records, with MXNet checkpoints.
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a network on a .rec of images; checkpoints load in MXNet.",
        discussion: """
            Logs MXNet's lines (Epoch[0] Batch [20]  Speed: … samples/sec  Train-accuracy=…, \
            Epoch[0] Validation-accuracy=…), which MXNet's parse_log.py reads. After every \
            epoch, with --model-prefix: PREFIX-symbol.json and PREFIX-NNNN.params (MXNet's \
            load_checkpoint reads them), PREFIX-NNNN.state (momentum, counters, preprocessing: \
            --load-epoch N continues exactly), and PREFIX-metrics.csv (PREFIX-curves.svg with \
            --plot). --epochs is the total: --load-epoch 1 --epochs 2 trains one more epoch. \
            --tensorboard DIR also writes the metrics as TensorBoard event files \
            (tensorboard --logdir DIR).

            Under `mpirun -np N` every process trains on its share of each global batch \
            (--batch-size is the global batch and must divide by N), gradients are summed \
            over the processes, and rank 0 logs and saves.

            Example:
              gannet train --network inception-bn-small \\
                --train data/train.rec --val data/val.rec --num-classes 10 \\
                --data-shape 3,28,28 --batch-size 64 --epochs 8 --lr 0.05 \\
                --rand-crop --rand-mirror --model-prefix model/small \\
                --tensorboard runs/small
            """)

    @OptionGroup var network: NetworkOptions

    @Option(help: "Training records (.rec; its .idx beside it enables a global shuffle).")
    var train: String

    @Option(help: "Validation records, scored after every epoch (every image once).")
    var val: String?

    @Option(parsing: .unconditional, help: "Number of classes (labels 0 … K-1).")
    var numClasses: Int

    @Option(
        parsing: .unconditional, help: "Batch size; under mpirun the global batch, split evenly over the processes.")
    var batchSize = 32

    @Option(parsing: .unconditional, help: "Total number of epochs.")
    var epochs = 1

    @OptionGroup var optimizer: OptimizerOptions

    @OptionGroup var preprocessing: PreprocessingOptions

    @Flag(help: "Random crop position (else the centre).")
    var randCrop = false

    @Flag(help: "Random horizontal flips.")
    var randMirror = false

    @OptionGroup var precision: PrecisionOptions

    @Option(help: "Checkpoint prefix: writes PREFIX-symbol.json, PREFIX-NNNN.params, PREFIX-NNNN.state.")
    var modelPrefix: String?

    @Option(parsing: .unconditional, help: "Resume from PREFIX-NNNN (epochs completed).")
    var loadEpoch: Int?

    @Option(parsing: .unconditional, help: "Random seed (initialisation, shuffling, augmentation, dropout).")
    var seed: UInt64 = 0

    @OptionGroup var threadOptions: ThreadOptions

    @Option(parsing: .unconditional, help: "k of the top-k accuracy.")
    var topK = 5

    @Option(parsing: .unconditional, help: "Log a line every N batches.")
    var logInterval = 20

    @Option(help: "A record that does not decode: fail, or skip and report.")
    var badRecords: ImageIteratorOptions.BadRecordPolicy = .fail

    @Flag(help: "Recompute BatchNorm/activation outputs in backward to fit larger batches.")
    var mirror = false

    @Option(
        parsing: .unconditional,
        help:
            "Under mpirun: gradients are summed over the ranks in buckets of about this many MiB, each started as soon as backward has produced it."
    )
    var bucketMib: Double = Double(GradientExchange.defaultBucketBytes) / 1_048_576

    @Flag(help: "Draw PREFIX-curves.svg (accuracy and loss per epoch).")
    var plot = false

    @Option(
        help:
            "Write TensorBoard event files into this folder (created if needed; rank 0 only): the log lines' metrics, learning rate and img/s at the step of the updates done, so resumed runs continue the curves."
    )
    var tensorboard: String?

    @OptionGroup var report: JSONOutput

    mutating func validate() throws {
        if numClasses < 1 { throw ValidationError("--num-classes must be at least 1") }
        if batchSize < 1 { throw ValidationError("--batch-size must be at least 1") }
        if epochs < 1 { throw ValidationError("--epochs must be at least 1") }
        if topK < 1 { throw ValidationError("--top-k must be at least 1") }
        if logInterval < 1 { throw ValidationError("--log-interval must be at least 1") }
        if loadEpoch != nil && modelPrefix == nil { throw ValidationError("--load-epoch needs --model-prefix") }
        if let loadEpoch, loadEpoch < 0 { throw ValidationError("--load-epoch must not be negative") }
        if let modelPrefix { try checkWritablePrefix(modelPrefix, flag: "--model-prefix") }
        if let loadEpoch, loadEpoch >= epochs {
            throw ValidationError(
                "--load-epoch \(loadEpoch) has already done the \(epochs) epochs of --epochs (the total)")
        }
    }

    @OptionGroup var imageLimit: ImageLimitOptions

    func run() throws {
        imageLimit.apply()
        let communicator = try jobCommunicator()
        guard batchSize % communicator.size == 0 else {
            throw ValidationError(
                "--batch-size \(batchSize) is the global batch and must divide by the \(communicator.size) processes")
        }
        let (symbol, dataShape) = try network.load(classCount: numClasses)
        if communicator.rank == 0 {
            log("oneDNN \(Library.version), ISA \(Library.instructionSet), \(precision.dtype.rawValue)")
        }
        let result = try runtime {
            let loop = try FitLoop(
                symbol: symbol, options: fitOptions(dataShape: dataShape), communicator: communicator,
                log: { log($0) })
            let progress = TrainingProgress(isShown: communicator.rank == 0)
            return try loop.run(events: progress.handle)
        }
        if report.json && communicator.rank == 0 {
            try printReport(TrainReport(result: result, dtype: precision.dtype.rawValue, isa: Library.instructionSet))
        }
        communicator.barrier()
    }

    /// The library's options from the command line.
    private func fitOptions(dataShape: [Int]) -> FitOptions {
        var options = FitOptions(
            networkName: network.network, trainPath: train, classCount: numClasses, batchSize: batchSize,
            epochs: epochs,
            learningRate: optimizer.lr,
            preprocessing: preprocessing.overrides(dataShape: dataShape).resolved(over: nil))
        optimizer.apply(to: &options)
        options.validationPath = val
        options.randomCrop = randCrop
        options.randomMirror = randMirror
        options.modelPrefix = modelPrefix
        options.loadEpoch = loadEpoch
        options.seed = seed
        options.threadCount = threadOptions.threads
        options.topK = topK
        options.logInterval = logInterval
        options.badRecords = badRecords
        options.mirror = mirror
        options.bucketBytes = Int(bucketMib * 1_048_576)
        options.plot = plot
        options.tensorBoardDirectory = tensorboard
        options.dataType = precision.dtype
        return options
    }
}
