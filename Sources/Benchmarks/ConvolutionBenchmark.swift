import DNNL
import Foundation
import Operators
import TensorCore

/// One convolution shape of the seed networks.
public struct ConvolutionSpec: Sendable {
    public var name: String
    public var definition: Convolution
    public var data: Shape

    /// AlexNet (2015 script, 224 input, `full` pooling) conv1–conv5 and the 1×1 and 3×3
    /// convolutions of Inception-BN's 3a (28×28) and 4a (14×14) blocks.
    public static func seedShapes(batch n: Int) -> [ConvolutionSpec] {
        func conv(_ name: String, _ c: Int, _ f: Int, _ k: Int, _ size: Int, stride: Int = 1, pad: Int = 0)
            -> ConvolutionSpec
        {
            ConvolutionSpec(
                name: name,
                definition: Convolution(
                    kernel: [k, k], filterCount: f, stride: [stride, stride],
                    pad: [pad, pad]), data: [n, c, size, size])
        }
        return [
            conv("alexnet.conv1", 3, 96, 11, 224, stride: 4),
            conv("alexnet.conv2", 96, 256, 5, 27, pad: 2),
            conv("alexnet.conv3", 256, 384, 3, 13, pad: 1),
            conv("alexnet.conv4", 384, 384, 3, 13, pad: 1),
            conv("alexnet.conv5", 384, 256, 3, 13, pad: 1),
            conv("inception.3a.1x1", 192, 64, 1, 28),
            conv("inception.3a.3x3", 64, 64, 3, 28, pad: 1),
            conv("inception.3a.double_3x3_0", 64, 96, 3, 28, pad: 1),
            conv("inception.3a.double_3x3_1", 96, 96, 3, 28, pad: 1),
            conv("inception.4a.1x1", 576, 224, 1, 14),
            conv("inception.4a.3x3", 64, 96, 3, 14, pad: 1),
            conv("inception.4a.double_3x3_0", 96, 128, 3, 14, pad: 1),
            conv("inception.4a.double_3x3_1", 128, 128, 3, 14, pad: 1),
        ]
    }
}

/// A buffer in a primitive's chosen layout, bound to a oneDNN memory object.
private final class Buffer {
    let tensor: Tensor
    let memory: Memory
    init(_ descriptor: MemoryDescriptor, seed: UInt64) throws {
        tensor = Tensor(shape: [(descriptor.byteCount + 3) / 4])
        var generator = SeededGenerator(seed: seed)
        tensor.fillUniform(-1...1, using: &generator)
        memory = try Memory(descriptor, pointer: tensor.rawPointer)
    }
}

