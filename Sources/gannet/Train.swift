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
        let rank = communicator.rank, ranks = communicator.size
        guard batchSize % ranks == 0 else {
            throw ValidationError("--batch-size \(batchSize) is the global batch and must divide by the \(ranks) processes")
        }
        let localBatch = batchSize / ranks
        // Only rank 0 speaks.
        let isRankZero = rank == 0
        let log: @Sendable (String) -> Void = { text in if isRankZero { logToStandardError(text) } }
        let (symbol, defaultShape) = try loadNetwork(network, classCount: numClasses)
        let shape = dataShape?.dimensions ?? defaultShape
        let executor: Executor
        do {
            executor = try Executor(symbol, inputShapes: Graph(symbol).inputShapes(data: Shape([localBatch] + shape)), isTraining: true, mirror: mirror)
        } catch {
            throw RuntimeFailure("\(network): \(error)")
        }
        let classes = executor.outputs[0].shape.dimensions.last ?? 0
        guard classes == numClasses else {
            throw RuntimeFailure("\(network): the network has \(classes) outputs but --num-classes is \(numClasses)")
        }
        try checkMemory(executor, shape: shape, log: log)
        if ranks > 1 { log("\(ranks) processes, \(localBatch) images each per batch of \(batchSize)") }
        executor.context.randomSeed = seed

        // Parameters: fresh, or from the checkpoint to resume.
        let optimizer = SGD(executor: executor, learningRate: lr, momentum: momentum, weightDecay: wd,
                            rescale: 1 / Float(batchSize), clip: clipGradient)  // the global batch
        var updateCount = 0
        let beginEpoch = loadEpoch ?? 0
        if let loadEpoch, let modelPrefix {
            let parameters = Checkpoint.parametersPath(modelPrefix, epoch: loadEpoch)
            do {
                try Checkpoint.loadParameters(parameters, into: executor)
                let statePath = Checkpoint.statePath(modelPrefix, epoch: loadEpoch)
                if FileManager.default.fileExists(atPath: statePath) {
                    updateCount = try Checkpoint.loadState(statePath, into: optimizer).updateCount
                } else {
                    log("warning: \(statePath) is missing: momentum starts from zero (the run will not match an uninterrupted one)")
                    updateCount = 0
                }
            } catch {
                throw RuntimeFailure("\(error)")
            }
            log("resuming from \(parameters) after \(loadEpoch) epochs, \(updateCount) updates")
        } else {
            let scheme: Initializer = switch initializer {
            case .xavier: .xavier
            case .uniform: .uniform(scale: 0.01)
            case .normal: .normal(standardDeviation: 0.01)
            case .xavierGaussianIn: .xavierGaussianIn
            }
            scheme.initialise(executor, seed: seed)
        }

        let preprocessing = TrainingState.Preprocessing(
            dataShape: shape, resize: resize, meanRGB: meanRgb.flatMap { parseFloats($0, count: 3) },
            meanImage: meanImg, scale: scale)
        let trainIterator = try makeIterator(train, preprocessing: preprocessing, isTraining: true, rank: rank, ranks: ranks, log: log)
        let validationIterator = try val.map {
            try makeIterator($0, preprocessing: preprocessing, isTraining: false, rank: rank, ranks: ranks, log: log)
        }
        // Indexed reading gives every process the same number of batches; byte ranges may
        // differ by one, and all processes stop at the smallest count.
        let stepsPerEpoch = communicator.allReduceMinimum(trainIterator.batchesPerEpoch)
        let schedule = LearningRateSchedule(base: lr, factor: lrFactor, stepEpochs: lrStepEpochs.flatMap(parseIntegers) ?? [],
                                            warmupEpochs: warmupEpochs)
        let trainer: Trainer
        do {
            trainer = try Trainer(executor: executor, optimizer: optimizer, schedule: schedule, topK: topK, updateCount: updateCount,
                                  communicator: communicator, bucketBytes: Int(bucketMib * 1_048_576))
        } catch {
            throw RuntimeFailure("\(network): \(error)")
        }
        trainer.broadcastParameters()
        log("\(network): \(trainIterator.recordCount) training images, batch \(batchSize), \(stepsPerEpoch) batches per epoch, "
            + "\(epochs - beginEpoch) epochs from epoch \(beginEpoch)")

        var reports: [[String: Any]] = []
        var rows = modelPrefix.map { MetricsTable.read(prefix: $0, before: beginEpoch) } ?? []
        var lastCheckpoint: String?
        for epoch in beginEpoch..<epochs {
            let progress = ProgressBar(total: stepsPerEpoch, label: "epoch \(epoch)", isShown: rank == 0)
            let result: (metrics: ClassificationMetrics, samplesPerSecond: Double, seconds: Double)
            do {
                result = try trainer.trainEpoch(trainIterator, epoch: epoch, reportInterval: logInterval,
                                                maximumBatches: stepsPerEpoch) { report in
                    progress.update(report.batch, unit: "batches")
                    progress.interrupt()
                    log(String(format: "Epoch[%d] Batch [%d]\tSpeed: %.2f samples/sec\tTrain-accuracy=%f\tTrain-top_k_accuracy_%d=%f\tTrain-cross-entropy=%f",
                               report.epoch, report.batch, report.samplesPerSecond, report.interval.accuracy, topK,
                               report.interval.topKAccuracy, report.interval.crossEntropy))
                }
            } catch {
                progress.finish()
                throw RuntimeFailure("\(error)")
            }
            progress.finish()
            let train = result.metrics
            trainer.averageAuxiliaryStates()
            log(String(format: "Epoch[%d] Train-accuracy=%f", epoch, train.accuracy))
            log(String(format: "Epoch[%d] Time cost=%.3f", epoch, result.seconds))
            var row = MetricsTable.Row(epoch: epoch, trainAccuracy: train.accuracy, trainTopK: train.topKAccuracy,
                                       trainCrossEntropy: train.crossEntropy, samplesPerSecond: result.samplesPerSecond,
                                       seconds: result.seconds, learningRate: Double(optimizer.learningRate))
            var report: [String: Any] = ["epoch": epoch, "train-accuracy": train.accuracy, "train-top-k": train.topKAccuracy,
                                         "train-cross-entropy": train.crossEntropy, "samples-per-second": result.samplesPerSecond]
            if let validationIterator {
                let validation: ClassificationMetrics
                do { validation = try trainer.evaluate(validationIterator) } catch { throw RuntimeFailure("\(error)") }
                log(String(format: "Epoch[%d] Validation-accuracy=%f", epoch, validation.accuracy))
                log(String(format: "Epoch[%d] Validation-top_k_accuracy_%d=%f", epoch, topK, validation.topKAccuracy))
                log(String(format: "Epoch[%d] Validation-cross-entropy=%f", epoch, validation.crossEntropy))
                report["validation-accuracy"] = validation.accuracy
                report["validation-top-k"] = validation.topKAccuracy
                report["validation-cross-entropy"] = validation.crossEntropy
                row.validationAccuracy = validation.accuracy
                row.validationTopK = validation.topKAccuracy
                row.validationCrossEntropy = validation.crossEntropy
            }
            reports.append(report)
            rows.append(row)
            if let modelPrefix, rank == 0 {
                let state = TrainingState(epoch: epoch + 1, updateCount: trainer.updateCount, learningRate: optimizer.learningRate,
                                          seed: seed, batchSize: batchSize, classCount: numClasses, preprocessing: preprocessing)
                do {
                    try Checkpoint.save(prefix: modelPrefix, epoch: epoch + 1, symbol: symbol, executor: executor,
                                        optimizer: optimizer, state: state)
                    try MetricsTable.write(rows, prefix: modelPrefix)
                    if plot { try MetricsTable.plot(rows, prefix: modelPrefix) }
                } catch {
                    throw RuntimeFailure("\(error)")
                }
                lastCheckpoint = Checkpoint.parametersPath(modelPrefix, epoch: epoch + 1)
                log("Saved checkpoint to \"\(lastCheckpoint!)\"")
            }
        }
        let skipped = trainIterator.skippedRecords
        if !skipped.isEmpty { log("skipped \(skipped.count) bad records in the last epoch: \(skipped.map(\.description).joined(separator: "; "))") }
        if json && rank == 0 {
            printJSON(["epochs": reports, "checkpoint": lastCheckpoint.map { $0 as Any } ?? NSNull()])
        }
        communicator.barrier()
    }

    private func makeIterator(_ path: String, preprocessing: TrainingState.Preprocessing, isTraining: Bool,
                              rank: Int, ranks: Int, log: @escaping @Sendable (String) -> Void) throws -> ImageRecordIterator {
        var options = ImageIteratorOptions(dataShape: preprocessing.dataShape, batchSize: batchSize / ranks)
        options.partCount = ranks
        options.partIndex = rank
        options.resize = preprocessing.resize
        options.scale = preprocessing.scale
        options.threadCount = threads
        options.seed = seed
        options.badRecords = badRecords
        if isTraining {
            options.randomCrop = randCrop
            options.randomMirror = randMirror
            options.shuffle = true
        }
        options.mean = try meanOption(rgb: preprocessing.meanRGB, image: preprocessing.meanImage, shape: preprocessing.dataShape)
        do {
            return try ImageRecordIterator(path: path, options: options, warn: log)
        } catch {
            throw RuntimeFailure("\(error)")
        }
    }

    /// Fails early when the plan cannot fit in the memory available, naming a batch that would.
    private func checkMemory(_ executor: Executor, shape: [Int], log: (String) -> Void) throws {
        let memory = executor.memory
        let mib = { (bytes: Int) in String(format: "%.1f MiB", Double(bytes) / 1_048_576) }
        log("memory plan: weights \(mib(memory.weightBytes)), gradients \(mib(memory.gradientBytes)), "
            + "activations \(mib(memory.activationBytes)), workspace \(mib(memory.workspaceBytes)); total \(mib(memory.totalBytes))")
        guard let available = availableMemoryBytes(), memory.totalBytes > available else { return }
        let localBatch = executor.argument(try executor.graph.dataInput())!.shape[0]
        let perImage = max(1, memory.activationBytes / localBatch)
        let fixed = memory.totalBytes - memory.activationBytes
        let largest = max(0, (available - fixed) / perImage)
        throw RuntimeFailure("batch \(localBatch) per process needs \(mib(memory.totalBytes)) but \(mib(available)) is available; "
                             + "batch \(largest) or less would fit (or try --mirror)")
    }
}

