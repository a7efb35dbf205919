import ArgumentParser
import Benchmarks
import DataIO
import Foundation
import TensorCore

/// `gannet bench io`: images per second delivered by the record iterator.
struct BenchIO: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "io",
        abstract: "Images per second delivered by the record iterator (decode, crop, mirror, mean, batch).",
        discussion: """
            One warm-up epoch, then --epochs timed epochs; the median is reported. Mean \
            subtraction uses the ImageNet RGB means (123.68, 116.779, 103.939), as the baselines do. \
            With --rate the consumer takes at most that many images per second and the CPU \
            cores the iterator used are reported: the load a training process would see.

            Example:
              gannet bench io --data data/train.rec --batch-size 128 \\
                --rand-crop --rand-mirror
              gannet bench io --data data/train.rec --rate 25 --epochs 1
            """)

    @Option(help: "The .rec file (its .idx is used when present beside it).")
    var data: String

    @Option(parsing: .unconditional, help: "Batch size.")
    var batchSize = 128

    @Option(help: "Output shape C,H,W.")
    var dataShape = DataShape(argument: "3,224,224")!

    @Flag(help: "Random crop position (else the centre).")
    var randCrop = false

    @Flag(help: "Random horizontal flips.")
    var randMirror = false

    @OptionGroup var threadOptions: ThreadOptions

    @Option(parsing: .unconditional, help: "Timed epochs after one warm-up epoch.")
    var epochs = 5

    @Option(parsing: .unconditional, help: "Consume at most this many images per second and report the cores used.")
    var rate: Double?

    @Option(parsing: .unconditional, help: "Stop each epoch after this many batches (0: the whole epoch).")
    var batches = 0

    @OptionGroup var report: JSONOutput

    mutating func validate() throws {
        if batchSize < 1 { throw ValidationError("--batch-size must be at least 1") }
        if epochs < 1 { throw ValidationError("--epochs must be at least 1") }
        if let rate, !(rate > 0 && rate.isFinite) { throw ValidationError("--rate must be a finite positive number") }
        if batches < 0 { throw ValidationError("--batches must not be negative") }
    }

    @OptionGroup var imageLimit: ImageLimitOptions

    func run() throws {
        imageLimit.apply()
        let threads = threadOptions.threads
        var options = ImageIteratorOptions(dataShape: dataShape.dimensions, batchSize: batchSize)
        options.randomCrop = randCrop
        options.randomMirror = randMirror
        options.mean = .rgb(123.68, 116.779, 103.939)
        options.threadCount = threads
        options.shuffle = true
        let iterator = try runtime { try ImageRecordIterator(path: data, options: options, warn: { log($0) }) }
        log(
            "\(data): \(iterator.recordCount) records, \(iterator.batchesPerEpoch) batches of \(batchSize), \(threads) threads"
        )
        var rates: [Double] = []
        var cores: [Double] = []
        for epoch in 0...epochs {
            iterator.reset(epoch: epoch)
            var images = 0
            let start = monotonicSeconds(), cpuStart = processCPUSeconds()
            while let batch = try iterator.next() {
                images += batch.data.shape[0]
                if let rate {
                    let due = start + Double(images) / rate
                    let wait = due - monotonicSeconds()
                    if wait > 0 { usleep(UInt32(wait * 1e6)) }
                }
                if batches > 0 && batch.index + 1 >= batches { break }
            }
            let seconds = monotonicSeconds() - start
            guard epoch > 0 else { continue }  // warm-up
            rates.append(Double(images) / seconds)
            cores.append((processCPUSeconds() - cpuStart) / seconds)
            log(String(format: "epoch %d: %.0f images/s, %.2f cores busy", epoch, rates.last!, cores.last!))
        }
        if report.json {
            try printReport(
                Report(
                    samplesPerSecond: median(rates), runs: rates, threads: threads, batchSize: batchSize,
                    cpuCores: median(cores), rate: rate))
        } else {
            print(
                String(
                    format: "%@: %.0f images/s (median of %d epochs), %d threads, %.2f cores busy",
                    data, median(rates), rates.count, threads, median(cores)))
        }
    }

    /// `--json`.
    struct Report: Encodable {
        var samplesPerSecond: Double
        var runs: [Double]
        var threads: Int
        var batchSize: Int
        var cpuCores: Double
        /// The consumption rate asked for, when one was.
        var rate: Double?
        enum CodingKeys: String, CodingKey {
            case runs, threads, rate
            case samplesPerSecond = "samples-per-second", batchSize = "batch-size", cpuCores = "cpu-cores"
        }
    }
}
