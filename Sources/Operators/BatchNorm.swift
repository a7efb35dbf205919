import DNNL
import TensorCore

#if canImport(Glibc)
import Glibc
#endif

/// MXNet's `BatchNorm` over axis 1 of `(N, C, …)`.
///
/// Training: per-channel batch mean μ and biased variance σ² (over N·H·W),
/// `y = γ·(x − μ)/√(σ² + eps) + β`; with `fix_gamma` γ is taken as 1 (the stored gamma is
/// untouched and gets gradient 0). The moving statistics are updated as
/// `moving = momentum·moving + (1 − momentum)·batch` **in backward**, as MXNet 1.9.1 does.
/// Inference or `use_global_stats`: the moving statistics replace μ and σ².
/// Arguments `data, gamma (C,), beta (C,)`; auxiliary `moving_mean (C,), moving_var (C,)`;
/// outputs `output` and the hidden batch `mean`, `var`.
public struct BatchNorm: OperatorDefinition {
    public static let mxnetName = "BatchNorm"

    public var epsilon: Double
    public var momentum: Double
    public var fixGamma: Bool
    public var useGlobalStats: Bool
    /// ReLU applied to the output (a training fusion of BatchNorm → Activation(relu), never
    /// read from symbol JSON): `y = max(0, bn(x))`, one pass instead of two, and oneDNN's
    /// workspace instead of a stored ReLU output.
    public var fusedReLU = false

    public init(epsilon: Double = 1e-3, momentum: Double = 0.9, fixGamma: Bool = true, useGlobalStats: Bool = false) {
        self.epsilon = epsilon
        self.momentum = momentum
        self.fixGamma = fixGamma
        self.useGlobalStats = useGlobalStats
    }

    /// MXNet 1.x defaults; a 2015 `param` file's missing `fix_gamma` is resolved by the JSON
    /// loader (it passes `fix_gamma=False` explicitly).
    public init(attributes: [String: String], node: String) throws(OperatorError) {
        let reader = AttributeReader(attributes, node: node)
        epsilon = try reader.float("eps", default: 1e-3)
        momentum = try reader.float("momentum", default: 0.9)
        fixGamma = try reader.bool("fix_gamma", default: true)
        useGlobalStats = try reader.bool("use_global_stats", default: false)
        let axis = try reader.int("axis", default: 1)
        guard axis == 1 else {
            throw OperatorError(node: node, "only axis 1 (channels of NCHW) is supported, got \(axis)")
        }
        guard epsilon > 0 else { throw OperatorError(node: node, "eps must be positive") }
    }

    public var argumentNames: [String] { ["data", "gamma", "beta"] }
    public var argumentRoles: [ArgumentRole] { [.data, .gamma, .beta] }
    public var auxiliaryNames: [String] { ["moving_mean", "moving_var"] }
    public var auxiliaryRoles: [ArgumentRole] { [.movingMean, .movingVariance] }
    public var outputNames: [String] { ["output", "mean", "var"] }
    public var backwardDependencies: BackwardDependencies { BackwardDependencies(inputs: [0, 1], outputs: [1, 2]) }

    /// Forward in training recomputes the same batch statistics; moving statistics change
    /// only in backward, so a second forward leaves them alone.
    public var isCheapToRecompute: Bool { true }
    /// Blocked activations; a normalisation of the network input whose channels do not fill
    /// a block (ResNet's `bn_data` on RGB) stays plain, like the input it reads.
    public func blockedLayoutSupport(_ shapes: NodeShapes) -> BlockedLayoutSupport {
        shapes.arguments[0][1] % TensorLayout.preferredBlock == 0 ? .activations : .followsInput
    }

    /// In inference a following ReLU runs inside the batch normalization: the ones no
    /// convolution absorbed, such as the pre-activation `bn1 → relu1` of a ResNet unit.
    public func fusedForInference(followedBy next: any OperatorDefinition) -> (any OperatorDefinition)? {
        guard let activation = next as? Activation, activation.kind == .relu, !fusedReLU else { return nil }
        var fused = self
        fused.fusedReLU = true
        return fused
    }

    /// A following ReLU runs inside the batch normalization (not with global statistics,
    /// whose forward has no training workspace).
    public func fusedForTraining(followedBy next: any OperatorDefinition) -> (any OperatorDefinition)? {
        guard let activation = next as? Activation, activation.kind == .relu, !fusedReLU, !useGlobalStats else {
            return nil
        }
        var fused = self
        fused.fusedReLU = true
        return fused
    }

    /// Batch statistics, scale and shift stay float32 (oneDNN's bfloat16 batch normalization
    /// takes float32 parameters).
    public func activationType(computing compute: DataType) -> DataType { compute }
    public func outputTypes(activationType type: DataType) -> [DataType] { [type, .float32, .float32] }

