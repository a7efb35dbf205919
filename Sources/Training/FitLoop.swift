import DataIO
import Distributed
import Foundation
import Graph
import TensorCore

/// Everything a training run is asked to do besides the network (`gannet train`'s options).
public struct FitOptions: Sendable {
    /// The network's name for messages (`inception-bn`, or the symbol file).
    public var networkName: String
    public var trainPath: String
    public var validationPath: String?
    public var classCount: Int
    /// The global batch: under MPI each of N processes takes `batchSize / N` of it.
    public var batchSize: Int
    /// The total, as MXNet counts it (`loadEpoch: 1, epochs: 2` trains one more).
    public var epochs: Int
    public var learningRate: Float
    public var momentum: Float = 0.9
    public var weightDecay: Float = 0.0001
    public var learningRateFactor: Float = 0.1
    public var learningRateStepEpochs: [Int] = []
    public var warmupEpochs = 0
    public var clipGradient: Float?
    public var initializer: Initializer = .xavier
    public var preprocessing: TrainingState.Preprocessing
    public var randomCrop = false
    public var randomMirror = false
    /// Checkpoints `PREFIX-symbol.json`, `PREFIX-NNNN.params`, `.state`, `PREFIX-metrics.csv`.
    public var modelPrefix: String?
    /// Resume from `PREFIX-NNNN` (epochs completed).
    public var loadEpoch: Int?
    public var seed: UInt64 = 0
    public var threadCount = 1
    public var topK = 5
    public var logInterval = 20
    public var badRecords: ImageIteratorOptions.BadRecordPolicy = .fail
    public var mirror = false
    /// The compute type of the activations.
    public var dataType: DataType = .float32
    public var bucketBytes = GradientExchange.defaultBucketBytes
    /// Also draw `PREFIX-curves.svg`.
    public var plot = false
    /// TensorBoard event files in this folder (rank 0 only).
    public var tensorBoardDirectory: String?

    public init(
        networkName: String, trainPath: String, classCount: Int, batchSize: Int, epochs: Int,
        learningRate: Float, preprocessing: TrainingState.Preprocessing
    ) {
        self.networkName = networkName
        self.trainPath = trainPath
        self.classCount = classCount
        self.batchSize = batchSize
        self.epochs = epochs
        self.learningRate = learningRate
        self.preprocessing = preprocessing
    }
}

/// One epoch's results, as `gannet train --json` reports them.
public struct EpochReport: Codable, Sendable, Equatable {
    public var epoch: Int
    public var trainAccuracy: Double
    public var trainTopK: Double
    public var trainCrossEntropy: Double
    public var validationAccuracy: Double?
    public var validationTopK: Double?
    public var validationCrossEntropy: Double?
    public var samplesPerSecond: Double

    public init(
        epoch: Int, trainAccuracy: Double, trainTopK: Double, trainCrossEntropy: Double,
        validationAccuracy: Double? = nil, validationTopK: Double? = nil, validationCrossEntropy: Double? = nil,
        samplesPerSecond: Double
    ) {
        self.epoch = epoch
        self.trainAccuracy = trainAccuracy
        self.trainTopK = trainTopK
        self.trainCrossEntropy = trainCrossEntropy
        self.validationAccuracy = validationAccuracy
        self.validationTopK = validationTopK
        self.validationCrossEntropy = validationCrossEntropy
        self.samplesPerSecond = samplesPerSecond
    }

    enum CodingKeys: String, CodingKey {
        case epoch
        case trainAccuracy = "train-accuracy", trainTopK = "train-top-k", trainCrossEntropy = "train-cross-entropy"
        case validationAccuracy = "validation-accuracy", validationTopK = "validation-top-k"
        case validationCrossEntropy = "validation-cross-entropy"
        case samplesPerSecond = "samples-per-second"
    }
}

/// What a run did: every epoch it trained and the last checkpoint it saved (null: none).
public struct FitResult: Codable, Sendable, Equatable {
    public var epochs: [EpochReport]
    public var checkpoint: String?

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(epochs, forKey: .epochs)
        try container.encode(checkpoint, forKey: .checkpoint)  // null, not absent, without a prefix
    }
}

/// What a run tells its caller as it goes, for progress bars.
public enum FitEvent: Sendable {
    case epochStarted(epoch: Int, batchCount: Int)
    case batchDone(BatchProgress)
    case epochFinished(epoch: Int)
}

