import DNNL
import Foundation
import Operators
import TensorCore

/// What `OperatorBenchmark.run` measures.
public struct OperatorBenchmarkOptions: Sendable {
    public var runs = 5
    /// Seconds each timed run lasts (repetitions are sized to it).
    public var runSeconds = 0.4
    /// The sgemm roof's matrix size.
    public var gemmSize = 4096
    public var batchSize = 64
    /// Also every other implementation oneDNN offers for each convolution pass.
    public var allImplementations = false
    /// Also NHWC convolutions and the memory-bound operators in every candidate layout.
    public var layouts = false
    /// Only operators whose name contains this.
    public var only: String?
    /// bfloat16: the convolutions in mixed precision against a bfloat16 matrix-product
    /// roof (the other operators are left out).
    public var dataType: DataType = .float32

    public init() {}
}

/// The seed networks' operators timed on oneDNN next to a sgemm roof from the same run
/// (`gannet bench ops`).
public enum OperatorBenchmark {
    public static func run(_ options: OperatorBenchmarkOptions, log: @escaping (String) -> Void) throws
        -> BenchOpsReport
    {
        let (runs, runSeconds, n) = (options.runs, options.runSeconds, options.batchSize)
        let bfloat16 = options.dataType == .bfloat16
        let roofRuns =
            bfloat16
            ? try bfloat16Roof(size: options.gemmSize, runs: runs) : sgemmRoof(size: options.gemmSize, runs: runs)
        log("oneDNN \(Library.version), ISA \(Library.instructionSet), \(options.dataType.rawValue)")
        log(
            String(
                format: "%@ %d³ roof: %.1f GFLOPS (median of %d)", bfloat16 ? "bf16 matrix product" : "sgemm",
                options.gemmSize, median(roofRuns), runs))
        var results: [OperatorResult] = []
        func selected(_ name: String) -> Bool { options.only.map { name.contains($0) } ?? true }
        for spec in ConvolutionSpec.seedShapes(batch: n) where selected(spec.name) {
            results += try benchConvolution(
                spec, runs: runs, runSeconds: runSeconds,
                allImplementations: options.allImplementations, dataType: options.dataType, log: log)
            if options.layouts {
                results += try benchConvolution(
                    spec, runs: runs, runSeconds: runSeconds, activationLayout: .channelsLast,
                    log: log)
            }
        }
        let kernels = kernelBenchmarks(batch: n, runs: runs, runSeconds: runSeconds, log: log)
        for (name, bench) in kernels where selected(name) && !bfloat16 { results += try bench() }
        if options.layouts && !bfloat16 {
            // The same memory-bound operators in each candidate executor layout, the blocked
            // one being what oneDNN's convolutions choose here (Inception 3a 3×3).
            let probe = Convolution(kernel: [3, 3], filterCount: 64, pad: [1, 1])
            let blocked = try ConvolutionPrimitives(probe, shapes: probe.inferShapes([[n, 64, 28, 28]], node: "probe"))
                .forward.memoryDescriptor(.destination).formatName
            results += try benchLayouts(
                blockedFormat: blocked, batch: n, runs: runs, runSeconds: runSeconds,
                selected: selected, log: log)
        }
        return BenchOpsReport(
            roofGflops: median(roofRuns), roofRuns: roofRuns, sgemmSize: options.gemmSize,
            threads: ProcessInfo.processInfo.activeProcessorCount, isa: Library.instructionSet, operators: results)
    }

    /// The other operators of the seed networks, timed through their kernels, by name.
    static func kernelBenchmarks(
        batch n: Int, runs: Int, runSeconds: Double, log: @escaping (String) -> Void
    ) -> [(String, () throws -> [OperatorResult])] {
        [
            (
                "alexnet.fc6",
                {
                    try benchKernel(
                        name: "alexnet.fc6", FullyConnected(hiddenCount: 4096), data: [n, 9216],
                        flops: 2.0 * Double(n) * 9216 * 4096, runs: runs, runSeconds: runSeconds,
                        log: log)
                }
            ),
            (
                "inception.3a.bn",
                {
                    try benchKernel(
                        name: "inception.3a.bn", BatchNorm(fixGamma: false),
                        data: [n, 64, 28, 28], flops: nil, runs: runs, runSeconds: runSeconds,
                        log: log)
                }
            ),
            (
                "alexnet.pool1",
                {
                    try benchKernel(
                        name: "alexnet.pool1",
                        Pooling(.max, kernel: [3, 3], stride: [2, 2], convention: .full),
                        data: [n, 96, 54, 54], flops: nil, runs: runs, runSeconds: runSeconds,
                        log: log)
                }
            ),
            (
                "inception.3a.pool",
                {
                    try benchKernel(
                        name: "inception.3a.pool",
                        Pooling(.avg, kernel: [3, 3], stride: [1, 1], pad: [1, 1]),
                        data: [n, 192, 28, 28], flops: nil, runs: runs,
                        runSeconds: runSeconds, log: log)
                }
            ),
            (
                "alexnet.lrn1",
                {
                    try benchKernel(
                        name: "alexnet.lrn1", LRN(size: 5, alpha: 1e-4, beta: 0.75, knorm: 1),
                        data: [n, 96, 54, 54], flops: nil, runs: runs, runSeconds: runSeconds,
                        log: log)
                }
            ),
            (
                "inception.3a.relu",
                {
                    try benchKernel(
                        name: "inception.3a.relu", Activation(.relu), data: [n, 64, 28, 28],
                        flops: nil, runs: runs, runSeconds: runSeconds, log: log)
                }
            ),
        ]
    }
}

