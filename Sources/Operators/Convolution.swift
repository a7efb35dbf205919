import DNNL
import TensorCore

/// 2-D convolution, MXNet's `Convolution`.
///
/// data `(N, C, H, W)`, weight `(F, C/G, KH, KW)`, bias `(F,)` → output `(N, F, OH, OW)` with
/// `OH = ⌊(H + 2·padH − dilateH·(KH−1) − 1) / strideH⌋ + 1` (likewise OW).
public struct Convolution: OperatorDefinition {
    public static let mxnetName = "Convolution"

    public var kernel: [Int]
    public var stride: [Int]
    public var pad: [Int]
    public var dilate: [Int]
    public var filterCount: Int
    public var groupCount: Int
    public var hasBias: Bool

    public init(
        kernel: [Int], filterCount: Int, stride: [Int] = [1, 1], pad: [Int] = [0, 0],
        dilate: [Int] = [1, 1], groupCount: Int = 1, hasBias: Bool = true
    ) {
        self.kernel = kernel
        self.filterCount = filterCount
        self.stride = stride
        self.pad = pad
        self.dilate = dilate
        self.groupCount = groupCount
        self.hasBias = hasBias
    }

    public init(attributes: [String: String], node: String) throws(OperatorError) {
        let reader = AttributeReader(attributes, node: node)
        guard let kernel = try reader.tuple("kernel") else {
            throw OperatorError(node: node, "required attribute 'kernel' is missing")
        }
        guard kernel.count == 2 else {
            throw OperatorError(node: node, "only 2-D convolution is supported, kernel is \(kernel)")
        }
        self.kernel = kernel
        stride = try reader.spatial("stride", count: 2, default: 1)
        pad = try reader.spatial("pad", count: 2, default: 0)
        dilate = try reader.spatial("dilate", count: 2, default: 1)
        filterCount = try reader.int("num_filter")
        groupCount = try reader.int("num_group", default: 1)
        hasBias = !(try reader.bool("no_bias", default: false))
        if let layout = reader.attributes["layout"], !["NCHW", "None"].contains(layout.trimmingSpaces) {
            throw OperatorError(node: node, "layout '\(layout)' is not supported (NCHW only)")
        }
        guard stride.allSatisfy({ $0 > 0 }), dilate.allSatisfy({ $0 > 0 }), kernel.allSatisfy({ $0 > 0 }),
            filterCount > 0, groupCount > 0, filterCount % groupCount == 0
        else {
            throw OperatorError(node: node, "invalid convolution parameters \(attributes)")
        }
    }

    public var argumentNames: [String] { hasBias ? ["data", "weight", "bias"] : ["data", "weight"] }
    public var argumentRoles: [ArgumentRole] { hasBias ? [.data, .weight, .bias] : [.data, .weight] }
    public func blockedLayoutSupport(_ shapes: NodeShapes) -> BlockedLayoutSupport { .activationsAndInputs }
    public func activationType(computing compute: DataType) -> DataType { compute }
    public func forwardFlops(_ shapes: NodeShapes) -> Double { weightedSumFlops(shapes) }
    /// Inference folds a following BatchNorm and activation in (`FusedConvolution`).
    public func fusedForInference(followedBy next: any OperatorDefinition) -> (any OperatorDefinition)? {
        FusedConvolution(convolution: self, batchNorm: nil, activation: nil).fusedForInference(followedBy: next)
    }

    public var backwardDependencies: BackwardDependencies { BackwardDependencies(inputs: [0, 1]) }

    /// Output extent along one spatial axis.
    public func outputExtent(_ input: Int, axis: Int) -> Int {
        (input + 2 * pad[axis] - dilate[axis] * (kernel[axis] - 1) - 1) / stride[axis] + 1
    }

