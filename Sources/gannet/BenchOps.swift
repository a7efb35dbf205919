import ArgumentParser
import Benchmarks
import Foundation
import Operators
import TensorCore

/// `gannet bench ops`: achieved GFLOPS (or GB/s) of the seed networks' operators at batch 64,
/// next to a oneDNN sgemm roof measured in the same run.
struct BenchOps: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ops",
        abstract: "GFLOPS per operator and pass (AlexNet, Inception-BN 3a/4a) against a sgemm roof.",
        discussion: """
            Each convolution pass is timed on its oneDNN primitive in the memory format oneDNN \
            picked; the reorders that MXNet's plain NCHW layout would add around it are timed \
            separately. Min/median/max over several runs, after a warm-up.

            Example:
              gannet bench ops --preset short
              gannet bench ops --runs 7 --json > ops.json
            """)

    enum Preset: String, ExpressibleByArgument, CaseIterable { case short, full }

    @Option(help: "short (quick, sgemm 2048³, 3 runs) or full (sgemm 4096³, 5 runs).")
    var preset: Preset = .full

    @Option(parsing: .unconditional, help: "Timed runs per measurement (overrides the preset).")
    var runs: Int?

    @Option(parsing: .unconditional, help: "Batch size of the operator shapes.")
    var batchSize = 64

    @Flag(help: "Also time every other implementation oneDNN offers for each convolution pass.")
    var allImplementations = false

    @Flag(
        help:
            "Also time every convolution pass with NHWC activations and the memory-bound operators in NCHW, NHWC and the blocked layout."
    )
    var layouts = false

    @Option(help: "Only operators whose name contains this text (e.g. alexnet.conv3).")
    var only: String?

    @OptionGroup var precision: PrecisionOptions

    @OptionGroup var output: JSONOutput

    mutating func validate() throws {
        if let runs, runs < 1 { throw ValidationError("--runs must be at least 1") }
        if batchSize < 1 { throw ValidationError("--batch-size must be at least 1") }
    }

    func run() throws {
        var options = OperatorBenchmarkOptions()
        options.runs = runs ?? (preset == .short ? 3 : 5)
        options.runSeconds = preset == .short ? 0.15 : 0.4
        options.gemmSize = preset == .short ? 2048 : 4096
        options.batchSize = batchSize
        options.allImplementations = allImplementations
        options.layouts = layouts
        options.only = only
        options.dataType = precision.dtype
        let report = try runtime { try OperatorBenchmark.run(options, log: { log($0) }) }
        if output.json { return try printReport(report) }
        show(report)
    }

    func show(_ report: BenchOpsReport) {
        let (roof, roofRuns) = (report.roofGflops, report.roofRuns)
        print("ISA: \(report.isa)")
        print(
            String(
                format: "roof: oneDNN %@ %d³ = %.1f GFLOPS (median; min %.1f, max %.1f)",
                precision.dtype == .bfloat16 ? "bf16 matrix product" : "sgemm", report.sgemmSize, roof,
                roofRuns.min() ?? 0, roofRuns.max() ?? 0))
        print(
            "operator                     pass              batch   GFLOPS  % roof     GB/s  NCHW reorders  implementation / format"
        )
        for r in report.operators {
            let gflops = r.gflops.map { String(format: "%8.1f", $0) } ?? "       -"
            let share = r.gflops.map { String(format: "%6.0f%%", 100 * $0 / roof) } ?? "      -"
            let gbps = r.gbps.map { String(format: "%8.1f", $0) } ?? "       -"
            let reorder = r.reorderShare.map { String(format: "%+12.0f%%", 100 * $0) } ?? "           -"
            print(
                "\(r.name.padding(toLength: 28, withPad: " ", startingAt: 0)) "
                    + "\(r.pass.padding(toLength: 17, withPad: " ", startingAt: 0)) \(String(format: "%5d", r.batch)) "
                    + "\(gflops) \(share) \(gbps) \(reorder)  \(r.implementation) \(r.format)")
        }
    }
}
