import DNNL
import Foundation
import Operators
import TensorCore

/// The memory-bound operators timed on their oneDNN primitives in each candidate layout of
/// the executor: plain NCHW (`abcd`), NHWC (`acdb`) and the blocked layout the convolutions
/// pick on this machine (`aBcd8b` with AVX2, `aBcd16b` with AVX-512).
func benchLayouts(
    blockedFormat: String, batch n: Int, runs: Int, runSeconds: Double,
    selected: (String) -> Bool, log: @escaping (String) -> Void
) throws -> [OperatorResult] {
    var layouts: [(String, FormatTag)] = [("abcd", .plain), ("acdb", .channelsLast)]
    switch blockedFormat {
    case "aBcd8b": layouts.append(("aBcd8b", .channelBlocked(8)))
    case "aBcd16b": layouts.append(("aBcd16b", .channelBlocked(16)))
    default: break
    }
    let stream = try DNNL.Stream()
    let attributes = try PrimitiveAttributes()
    var results: [OperatorResult] = []
    for (format, tag) in layouts {
        for operation in LayoutCase.seedOperators(batch: n) where selected(operation.name) {
            let data = try MemoryDescriptor(operation.data, tag)
            let (forward, backward) = try operation.operations(data, tag)
            let forwardDescriptor = try PrimitiveDescriptor(
                forward, attributes: attributes, what: "\(operation.name) forward")
            let backwardDescriptor = try PrimitiveDescriptor(
                backward, attributes: attributes, hint: forwardDescriptor, what: "\(operation.name) backward")
            results += try timePair(
                operation, format: format, forward: forwardDescriptor, backward: backwardDescriptor, stream: stream,
                runs: runs, runSeconds: runSeconds, log: log)
        }
    }
    return results
}

/// One memory-bound operator of the seed networks: its shapes and its forward-training and
/// backward operations for a data descriptor in a layout.
private struct LayoutCase {
    var name: String
    var op: String
    var data: [Int]
    var output: [Int]
    /// How many times forward reads its input (BatchNorm: statistics, then normalisation).
    var readsOfData: Double
    var operations: (MemoryDescriptor, FormatTag) throws -> (OperationDescriptor, OperationDescriptor)

    static func seedOperators(batch n: Int) -> [LayoutCase] {
        [
            // BatchNorm, Inception 3a size.
            LayoutCase(
                name: "inception.3a.bn", op: "BatchNorm", data: [n, 64, 28, 28], output: [n, 64, 28, 28],
                readsOfData: 2
            ) { md, _ in
                (
                    try .batchNormalizationForward(.forwardTraining, data: md, epsilon: 1e-3, flags: [.scale, .shift]),
                    try .batchNormalizationBackward(diffData: md, data: md, epsilon: 1e-3, flags: [.scale, .shift])
                )
            },
            // Max pooling 3/2 `full`, AlexNet pool1.
            LayoutCase(
                name: "alexnet.pool1", op: "Pooling", data: [n, 96, 54, 54], output: [n, 96, 27, 27], readsOfData: 1
            ) { md, tag in
                try pooling(md, output: [n, 96, 27, 27], tag: tag, .max, kernel: 3, stride: 2, pad: 0, padRight: 1)
            },
            // Avg pooling 3/1 pad 1, Inception 3a pool branch.
            LayoutCase(
                name: "inception.3a.pool", op: "Pooling", data: [n, 192, 28, 28], output: [n, 192, 28, 28],
                readsOfData: 1
            ) { md, tag in
                try pooling(
                    md, output: [n, 192, 28, 28], tag: tag, .averageIncludingPadding, kernel: 3, stride: 1, pad: 1,
                    padRight: 1)
            },
            // LRN across 5 channels, AlexNet after conv1.
            LayoutCase(
                name: "alexnet.lrn1", op: "LRN", data: [n, 96, 54, 54], output: [n, 96, 54, 54], readsOfData: 1
            ) { md, _ in
                (
                    try .lrnForward(.forwardTraining, data: md, size: 5, alpha: 1e-4, beta: 0.75, k: 1),
                    try .lrnBackward(diffData: md, data: md, size: 5, alpha: 1e-4, beta: 0.75, k: 1)
                )
            },
            // ReLU after an Inception 3a convolution.
            LayoutCase(
                name: "inception.3a.relu", op: "Activation", data: [n, 64, 28, 28], output: [n, 64, 28, 28],
                readsOfData: 1
            ) { md, _ in
                (
                    try .eltwiseForward(.forwardTraining, .reluUsingOutput, data: md),
                    try .eltwiseBackward(.reluUsingOutput, diffData: md, data: md)
                )
            },
        ]
    }

