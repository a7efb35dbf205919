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
    activationLayout: FormatTag = .any, dataType: DataType = .float32, log: (String) -> Void
) throws -> [OperatorResult] {
    let bench = try ConvolutionBenchmark(
        spec, runs: runs, runSeconds: runSeconds, activationLayout: activationLayout, dataType: dataType)
    var results = try bench.passes.map { try bench.time($0, on: $0.descriptor) }
    if allImplementations { results += try bench.alternatives() }
    for r in results {
        log(String(format: "%@ %@: %.1f GFLOPS (%@)", r.name, r.pass, r.gflops ?? 0, r.implementation))
    }
    return results
}

/// One convolution's primitives and how each pass is timed.
private struct ConvolutionBenchmark {
    /// One pass: its primitive, the memories it executes with (argument, query, index)
    /// and the activations whose reorder from/to plain NCHW it would need (plain
    /// descriptor, query, whether the reorder is back to plain).
    struct Pass {
        var name: String
        var descriptor: PrimitiveDescriptor
        var operation: OperationDescriptor
        var arguments: [(ArgumentKind, MemoryQuery, Int)]
        var activations: [(MemoryDescriptor, MemoryQuery, Bool)]
    }

    let spec: ConvolutionSpec
    let runs: Int
    let runSeconds: Double
    let stream: DNNL.Stream
    let flops: Double
    let primitives: ConvolutionPrimitives
    let passes: [Pass]

    /// `dataType` `.bfloat16`: activations and weights in bfloat16 (weight gradients float32),
    /// as a mixed-precision binding runs them.
    init(
        _ spec: ConvolutionSpec, runs: Int, runSeconds: Double, activationLayout: FormatTag, dataType: DataType
    ) throws {
        var shapes = try spec.definition.inferShapes([spec.data], node: spec.name)
        shapes.argumentTypes = shapes.arguments.indices.map { $0 == 0 ? dataType : .float32 }
        shapes.outputTypes = [dataType]
        shapes.computeType = dataType
        let primitives = try ConvolutionPrimitives(spec.definition, shapes: shapes, activationLayout: activationLayout)
        let output = shapes.outputs[0]
        let (data, out) = (
            try MemoryDescriptor.plain(spec.data.dimensions), try MemoryDescriptor.plain(output.dimensions)
        )
        let bias: [(ArgumentKind, MemoryQuery, Int)] = spec.definition.hasBias ? [(.bias, .weights, 1)] : []
        let diffBias: [(ArgumentKind, MemoryQuery, Int)] = spec.definition.hasBias ? [(.diffBias, .diffWeights, 1)] : []
        passes = [
            Pass(
                name: "forward", descriptor: primitives.forward, operation: primitives.forwardOperation,
                arguments: [(.source, .source, 0), (.weights, .weights, 0), (.destination, .destination, 0)] + bias,
                activations: [(data, .source, false), (out, .destination, true)]),
            Pass(
                name: "backward-data", descriptor: primitives.backwardData, operation: primitives.backwardDataOperation,
                arguments: [
                    (.diffDestination, .diffDestination, 0), (.weights, .weights, 0), (.diffSource, .diffSource, 0),
                ],
                activations: [(out, .diffDestination, false), (data, .diffSource, true)]),
            Pass(
                name: "backward-weights", descriptor: primitives.backwardWeights,
                operation: primitives.backwardWeightsOperation,
                arguments: [
                    (.source, .source, 0), (.diffDestination, .diffDestination, 0), (.diffWeights, .diffWeights, 0),
                ]
                    + diffBias,
                activations: [(data, .source, false), (out, .diffDestination, false)]),
        ]
        self.spec = spec
        self.runs = runs
        self.runSeconds = runSeconds
        self.primitives = primitives
        stream = try DNNL.Stream()
        flops =
            2.0 * Double(output.elementCount) * Double(shapes.arguments[1].elementCount / spec.definition.filterCount)
    }

    /// Every other implementation oneDNN offers for each pass (the reference ones, at
    /// about 1 GFLOPS, left out).
    func alternatives() throws -> [OperatorResult] {
        let attributes = try PrimitiveAttributes()
        var results: [OperatorResult] = []
        for pass in passes {
            let hint = pass.name == "forward" ? nil : primitives.forward
            let candidates = try PrimitiveDescriptor.allImplementations(
                pass.operation, attributes: attributes, hint: hint)
            for candidate in candidates.dropFirst() where !candidate.implementationName.hasPrefix("ref") {
                var alternative = try time(pass, on: candidate)
                alternative.pass = pass.name + " (alternative)"
                results.append(alternative)
            }
        }
        return results
    }

    /// Times `pass` on the implementation `descriptor`, with the reorders it would need.
    func time(_ pass: Pass, on descriptor: PrimitiveDescriptor) throws -> OperatorResult {
        let scratchpad = try Buffer(descriptor.memoryDescriptor(.scratchpad), seed: 0)
        var buffers: [Buffer] = []
        var execArguments = PrimitiveArguments([.scratchpad: scratchpad.memory])
        for (index, (arg, query, position)) in pass.arguments.enumerated() {
            let buffer = try Buffer(descriptor.memoryDescriptor(query, position), seed: UInt64(index + 1))
            buffers.append(buffer)
            execArguments.append(arg, buffer.memory)
        }
        let primitive = try Primitive(descriptor)
        let seconds = measure(runs: runs, runSeconds: runSeconds) { primitive.execute(execArguments, on: stream) }
        withExtendedLifetime(buffers) {}
        var reorder = 0.0
        for (plain, query, toPlain) in pass.activations {
            reorder += try reorderSeconds(plain, descriptor.memoryDescriptor(query), toPlain: toPlain)
        }
        let format = pass.arguments.map { arg, query, position in
            "\(arg.shortName):\(descriptor.memoryDescriptor(query, position).formatName)"
        }.joined(separator: " ")
        let middle = median(seconds)
        return OperatorResult(
            name: spec.name, op: "Convolution", pass: pass.name, batch: spec.data[0],
            gflops: flops / middle / 1e9, gbps: nil, runs: seconds.map { flops / $0 / 1e9 },
            implementation: descriptor.implementationName, format: format, seconds: middle,
            reorderShare: reorder / middle)
    }

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
