import ArgumentParser
import Benchmarks
import DNNL
import Distributed
import Foundation
import Graph
import Models
import Operators
import TensorCore
import Training

/// `gannet bench train`: img/s of training (forward + backward + SGD update) or inference
/// on synthetic data, the seed README's table.
struct BenchTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Training (or inference) img/s of a network on synthetic data.",
        discussion: """
            Random normal images and random labels; weights Xavier-initialised; SGD with momentum \
            0.9, lr 0.001, wd 1e-5 (the baselines' settings). Two warm-up batches, then --runs timed \
            runs of --iterations batches; img/s is the batch size over the median batch time of \
            all timed batches (as the baselines report), and each run's mean is listed. The run fails if the loss is not \
            finite or the weights did not change. Threads: oneDNN uses all cores (OMP_NUM_THREADS).

            Example:
              gannet bench train --network inception-bn --batch-size 32
              gannet bench train --network alexnet --batch-size 64 --mode inference --json
            """)

    @OptionGroup var network: NetworkOptions

    @Option(
        parsing: .unconditional, help: "Batch size; under mpirun the global batch, split evenly over the processes.")
    var batchSize = 32

    @OptionGroup var precision: PrecisionOptions

    @Option(parsing: .unconditional, help: "Timed batches per run.")
    var iterations = 5

    @Option(parsing: .unconditional, help: "Timed runs.")
    var runs = 3

    @Option(help: "train (forward + backward + update) or inference (forward).")
    var mode: Plan.Mode = .train

    @Option(help: "Activation layout between operators: automatic (blocked where possible), plain or blocked.")
    var layout: Executor.LayoutPolicy = .automatic

    @Flag(
        help:
            "Recompute BatchNorm and activation outputs in the backward pass instead of keeping them (MXNet's memory mirror): less memory, a little more time."
    )
    var mirror = false

    @Flag(
        inversion: .prefixedNo,
        help:
            "Fuse operators: in inference each BatchNorm folds into the convolution before it and the activation becomes the convolution's post-op; in training a BatchNorm and the ReLU after it run as one batch normalization."
    )
    var fuse = true

    @Flag(help: "Print where the time goes, per operator type, to standard error.")
    var profile = false

    @Option(
        parsing: .unconditional, help: "Under mpirun: gradient bucket size in MiB (see `gannet train --bucket-mib`).")
    var bucketMib: Double = Double(GradientExchange.defaultBucketBytes) / 1_048_576

    @OptionGroup var report: JSONOutput

    mutating func validate() throws {
        if batchSize < 1 || iterations < 1 || runs < 1 {
            throw ValidationError("--batch-size, --iterations and --runs must be at least 1")
        }
    }

    func run() throws {
        let communicator = try jobCommunicator()
        let ranks = communicator.size
        guard batchSize % ranks == 0 else {
            throw ValidationError(
                "--batch-size \(batchSize) is the global batch and must divide by the \(ranks) processes")
        }
        // Every rank runs its share of the global batch; the gradients are summed over the ranks.
        let localBatch = batchSize / ranks
        /// Progress on standard error, from rank 0 only.
        func log(_ message: String) { if communicator.rank == 0 { gannet.log(message) } }
        log("oneDNN \(Library.version), ISA \(Library.instructionSet), \(precision.dtype.rawValue)")
        if ranks > 1 { log("\(ranks) processes, \(localBatch) images each per batch of \(batchSize)") }
        let (symbol, shape) = try network.load(classCount: nil)
        let executor = try runtime(network.network) {
            try Executor(
                symbol, inputShapes: Graph(symbol).inputShapes(data: Shape([localBatch] + shape)),
                isTraining: mode == .train, layout: layout, mirror: mirror, fuse: fuse, dataType: precision.dtype)
        }
        let measured = try measure(executor, communicator: communicator, log: log)
        guard communicator.rank == 0 else { return }
        if report.json { return try printReport(makeReport(executor, measured, ranks: ranks)) }
        print("| network | batch | mode | img/sec | GFLOPS | peak RSS |")
        print("|---|---|---|---|---|---|")
        print(
            String(
                format: "| %@ | %d | %@ | %.1f | %.0f | %.0f MiB |", network.network, batchSize, mode.rawValue,
                measured.rate, measured.gflops, measured.peakMiB))
        if let shares = measured.shares {
            print(
                String(
                    format: "%d ranks × batch %d; waiting for gradients: %.1f%% of step time; %.0f%% of gradient "
                        + "bytes summed before backward ended (%d buckets of ~%.1f MiB)", ranks, localBatch,
                    100 * shares.wait, 100 * shares.overlapped, shares.buckets, bucketMib))
        }
    }

    /// What a benchmark run measured.
    struct Measurement {
        var rate: Double
        var rates: [Double]
        var gflops: Double
        var peakMiB: Double
        var loss: Double
        /// Under mpirun: the share of step time spent waiting for the gradients after
        /// backward, the share of gradient bytes summed before backward ended, the buckets
        /// and the gradient bytes per step.
        var shares: (wait: Double, overlapped: Double, buckets: Int, gradientBytes: Int)?
    }

    /// Warm-up, then the timed runs; checks that work was done.
    private func measure(
        _ executor: Executor, communicator: any Communicator,
        log: (String) -> Void
    ) throws -> Measurement {
        let ranks = communicator.size
        let isTraining = mode == .train
        let classCount = executor.outputs[0].shape[1]
        var generator = SeededGenerator(seed: 1)
        Initializer.xavier.initialise(executor, seed: 2)
        // Inference of fixed weights, as a loaded model runs (`score`, `predict`).
        if !isTraining { executor.freezeParameters() }
        try runtime { executor.argument(try executor.graph.dataInput())!.fillNormal(using: &generator) }
        if let label = executor.graph.labelNames.first.flatMap(executor.argument) {
            label.copy(from: (0..<label.elementCount).map { _ in Float(generator.next() % UInt64(classCount)) })
        }
        let sgd = SGD(
            executor: executor, learningRate: 0.001, momentum: 0.9, weightDecay: 1e-5,
            rescale: 1 / Float(batchSize))
        let exchange = GradientExchange(
            executor: executor, communicator: communicator, bucketBytes: Int(bucketMib * 1_048_576))
        // A weight (a fixed BatchNorm gamma, such as ResNet's first, never changes).
        let watched = sgd.parameterNames.first { executor.graph.role(of: $0) == .weight }.flatMap(executor.argument)
        let before = watched?.toArray()
        func step() {
            executor.forward(isTraining: isTraining)
            if isTraining {
                exchange.backward()
                sgd.update()
            }
        }
        let forwardFlops = executor.forwardFlopsPerImage
        log(
            "\(network.network): batch \(batchSize), \(mode.rawValue), \(executor.isBlocked ? "blocked" : "plain") layout, \(String(format: "%.2f", forwardFlops / 1e9)) GFLOP/image forward"
        )
        let warmStart = monotonicSeconds()
        for _ in 0..<2 { step() }
        log(String(format: "warm-up: %.2f s per batch", (monotonicSeconds() - warmStart) / 2))
        executor.isProfiling = profile
        executor.resetProfile()
        exchange.resetStatistics()
        var rates: [Double] = []
        var batchSeconds: [Double] = []
        for run in 0..<runs {
            let start = monotonicSeconds()
            for _ in 0..<iterations {
                let batchStart = monotonicSeconds()
                step()
                batchSeconds.append(monotonicSeconds() - batchStart)
            }
            let rate = Double(batchSize * iterations) / (monotonicSeconds() - start)
            rates.append(rate)
            log(String(format: "run %d: %.2f img/s", run + 1, rate))
        }
        if profile { logProfile(executor, batches: runs * iterations, log: log) }
        let loss = crossEntropy(executor)
        guard loss.isFinite else { throw RuntimeFailure("\(network.network): the loss is not finite (\(loss))") }
        if isTraining, let before, let watched, watched.toArray() == before {
            throw RuntimeFailure("\(network.network): the weights did not change; the benchmark skipped work")
        }
        // As the baselines report: the median batch time over every timed batch.
        let rate = Double(batchSize) / median(batchSeconds)
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        var measurement = Measurement(
            rate: rate, rates: rates, gflops: rate * forwardFlops * (isTraining ? 3 : 1) / 1e9,
            peakMiB: Double(usage.ru_maxrss) / 1024, loss: loss)
        if ranks > 1 && isTraining {
            let totals = exchange.statistics
            measurement.shares = (
                totals.waitSeconds / batchSeconds.reduce(0, +),
                Double(totals.overlappedBytes) / Double(max(totals.bytes, 1)), exchange.buckets.count,
                exchange.bytesPerStep
            )
            if communicator.rank == 0 { logTimeline(exchange) }
        }
        return measurement
    }

    /// `--json`.
    struct Report: Encodable {
        var network: String
        var batchSize: Int
        var dtype: String
        var mode: String
        var samplesPerSecond: Double
        var runs: [Double]
        var gflops: Double
        var peakRSSMiB: Double
        var loss: Double
        var layout: String
        var mirror: Bool
        var fused: Bool
        var threads: Int
        var isa: String
        var plan: Plan
        var communication: Communication?

        struct Plan: Encodable {
            var weightsMiB: Double
            var activationsMiB: Double
            var workspaceMiB: Double
            enum CodingKeys: String, CodingKey {
                case weightsMiB = "weights-mib", activationsMiB = "activations-mib", workspaceMiB = "workspace-mib"
            }
        }

        struct Communication: Encodable {
            var ranks: Int
            var batchSizePerRank: Int
            var bucketMiB: Double
            var buckets: Int
            var gradientMiB: Double
            var waitShare: Double
            var overlappedShare: Double
            enum CodingKeys: String, CodingKey {
                case ranks, buckets
                case batchSizePerRank = "batch-size-per-rank", bucketMiB = "bucket-mib", gradientMiB = "gradient-mib"
                case waitShare = "wait-share", overlappedShare = "overlapped-share"
            }
        }

        enum CodingKeys: String, CodingKey {
            case network, dtype, mode, runs, gflops, loss, layout, mirror, fused, threads, isa, plan, communication
            case batchSize = "batch-size", samplesPerSecond = "samples-per-second", peakRSSMiB = "peak-rss-mib"
        }
    }

    private func makeReport(_ executor: Executor, _ measured: Measurement, ranks: Int) -> Report {
        let mib = { (bytes: Int) in (Double(bytes) / 1_048_576 * 10).rounded() / 10 }
        let memory = executor.memory
        return Report(
            network: network.network, batchSize: batchSize, dtype: precision.dtype.rawValue, mode: mode.rawValue,
            samplesPerSecond: measured.rate, runs: measured.rates, gflops: measured.gflops,
            peakRSSMiB: measured.peakMiB,
            loss: measured.loss, layout: executor.isBlocked ? "blocked" : "plain", mirror: mirror,
            fused: mode == .inference && fuse, threads: ProcessInfo.processInfo.activeProcessorCount,
            isa: Library.instructionSet,
            plan: .init(
                weightsMiB: mib(memory.weightBytes), activationsMiB: mib(memory.activationBytes + memory.gradientBytes),
                workspaceMiB: mib(memory.workspaceBytes)),
            communication: measured.shares.map {
                .init(
                    ranks: ranks, batchSizePerRank: batchSize / ranks, bucketMiB: bucketMib, buckets: $0.buckets,
                    gradientMiB: mib($0.gradientBytes), waitShare: $0.wait, overlappedShare: $0.overlapped)
            })
    }

    /// Time per operator type and batch, slowest first.
    private func logProfile(_ executor: Executor, batches: Int, log: (String) -> Void) {
        let total = executor.profile.reduce(0) { $0 + $1.forward + $1.backward }
        log("time per batch by operator (forward + backward), over \(batches) batches:")
        for entry in executor.profile {
            let perBatch = (entry.forward + entry.backward) / Double(batches)
            log(
                "  " + entry.op.padding(toLength: 34, withPad: " ", startingAt: 0)
                    + String(
                        format: "%8.1f ms  (forward %7.1f, backward %7.1f)  %4.1f%%", perBatch * 1000,
                        entry.forward / Double(batches) * 1000, entry.backward / Double(batches) * 1000,
                        100 * (entry.forward + entry.backward) / total))
        }
    }

    /// The last step's buckets on standard error: when each started and finished against
    /// the end of the gradient pass.
    private func logTimeline(_ exchange: GradientExchange) {
        let timeline = exchange.timeline
        log(
            String(
                format: "last step: gradient pass %.3f s, step done at %.3f s; buckets (ms from the pass's start):",
                timeline.backwardSeconds, timeline.stepEnd))
        for (index, bucket) in exchange.buckets.enumerated() {
            let first = bucket.names.first ?? "", last = bucket.names.last ?? ""
            log(
                String(
                    format: "  %2d  %7.2f MiB  started %7.1f  finished %7.1f%@  %@", index + 1,
                    Double(bucket.count * 4) / 1_048_576, timeline.started[index] * 1000,
                    timeline.finished[index] * 1000,
                    timeline.finished[index] <= timeline.backwardSeconds ? "  (overlapped)" : "",
                    bucket.names.count == 1 ? first : "\(first) … \(last) (\(bucket.names.count))"))
        }
    }
}

/// Mean cross-entropy of the current probabilities against the labels.
func crossEntropy(_ executor: Executor) -> Double {
    guard let labelName = executor.graph.labelNames.first,
        let labels = executor.argument(labelName)?.toArray()
    else { return .nan }
    let probabilities = executor.outputs[0].toArray()
    let classes = probabilities.count / labels.count
    var total = 0.0
    for (row, label) in labels.enumerated() {
        total -= log(max(Double(probabilities[row * classes + Int(label)]), 1e-30))
    }
    return total / Double(labels.count)
}