/// `MemAvailable` from /proc/meminfo, in bytes.
func availableMemoryBytes() -> Int? {
    guard let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8) else { return nil }
    for line in text.split(separator: "\n") where line.hasPrefix("MemAvailable:") {
        let fields = line.split(separator: " ")
        if fields.count >= 2, let kib = Int(fields[1]) { return kib * 1024 }
    }
    return nil
}

func parseFloats(_ text: String, count: Int) -> [Float]? {
    let values = text.split(separator: ",").map { Float($0.trimmingCharacters(in: .whitespaces)) }
    guard values.count == count, values.allSatisfy({ $0 != nil }) else { return nil }
    return values.map { $0! }
}

func parseIntegers(_ text: String) -> [Int]? {
    let values = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
    guard !values.isEmpty, values.allSatisfy({ $0 != nil }) else { return nil }
    return values.map { $0! }
}

/// The iterator's mean from `--mean-rgb` or a mean image file (which must match the shape).
func meanOption(rgb: [Float]?, image: String?, shape: [Int]) throws -> ImageIteratorOptions.Mean {
    if let rgb { return .rgb(rgb[0], rgb[1], rgb[2]) }
    guard let image else { return .none }
    let entries: [NDArrayFile.Entry]
    do { entries = try NDArrayFile.read(path: image) } catch { throw RuntimeFailure("\(error)") }
    guard entries.count == 1, let tensor = entries.first?.tensor else {
        throw RuntimeFailure("\(image): a mean image file holds one array, this one has \(entries.count)")
    }
    guard tensor.shape.dimensions == shape else {
        throw RuntimeFailure("\(image): the mean image is \(tensor.shape) but the data shape is \(shape)")
    }
    return .image(tensor.toArray())
}

extension ImageIteratorOptions.BadRecordPolicy: ExpressibleByArgument {}