    public func inferShapes(_ arguments: [Shape?], node: String) throws(OperatorError) -> NodeShapes {
        let data = try requireDataShape(arguments, node: node, rank: 4)
        let channels = data[1]
        guard channels % groupCount == 0 else {
            throw OperatorError(node: node, "data has \(channels) channels, not divisible by num_group \(groupCount)")
        }
        let height = outputExtent(data[2], axis: 0), width = outputExtent(data[3], axis: 1)
        guard height > 0, width > 0 else {
            throw OperatorError(node: node, "kernel \(kernel) with pad \(pad) does not fit data \(data)")
        }
        let weight: Shape = [filterCount, channels / groupCount, kernel[0], kernel[1]]
        try expectShape(arguments.count > 1 ? arguments[1] : nil, weight, argument: "weight", node: node)
        var shapes = [data, weight]
        if hasBias {
            let bias: Shape = [filterCount]
            try expectShape(arguments.count > 2 ? arguments[2] : nil, bias, argument: "bias", node: node)
            shapes.append(bias)
        }
        return NodeShapes(arguments: shapes, outputs: [[data[0], filterCount, height, width]])
    }

    public func makeKernel(shapes: NodeShapes, context: KernelContext) throws -> any OperatorKernel {
        try oneDNNOrReference(self, shapes: shapes, context: context) {
            try ConvolutionKernel(self, shapes: shapes, context: context)
        }
    }
}

// MARK: - oneDNN kernel

/// The three oneDNN convolution primitives of one node, in the layouts oneDNN prefers.
public final class ConvolutionPrimitives {
    public let forward: PrimitiveDescriptor
    public let backwardData: PrimitiveDescriptor
    public let backwardWeights: PrimitiveDescriptor
    /// The operation descriptors, for enumerating the other implementations oneDNN offers.
    public let forwardOperation: OperationDescriptor
    public let backwardDataOperation: OperationDescriptor
    public let backwardWeightsOperation: OperationDescriptor

    /// `activationLayout` forces the layout of data and output (`.channelsLast` for NHWC);
    /// by default oneDNN picks.
    public init(
        _ definition: Convolution, shapes: NodeShapes, isTraining: Bool = true,
        activationLayout: FormatTag = .any
    ) throws {
        let geometry = try ConvolutionGeometry(definition, shapes: shapes, activationLayout: activationLayout)
        let data = shapes.arguments[0].dimensions
        let attributes = try PrimitiveAttributes()
        forwardOperation = try geometry.forwardOperation(
            isTraining ? .forwardTraining : .forwardInference,
            withBias: definition.hasBias)
        forward = try PrimitiveDescriptor(forwardOperation, attributes: attributes, what: "convolution forward \(data)")
        // A plain source (the network input, or ResNet's plain normalisation of it) beside
        // blocked gradients has only oneDNN's reference backward-data kernel (100× slower):
        // there the gradients' layouts are oneDNN's choice and the kernel reorders them.
        let plainBesideBlocked = shapes.argumentLayouts.first == .plain && shapes.outputLayouts.first != .plain
        let type = shapes.type(ofArgument: 0).oneDNN
        backwardDataOperation = try .convolutionBackwardData(
            diffSource: plainBesideBlocked
                ? try MemoryDescriptor(shapes.arguments[0].dimensions, .any, dataType: type) : geometry.source,
            weights: geometry.weights,
            diffDestination: plainBesideBlocked
                ? try MemoryDescriptor(shapes.outputs[0].dimensions, .any, dataType: type) : geometry.destination,
            strides: definition.stride, dilation: definition.dilate, padding: definition.pad)
        backwardData = try PrimitiveDescriptor(
            backwardDataOperation, attributes: attributes, hint: forward,
            what: "convolution backward data \(data)")
        backwardWeightsOperation = try .convolutionBackwardWeights(
            source: geometry.source, diffWeights: geometry.weightGradients,
            diffBias: definition.hasBias ? geometry.bias : nil,
            diffDestination: geometry.destination, strides: definition.stride, dilation: definition.dilate,
            padding: definition.pad)
        backwardWeights = try PrimitiveDescriptor(
            backwardWeightsOperation, attributes: attributes, hint: forward,
            what: "convolution backward weights \(data)")
    }
}

/// The memory descriptors and geometry of one convolution node, in oneDNN's terms.
struct ConvolutionGeometry {
    let definition: Convolution
    let source, weights, bias, destination: MemoryDescriptor
    /// Weight gradients stay float32 (they update the float32 master weights).
    let weightGradients: MemoryDescriptor
    /// oneDNN's weight dimensions: `(F, C, KH, KW)`, grouped `(G, F/G, C/G, KH, KW)`.
    let weightDimensions: [Int]

