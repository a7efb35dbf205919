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
        // BatchNorm, Inception 3a size.
        if selected("inception.3a.bn") {
            results += try timePair(
                name: "inception.3a.bn", op: "BatchNorm", data: [n, 64, 28, 28], output: [n, 64, 28, 28],
                format: format, readsOfData: 2, stream: stream, runs: runs, runSeconds: runSeconds, log: log
            ) { md in
                let fwd = try PrimitiveDescriptor(
                    .batchNormalizationForward(
                        .forwardTraining, data: md, epsilon: 1e-3,
                        flags: [.scale, .shift]),
                    attributes: attributes, what: "bn forward")
                return (
                    fwd,
                    try PrimitiveDescriptor(
                        .batchNormalizationBackward(
                            diffData: md, data: md, epsilon: 1e-3,
                            flags: [.scale, .shift]),
                        attributes: attributes, hint: fwd, what: "bn backward")
                )
            } layoutTag: {
                tag
            }
        }
        // Max pooling 3/2 `full`, AlexNet pool1.
        if selected("alexnet.pool1") {
            results += try timePair(
                name: "alexnet.pool1", op: "Pooling", data: [n, 96, 54, 54], output: [n, 96, 27, 27],
                format: format, readsOfData: 1, stream: stream, runs: runs, runSeconds: runSeconds, log: log
            ) { md in
                try poolingDescriptors(
                    md, output: [n, 96, 27, 27], tag: tag, algorithm: .max, kernel: 3, stride: 2,
                    pad: 0, padRight: 1, attributes: attributes)
            } layoutTag: {
                tag
            }
        }
        // Avg pooling 3/1 pad 1, Inception 3a pool branch.
        if selected("inception.3a.pool") {
            results += try timePair(
                name: "inception.3a.pool", op: "Pooling", data: [n, 192, 28, 28], output: [n, 192, 28, 28],
                format: format, readsOfData: 1, stream: stream, runs: runs, runSeconds: runSeconds, log: log
            ) { md in
                try poolingDescriptors(
                    md, output: [n, 192, 28, 28], tag: tag, algorithm: .averageIncludingPadding,
                    kernel: 3, stride: 1, pad: 1, padRight: 1, attributes: attributes)
            } layoutTag: {
                tag
            }
        }
        // LRN across 5 channels, AlexNet after conv1.
        if selected("alexnet.lrn1") {
            results += try timePair(
                name: "alexnet.lrn1", op: "LRN", data: [n, 96, 54, 54], output: [n, 96, 54, 54],
                format: format, readsOfData: 1, stream: stream, runs: runs, runSeconds: runSeconds, log: log
            ) { md in
                let fwd = try PrimitiveDescriptor(
                    .lrnForward(.forwardTraining, data: md, size: 5, alpha: 1e-4, beta: 0.75, k: 1),
                    attributes: attributes, what: "lrn forward")
                return (
                    fwd,
                    try PrimitiveDescriptor(
                        .lrnBackward(diffData: md, data: md, size: 5, alpha: 1e-4, beta: 0.75, k: 1),
                        attributes: attributes, hint: fwd, what: "lrn backward")
                )
            } layoutTag: {
                tag
            }
        }
        // ReLU after an Inception 3a convolution.
        if selected("inception.3a.relu") {
            results += try timePair(
                name: "inception.3a.relu", op: "Activation", data: [n, 64, 28, 28], output: [n, 64, 28, 28],
                format: format, readsOfData: 1, stream: stream, runs: runs, runSeconds: runSeconds, log: log
            ) { md in
                let fwd = try PrimitiveDescriptor(
                    .eltwiseForward(.forwardTraining, .reluUsingOutput, data: md),
                    attributes: attributes, what: "relu forward")
                return (
                    fwd,
                    try PrimitiveDescriptor(
                        .eltwiseBackward(.reluUsingOutput, diffData: md, data: md),
                        attributes: attributes, hint: fwd, what: "relu backward")
                )
            } layoutTag: {
                tag
            }
        }
    }
    return results
}

private func poolingDescriptors(
    _ md: MemoryDescriptor, output: [Int], tag: FormatTag, algorithm: PoolingAlgorithm,
    kernel: Int, stride: Int, pad: Int, padRight: Int,
    attributes: PrimitiveAttributes
) throws -> (PrimitiveDescriptor, PrimitiveDescriptor) {
    let dst = try MemoryDescriptor(output, tag)
    let (kernels, strides) = ([kernel, kernel], [stride, stride])
    let (left, right) = ([pad, pad], [padRight, padRight])
    let fwd = try PrimitiveDescriptor(
        .poolingForward(
            .forwardTraining, algorithm, source: md, destination: dst,
            strides: strides, kernel: kernels, paddingLeft: left,
            paddingRight: right),
        attributes: attributes, what: "pooling forward")
    return (
        fwd,
        try PrimitiveDescriptor(
            .poolingBackward(
                algorithm, diffSource: md, diffDestination: dst, strides: strides,
                kernel: kernels, paddingLeft: left, paddingRight: right),
            attributes: attributes, hint: fwd, what: "pooling backward")
    )
}

/// Times the forward-training and backward primitives of one operator in one layout and
/// reports GB/s of the activations they read and write.
private func timePair(
    name: String, op: String, data: [Int], output: [Int], format: String, readsOfData: Double,
    stream: DNNL.Stream, runs: Int, runSeconds: Double, log: (String) -> Void,
    _ build: (MemoryDescriptor) throws -> (PrimitiveDescriptor, PrimitiveDescriptor),
    layoutTag: () -> FormatTag
) throws -> [OperatorResult] {
    let md = try MemoryDescriptor(data, layoutTag())
    let (forward, backward) = try build(md)
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