/// Times the three passes of one convolution on their primitives, plus the reorders
/// between MXNet's plain layout and the chosen ones.
func benchConvolution(
    _ spec: ConvolutionSpec, runs: Int, runSeconds: Double, allImplementations: Bool = false,
    activationLayout: FormatTag = .any, log: (String) -> Void
) throws -> [OperatorResult] {
    let shapes = try spec.definition.inferShapes([spec.data], node: spec.name)
    let primitives = try ConvolutionPrimitives(spec.definition, shapes: shapes, activationLayout: activationLayout)
    let stream = try DNNL.Stream()
    let output = shapes.outputs[0]
    let flops =
        2.0 * Double(output.elementCount) * Double(shapes.arguments[1].elementCount / spec.definition.filterCount)
    let plainData = try MemoryDescriptor.plain(spec.data.dimensions)
    let plainOutput = try MemoryDescriptor.plain(output.dimensions)

    /// Seconds of reordering `plain` to `chosen` (or back), zero when they agree.
    func reorderSeconds(_ plain: MemoryDescriptor, _ chosen: MemoryDescriptor, toPlain: Bool) throws -> Double {
        if plain.isEqual(to: chosen) { return 0 }
        let reorder = toPlain ? try Reorder(from: chosen, to: plain) : try Reorder(from: plain, to: chosen)
        let source = Tensor(shape: [((toPlain ? chosen : plain).byteCount + 3) / 4])
        let destination = Tensor(shape: [((toPlain ? plain : chosen).byteCount + 3) / 4])
        return median(
            measure(runs: runs, runSeconds: runSeconds / 3) {
                reorder.run(from: source.rawPointer, to: destination.rawPointer, on: stream)
            })
    }

    func pass(
        _ name: String, _ descriptor: PrimitiveDescriptor, _ arguments: [(ArgumentKind, MemoryQuery, Int)],
        activationFormats: [(MemoryDescriptor, MemoryQuery, Bool)]
    ) throws -> OperatorResult {
        let scratchpad = try Buffer(descriptor.memoryDescriptor(.scratchpad), seed: 0)
        var buffers: [Buffer] = []
        var execArguments = PrimitiveArguments([.scratchpad: scratchpad.memory])
        for (index, (arg, query, position)) in arguments.enumerated() {
            let buffer = try Buffer(descriptor.memoryDescriptor(query, position), seed: UInt64(index + 1))
            buffers.append(buffer)
            execArguments.append(arg, buffer.memory)
        }
        let primitive = try Primitive(descriptor)
        let seconds = measure(runs: runs, runSeconds: runSeconds) { primitive.execute(execArguments, on: stream) }
        withExtendedLifetime(buffers) {}
        var reorder = 0.0
        for (plain, query, toPlain) in activationFormats {
            reorder += try reorderSeconds(plain, descriptor.memoryDescriptor(query), toPlain: toPlain)
        }
        let format = arguments.map { arg, query, position in
            "\(arg.shortName):\(descriptor.memoryDescriptor(query, position).formatName)"
        }.joined(separator: " ")
        let middle = median(seconds)
        return OperatorResult(
            name: spec.name, op: "Convolution", pass: name, batch: spec.data[0],
            gflops: flops / middle / 1e9, gbps: nil, runs: seconds.map { flops / $0 / 1e9 },
            implementation: descriptor.implementationName, format: format, seconds: middle,
            reorderShare: reorder / middle)
    }

    var results: [OperatorResult] = []
    var forwardArguments: [(ArgumentKind, MemoryQuery, Int)] = [
        (.source, .source, 0), (.weights, .weights, 0),
        (.destination, .destination, 0),
    ]
    if spec.definition.hasBias { forwardArguments.append((.bias, .weights, 1)) }
    let dataArguments: [(ArgumentKind, MemoryQuery, Int)] = [
        (.diffDestination, .diffDestination, 0), (.weights, .weights, 0),
        (.diffSource, .diffSource, 0),
    ]
    var weightArguments: [(ArgumentKind, MemoryQuery, Int)] = [
        (.source, .source, 0), (.diffDestination, .diffDestination, 0),
        (.diffWeights, .diffWeights, 0),
    ]
    if spec.definition.hasBias { weightArguments.append((.diffBias, .diffWeights, 1)) }
    let forwardFormats: [(MemoryDescriptor, MemoryQuery, Bool)] = [
        (plainData, .source, false), (plainOutput, .destination, true),
    ]
    let dataFormats: [(MemoryDescriptor, MemoryQuery, Bool)] = [
        (plainOutput, .diffDestination, false),
        (plainData, .diffSource, true),
    ]
    let weightFormats: [(MemoryDescriptor, MemoryQuery, Bool)] = [
        (plainData, .source, false),
        (plainOutput, .diffDestination, false),
    ]
    results.append(try pass("forward", primitives.forward, forwardArguments, activationFormats: forwardFormats))
    results.append(try pass("backward-data", primitives.backwardData, dataArguments, activationFormats: dataFormats))
    results.append(
        try pass("backward-weights", primitives.backwardWeights, weightArguments, activationFormats: weightFormats))
    if allImplementations {
        let attributes = try PrimitiveAttributes()
        let alternatives = [
            (
                "forward",
                try PrimitiveDescriptor.allImplementations(primitives.forwardOperation, attributes: attributes),
                forwardArguments, forwardFormats
            ),
            (
                "backward-data",
                try PrimitiveDescriptor.allImplementations(
                    primitives.backwardDataOperation,
                    attributes: attributes, hint: primitives.forward),
                dataArguments, dataFormats
            ),
            (
                "backward-weights",
                try PrimitiveDescriptor.allImplementations(
                    primitives.backwardWeightsOperation,
                    attributes: attributes, hint: primitives.forward),
                weightArguments, weightFormats
            ),
        ]
        for (name, candidates, arguments, formats) in alternatives {
            // The reference implementations run at ~1 GFLOPS: not worth the wait.
            for candidate in candidates.dropFirst() where !candidate.implementationName.hasPrefix("ref") {
                var alternative = try pass(name, candidate, arguments, activationFormats: formats)
                alternative.pass = name + " (alternative)"
                results.append(alternative)
            }
        }
    }
    for r in results {
        log(String(format: "%@ %@: %.1f GFLOPS (%@)", r.name, r.pass, r.gflops ?? 0, r.implementation))
    }
    return results
}

