import DNNL
import TensorCore

/// Inference only: a Convolution with the BatchNorm that follows it folded into its weights
/// and bias, and the Activation after that applied by oneDNN as a post-op, so that the
/// three operators cost one pass over the activations instead of three.
///
/// With BatchNorm's moving statistics μ, σ², γ (1 under `fix_gamma`), β and ε, each filter f
/// becomes `w'_f = s_f·w_f`, `b'_f = s_f·(b_f − μ_f) + β_f` with `s_f = γ_f/√(σ²_f + ε)`,
/// which is BatchNorm's inference formula applied to the convolution's output.
/// Arguments: the convolution's (`data`, `weight`, `bias` unless `no_bias`), then `gamma`,
/// `beta` when a BatchNorm is folded; auxiliary `moving_mean`, `moving_var`. Output
/// `(N, F, OH, OW)` as the convolution's.
///
/// The executor builds these for inference bindings (`Symbol.fusedForInference`); it is not
/// an MXNet operator and never appears in symbol JSON.
public struct FusedConvolution: OperatorDefinition {
    public static let mxnetName = "_FusedConvolution"

    public var convolution: Convolution
    public var batchNorm: BatchNorm?
    public var activation: Activation.Kind?

    public init(convolution: Convolution, batchNorm: BatchNorm?, activation: Activation.Kind?) {
        self.convolution = convolution
        self.batchNorm = batchNorm
        self.activation = activation
    }

    public init(attributes: [String: String], node: String) throws(OperatorError) {
        throw OperatorError(node: node, "\(Self.mxnetName) is built by the executor, not read from symbol JSON")
    }

    /// A BatchNorm right after the convolution, then an activation oneDNN applies as a post-op.
    public func fusedForInference(followedBy next: any OperatorDefinition) -> (any OperatorDefinition)? {
        var fused = self
        if let norm = next as? BatchNorm, batchNorm == nil, activation == nil {
            fused.batchNorm = norm
        } else if let next = next as? Activation, activation == nil, Self.canFuse(next.kind) {
            fused.activation = next.kind
        } else {
            return nil
        }
        return fused
    }

    /// The activations oneDNN applies as a post-op.
    public static func canFuse(_ kind: Activation.Kind) -> Bool { postOperation(kind) != nil }

    static func postOperation(_ kind: Activation.Kind) -> EltwiseAlgorithm? {
        switch kind {
        case .relu: .relu
        case .sigmoid: .logistic
        case .tanh: .tanh
        case .softrelu: .softRelu
        case .softsign: nil
        }
    }

    /// The operator names the fused node stands for, for profiles (`Convolution+BatchNorm+Activation`).
    public var description: String {
        ["Convolution", batchNorm == nil ? nil : "BatchNorm", activation == nil ? nil : "Activation"]
            .compactMap { $0 }.joined(separator: "+")
    }

    public var argumentNames: [String] { convolution.argumentNames + (batchNorm == nil ? [] : ["gamma", "beta"]) }
    public var argumentRoles: [ArgumentRole] { convolution.argumentRoles + (batchNorm == nil ? [] : [.gamma, .beta]) }
    public func blockedLayoutSupport(_ shapes: NodeShapes) -> BlockedLayoutSupport { .activationsAndInputs }
    public func activationType(computing compute: DataType) -> DataType { compute }
    public func forwardFlops(_ shapes: NodeShapes) -> Double { weightedSumFlops(shapes) }
    public var auxiliaryNames: [String] { batchNorm == nil ? [] : ["moving_mean", "moving_var"] }
    public var auxiliaryRoles: [ArgumentRole] { batchNorm == nil ? [] : [.movingMean, .movingVariance] }
    public var backwardDependencies: BackwardDependencies { BackwardDependencies() }