    init(_ definition: Convolution, shapes: NodeShapes, activationLayout: FormatTag = .any) throws {
        self.definition = definition
        let givenLayouts = !shapes.argumentLayouts.isEmpty
        let groups = definition.groupCount
        weightDimensions =
            groups == 1
            ? shapes.arguments[1].dimensions
            : [groups, definition.filterCount / groups] + shapes.arguments[1].dimensions.dropFirst()
        // Layouts fixed by the executor are honoured; otherwise oneDNN chooses.
        // Weights in the type of the activations (bfloat16 under mixed precision), bias float32.
        let type = shapes.type(ofArgument: 0)
        source =
            givenLayouts
            ? try shapes.descriptor(ofArgument: 0)
            : try MemoryDescriptor(shapes.arguments[0].dimensions, activationLayout, dataType: type.oneDNN)
        weights = try MemoryDescriptor(weightDimensions, .any, dataType: type.oneDNN)
        bias = try MemoryDescriptor.plain([definition.filterCount])
        weightGradients = try MemoryDescriptor.any(weightDimensions)
        destination =
            givenLayouts
            ? try shapes.descriptor(ofOutput: 0)
            : try MemoryDescriptor(shapes.outputs[0].dimensions, activationLayout, dataType: type.oneDNN)
    }

    /// The forward operation. MXNet pads both sides equally and rounds down; oneDNN's
    /// formula with the same right padding rounds down the same way.
    func forwardOperation(_ kind: PropagationKind, withBias: Bool) throws -> OperationDescriptor {
        try .convolutionForward(
            kind, source: source, weights: weights, bias: withBias ? bias : nil,
            destination: destination, strides: definition.stride, dilation: definition.dilate,
            padding: definition.pad)
    }
}

final class ConvolutionKernel: OperatorKernel {
    private let context: KernelContext
    private let hasBias: Bool
    private let primitives: ConvolutionPrimitives
    private let forwardPrimitive: Primitive
    private let backwardDataPrimitive: Primitive
    private let backwardWeightsPrimitive: Primitive
    // Forward.
    private let source, weights, destination: LayoutBridge
    private let bias: Memory
    // Backward-data.
    private let gradientOutput, weightsForData, gradientData: LayoutBridge
    // Backward-weights (may pick other layouts than forward).
    private let sourceForWeights, gradientOutputForWeights: LayoutBridge
    private let weightGradients: WeightGradients
    private let scratchpad: Memory
    private let outputTarget = RequestTarget(slot: 0), dataTarget = RequestTarget(slot: 0)
    private let forwardArguments: PrimitiveArguments
    private let backwardDataArguments: PrimitiveArguments
    private let backwardWeightsArguments: PrimitiveArguments

    private var prepared = PreparedParameters()

    var implementation: String { primitives.forward.implementationName }

    var workspaceBytes: Int {
        [
            source, weights, destination, gradientOutput, gradientData, sourceForWeights, gradientOutputForWeights,
            weightGradients.weights,
        ].reduce(0) { $0 + $1.bufferBytes } + (weightsForData === weights ? 0 : weightsForData.bufferBytes)
    }

