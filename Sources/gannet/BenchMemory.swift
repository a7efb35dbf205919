import ArgumentParser
import DNNL
import Foundation
import Graph

/// `gannet bench memory`: the largest training batch whose process stays within a memory
/// budget, probed by running `bench train` in a fresh process per batch size (peak RSS is
/// a per-process high-water mark).
struct BenchMemory: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "memory",
        abstract: "Largest training batch whose peak RSS stays within a budget.",
        discussion: """
            Each probe is `gannet bench train --iterations 1 --runs 1` in its own process \
            (3 training steps including warm-up); probing stops at the first batch over budget.

            Example:
              gannet bench memory --network inception-bn --budget-gib 8
            """)

    @OptionGroup var network: NetworkOptions

    @Option(parsing: .unconditional, help: "Memory budget in GiB (peak resident set of the whole process).")
    var budgetGib: Double

    @Option(help: "Batch sizes to probe, in increasing order.")
    var batches = "32,64,96,128,160,192,256,320,384,448,512,640,768,1024"

    @Option(help: "Activation layout: automatic, plain or blocked.")
    var layout: Executor.LayoutPolicy = .automatic

    @Flag(
        help:
            "Recompute BatchNorm and activation outputs in the backward pass instead of keeping them (MXNet's memory mirror): less memory, a little more time."
    )
    var mirror = false

    @OptionGroup var precision: PrecisionOptions

    @OptionGroup var report: JSONOutput

    mutating func validate() throws {
        if budgetGib <= 0 { throw ValidationError("--budget-gib must be positive") }
        if probeSizes == nil { throw ValidationError("--batches must be positive integers separated by commas") }
    }

    var probeSizes: [Int]? {
        let sizes = batches.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !sizes.isEmpty, sizes.allSatisfy({ ($0 ?? 0) > 0 }) else { return nil }
        return sizes.map { $0! }
    }

    func run() throws {
        let budgetMiB = budgetGib * 1024
        var probes: [Probe] = []
        var largest: Int? = nil
        for batch in probeSizes! {
            log("probing batch \(batch)…")
            let peak = try probe(batch: batch)
            probes.append(Probe(batchSize: batch, peakRSSMiB: peak))
            guard let peak, peak <= budgetMiB else {
                log(
                    "batch \(batch): "
                        + (peak.map { String(format: "%.0f MiB, over budget", $0) } ?? "failed (out of memory?)"))
                break
            }
            log(String(format: "batch %d: %.0f MiB", batch, peak))
            largest = batch
        }
        if report.json {
            try printReport(
                Report(
                    network: network.network, budgetGiB: budgetGib, largestBatch: largest, probes: probes,
                    dtype: precision.dtype.rawValue, isa: Library.instructionSet))
        } else {
            print("| network | budget | largest batch |")
            print("|---|---|---|")
            print("| \(network.network) | \(budgetGib) GiB | \(largest.map(String.init) ?? "none") |")
        }
    }

    /// Peak RSS in MiB of one `bench train` run, or nil when the process failed.
    func probe(batch: Int) throws -> Double? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var arguments = [
            "bench", "train", "--network", network.network, "--batch-size", "\(batch)", "--iterations", "1",
            "--runs", "1", "--layout", layout.rawValue, "--dtype", precision.dtype.rawValue, "--json",
        ]
        if mirror { arguments.append("--mirror") }
        if precision.forceBfloat16 { arguments.append("--force-bfloat16") }
        if let shape = network.dataShape {
            arguments += ["--data-shape", shape.dimensions.map(String.init).joined(separator: ",")]
        }
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0,
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let peak = object["peak-rss-mib"] as? Double
        else { return nil }
        return peak
    }

    /// `--json`.
    struct Report: Encodable {
        var network: String
        var budgetGiB: Double
        @Nullable var largestBatch: Int?
        var probes: [Probe]
        var dtype: String
        var isa: String
        enum CodingKeys: String, CodingKey {
            case network, probes, dtype, isa, budgetGiB = "budget-gib", largestBatch = "largest-batch"
        }
    }

    struct Probe: Encodable {
        var batchSize: Int
        /// nil when the probe failed (out of memory).
        @Nullable var peakRSSMiB: Double?
        enum CodingKeys: String, CodingKey { case batchSize = "batch-size", peakRSSMiB = "peak-rss-mib" }
    }
}