/// One operator pass: GFLOPS (FLOP-bound) or GB/s (memory-bound) over several runs.
public struct OperatorResult: Codable, Sendable {
    public var name: String
    public var op: String
    public var pass: String
    public var batch: Int
    public var gflops: Double?
    public var gbps: Double?
    public var runs: [Double]
    public var implementation: String
    public var format: String
    /// Median seconds of one call.
    public var seconds: Double
    /// Time of the reorders from/to plain NCHW this pass would need, relative to the pass.
    public var reorderShare: Double?

    enum CodingKeys: String, CodingKey {
        case name, op, pass, batch, gflops, gbps, runs, implementation, format, seconds
        case reorderShare = "reorder-share"
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(op, forKey: .op)
        try container.encode(pass, forKey: .pass)
        try container.encode(batch, forKey: .batch)
        try container.encode(gflops, forKey: .gflops)  // null when not FLOP-bound
        try container.encode(gbps, forKey: .gbps)
        try container.encode(runs, forKey: .runs)
        try container.encode(implementation, forKey: .implementation)
        try container.encode(format, forKey: .format)
        try container.encode(seconds, forKey: .seconds)
        try container.encode(reorderShare, forKey: .reorderShare)
    }
}

/// `bench ops --json`.
public struct BenchOpsReport: Encodable {
    public var roofGflops: Double
    public var roofRuns: [Double]
    public var sgemmSize: Int
    public var threads: Int
    /// The instruction set oneDNN dispatches to (`avx2`, `avx512_core_bf16`, …).
    public var isa: String
    public var operators: [OperatorResult]

    enum CodingKeys: String, CodingKey {
        case roofGflops = "roof-gflops", roofRuns = "roof-runs", sgemmSize = "sgemm-size", threads, isa, operators
    }
}

/// GFLOPS of oneDNN's sgemm on square matrices, one value per run.
public func sgemmRoof(size: Int, runs: Int) -> [Double] {
    let a = Tensor(shape: [size, size]), b = Tensor(shape: [size, size]), c = Tensor(shape: [size, size])
    var generator = SeededGenerator(seed: 1)
    a.fillUniform(-1...1, using: &generator)
    b.fillUniform(-1...1, using: &generator)
    let seconds = measure(runs: runs, runSeconds: 0.5) { sgemm(size: size, a.floats, b.floats, c.floats) }
    return seconds.map { 2 * pow(Double(size), 3) / $0 / 1e9 }
}

/// GFLOPS of a bfloat16 matrix product (oneDNN inner product, bfloat16 inputs, float32
/// output, forward inference) on square matrices: the roof bfloat16 convolutions are held to.
public func bfloat16Roof(size: Int, runs: Int) throws -> [Double] {
    let a = try MemoryDescriptor([size, size], .plain, dataType: .bfloat16)
    let c = try MemoryDescriptor([size, size], .plain)
    let descriptor = try PrimitiveDescriptor(
        .innerProductForward(.forwardInference, source: a, weights: a, bias: nil, destination: c),
        attributes: PrimitiveAttributes(), what: "bf16 matrix product")
    let primitive = try Primitive(descriptor)
    let stream = try DNNL.Stream()
    let buffers = [
        descriptor.memoryDescriptor(.source), descriptor.memoryDescriptor(.weights),
        descriptor.memoryDescriptor(.destination), descriptor.memoryDescriptor(.scratchpad),
    ].map {
        Tensor(shape: [max(($0.byteCount + 3) / 4, 1)])
    }
    for buffer in buffers.prefix(2) { buffer.fill(0.5) }  // 0x3F00_3F00: bfloat16 0.5 pairs
    let memories = try zip(
        [MemoryQuery.source, .weights, .destination, .scratchpad], buffers
    ).map { try Memory(descriptor.memoryDescriptor($0.0), pointer: $0.1.rawPointer) }
    let arguments = PrimitiveArguments([
        .source: memories[0], .weights: memories[1], .destination: memories[2], .scratchpad: memories[3],
    ])
    let seconds = measure(runs: runs, runSeconds: 0.5) { primitive.execute(arguments, on: stream) }
    withExtendedLifetime((buffers, memories)) {}  // the arguments hold their handles
    return seconds.map { 2 * pow(Double(size), 3) / $0 / 1e9 }
}

/// Times `body`: one warm-up call, then `runs` runs of enough repetitions to last about
/// `runSeconds` each. Returns seconds per call for every run.
public func measure(runs: Int, runSeconds: Double, _ body: () -> Void) -> [Double] {
    let start = monotonicSeconds()
    body()
    let once = max(monotonicSeconds() - start, 1e-6)
    let repetitions = max(1, Int(runSeconds / once))
    return (0..<runs).map { _ in
        let begin = monotonicSeconds()
        for _ in 0..<repetitions { body() }
        return (monotonicSeconds() - begin) / Double(repetitions)
    }
}

public func median(_ values: [Double]) -> Double {
    guard !values.isEmpty else { return .nan }
    let sorted = values.sorted()
    let middle = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}