    init(_ definition: Convolution, shapes: NodeShapes, context: KernelContext) throws {
        self.context = context
        hasBias = definition.hasBias
        primitives = try ConvolutionPrimitives(definition, shapes: shapes)
        let groups = definition.groupCount
        let weightDims =
            groups == 1
            ? shapes.arguments[1].dimensions
            : [groups, definition.filterCount / groups] + shapes.arguments[1].dimensions.dropFirst()
        let plainData = try shapes.descriptor(ofArgument: 0)
        let plainWeights = try MemoryDescriptor.plain(weightDims)  // OIHW, grouped GOIHW
        let plainOutput = try shapes.descriptor(ofOutput: 0)
        let fwd = primitives.forward, bwdData = primitives.backwardData, bwdWeights = primitives.backwardWeights
        source = try context.bridge(plain: plainData, chosen: fwd.memoryDescriptor(.source))
        weights = try context.bridge(plain: plainWeights, chosen: fwd.memoryDescriptor(.weights))
        destination = try context.bridge(plain: plainOutput, chosen: fwd.memoryDescriptor(.destination))
        bias = try Memory(MemoryDescriptor.plain([definition.filterCount]))
        gradientOutput = try context.bridge(plain: plainOutput, chosen: bwdData.memoryDescriptor(.diffDestination))
        // Backward-data reads the weights forward converted in the same step when it wants
        // them in the same form (a bfloat16 copy is then made once per step, not twice).
        let dataWeights = bwdData.memoryDescriptor(.weights)
        weightsForData =
            dataWeights.isEqual(to: weights.chosen)
            ? weights : try context.bridge(plain: plainWeights, chosen: dataWeights)
        gradientData = try context.bridge(plain: plainData, chosen: bwdData.memoryDescriptor(.diffSource))
        sourceForWeights = try context.bridge(plain: plainData, chosen: bwdWeights.memoryDescriptor(.source))
        gradientOutputForWeights = try context.bridge(
            plain: plainOutput, chosen: bwdWeights.memoryDescriptor(.diffDestination))
        weightGradients = WeightGradients(
            weights: try context.bridge(plain: plainWeights, chosen: bwdWeights.memoryDescriptor(.diffWeights)),
            weightShape: shapes.arguments[1],
            bias: hasBias ? try Memory(MemoryDescriptor.plain([definition.filterCount])) : nil,
            biasShape: [definition.filterCount], context: context)
        context.reserveScratchpad(bytes: max(fwd.scratchpadBytes, bwdData.scratchpadBytes, bwdWeights.scratchpadBytes))
        scratchpad = try Memory(MemoryDescriptor.plain([max(1, context.scratchpadBytes / 4)]))
        forwardPrimitive = try Primitive(fwd)
        backwardDataPrimitive = try Primitive(bwdData)
        backwardWeightsPrimitive = try Primitive(bwdWeights)
        var forwardArguments = PrimitiveArguments([
            .source: source.memory, .weights: weights.memory,
            .destination: destination.memory, .scratchpad: scratchpad,
        ])
        if hasBias { forwardArguments.append(.bias, bias) }
        self.forwardArguments = forwardArguments
        backwardDataArguments = PrimitiveArguments([
            .diffDestination: gradientOutput.memory,
            .weights: weightsForData.memory,
            .diffSource: gradientData.memory, .scratchpad: scratchpad,
        ])
        var backwardWeightsArguments = PrimitiveArguments([
            .source: sourceForWeights.memory,
            .diffDestination: gradientOutputForWeights.memory,
            .diffWeights: weightGradients.weights.memory,
            .scratchpad: scratchpad,
        ])
        if let bias = weightGradients.bias { backwardWeightsArguments.append(.diffBias, bias) }
        self.backwardWeightsArguments = backwardWeightsArguments
    }

    func forward(_ call: ForwardCall) {
        let request = call.requests[0]
        guard request != .skip else { return }
        scratchpad.bind(context.scratchpadPointer)
        source.input(call.arguments[0].rawPointer)
        if prepared.needsUpdate(in: context) { weights.input(call.arguments[1].rawPointer) }
        if hasBias { bias.bind(call.arguments[2].rawPointer) }
        destination.write(call.outputs[0], request: request, through: outputTarget, in: context) {
            forwardPrimitive.execute(forwardArguments, on: context.stream)
        }
    }

    func backward(_ call: BackwardCall) {
        scratchpad.bind(context.scratchpadPointer)
        let outputGradient = call.outputGradients[0].rawPointer
        if call.requests[0] != .skip, let dataGradient = call.argumentGradients[0] {
            gradientOutput.input(outputGradient)
            if weightsForData !== weights { weightsForData.input(call.arguments[1].rawPointer) }
            gradientData.write(dataGradient, request: call.requests[0], through: dataTarget, in: context) {
                backwardDataPrimitive.execute(backwardDataArguments, on: context.stream)
            }
        }
        guard weightGradients.isNeeded(call) else { return }
        sourceForWeights.input(call.arguments[0].rawPointer)
        gradientOutputForWeights.input(outputGradient)
        weightGradients.compute(call) {
            backwardWeightsPrimitive.execute(backwardWeightsArguments, on: context.stream)
        }
    }
}