    public func inferShapes(_ arguments: [Shape?], node: String) throws(OperatorError) -> NodeShapes {
        let data = try requireDataShape(arguments, node: node)
        guard data.rank == 2 || data.rank == 4 else {
            throw OperatorError(node: node, "data must be (N, C) or (N, C, H, W), got \(data)")
        }
        let channels: Shape = [data[1]]
        for (index, name) in ["gamma", "beta"].enumerated() {
            try expectShape(
                arguments.count > index + 1 ? arguments[index + 1] : nil, channels, argument: name, node: node)
        }
        return NodeShapes(
            arguments: [data, channels, channels], outputs: [data, channels, channels],
            auxiliary: [channels, channels])
    }

    public func makeKernel(shapes: NodeShapes, context: KernelContext) throws -> any OperatorKernel {
        try oneDNNOrReference(self, shapes: shapes, context: context) {
            try BatchNormKernel(self, shapes: shapes, context: context)
        }
    }

    /// (channels, values per channel, spatial size) of the data shape.
    static func layout(_ data: Shape) -> (channels: Int, perChannel: Int, spatial: Int) {
        let spatial = data.rank == 4 ? data[2] * data[3] : 1
        return (data[1], data[0] * spatial, spatial)
    }

    public func referenceForward<T: BinaryFloatingPoint & Sendable>(
        _ arguments: [[T]], auxiliary: inout [[T]], shapes: NodeShapes, isTraining: Bool
    ) -> [[T]] {
        let data = shapes.arguments[0]
        let (channels, perChannel, _) = Self.layout(data)
        let x = arguments[0]
        var mean = [T](repeating: 0, count: channels), variance = [T](repeating: 0, count: channels)
        let useBatch = isTraining && !useGlobalStats
        for c in 0..<channels {
            if useBatch {
                var sum: T = 0
                forEach(c, data: data) { sum += x[$0] }
                let mu = sum / T(perChannel)
                var squares: T = 0
                forEach(c, data: data) { squares += (x[$0] - mu) * (x[$0] - mu) }
                mean[c] = mu
                variance[c] = squares / T(perChannel)
            } else {
                mean[c] = auxiliary[0][c]
                variance[c] = auxiliary[1][c]
            }
        }
        var y = [T](repeating: 0, count: x.count)
        for c in 0..<channels {
            let gamma = fixGamma ? 1 : arguments[1][c]
            let inverse = 1 / T(sqrt(Double(variance[c]) + epsilon))
            forEach(c, data: data) { y[$0] = gamma * (x[$0] - mean[c]) * inverse + arguments[2][c] }
        }
        if fusedReLU { y = y.map { max($0, 0) } }
        return [y, mean, variance]
    }

    public func referenceBackward<T: BinaryFloatingPoint & Sendable>(
        outputGradients: [[T]], arguments: [[T]], outputs: [[T]], auxiliary: inout [[T]],
        shapes: NodeShapes
    ) -> [[T]] {
        let data = shapes.arguments[0]
        let (channels, perChannel, _) = Self.layout(data)
        let x = arguments[0]
        var dy = outputGradients[0]
        let mean = useGlobalStats ? auxiliary[0] : outputs[1]
        let variance = useGlobalStats ? auxiliary[1] : outputs[2]
        if fusedReLU {
            // ReLU's gradient passes where the normalised value was positive.
            for c in 0..<channels {
                let gamma = fixGamma ? 1 : arguments[1][c]
                let inverse = 1 / T(sqrt(Double(variance[c]) + epsilon))
                forEach(c, data: data) { i in
                    if gamma * (x[i] - mean[c]) * inverse + arguments[2][c] <= 0 { dy[i] = 0 }
                }
            }
        }
        var dx = [T](repeating: 0, count: x.count)
        var dGamma = [T](repeating: 0, count: channels), dBeta = [T](repeating: 0, count: channels)
        for c in 0..<channels {
            let gamma = fixGamma ? 1 : arguments[1][c]
            let inverse = 1 / T(sqrt(Double(variance[c]) + epsilon))
            var sumDy: T = 0, sumDyXhat: T = 0
            forEach(c, data: data) { i in
                sumDy += dy[i]
                sumDyXhat += dy[i] * (x[i] - mean[c]) * inverse
            }
            dBeta[c] = sumDy
            dGamma[c] = fixGamma ? 0 : sumDyXhat
            let m = T(perChannel)
            forEach(c, data: data) { i in
                if useGlobalStats {
                    dx[i] = dy[i] * gamma * inverse
                } else {
                    let xhat = (x[i] - mean[c]) * inverse
                    dx[i] = gamma * inverse / m * (m * dy[i] - sumDy - xhat * sumDyXhat)
                }
            }
            if !useGlobalStats {
                let keep = T(momentum)
                auxiliary[0][c] = keep * auxiliary[0][c] + (1 - keep) * mean[c]
                auxiliary[1][c] = keep * auxiliary[1][c] + (1 - keep) * variance[c]
            }
        }
        return [dx, dGamma, dBeta]
    }