/// A whole training run: binds the network, initialises or resumes it, trains the epochs
/// (validation, BatchNorm statistics averaged over the processes, checkpoints, the metrics
/// table) and logs MXNet's lines. Under MPI every process runs it; rank 0 logs and saves.
public final class FitLoop {
    public let options: FitOptions
    public let symbol: Symbol
    public let trainer: Trainer
    private let trainIterator: ImageRecordIterator
    private let validationIterator: ImageRecordIterator?
    private let stepsPerEpoch: Int
    private let log: @Sendable (String) -> Void
    private var rows: [MetricsTable.Row]
    private let tensorBoard: TensorBoardLog?

    /// Prepares the run; `log` receives the lines of rank 0 only. The global batch must
    /// divide by the number of processes.
    public init(
        symbol: Symbol, options: FitOptions, communicator: any Communicator = SingleProcess(),
        log: @escaping @Sendable (String) -> Void
    ) throws {
        let isRankZero = communicator.rank == 0
        let log: @Sendable (String) -> Void = { text in if isRankZero { log(text) } }
        let ranks = communicator.size
        guard options.batchSize % ranks == 0 else {
            throw TrainingError("the global batch \(options.batchSize) must divide by the \(ranks) processes")
        }
        let executor = try Self.bind(symbol, options: options, localBatch: options.batchSize / ranks, log: log)
        if ranks > 1 {
            log("\(ranks) processes, \(options.batchSize / ranks) images each per batch of \(options.batchSize)")
        }
        let optimizer = SGD(
            executor: executor, learningRate: options.learningRate, momentum: options.momentum,
            weightDecay: options.weightDecay, rescale: 1 / Float(options.batchSize),  // the global batch
            clip: options.clipGradient)
        let updateCount = try Self.initialiseOrResume(executor, optimizer, options: options, log: log)
        trainIterator = try Self.iterator(options.trainPath, options, isTraining: true, communicator, log: log)
        validationIterator = try options.validationPath.map {
            try Self.iterator($0, options, isTraining: false, communicator, log: log)
        }
        // Indexed reading gives every process the same number of batches; byte ranges may
        // differ by one, and all processes stop at the smallest count.
        stepsPerEpoch = communicator.allReduceMinimum(trainIterator.batchesPerEpoch)
        let schedule = LearningRateSchedule(
            base: options.learningRate, factor: options.learningRateFactor,
            stepEpochs: options.learningRateStepEpochs, warmupEpochs: options.warmupEpochs)
        trainer = try Trainer(
            executor: executor, optimizer: optimizer, schedule: schedule, topK: options.topK,
            updateCount: updateCount, communicator: communicator, bucketBytes: options.bucketBytes)
        trainer.broadcastParameters()
        self.options = options
        self.symbol = symbol
        self.log = log
        tensorBoard = try options.tensorBoardDirectory.flatMap { directory in
            isRankZero ? try TensorBoardLog(directory: directory, topK: options.topK, log: log) : nil
        }
        let beginEpoch = options.loadEpoch ?? 0
        rows = options.modelPrefix.map { MetricsTable.read(prefix: $0, before: beginEpoch) } ?? []
        log(
            "\(options.networkName): \(trainIterator.recordCount) training images, batch \(options.batchSize), "
                + "\(stepsPerEpoch) batches per epoch, \(options.epochs - beginEpoch) epochs from epoch \(beginEpoch)")
    }

    /// Trains every remaining epoch.
    public func run(events: (FitEvent) -> Void = { _ in }) throws -> FitResult {
        var result = FitResult(epochs: [], checkpoint: nil)
        for epoch in (options.loadEpoch ?? 0)..<options.epochs {
            events(.epochStarted(epoch: epoch, batchCount: stepsPerEpoch))
            result.epochs.append(try runEpoch(epoch, events: events))
            if let prefix = options.modelPrefix, trainer.communicator.rank == 0 {
                try saveCheckpoint(prefix: prefix, epoch: epoch)
                result.checkpoint = Checkpoint.parametersPath(prefix, epoch: epoch + 1)
                log("Saved checkpoint to \"\(result.checkpoint!)\"")
            }
        }
        let skipped = trainIterator.skippedRecords
        if !skipped.isEmpty {
            log(
                "skipped \(skipped.count) bad records in the last epoch: \(skipped.map(\.description).joined(separator: "; "))"
            )
        }
        return result
    }