/// Times an operator through its kernel (plain NCHW in and out): forward (training) and
/// backward. FLOP-bound operators report GFLOPS, the others GB/s of the tensors they touch.
func benchKernel<Definition: OperatorDefinition>(
    name: String, _ definition: Definition, data: Shape, flops: Double?, runs: Int, runSeconds: Double,
    log: (String) -> Void
) throws -> [OperatorResult] {
    var shapes = try definition.inferShapes([data], node: name)
    // 4-D activations in the layout the executor keeps them in (blocked when the channels divide).
    let block = TensorLayout.preferredBlock
    let layout: TensorLayout = data.rank == 4 && data[1] % block == 0 ? .blocked(block) : .plain
    if layout != .plain {
        shapes.argumentLayouts = shapes.arguments.map { $0.rank == 4 ? layout : .plain }
        shapes.outputLayouts = shapes.outputs.map { $0.rank == 4 ? layout : .plain }
    }
    let context = KernelContext()
    let kernel = try definition.makeKernel(shapes: shapes, context: context)
    var generator = SeededGenerator(seed: 2)
    let arguments = shapes.arguments.map { shape -> Tensor in
        let tensor = Tensor(shape: shape)
        tensor.fillUniform(-1...1, using: &generator)
        return tensor
    }
    let outputs = shapes.outputs.map { Tensor(shape: $0) }
    let auxiliary = shapes.auxiliary.map { shape -> Tensor in
        let tensor = Tensor(shape: shape)
        tensor.fill(1)
        return tensor
    }
    let gradients: [Tensor?] = shapes.arguments.map { Tensor(shape: $0) }
    let outputGradients = (0..<definition.visibleOutputCount).map { index -> Tensor in
        let tensor = Tensor(shape: shapes.outputs[index])
        tensor.fillUniform(-1...1, using: &generator)
        return tensor
    }
    let forwardCall = ForwardCall(isTraining: true, arguments: arguments, outputs: outputs, auxiliary: auxiliary)
    let backwardCall = BackwardCall(
        outputGradients: outputGradients, arguments: arguments, outputs: outputs,
        auxiliary: auxiliary, argumentGradients: gradients,
        requests: Array(repeating: .write, count: arguments.count))
    kernel.forward(forwardCall)
    let forward = measure(runs: runs, runSeconds: runSeconds) { kernel.forward(forwardCall) }
    let backward = measure(runs: runs, runSeconds: runSeconds) { kernel.backward(backwardCall) }
    let dataBytes = Double(data.elementCount * 4), outputBytes = Double(shapes.outputs[0].elementCount * 4)
    let op = Definition.mxnetName
    func result(_ pass: String, _ seconds: [Double], bytes: Double, flopFactor: Double) -> OperatorResult {
        let middle = median(seconds)
        let passFlops = flops.map { $0 * flopFactor }
        return OperatorResult(
            name: name, op: op, pass: pass, batch: data[0],
            gflops: passFlops.map { $0 / middle / 1e9 }, gbps: flops == nil ? bytes / middle / 1e9 : nil,
            runs: seconds.map { time in passFlops.map { $0 / time / 1e9 } ?? bytes / time / 1e9 },
            implementation: kernel.implementation, format: layout.description, seconds: middle, reorderShare: nil)
    }
    // Bytes: forward reads data and writes output; backward reads data (or output) and the
    // output gradient, and writes the data gradient. BatchNorm reads data twice (statistics).
    let forwardBytes = dataBytes * (op == "BatchNorm" ? 2 : 1) + outputBytes
    let backwardBytes = 2 * dataBytes + outputBytes
    // A FLOP-bound backward computes both the data and the weight gradient: twice the forward FLOPs.
    let results = [
        result("forward", forward, bytes: forwardBytes, flopFactor: 1),
        result("backward", backward, bytes: backwardBytes, flopFactor: 2),
    ]
    for r in results {
        log(
            "\(r.name) \(r.pass): "
                + (r.gflops.map { String(format: "%.1f GFLOPS", $0) }
                    ?? String(format: "%.1f GB/s", r.gbps ?? 0)) + " (\(r.implementation))")
    }
    return results
}
