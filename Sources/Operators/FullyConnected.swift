import DNNL
import TensorCore

/// MXNet's `FullyConnected`: `y = x·Wᵀ + b`.
///
/// With `flatten` (default) data `(N, d1, …)` is seen as `(N, K)`, K = d1·…; otherwise the
/// last axis is K and the leading axes are kept. weight `(H, K)`, bias `(H,)`, output `(N, H)`
/// (or `(…, H)`).
public struct FullyConnected: OperatorDefinition {
    public static let mxnetName = "FullyConnected"

    public var hiddenCount: Int
    public var hasBias: Bool
    public var flatten: Bool

    public init(hiddenCount: Int, hasBias: Bool = true, flatten: Bool = true) {
        self.hiddenCount = hiddenCount
        self.hasBias = hasBias
        self.flatten = flatten
    }

    public init(attributes: [String: String], node: String) throws(OperatorError) {
        let reader = AttributeReader(attributes, node: node)
        hiddenCount = try reader.int("num_hidden")
        hasBias = !(try reader.bool("no_bias", default: false))
        flatten = try reader.bool("flatten", default: true)
        guard hiddenCount > 0 else { throw OperatorError(node: node, "num_hidden must be positive") }
    }

    public var argumentNames: [String] { hasBias ? ["data", "weight", "bias"] : ["data", "weight"] }
    public var argumentRoles: [ArgumentRole] { hasBias ? [.data, .weight, .bias] : [.data, .weight] }
    public func activationType(computing compute: DataType) -> DataType { compute }
    public func forwardFlops(_ shapes: NodeShapes) -> Double { weightedSumFlops(shapes) }
    public var backwardDependencies: BackwardDependencies { BackwardDependencies(inputs: [0, 1]) }

    /// (rows, input features) of the matrix product.
    func matrix(_ data: Shape) -> (rows: Int, inputs: Int) {
        flatten
            ? (data[0], data.elementCount / max(data[0], 1))
            : (data.elementCount / max(data[data.rank - 1], 1), data[data.rank - 1])
    }

    public func inferShapes(_ arguments: [Shape?], node: String) throws(OperatorError) -> NodeShapes {
        let data = try requireDataShape(arguments, node: node)
        guard data.rank >= (flatten ? 1 : 2) else { throw OperatorError(node: node, "data shape \(data) is too small") }
        let (_, inputs) = matrix(data)
        let weight: Shape = [hiddenCount, inputs]
        try expectShape(arguments.count > 1 ? arguments[1] : nil, weight, argument: "weight", node: node)
        var shapes = [data, weight]
        if hasBias {
            try expectShape(arguments.count > 2 ? arguments[2] : nil, [hiddenCount], argument: "bias", node: node)
            shapes.append([hiddenCount])
        }
        let output: Shape = flatten ? [data[0], hiddenCount] : Shape(Array(data.dimensions.dropLast()) + [hiddenCount])
        return NodeShapes(arguments: shapes, outputs: [output])
    }

    public func makeKernel(shapes: NodeShapes, context: KernelContext) throws -> any OperatorKernel {
        try oneDNNOrReference(self, shapes: shapes, context: context) {
            try FullyConnectedKernel(self, shapes: shapes, context: context)
        }
    }

    public func referenceForward<T: BinaryFloatingPoint & Sendable>(
        _ arguments: [[T]], auxiliary: inout [[T]], shapes: NodeShapes, isTraining: Bool
    ) -> [[T]] {
        let (rows, inputs) = matrix(shapes.arguments[0])
        var output = [T](repeating: 0, count: rows * hiddenCount)
        for r in 0..<rows {
            for h in 0..<hiddenCount {
                var sum: T = hasBias ? arguments[2][h] : 0
                for k in 0..<inputs { sum += arguments[0][r * inputs + k] * arguments[1][h * inputs + k] }
                output[r * hiddenCount + h] = sum
            }
        }
        return [output]
    }

    public func referenceBackward<T: BinaryFloatingPoint & Sendable>(
        outputGradients: [[T]], arguments: [[T]], outputs: [[T]], auxiliary: inout [[T]],
        shapes: NodeShapes
    ) -> [[T]] {
        let (rows, inputs) = matrix(shapes.arguments[0])
        let dy = outputGradients[0]
        var dx = [T](repeating: 0, count: rows * inputs)
        var dw = [T](repeating: 0, count: hiddenCount * inputs)
        var db = [T](repeating: 0, count: hiddenCount)
        for r in 0..<rows {
            for h in 0..<hiddenCount {
                let g = dy[r * hiddenCount + h]
                db[h] += g
                for k in 0..<inputs {
                    dx[r * inputs + k] += g * arguments[1][h * inputs + k]
                    dw[h * inputs + k] += g * arguments[0][r * inputs + k]
                }
            }
        }
        return hasBias ? [dx, dw, db] : [dx, dw]
    }
}

/// oneDNN inner product forward, backward-data and backward-weights on the 2-D view.
final class FullyConnectedKernel: OperatorKernel {
    private let context: KernelContext
    private let hasBias: Bool
    private let forwardPrimitive, backwardDataPrimitive, backwardWeightsPrimitive: Primitive
    private let source, output, bias, gradientSource, gradientOutput, scratchpad: Memory
    private let weights, weightsForData: LayoutBridge
    private let weightGradients: WeightGradients
    private let outputTarget = RequestTarget(slot: 0), dataTarget = RequestTarget(slot: 0)
    private let forwardArguments, backwardDataArguments, backwardWeightsArguments: PrimitiveArguments

    private var prepared = PreparedParameters()

    var implementation: String { forwardPrimitive.descriptor.implementationName }