    /// One epoch: training with MXNet's Speedometer lines, then validation.
    private func runEpoch(_ epoch: Int, events: (FitEvent) -> Void) throws -> EpochReport {
        let topK = options.topK, log = self.log
        let result: (metrics: ClassificationMetrics, samplesPerSecond: Double, seconds: Double)
        do {
            result = try trainer.trainEpoch(
                trainIterator, epoch: epoch, reportInterval: options.logInterval,
                maximumBatches: stepsPerEpoch
            ) { progress in
                events(.batchDone(progress))
                tensorBoard?.batches(progress, step: trainer.updateCount)
                log(
                    String(
                        format: "Epoch[%d] Batch [%d]\tSpeed: %.2f samples/sec\tTrain-accuracy=%f\t"
                            + "Train-top_k_accuracy_%d=%f\tTrain-cross-entropy=%f", progress.epoch, progress.batch,
                        progress.samplesPerSecond, progress.interval.accuracy, topK, progress.interval.topKAccuracy,
                        progress.interval.crossEntropy))
            }
            events(.epochFinished(epoch: epoch))
        } catch {
            events(.epochFinished(epoch: epoch))
            throw error
        }
        let train = result.metrics
        trainer.averageAuxiliaryStates()
        log(String(format: "Epoch[%d] Train-accuracy=%f", epoch, train.accuracy))
        log(String(format: "Epoch[%d] Time cost=%.3f", epoch, result.seconds))
        var report = EpochReport(
            epoch: epoch, trainAccuracy: train.accuracy, trainTopK: train.topKAccuracy,
            trainCrossEntropy: train.crossEntropy, samplesPerSecond: result.samplesPerSecond)
        if let validationIterator {
            let validation = try trainer.evaluate(validationIterator)
            log(String(format: "Epoch[%d] Validation-accuracy=%f", epoch, validation.accuracy))
            log(String(format: "Epoch[%d] Validation-top_k_accuracy_%d=%f", epoch, topK, validation.topKAccuracy))
            log(String(format: "Epoch[%d] Validation-cross-entropy=%f", epoch, validation.crossEntropy))
            report.validationAccuracy = validation.accuracy
            report.validationTopK = validation.topKAccuracy
            report.validationCrossEntropy = validation.crossEntropy
        }
        tensorBoard?.epoch(report, learningRate: Double(trainer.optimizer.learningRate), step: trainer.updateCount)
        rows.append(
            MetricsTable.Row(report, seconds: result.seconds, learningRate: Double(trainer.optimizer.learningRate)))
        return report
    }

    /// The checkpoint after `epoch` (MXNet's files and the state sidecar) and the metrics table.
    private func saveCheckpoint(prefix: String, epoch: Int) throws {
        let state = TrainingState(
            epoch: epoch + 1, updateCount: trainer.updateCount,
            learningRate: trainer.optimizer.learningRate, seed: options.seed,
            batchSize: options.batchSize, classCount: options.classCount,
            preprocessing: options.preprocessing)
        try Checkpoint.save(
            prefix: prefix, epoch: epoch + 1, symbol: symbol, executor: trainer.executor,
            optimizer: trainer.optimizer, state: state)
        try MetricsTable.write(rows, prefix: prefix)
        if options.plot { try MetricsTable.plot(rows, prefix: prefix) }
    }

    /// Binds for training at the per-process batch, checks the class count, prints the
    /// memory plan and fails early when it cannot fit.
    static func bind(
        _ symbol: Symbol, options: FitOptions, localBatch: Int,
        log: (String) -> Void
    ) throws -> Executor {
        let executor: Executor
        do {
            let shapes = try Graph(symbol).inputShapes(data: Shape([localBatch] + options.preprocessing.dataShape))
            func plan(mirror: Bool) throws -> Executor.MemorySummary {
                try Executor.memoryPlan(
                    symbol, inputShapes: shapes, isTraining: true, mirror: mirror, dataType: options.dataType)
            }
            // Planned (and checked) before anything is allocated; the mirrored plan only when
            // the plan that keeps every output does not fit.
            var mirror = options.mirror
            var memory = try plan(mirror: mirror)
            if !mirror && !MemoryBudget.fits(memory) {
                let mirrored = try plan(mirror: true)
                if MemoryBudget.fits(mirrored) {
                    log(
                        "memory: \(MemoryBudget.mib(memory.totalBytes)) needed without the memory mirror: recomputing "
                            + "BatchNorm and activation outputs in the gradient pass (--mirror) to need "
                            + MemoryBudget.mib(mirrored.totalBytes))
                    (mirror, memory) = (true, mirrored)
                }
            }
            try MemoryBudget.check(memory, batch: localBatch, mirror: mirror)
            executor = try Executor(
                symbol, inputShapes: shapes, isTraining: true, mirror: mirror, dataType: options.dataType)
        } catch let error as TrainingError {
            throw error
        } catch {
            throw TrainingError("\(options.networkName): \(error)")
        }
        let classes = executor.outputs[0].shape.dimensions.last ?? 0
        guard classes == options.classCount else {
            throw TrainingError(
                "\(options.networkName): the network has \(classes) outputs but the run has "
                    + "\(options.classCount) classes (--num-classes)")
        }
        MemoryBudget.log(executor.memory, log: log)
        executor.context.randomSeed = options.seed
        return executor
    }

