import ArgumentParser
import Benchmarks
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
            Random normal images and random labels; weights Xavier-initialised; SGD with momentum
            0.9, lr 0.001, wd 1e-5 (the baselines' settings). Two warm-up batches, then --runs timed
            runs of --iterations batches; img/s is the batch size over the median batch time of
            all timed batches (as the baselines report), and each run's mean is listed. The run fails if the loss is not
            finite or the weights did not change. Threads: oneDNN uses all cores (OMP_NUM_THREADS).

            Example:
              gannet bench train --network inception-bn --batch-size 32
              gannet bench train --network alexnet --batch-size 64 --mode inference --json
            """)

    @Option(help: "alexnet, inception-bn, inception-bn-full, inception-bn-small, or a symbol JSON file.")
    var network: String

    @Option(help: "Batch size.")
    var batchSize = 32

    @Option(help: "float32 (bfloat16 comes with the mixed-precision work).")
    var dtype = "float32"

    @Option(help: "Timed batches per run.")
    var iterations = 5

    @Option(help: "Timed runs.")
    var runs = 3

    @Option(help: "train (forward + backward + update) or inference (forward).")
    var mode: Plan.Mode = .train

    @Option(help: "Input shape C,H,W (default: the network's).")
    var dataShape: DataShape?

    @Option(help: "Activation layout between operators: automatic (blocked where possible), plain or blocked.")
    var layout: Executor.LayoutPolicy = .automatic

    @Flag(help: "Recompute BatchNorm and activation outputs in the backward pass instead of keeping them (MXNet's memory mirror): less memory, a little more time.")
    var mirror = false

    @Flag(inversion: .prefixedNo, help: "Inference: fold each BatchNorm into the convolution before it and apply the activation as the convolution's post-op.")
    var fuse = true

    @Flag(help: "Print where the time goes, per operator type, to standard error.")
    var profile = false

    @Option(help: "Under mpirun: gradient bucket size in MiB (see `gannet train --bucket-mib`).")
    var bucketMib: Double = Double(GradientExchange.defaultBucketBytes) / 1_048_576

    @Flag(help: "Print one JSON object on standard output.")
    var json = false

    mutating func validate() throws {
        guard dtype == "float32" else { throw ValidationError("--dtype \(dtype) is not supported yet (float32 only)") }
        if batchSize < 1 || iterations < 1 || runs < 1 {
            throw ValidationError("--batch-size, --iterations and --runs must be at least 1")
        }
    }

    func run() throws {
        // Under mpirun every rank runs this batch size; the gradients are summed over the ranks.
        let communicator = try jobCommunicator()
        let ranks = communicator.size
        /// Progress on standard error, from rank 0 only.
        func log(_ message: String) { if communicator.rank == 0 { logToStandardError(message) } }
        let (symbol, defaultShape) = try loadNetwork(network, classCount: nil)
        let isTraining = mode == .train
        let dataDimensions = [batchSize] + (dataShape?.dimensions ?? defaultShape)
        let executor = try Executor(symbol, inputShapes: Graph(symbol).inputShapes(data: Shape(dataDimensions)), isTraining: isTraining, layout: layout,
                                    mirror: mirror, fuse: fuse)
        let classCount = executor.outputs[0].shape[1]
        var generator = SeededGenerator(seed: 1)
        Initializer.xavier.initialise(executor, seed: 2)
        executor.argument(try executor.graph.dataInput())!.fillNormal(using: &generator)
        if let label = executor.graph.labelNames.first.flatMap(executor.argument) {
            label.copy(from: (0..<label.elementCount).map { _ in Float(generator.next() % UInt64(classCount)) })
        }
        let sgd = SGD(executor: executor, learningRate: 0.001, momentum: 0.9, weightDecay: 1e-5,
                      rescale: 1 / Float(batchSize * ranks))
        let exchange = GradientExchange(executor: executor, communicator: communicator, bucketBytes: Int(bucketMib * 1_048_576))
        let watched = sgd.parameterNames.first.flatMap(executor.argument)
        let before = watched?.toArray()
        func step() {
            executor.forward(isTraining: isTraining)
            if isTraining {
                exchange.backward()
                sgd.update()
            }
        }
        let forwardFlops = executor.forwardFlopsPerImage
        let flopsPerStep = Double(batchSize) * forwardFlops * (isTraining ? 3 : 1)
        log("\(network): batch \(batchSize), \(mode.rawValue), \(executor.isBlocked ? "blocked" : "plain") layout, \(String(format: "%.2f", forwardFlops / 1e9)) GFLOP/image forward")
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
            let rate = Double(batchSize * ranks * iterations) / (monotonicSeconds() - start)
            rates.append(rate)
            log(String(format: "run %d: %.2f img/s", run + 1, rate))
        }
        if profile {
            let total = executor.profile.reduce(0) { $0 + $1.forward + $1.backward }
            log("time per batch by operator (forward + backward), over \(runs * iterations) batches:")
            for entry in executor.profile {
                let perBatch = (entry.forward + entry.backward) / Double(runs * iterations)
                log("  " + entry.op.padding(toLength: 34, withPad: " ", startingAt: 0)
                    + String(format: "%8.1f ms  (forward %7.1f, backward %7.1f)  %4.1f%%", perBatch * 1000,
                           entry.forward / Double(runs * iterations) * 1000, entry.backward / Double(runs * iterations) * 1000,
                           100 * (entry.forward + entry.backward) / total))
            }
        }
        let loss = crossEntropy(executor)
        guard loss.isFinite else { throw RuntimeFailure("\(network): the loss is not finite (\(loss))") }
        if isTraining, let before, let watched, watched.toArray() == before {
            throw RuntimeFailure("\(network): the weights did not change; the benchmark skipped work")
        }
        // As the baselines report: the median batch time over every timed batch.
        let rate = Double(batchSize * ranks) / median(batchSeconds)
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let peakMiB = Double(usage.ru_maxrss) / 1024
        let mib = { (bytes: Int) in (Double(bytes) / 1_048_576 * 10).rounded() / 10 }
        /// Under mpirun: the share of step time spent waiting for the gradients after backward,
        /// and the share of gradient bytes summed before backward ended.
        var shares: (wait: Double, overlapped: Double)? = nil
        if ranks > 1 && isTraining {
            let totals = exchange.statistics
            shares = (totals.waitSeconds / batchSeconds.reduce(0, +),
                      Double(totals.overlappedBytes) / Double(max(totals.bytes, 1)))
            if communicator.rank == 0 { logTimeline(exchange) }
        }
        guard communicator.rank == 0 else { return }
        if json {
            var object: [String: Any] = [
                "network": network, "batch-size": batchSize, "dtype": dtype, "mode": mode.rawValue,
                "samples-per-second": rate, "runs": rates, "gflops": rate / Double(batchSize) * flopsPerStep / 1e9,
                "peak-rss-mib": peakMiB, "loss": loss, "layout": executor.isBlocked ? "blocked" : "plain", "mirror": mirror, "fused": !isTraining && fuse, "threads": ProcessInfo.processInfo.activeProcessorCount,
                "plan": ["weights-mib": mib(executor.memory.weightBytes),
                         "activations-mib": mib(executor.memory.activationBytes + executor.memory.gradientBytes),
                         "workspace-mib": mib(executor.memory.workspaceBytes)],
            ]
            if let shares {
                object["communication"] = [
                    "ranks": ranks, "batch-size-per-rank": batchSize, "bucket-mib": bucketMib, "buckets": exchange.buckets.count,
                    "gradient-mib": mib(exchange.bytesPerStep), "wait-share": shares.wait, "overlapped-share": shares.overlapped,
                ]
            }
            printJSON(object)
        } else {
            print("| network | batch | mode | img/sec | GFLOPS | peak RSS |")
            print("|---|---|---|---|---|---|")
            print(String(format: "| %@ | %d | %@ | %.1f | %.0f | %.0f MiB |", network, batchSize * ranks, mode.rawValue, rate,
                         rate / Double(batchSize) * flopsPerStep / 1e9, peakMiB))
            if let shares {
                print(String(format: "%d ranks × batch %d; waiting for gradients: %.1f%% of step time; %.0f%% of gradient bytes summed before backward ended (%d buckets of ~%.1f MiB)",
                             ranks, batchSize, 100 * shares.wait, 100 * shares.overlapped, exchange.buckets.count, bucketMib))
            }
        }
    }

    /// The last step's buckets on standard error: when each started and finished against
    /// the end of the gradient pass.
    private func logTimeline(_ exchange: GradientExchange) {
        let timeline = exchange.timeline
        log(String(format: "last step: gradient pass %.3f s, step done at %.3f s; buckets (ms from the pass's start):",
                   timeline.backwardSeconds, timeline.stepEnd))
        for (index, bucket) in exchange.buckets.enumerated() {
            let first = bucket.names.first ?? "", last = bucket.names.last ?? ""
            log(String(format: "  %2d  %7.2f MiB  started %7.1f  finished %7.1f%@  %@", index + 1,
                       Double(bucket.count * 4) / 1_048_576, timeline.started[index] * 1000, timeline.finished[index] * 1000,
                       timeline.finished[index] <= timeline.backwardSeconds ? "  (overlapped)" : "",
                       bucket.names.count == 1 ? first : "\(first) … \(last) (\(bucket.names.count))"))
        }
    }
}

/// Mean cross-entropy of the current probabilities against the labels.
func crossEntropy(_ executor: Executor) -> Double {
    guard let labelName = executor.graph.labelNames.first,
          let labels = executor.argument(labelName)?.toArray() else { return .nan }
    let probabilities = executor.outputs[0].toArray()
    let classes = probabilities.count / labels.count
    var total = 0.0
    for (row, label) in labels.enumerated() {
        total -= log(max(Double(probabilities[row * classes + Int(label)]), 1e-30))
    }
    return total / Double(labels.count)
}