    init(_ definition: FullyConnected, shapes: NodeShapes, context: KernelContext) throws {
        self.context = context
        hasBias = definition.hasBias
        let (rows, inputs) = definition.matrix(shapes.arguments[0])
        let hidden = definition.hiddenCount
        // Activations and the weights the primitive reads in the activations' type (bfloat16
        // under mixed precision, converted from the float32 master copy); bias and weight
        // gradients float32.
        let type = shapes.type(ofArgument: 0).oneDNN
        let src = try MemoryDescriptor([rows, inputs], .plain, dataType: type)
        // Plain (H, K) weights: oneDNN's gemm reads them as they are, where a blocked choice
        // would cost a reorder of the whole matrix every batch.
        let plainWeights = try MemoryDescriptor.plain([hidden, inputs])
        let computeWeights = try MemoryDescriptor([hidden, inputs], .plain, dataType: type)
        let biasDesc = try MemoryDescriptor.plain([hidden])
        let dst = try MemoryDescriptor([rows, hidden], .plain, dataType: shapes.type(ofOutput: 0).oneDNN)
        let attributes = try PrimitiveAttributes()
        let hasBias = definition.hasBias
        let fwd = try PrimitiveDescriptor(
            .innerProductForward(
                .forwardTraining, source: src, weights: computeWeights, bias: hasBias ? biasDesc : nil,
                destination: dst),
            attributes: attributes, what: "inner product forward")
        let bwdData = try PrimitiveDescriptor(
            .innerProductBackwardData(diffSource: src, weights: computeWeights, diffDestination: dst),
            attributes: attributes, hint: fwd, what: "inner product backward data")
        let bwdWeights = try PrimitiveDescriptor(
            .innerProductBackwardWeights(
                source: src, diffWeights: plainWeights, diffBias: hasBias ? biasDesc : nil,
                diffDestination: dst),
            attributes: attributes, hint: fwd, what: "inner product backward weights")
        source = try Memory(src)
        output = try Memory(dst)
        bias = try Memory(biasDesc)
        gradientSource = try Memory(src)
        gradientOutput = try Memory(dst)
        weights = try context.bridge(plain: plainWeights, chosen: fwd.memoryDescriptor(.weights))
        // Backward-data reads the weights forward converted in the same step when it wants
        // them in the same form (a bfloat16 copy is then made once per step, not twice).
        let dataWeights = bwdData.memoryDescriptor(.weights)
        weightsForData =
            dataWeights.isEqual(to: weights.chosen)
            ? weights : try context.bridge(plain: plainWeights, chosen: dataWeights)
        weightGradients = WeightGradients(
            weights: try context.bridge(plain: plainWeights, chosen: bwdWeights.memoryDescriptor(.diffWeights)),
            weightShape: [hidden, inputs], bias: hasBias ? try Memory(biasDesc) : nil,
            biasShape: [hidden], context: context)
        context.reserveScratchpad(bytes: max(fwd.scratchpadBytes, bwdData.scratchpadBytes, bwdWeights.scratchpadBytes))
        scratchpad = try Memory(MemoryDescriptor.plain([max(1, context.scratchpadBytes / 4)]))
        forwardPrimitive = try Primitive(fwd)
        backwardDataPrimitive = try Primitive(bwdData)
        backwardWeightsPrimitive = try Primitive(bwdWeights)
        var forwardArguments = PrimitiveArguments([
            .source: source, .weights: weights.memory, .destination: output,
            .scratchpad: scratchpad,
        ])
        if hasBias { forwardArguments.append(.bias, bias) }
        self.forwardArguments = forwardArguments
        backwardDataArguments = PrimitiveArguments([
            .diffDestination: gradientOutput, .weights: weightsForData.memory,
            .diffSource: gradientSource, .scratchpad: scratchpad,
        ])
        var weightArguments = PrimitiveArguments([
            .source: source, .diffDestination: gradientOutput,
            .diffWeights: weightGradients.weights.memory, .scratchpad: scratchpad,
        ])
        if let gradientBias = weightGradients.bias { weightArguments.append(.diffBias, gradientBias) }
        backwardWeightsArguments = weightArguments
    }

    func forward(_ call: ForwardCall) {
        let request = call.requests[0]
        guard request != .skip else { return }
        scratchpad.bind(context.scratchpadPointer)
        source.bind(call.arguments[0].rawPointer)
        if prepared.needsUpdate(in: context) { weights.input(call.arguments[1].rawPointer) }
        if hasBias { bias.bind(call.arguments[2].rawPointer) }
        output.bind(outputTarget.pointer(for: call.outputs[0], request: request, in: context))
        forwardPrimitive.execute(forwardArguments, on: context.stream)
        outputTarget.complete(call.outputs[0], request: request, in: context)
    }

    func backward(_ call: BackwardCall) {
        scratchpad.bind(context.scratchpadPointer)
        gradientOutput.bind(call.outputGradients[0].rawPointer)
        if call.requests[0] != .skip, let dataGradient = call.argumentGradients[0] {
            if weightsForData !== weights { weightsForData.input(call.arguments[1].rawPointer) }
            gradientSource.bind(dataTarget.pointer(for: dataGradient, request: call.requests[0], in: context))
            backwardDataPrimitive.execute(backwardDataArguments, on: context.stream)
            dataTarget.complete(dataGradient, request: call.requests[0], in: context)
        }
        guard weightGradients.isNeeded(call) else { return }
        source.bind(call.arguments[0].rawPointer)
        weightGradients.compute(call) {
            backwardWeightsPrimitive.execute(backwardWeightsArguments, on: context.stream)
        }
    }
}