    /// Fresh parameters from the initialiser, or those of the checkpoint to resume with its
    /// momentum; returns the updates already done.
    static func initialiseOrResume(
        _ executor: Executor, _ optimizer: SGD, options: FitOptions,
        log: (String) -> Void
    ) throws -> Int {
        guard let loadEpoch = options.loadEpoch, let prefix = options.modelPrefix else {
            options.initializer.initialise(executor, seed: options.seed)
            return 0
        }
        let parameters = Checkpoint.parametersPath(prefix, epoch: loadEpoch)
        try Checkpoint.loadParameters(parameters, into: executor)
        let nonFinite = Checkpoint.nonFiniteParameters(of: executor)
        if !nonFinite.isEmpty { log("warning: \(parameters): NaN or infinity in \(nonFinite.joined(separator: ", "))") }
        let statePath = Checkpoint.statePath(prefix, epoch: loadEpoch)
        var updateCount = 0
        if FileManager.default.fileExists(atPath: statePath) {
            updateCount = try Checkpoint.loadState(statePath, into: optimizer).updateCount
        } else {
            log(
                "warning: \(statePath) is missing: momentum starts from zero (the run will not match an uninterrupted one)"
            )
        }
        log("resuming from \(parameters) after \(loadEpoch) epochs, \(updateCount) updates")
        return updateCount
    }

    /// This process's part of `path`: shuffled and augmented for training, in order for validation.
    static func iterator(
        _ path: String, _ options: FitOptions, isTraining: Bool, _ communicator: any Communicator,
        log: @escaping @Sendable (String) -> Void
    ) throws -> ImageRecordIterator {
        var iteratorOptions = try options.preprocessing.iteratorOptions(
            batchSize: options.batchSize / communicator.size)
        iteratorOptions.partCount = communicator.size
        iteratorOptions.partIndex = communicator.rank
        iteratorOptions.threadCount = options.threadCount
        iteratorOptions.seed = options.seed
        iteratorOptions.badRecords = options.badRecords
        if isTraining {
            iteratorOptions.randomCrop = options.randomCrop
            iteratorOptions.randomMirror = options.randomMirror
            iteratorOptions.shuffle = true
        }
        return try ImageRecordIterator(path: path, options: iteratorOptions, warn: log)
    }
}

/// The memory a binding needs against what the machine has.
public enum MemoryBudget {
    static func mib(_ bytes: Int) -> String { String(format: "%.1f MiB", Double(bytes) / 1_048_576) }

    /// Logs a binding's plan.
    public static func log(_ memory: Executor.MemorySummary, log: (String) -> Void) {
        log(
            "memory plan: weights \(mib(memory.weightBytes)), gradients \(mib(memory.gradientBytes)), "
                + "activations \(mib(memory.activationBytes)), workspace \(mib(memory.workspaceBytes)); "
                + "total \(mib(memory.totalBytes))")
    }

    /// Whether `memory` fits in the memory available (true when that is unknown).
    public static func fits(_ memory: Executor.MemorySummary) -> Bool {
        availableBytes().map { memory.totalBytes <= $0 } ?? true
    }

    /// Fails when a plan (before anything is allocated) cannot fit in the memory available,
    /// naming a batch that would.
    public static func check(_ memory: Executor.MemorySummary, batch: Int, mirror: Bool) throws {
        guard let available = availableBytes(), memory.totalBytes > available else { return }
        let perImage = max(1, memory.activationBytes / max(batch, 1))
        let fixed = memory.totalBytes - memory.activationBytes
        let largest = max(0, (available - fixed) / perImage)
        throw TrainingError(
            "batch \(batch) per process needs \(mib(memory.totalBytes)) but \(mib(available)) is available; "
                + "batch \(largest) or less would fit" + (mirror ? "" : " (or try --mirror)"))
    }

    /// `MemAvailable` from /proc/meminfo, in bytes.
    public static func availableBytes() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("MemAvailable:") {
            let fields = line.split(separator: " ")
            if fields.count >= 2, let kib = Int(fields[1]) { return kib * 1024 }
        }
        return nil
    }
}