    public func inferShapes(_ arguments: [Shape?], node: String) throws(OperatorError) -> NodeShapes {
        let convolutionCount = convolution.argumentNames.count
        var shapes = try convolution.inferShapes(Array(arguments.prefix(convolutionCount)), node: node)
        guard batchNorm != nil else { return shapes }
        let channels: Shape = [convolution.filterCount]
        for (index, name) in ["gamma", "beta"].enumerated() {
            let position = convolutionCount + index
            try expectShape(
                arguments.count > position ? arguments[position] : nil, channels, argument: name, node: node)
        }
        shapes.arguments += [channels, channels]
        shapes.auxiliary = [channels, channels]
        return shapes
    }

    public func makeKernel(shapes: NodeShapes, context: KernelContext) throws -> any OperatorKernel {
        try oneDNNOrReference(self, shapes: shapes, context: context) {
            try FusedConvolutionKernel(self, shapes: shapes, context: context)
        }
    }

    /// Convolution, then BatchNorm with the moving statistics, then the activation, each by
    /// its own reference kernel.
    public func referenceForward<T: BinaryFloatingPoint & Sendable>(
        _ arguments: [[T]], auxiliary: inout [[T]], shapes: NodeShapes, isTraining: Bool
    ) -> [[T]] {
        let convolutionCount = convolution.argumentNames.count
        var none: [[T]] = []
        let convolutionShapes = NodeShapes(
            arguments: Array(shapes.arguments.prefix(convolutionCount)),
            outputs: shapes.outputs)
        var y = convolution.referenceForward(
            Array(arguments.prefix(convolutionCount)), auxiliary: &none,
            shapes: convolutionShapes, isTraining: false)[0]
        if let batchNorm {
            let output = shapes.outputs[0], channels: Shape = [output[1]]
            let normShapes = NodeShapes(
                arguments: [output, channels, channels], outputs: [output, channels, channels],
                auxiliary: [channels, channels])
            y =
                batchNorm.referenceForward(
                    [y] + arguments.suffix(2), auxiliary: &auxiliary, shapes: normShapes,
                    isTraining: false)[0]
        }
        if let activation { y = y.map { Activation(activation).apply($0) } }
        return [y]
    }

    /// Never called: inference graphs have no gradient pass.
    public func referenceBackward<T: BinaryFloatingPoint & Sendable>(
        outputGradients: [[T]], arguments: [[T]], outputs: [[T]], auxiliary: inout [[T]],
        shapes: NodeShapes
    ) -> [[T]] {
        preconditionFailure("\(description) is fused for inference and has no backward pass")
    }
}

/// One oneDNN inference convolution with the folded weights and bias and the post-op.
final class FusedConvolutionKernel: OperatorKernel {
    private let context: KernelContext
    private let definition: FusedConvolution
    private let descriptor: PrimitiveDescriptor
    private let primitive: Primitive
    private let source, weights, destination: LayoutBridge
    private let bias: Memory
    /// With a BatchNorm, the folded weights `(F, C/G, KH, KW)` and bias `(F,)`, rewritten
    /// by every forward so that parameters loaded after binding are honoured.
    private let folded: (weights: Tensor, bias: Tensor)?
    private let scratchpad: Memory
    private let outputTarget = RequestTarget(slot: 0)
    private let arguments: PrimitiveArguments

    private var prepared = PreparedParameters()

    var implementation: String { descriptor.implementationName }
    var workspaceBytes: Int {
        [source, weights, destination].reduce(0) { $0 + $1.bufferBytes }
            + (folded.map { $0.weights.byteCount + $0.bias.byteCount } ?? 0)
    }

