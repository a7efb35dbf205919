import ArgumentParser
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
            Logs MXNet's lines (Epoch[0] Batch [20]  Speed: … samples/sec  Train-accuracy=…,
            Epoch[0] Validation-accuracy=…), which MXNet's parse_log.py reads. After every
            epoch, with --model-prefix: PREFIX-symbol.json and PREFIX-NNNN.params (MXNet's
            load_checkpoint reads them), PREFIX-NNNN.state (momentum, counters, preprocessing:
            --load-epoch N continues exactly), and PREFIX-metrics.csv (PREFIX-curves.svg with
            --plot). --epochs is the total: --load-epoch 1 --epochs 2 trains one more epoch.

            Under `mpirun -np N` every process trains on its share of each global batch
            (--batch-size is the global batch and must divide by N), gradients are summed
            over the processes, and rank 0 logs and saves.

            Example:
              gannet train --network inception-bn-small --train data/train.rec --val data/val.rec \\
                --num-classes 10 --data-shape 3,28,28 --batch-size 64 --epochs 8 --lr 0.05 \\
                --rand-crop --rand-mirror --model-prefix model/small
            """)

    @Option(help: "alexnet, inception-bn, inception-bn-full, inception-bn-small, or an MXNet symbol JSON file.")
    var network: String

    @Option(help: "Training records (.rec; its .idx beside it enables a global shuffle).")
    var train: String

    @Option(help: "Validation records, scored after every epoch (every image once).")
    var val: String?

    @Option(help: "Number of classes (labels 0 … K-1).")
    var numClasses: Int

    @Option(help: "Input shape C,H,W (default: the network's).")
    var dataShape: DataShape?

    @Option(help: "Batch size.")
    var batchSize = 32

    @Option(help: "Total number of epochs.")
    var epochs = 1

    @Option(help: "Learning rate.")
    var lr: Float = 0.01

    @Option(help: "Momentum.")
    var momentum: Float = 0.9

    @Option(help: "Weight decay (on *_weight and *_gamma, as MXNet 1.x).")
    var wd: Float = 0.0001

    @Option(help: "Multiply the learning rate by this at each of --lr-step-epochs.")
    var lrFactor: Float = 0.1

    @Option(help: "Epochs at which the learning rate steps, e.g. 30,60.")
    var lrStepEpochs: String?

    @Option(help: "Linear learning-rate warm-up over this many epochs.")
    var warmupEpochs = 0

    @Option(help: "Clip each gradient value to ±this (after rescaling by 1/batch).")
    var clipGradient: Float?

    @Option(help: "Weight initialisation: xavier (MXNet's Xavier default: uniform, avg, magnitude 3), xavier-gaussian-in (N(0, √(2/fan_in)), MXNet's image-classification examples), uniform (U(±0.01), MXNet's Module default) or normal (N(0, 0.01)).")
    var initializer: InitializerName = .xavier

    @Option(help: "Per-channel RGB mean subtracted from the images, e.g. 123.68,116.78,103.94.")
    var meanRgb: String?

    @Option(help: "Mean image file (MXNet's mean.bin, e.g. from `gannet mean`).")
    var meanImg: String?

    @Option(help: "Multiply the images by this after subtracting the mean.")
    var scale: Float = 1

    @Flag(help: "Random crop position (else the centre).")
    var randCrop = false

    @Flag(help: "Random horizontal flips.")
    var randMirror = false

    @Option(help: "Resize the shorter side to this before cropping.")
    var resize: Int?

    @Option(help: "Compute type (float32).")
    var dtype = "float32"

    @Option(help: "Checkpoint prefix: writes PREFIX-symbol.json, PREFIX-NNNN.params, PREFIX-NNNN.state.")
    var modelPrefix: String?

    @Option(help: "Resume from PREFIX-NNNN (epochs completed).")
    var loadEpoch: Int?

    @Option(help: "Random seed (initialisation, shuffling, augmentation, dropout).")
    var seed: UInt64 = 0

    @Option(help: "Decode threads (default: all cores).")
    var threads = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "k of the top-k accuracy.")
    var topK = 5

    @Option(help: "Log a line every N batches.")
    var logInterval = 20

    @Option(help: "A record that does not decode: fail, or skip and report.")
    var badRecords: ImageIteratorOptions.BadRecordPolicy = .fail

    @Flag(help: "Recompute BatchNorm/activation outputs in backward to fit larger batches.")
    var mirror = false

    @Option(help: "Under mpirun: gradients are summed over the ranks in buckets of about this many MiB, each started as soon as backward has produced it.")
    var bucketMib: Double = Double(GradientExchange.defaultBucketBytes) / 1_048_576

    @Flag(help: "Draw PREFIX-curves.svg (accuracy and loss per epoch).")
    var plot = false

    @Flag(help: "Print one JSON object on standard output at the end.")
    var json = false

    enum InitializerName: String, ExpressibleByArgument {
        case xavier, uniform, normal
        case xavierGaussianIn = "xavier-gaussian-in"
    }

    mutating func validate() throws {
        if numClasses < 1 { throw ValidationError("--num-classes must be at least 1") }
        if batchSize < 1 { throw ValidationError("--batch-size must be at least 1") }
        if epochs < 1 { throw ValidationError("--epochs must be at least 1") }
        if lr <= 0 { throw ValidationError("--lr must be positive") }
        if topK < 1 { throw ValidationError("--top-k must be at least 1") }
        if logInterval < 1 { throw ValidationError("--log-interval must be at least 1") }
        if dtype != "float32" {
            throw ValidationError("--dtype \(dtype): training computes in float32 for now")
        }
        if meanRgb != nil && meanImg != nil { throw ValidationError("give --mean-rgb or --mean-img, not both") }
        if let meanRgb, parseFloats(meanRgb, count: 3) == nil { throw ValidationError("--mean-rgb must be three numbers R,G,B") }
        if loadEpoch != nil && modelPrefix == nil { throw ValidationError("--load-epoch needs --model-prefix") }
        if let loadEpoch, loadEpoch >= epochs {
            throw ValidationError("--load-epoch \(loadEpoch) has already done the \(epochs) epochs of --epochs (the total)")
        }
        if let lrStepEpochs, parseIntegers(lrStepEpochs) == nil { throw ValidationError("--lr-step-epochs must be integers, e.g. 30,60") }
    }

    func run() throws {
        let communicator = try jobCommunicator()
        guard batchSize % communicator.size == 0 else {
            throw ValidationError("--batch-size \(batchSize) is the global batch and must divide by the \(communicator.size) processes")
        }
        let (symbol, defaultShape) = try loadNetwork(network, classCount: numClasses)
        var options = FitOptions(
            networkName: network, trainPath: train, classCount: numClasses, batchSize: batchSize, epochs: epochs,
            learningRate: lr, preprocessing: TrainingState.Preprocessing(
                dataShape: dataShape?.dimensions ?? defaultShape, resize: resize,
                meanRGB: meanRgb.flatMap { parseFloats($0, count: 3) }, meanImage: meanImg, scale: scale))
        options.validationPath = val
        options.momentum = momentum
        options.weightDecay = wd
        options.learningRateFactor = lrFactor
        options.learningRateStepEpochs = lrStepEpochs.flatMap(parseIntegers) ?? []
        options.warmupEpochs = warmupEpochs
        options.clipGradient = clipGradient
        options.initializer = initializer.scheme
        options.randomCrop = randCrop
        options.randomMirror = randMirror
        options.modelPrefix = modelPrefix
        options.loadEpoch = loadEpoch
        options.seed = seed
        options.threadCount = threads
        options.topK = topK
        options.logInterval = logInterval
        options.badRecords = badRecords
        options.mirror = mirror
        options.bucketBytes = Int(bucketMib * 1_048_576)
        options.plot = plot
        let result = try runtime {
            let loop = try FitLoop(symbol: symbol, options: options, communicator: communicator, log: { log($0) })
            let progress = TrainingProgress(isShown: communicator.rank == 0)
            return try loop.run(events: progress.handle)
        }
        if json && communicator.rank == 0 { try printReport(result) }
        communicator.barrier()
    }
}

extension Train.InitializerName {
    var scheme: Initializer {
        switch self {
        case .xavier: .xavier
        case .uniform: .uniform(scale: 0.01)
        case .normal: .normal(standardDeviation: 0.01)
        case .xavierGaussianIn: .xavierGaussianIn
        }
    }
}

/// One progress bar per epoch, cleared for each log line.
final class TrainingProgress {
    private var bar: ProgressBar?
    private let isShown: Bool

    init(isShown: Bool) { self.isShown = isShown }

    func handle(_ event: FitEvent) {
        switch event {
        case .epochStarted(let epoch, let batchCount):
            bar = ProgressBar(total: batchCount, label: "epoch \(epoch)", isShown: isShown)
        case .batchDone(let progress):
            bar?.update(progress.batch, unit: "batches")
            bar?.interrupt()
        case .epochFinished:
            bar?.finish()
            bar = nil
        }
    }
}