    private static func pooling(
        _ md: MemoryDescriptor, output: [Int], tag: FormatTag, _ algorithm: PoolingAlgorithm, kernel: Int, stride: Int,
        pad: Int, padRight: Int
    ) throws -> (OperationDescriptor, OperationDescriptor) {
        let dst = try MemoryDescriptor(output, tag)
        let (kernels, strides, left, right) = ([kernel, kernel], [stride, stride], [pad, pad], [padRight, padRight])
        return (
            try .poolingForward(
                .forwardTraining, algorithm, source: md, destination: dst, strides: strides, kernel: kernels,
                paddingLeft: left, paddingRight: right),
            try .poolingBackward(
                algorithm, diffSource: md, diffDestination: dst, strides: strides, kernel: kernels, paddingLeft: left,
                paddingRight: right)
        )
    }
}

/// Times the forward-training and backward primitives of one operator in one layout and
/// reports GB/s of the activations they read and write.
private func timePair(
    _ operation: LayoutCase, format: String, forward: PrimitiveDescriptor, backward: PrimitiveDescriptor,
    stream: DNNL.Stream, runs: Int, runSeconds: Double, log: (String) -> Void
) throws -> [OperatorResult] {
    let (name, op, data, output, readsOfData) = (
        operation.name, operation.op, operation.data, operation.output, operation.readsOfData
    )
    let queries: [(ArgumentKind, MemoryQuery)] = [
        (.source, .source), (.destination, .destination), (.workspace, .workspace), (.scale, .weights),
        (.shift, .weights),
        (.mean, .source), (.variance, .source), (.diffDestination, .diffDestination), (.diffSource, .diffSource),
        (.diffScale, .diffWeights), (.diffShift, .diffWeights), (.scratchpad, .scratchpad),
    ]
    let perChannel: Set<ArgumentKind> = [.mean, .variance, .scale, .shift, .diffScale, .diffShift]
    var keep: [(Tensor, Memory)] = []
    var workspace: (Tensor, Memory)? = nil
    func arguments(_ descriptor: PrimitiveDescriptor, isBackward: Bool) throws -> PrimitiveArguments {
        var result = PrimitiveArguments()
        for (index, (arg, query)) in queries.enumerated() {
            // Batch statistics are per channel; scale/shift likewise.
            var descriptorForArg: MemoryDescriptor
            if perChannel.contains(arg) {
                guard op == "BatchNorm" else { continue }
                descriptorForArg = try MemoryDescriptor.plain([data[1]])
            } else {
                descriptorForArg = descriptor.memoryDescriptor(query)
            }
            if descriptorForArg.byteCount == 0 { continue }
            if arg == .workspace, let workspace {
                result.append(arg, workspace.1)
                continue
            }
            let tensor = Tensor(shape: [(descriptorForArg.byteCount + 3) / 4])
            var generator = SeededGenerator(seed: UInt64(index + 1))
            tensor.fillUniform(0.5...1.5, using: &generator)
            let memory = try Memory(descriptorForArg, pointer: tensor.rawPointer)
            keep.append((tensor, memory))
            if arg == .workspace { workspace = (tensor, memory) }
            result.append(arg, memory)
        }
        return result
    }
    let forwardArguments = try arguments(forward, isBackward: false)
    let backwardArguments = try arguments(backward, isBackward: true)
    let forwardPrimitive = try Primitive(forward), backwardPrimitive = try Primitive(backward)
    forwardPrimitive.execute(forwardArguments, on: stream)
    let forwardSeconds = measure(runs: runs, runSeconds: runSeconds) {
        forwardPrimitive.execute(forwardArguments, on: stream)
    }
    let backwardSeconds = measure(runs: runs, runSeconds: runSeconds) {
        backwardPrimitive.execute(backwardArguments, on: stream)
    }
    let dataBytes = Double(data.reduce(1, *) * 4), outputBytes = Double(output.reduce(1, *) * 4)
    let forwardBytes = readsOfData * dataBytes + outputBytes, backwardBytes = 2 * dataBytes + outputBytes
    withExtendedLifetime(keep) {}
    func result(_ pass: String, _ seconds: [Double], _ bytes: Double, _ descriptor: PrimitiveDescriptor)
        -> OperatorResult
    {
        let middle = median(seconds)
        return OperatorResult(
            name: name, op: op, pass: pass, batch: data[0], gflops: nil, gbps: bytes / middle / 1e9,
            runs: seconds.map { bytes / $0 / 1e9 }, implementation: descriptor.implementationName,
            format: format, seconds: middle, reorderShare: nil)
    }
    let results = [
        result("forward", forwardSeconds, forwardBytes, forward),
        result("backward", backwardSeconds, backwardBytes, backward),
    ]
    for r in results {
        log(String(format: "%@ %@ [%@]: %.1f GB/s (%@)", r.name, r.pass, format, r.gbps ?? 0, r.implementation))
    }
    return results
}