    init(_ definition: FusedConvolution, shapes: NodeShapes, context: KernelContext) throws {
        self.context = context
        self.definition = definition
        let convolution = definition.convolution
        let geometry = try ConvolutionGeometry(convolution, shapes: shapes)
        let hasBias = convolution.hasBias || definition.batchNorm != nil
        let operation = try geometry.forwardOperation(.forwardInference, withBias: hasBias)
        let attributes = try PrimitiveAttributes(
            elementwise: definition.activation.flatMap(FusedConvolution.postOperation))
        descriptor = try PrimitiveDescriptor(
            operation, attributes: attributes,
            what: "\(definition.description) forward \(shapes.arguments[0])")
        let plainWeights = try MemoryDescriptor.plain(geometry.weightDimensions)  // OIHW, grouped GOIHW
        source = try context.bridge(
            plain: try shapes.descriptor(ofArgument: 0),
            chosen: descriptor.memoryDescriptor(.source))
        weights = try context.bridge(plain: plainWeights, chosen: descriptor.memoryDescriptor(.weights))
        destination = try context.bridge(
            plain: try shapes.descriptor(ofOutput: 0),
            chosen: descriptor.memoryDescriptor(.destination))
        bias = try Memory(MemoryDescriptor.plain([convolution.filterCount]))
        if definition.batchNorm != nil {
            let folded = (weights: Tensor(shape: shapes.arguments[1]), bias: Tensor(shape: [convolution.filterCount]))
            bias.bind(folded.bias.rawPointer)
            self.folded = folded
        } else {
            folded = nil
        }
        context.reserveScratchpad(bytes: descriptor.scratchpadBytes)
        scratchpad = try Memory(MemoryDescriptor.plain([max(1, context.scratchpadBytes / 4)]))
        primitive = try Primitive(descriptor)
        var arguments = PrimitiveArguments([
            .source: source.memory, .weights: weights.memory,
            .destination: destination.memory, .scratchpad: scratchpad,
        ])
        if hasBias { arguments.append(.bias, bias) }
        self.arguments = arguments
    }

    /// Writes `s_f·w_f` and `s_f·(b_f − μ_f) + β_f` for every filter (see `FusedConvolution`).
    private func fold(_ call: ForwardCall, _ batchNorm: BatchNorm, into target: (weights: Tensor, bias: Tensor)) {
        let convolution = definition.convolution
        let filters = convolution.filterCount
        let perFilter = target.weights.elementCount / filters
        let w = call.arguments[1].floats, folded = target.weights.floats, foldedBias = target.bias.floats
        let b = convolution.hasBias ? call.arguments[2].floats : nil
        let gammaIndex = convolution.argumentNames.count
        let gamma = call.arguments[gammaIndex].floats, beta = call.arguments[gammaIndex + 1].floats
        let mean = call.auxiliary[0].floats, variance = call.auxiliary[1].floats
        let epsilon = Float(batchNorm.epsilon)
        for f in 0..<filters {
            // oneDNN's BatchNorm computes 1/√(σ² + ε) in float; so does this.
            let scale = (batchNorm.fixGamma ? 1 : gamma[f]) / (variance[f] + epsilon).squareRoot()
            foldedBias[f] = ((b?[f] ?? 0) - mean[f]) * scale + beta[f]
            let row = f * perFilter
            for i in row..<(row + perFilter) { folded[i] = w[i] * scale }
        }
    }

    func forward(_ call: ForwardCall) {
        let request = call.requests[0]
        guard request != .skip else { return }
        scratchpad.bind(context.scratchpadPointer)
        source.input(call.arguments[0].rawPointer)
        if !prepared.needsUpdate(in: context) {
            // Frozen parameters: folded and converted at the first call.
        } else if let batchNorm = definition.batchNorm, let folded {
            fold(call, batchNorm, into: folded)
            weights.input(folded.weights.rawPointer)
        } else {
            weights.input(call.arguments[1].rawPointer)
            if definition.convolution.hasBias { bias.bind(call.arguments[2].rawPointer) }
        }
        destination.write(call.outputs[0], request: request, through: outputTarget, in: context) {
            primitive.execute(arguments, on: context.stream)
        }
    }

    func backward(_ call: BackwardCall) {
        preconditionFailure("\(definition.description) is fused for inference and has no backward pass")
    }
}