    /// Visits every element index of channel `c`.
    @inline(__always)
    private func forEach(_ c: Int, data: Shape, _ body: (Int) -> Void) {
        let (channels, _, spatial) = Self.layout(data)
        for n in 0..<data[0] {
            let base = (n * channels + c) * spatial
            for s in 0..<spatial { body(base + s) }
        }
    }
}

/// oneDNN batch normalization with separate scale and shift; batch statistics go to the
/// node's hidden outputs, the moving statistics are updated in backward.
final class BatchNormKernel: OperatorKernel {
    private let context: KernelContext
    private let definition: BatchNorm
    private let channels: Int
    private let trainingPrimitive, statisticsPrimitive, backwardPrimitive: Primitive
    private let source, destination, scale, shift, mean, variance: Memory
    private let gradientDestination, gradientSource, gradientScale, gradientShift, scratchpad: Memory
    private let ones: Tensor
    /// With a fused ReLU: where forward training left which outputs were positive.
    private let workspace: (buffer: Tensor, memory: Memory)?
    private let discardedScaleGradient: Tensor
    private lazy var discardedDataGradient = Tensor(shape: dataShape)
    private lazy var discardedShiftGradient = Tensor(shape: [channels])
    private let dataShape: Shape
    private let outputTarget = RequestTarget(slot: 0), dataTarget = RequestTarget(slot: 0)
    private let gammaTarget = RequestTarget(slot: 1), betaTarget = RequestTarget(slot: 2)
    private let trainingArguments, statisticsArguments, backwardArguments: PrimitiveArguments

    var workspaceBytes: Int { workspace?.buffer.byteCount ?? 0 }

    var implementation: String { trainingPrimitive.descriptor.implementationName }

    init(_ definition: BatchNorm, shapes: NodeShapes, context: KernelContext) throws {
        self.context = context
        self.definition = definition
        let data = shapes.arguments[0]
        channels = data[1]
        dataShape = data
        let plainData = try shapes.descriptor(ofArgument: 0)
        let epsilon = Float(definition.epsilon)
        let affine: BatchNormalizationFlags = definition.fusedReLU ? [.scale, .shift, .fusedReLU] : [.scale, .shift]
        let batchFlags = definition.useGlobalStats ? affine.union(.globalStatistics) : affine
        let attributes = try PrimitiveAttributes()
        let training = try PrimitiveDescriptor(
            .batchNormalizationForward(.forwardTraining, data: plainData, epsilon: epsilon, flags: batchFlags),
            attributes: attributes, what: "batch normalization \(data)")
        let statistics = try PrimitiveDescriptor(
            .batchNormalizationForward(
                .forwardInference, data: plainData, epsilon: epsilon,
                flags: affine.union(.globalStatistics)),
            attributes: attributes, what: "batch normalization \(data)")
        let backward = try PrimitiveDescriptor(
            .batchNormalizationBackward(diffData: plainData, data: plainData, epsilon: epsilon, flags: batchFlags),
            attributes: attributes, hint: training, what: "batch normalization \(data)")
        let plainChannels = try MemoryDescriptor.plain([channels])
        source = try Memory(plainData)
        destination = try Memory(plainData)
        gradientDestination = try Memory(plainData)
        gradientSource = try Memory(plainData)
        scale = try Memory(plainChannels)
        shift = try Memory(plainChannels)
        mean = try Memory(plainChannels)
        variance = try Memory(plainChannels)
        gradientScale = try Memory(plainChannels)
        gradientShift = try Memory(plainChannels)
        ones = Tensor(shape: [channels])
        ones.fill(1)
        discardedScaleGradient = Tensor(shape: [channels])
        context.reserveScratchpad(
            bytes: max(training.scratchpadBytes, statistics.scratchpadBytes, backward.scratchpadBytes))
        scratchpad = try Memory(MemoryDescriptor.plain([max(1, context.scratchpadBytes / 4)]))
        trainingPrimitive = try Primitive(training)
        statisticsPrimitive = try Primitive(statistics)
        backwardPrimitive = try Primitive(backward)
        let common = PrimitiveArguments([
            .source: source, .destination: destination, .scale: scale, .shift: shift,
            .mean: mean, .variance: variance, .scratchpad: scratchpad,
        ])
        var workspaceArguments = PrimitiveArguments()
        let workspaceDescriptor = training.memoryDescriptor(.workspace)
        if definition.fusedReLU && workspaceDescriptor.byteCount > 0 {
            let buffer = Tensor(shape: [(workspaceDescriptor.byteCount + 3) / 4])
            let memory = try Memory(workspaceDescriptor, pointer: buffer.rawPointer)
            workspace = (buffer, memory)
            workspaceArguments.append(.workspace, memory)
        } else {
            workspace = nil
        }
        trainingArguments = common + workspaceArguments
        statisticsArguments = common
        backwardArguments =
            PrimitiveArguments([
                .source: source, .mean: mean, .variance: variance, .diffDestination: gradientDestination,
                .scale: scale, .shift: shift, .diffSource: gradientSource, .diffScale: gradientScale,
                .diffShift: gradientShift, .scratchpad: scratchpad,
            ]) + workspaceArguments
    }

