import ArgumentParser
import CDNNL
import DNNL
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
            Each convolution pass is timed on its oneDNN primitive in the memory format oneDNN
            picked; the reorders that MXNet's plain NCHW layout would add around it are timed
            separately. Min/median/max over several runs, after a warm-up.

            Example:
              gannet bench ops --preset short
              gannet bench ops --runs 7 --json > ops.json
            """)

    enum Preset: String, ExpressibleByArgument, CaseIterable { case short, full }

    @Option(help: "short (quick, sgemm 2048³, 3 runs) or full (sgemm 4096³, 5 runs).")
    var preset: Preset = .full

    @Option(help: "Timed runs per measurement (overrides the preset).")
    var runs: Int?

    @Option(help: "Batch size of the operator shapes.")
    var batchSize = 64

    @Flag(help: "Also time every other implementation oneDNN offers for each convolution pass.")
    var allImplementations = false

    @Flag(help: "Also time every convolution pass with NHWC activations and the memory-bound operators in NCHW, NHWC and the blocked layout.")
    var layouts = false

    @Option(help: "Only operators whose name contains this text (e.g. alexnet.conv3).")
    var only: String?

    @Flag(help: "Print one JSON object on standard output.")
    var json = false

    mutating func validate() throws {
        if let runs, runs < 1 { throw ValidationError("--runs must be at least 1") }
        if batchSize < 1 { throw ValidationError("--batch-size must be at least 1") }
    }

    func run() throws {
        let runCount = runs ?? (preset == .short ? 3 : 5)
        let runSeconds = preset == .short ? 0.15 : 0.4
        let gemmSize = preset == .short ? 2048 : 4096
        let roofRuns = sgemmRoof(size: gemmSize, runs: runCount)
        let roof = median(roofRuns)
        log(String(format: "sgemm %d³ roof: %.1f GFLOPS (median of %d)", gemmSize, roof, runCount))
        var results: [OperatorResult] = []
        let n = batchSize
        func selected(_ name: String) -> Bool { only.map { name.contains($0) } ?? true }
        for spec in ConvolutionSpec.seedShapes(batch: n) where selected(spec.name) {
            results += try benchConvolution(spec, runs: runCount, runSeconds: runSeconds,
                                            allImplementations: allImplementations)
            if layouts {
                results += try benchConvolution(spec, runs: runCount, runSeconds: runSeconds, activationLayout: dnnl_acdb)
            }
        }
        let kernels: [(String, () throws -> [OperatorResult])] = [
            ("alexnet.fc6", { try benchKernel(name: "alexnet.fc6", FullyConnected(hiddenCount: 4096), data: [n, 9216],
                                              flops: 2.0 * Double(n) * 9216 * 4096, runs: runCount, runSeconds: runSeconds) }),
            ("inception.3a.bn", { try benchKernel(name: "inception.3a.bn", BatchNorm(fixGamma: false),
                                                  data: [n, 64, 28, 28], flops: nil, runs: runCount, runSeconds: runSeconds) }),
            ("alexnet.pool1", { try benchKernel(name: "alexnet.pool1",
                                                Pooling(.max, kernel: [3, 3], stride: [2, 2], convention: .full),
                                                data: [n, 96, 54, 54], flops: nil, runs: runCount, runSeconds: runSeconds) }),
            ("inception.3a.pool", { try benchKernel(name: "inception.3a.pool",
                                                    Pooling(.avg, kernel: [3, 3], stride: [1, 1], pad: [1, 1]),
                                                    data: [n, 192, 28, 28], flops: nil, runs: runCount,
                                                    runSeconds: runSeconds) }),
            ("alexnet.lrn1", { try benchKernel(name: "alexnet.lrn1", LRN(size: 5, alpha: 1e-4, beta: 0.75, knorm: 1),
                                               data: [n, 96, 54, 54], flops: nil, runs: runCount, runSeconds: runSeconds) }),
            ("inception.3a.relu", { try benchKernel(name: "inception.3a.relu", Activation(.relu), data: [n, 64, 28, 28],
                                                    flops: nil, runs: runCount, runSeconds: runSeconds) }),
        ]
        for (name, bench) in kernels where selected(name) { results += try bench() }
        guard layouts else {
            report(roof: roof, roofRuns: roofRuns, gemmSize: gemmSize, results: results)
            return
        }
        // The same memory-bound operators in each candidate executor layout.
        // The layout oneDNN's convolutions choose for activations here (Inception 3a 3×3).
        let probe = Convolution(kernel: [3, 3], filterCount: 64, pad: [1, 1])
        let blocked = try ConvolutionPrimitives(probe, shapes: probe.inferShapes([[n, 64, 28, 28]], node: "probe"))
            .forward.memoryDescriptor(dnnl_query_dst_md).formatName
        results += try benchLayouts(blockedFormat: blocked, batch: n, runs: runCount, runSeconds: runSeconds,
                                    selected: selected)
        report(roof: roof, roofRuns: roofRuns, gemmSize: gemmSize, results: results)
    }

    func report(roof: Double, roofRuns: [Double], gemmSize: Int, results: [OperatorResult]) {
        if json {
            let object = BenchOpsReport(roofGflops: roof, roofRuns: roofRuns, sgemmSize: gemmSize,
                                        threads: ProcessInfo.processInfo.activeProcessorCount, operators: results)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try! encoder.encode(object), as: UTF8.self))
            return
        }
        print(String(format: "roof: oneDNN sgemm %d³ = %.1f GFLOPS (median; min %.1f, max %.1f)", gemmSize, roof,
                     roofRuns.min()!, roofRuns.max()!))
        print("operator                     pass              batch   GFLOPS  % roof     GB/s  NCHW reorders  implementation / format")
        for r in results {
            let gflops = r.gflops.map { String(format: "%8.1f", $0) } ?? "       -"
            let share = r.gflops.map { String(format: "%6.0f%%", 100 * $0 / roof) } ?? "      -"
            let gbps = r.gbps.map { String(format: "%8.1f", $0) } ?? "       -"
            let reorder = r.reorderShare.map { String(format: "%+12.0f%%", 100 * $0) } ?? "           -"
            print("\(r.name.padding(toLength: 28, withPad: " ", startingAt: 0)) "
                  + "\(r.pass.padding(toLength: 17, withPad: " ", startingAt: 0)) \(String(format: "%5d", r.batch)) "
                  + "\(gflops) \(share) \(gbps) \(reorder)  \(r.implementation) \(r.format)")
        }
    }
}

struct OperatorResult: Codable {
    var name: String
    var op: String
    var pass: String
    var batch: Int
    var gflops: Double?
    var gbps: Double?
    var runs: [Double]
    var implementation: String
    var format: String
    /// Median seconds of one call.
    var seconds: Double
    /// Time of the reorders from/to plain NCHW this pass would need, relative to the pass.
    var reorderShare: Double?

    enum CodingKeys: String, CodingKey {
        case name, op, pass, batch, gflops, gbps, runs, implementation, format, seconds
        case reorderShare = "reorder-share"
    }

    func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(op, forKey: .op)
        try container.encode(pass, forKey: .pass)
        try container.encode(batch, forKey: .batch)
        try container.encode(gflops, forKey: .gflops)   // null when not FLOP-bound
        try container.encode(gbps, forKey: .gbps)
        try container.encode(runs, forKey: .runs)
        try container.encode(implementation, forKey: .implementation)
        try container.encode(format, forKey: .format)
        try container.encode(seconds, forKey: .seconds)
        try container.encode(reorderShare, forKey: .reorderShare)
    }
}

struct BenchOpsReport: Encodable {
    var roofGflops: Double
    var roofRuns: [Double]
    var sgemmSize: Int
    var threads: Int
    var operators: [OperatorResult]

    enum CodingKeys: String, CodingKey {
        case roofGflops = "roof-gflops", roofRuns = "roof-runs", sgemmSize = "sgemm-size", threads, operators
    }
}

/// GFLOPS of oneDNN's sgemm on square matrices, one value per run.
func sgemmRoof(size: Int, runs: Int) -> [Double] {
    let a = Tensor(shape: [size, size]), b = Tensor(shape: [size, size]), c = Tensor(shape: [size, size])
    var generator = SeededGenerator(seed: 1)
    a.fillUniform(-1...1, using: &generator)
    b.fillUniform(-1...1, using: &generator)
    let n = dnnl_dim_t(size)
    let seconds = measure(runs: runs, runSeconds: 0.5) {
        _ = dnnl_sgemm(CChar(UInt8(ascii: "N")), CChar(UInt8(ascii: "N")), n, n, n, 1, a.floats, n, b.floats, n, 0,
                       c.floats, n)
    }
    return seconds.map { 2 * pow(Double(size), 3) / $0 / 1e9 }
}