// MARK: - Reference

extension Convolution {
    public func referenceForward<T: BinaryFloatingPoint & Sendable>(
        _ arguments: [[T]], auxiliary: inout [[T]], shapes: NodeShapes, isTraining: Bool
    ) -> [[T]] {
        let g = Geometry(self, shapes)
        let data = arguments[0], weight = arguments[1]
        var output = [T](repeating: 0, count: shapes.outputs[0].elementCount)
        for n in 0..<g.batch {
            for o in 0..<filterCount {
                let group = o / g.filtersPerGroup
                for y in 0..<g.outHeight {
                    for x in 0..<g.outWidth {
                        var sum: T = hasBias ? arguments[2][o] : 0
                        for c in 0..<g.channelsPerGroup {
                            let channel = group * g.channelsPerGroup + c
                            for ky in 0..<kernel[0] {
                                let iy = y * stride[0] - pad[0] + ky * dilate[0]
                                guard iy >= 0 && iy < g.height else { continue }
                                for kx in 0..<kernel[1] {
                                    let ix = x * stride[1] - pad[1] + kx * dilate[1]
                                    guard ix >= 0 && ix < g.width else { continue }
                                    sum +=
                                        data[((n * g.channels + channel) * g.height + iy) * g.width + ix]
                                        * weight[((o * g.channelsPerGroup + c) * kernel[0] + ky) * kernel[1] + kx]
                                }
                            }
                        }
                        output[((n * filterCount + o) * g.outHeight + y) * g.outWidth + x] = sum
                    }
                }
            }
        }
        return [output]
    }

    public func referenceBackward<T: BinaryFloatingPoint & Sendable>(
        outputGradients: [[T]], arguments: [[T]], outputs: [[T]], auxiliary: inout [[T]],
        shapes: NodeShapes
    ) -> [[T]] {
        let g = Geometry(self, shapes)
        let data = arguments[0], weight = arguments[1], gradOut = outputGradients[0]
        var gradData = [T](repeating: 0, count: data.count)
        var gradWeight = [T](repeating: 0, count: weight.count)
        var gradBias = [T](repeating: 0, count: filterCount)
        for n in 0..<g.batch {
            for o in 0..<filterCount {
                let group = o / g.filtersPerGroup
                for y in 0..<g.outHeight {
                    for x in 0..<g.outWidth {
                        let dy = gradOut[((n * filterCount + o) * g.outHeight + y) * g.outWidth + x]
                        gradBias[o] += dy
                        for c in 0..<g.channelsPerGroup {
                            let channel = group * g.channelsPerGroup + c
                            for ky in 0..<kernel[0] {
                                let iy = y * stride[0] - pad[0] + ky * dilate[0]
                                guard iy >= 0 && iy < g.height else { continue }
                                for kx in 0..<kernel[1] {
                                    let ix = x * stride[1] - pad[1] + kx * dilate[1]
                                    guard ix >= 0 && ix < g.width else { continue }
                                    let d = ((n * g.channels + channel) * g.height + iy) * g.width + ix
                                    let w = ((o * g.channelsPerGroup + c) * kernel[0] + ky) * kernel[1] + kx
                                    gradData[d] += dy * weight[w]
                                    gradWeight[w] += dy * data[d]
                                }
                            }
                        }
                    }
                }
            }
        }
        return hasBias ? [gradData, gradWeight, gradBias] : [gradData, gradWeight]
    }

    private struct Geometry {
        let batch, channels, height, width, outHeight, outWidth, channelsPerGroup, filtersPerGroup: Int
        init(_ c: Convolution, _ shapes: NodeShapes) {
            let d = shapes.arguments[0], o = shapes.outputs[0]
            batch = d[0]; channels = d[1]; height = d[2]; width = d[3]
            outHeight = o[2]; outWidth = o[3]
            channelsPerGroup = channels / c.groupCount
            filtersPerGroup = c.filterCount / c.groupCount
        }
    }
}