    private func bindStatistics(_ outputs: [Tensor], _ auxiliary: [Tensor], useBatch: Bool) {
        mean.bind(useBatch ? outputs[1].rawPointer : auxiliary[0].rawPointer)
        variance.bind(useBatch ? outputs[2].rawPointer : auxiliary[1].rawPointer)
    }

    func forward(_ call: ForwardCall) {
        let request = call.requests[0]
        guard request != .skip else { return }
        scratchpad.bind(context.scratchpadPointer)
        source.bind(call.arguments[0].rawPointer)
        scale.bind(definition.fixGamma ? ones.rawPointer : call.arguments[1].rawPointer)
        shift.bind(call.arguments[2].rawPointer)
        destination.bind(outputTarget.pointer(for: call.outputs[0], request: request, in: context))
        let useBatch = call.isTraining && !definition.useGlobalStats
        bindStatistics(call.outputs, call.auxiliary, useBatch: useBatch)
        if useBatch {
            trainingPrimitive.execute(trainingArguments, on: context.stream)
        } else {
            statisticsPrimitive.execute(statisticsArguments, on: context.stream)
            // The hidden outputs report the statistics used.
            if call.outputs.count == 3 {
                call.outputs[1].floats.update(from: call.auxiliary[0].floats, count: channels)
                call.outputs[2].floats.update(from: call.auxiliary[1].floats, count: channels)
            }
        }
        outputTarget.complete(call.outputs[0], request: request, in: context)
    }

    func backward(_ call: BackwardCall) {
        scratchpad.bind(context.scratchpadPointer)
        let useBatch = !definition.useGlobalStats
        source.bind(call.arguments[0].rawPointer)
        scale.bind(definition.fixGamma ? ones.rawPointer : call.arguments[1].rawPointer)
        shift.bind(call.arguments[2].rawPointer)
        bindStatistics(call.outputs, call.auxiliary, useBatch: useBatch)
        gradientDestination.bind(call.outputGradients[0].rawPointer)
        let dataRequest = call.requests[0], gammaRequest = call.requests[1], betaRequest = call.requests[2]
        let dataGradient =
            dataRequest == .skip ? discardedDataGradient : call.argumentGradients[0] ?? discardedDataGradient
        gradientSource.bind(dataTarget.pointer(for: dataGradient, request: dataRequest, in: context))
        let gammaGradient = call.argumentGradients[1]
        if definition.fixGamma || gammaGradient == nil || gammaRequest == .skip {
            gradientScale.bind(discardedScaleGradient.rawPointer)
        } else {
            gradientScale.bind(gammaTarget.pointer(for: gammaGradient!, request: gammaRequest, in: context))
        }
        let betaGradient =
            betaRequest == .skip ? discardedShiftGradient : call.argumentGradients[2] ?? discardedShiftGradient
        gradientShift.bind(betaTarget.pointer(for: betaGradient, request: betaRequest, in: context))
        backwardPrimitive.execute(backwardArguments, on: context.stream)
        if dataRequest != .skip { dataTarget.complete(dataGradient, request: dataRequest, in: context) }
        if let gammaGradient, gammaRequest != .skip {
            if definition.fixGamma {
                if gammaRequest != .add { gammaGradient.fill(0) }
            } else {
                gammaTarget.complete(gammaGradient, request: gammaRequest, in: context)
            }
        }
        if betaRequest != .skip { betaTarget.complete(betaGradient, request: betaRequest, in: context) }
        if useBatch { updateMovingStatistics(call) }
    }

    /// `moving = momentum·moving + (1 − momentum)·batch`, MXNet's update, done in backward.
    private func updateMovingStatistics(_ call: BackwardCall) {
        let keep = Float(definition.momentum), take = 1 - keep
        let movingMean = call.auxiliary[0].floats, movingVariance = call.auxiliary[1].floats
        let batchMean = call.outputs[1].floats, batchVariance = call.outputs[2].floats
        for c in 0..<channels {
            movingMean[c] = keep * movingMean[c] + take * batchMean[c]
            movingVariance[c] = keep * movingVariance[c] + take * batchVariance[c]
        }
    }
}
