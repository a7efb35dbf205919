import TensorCore

/// MXNet's `Dropout` (inverted): in training each element is kept with probability 1 − p and
/// scaled by 1/(1 − p), else zeroed; identity at inference (unless `mode='always'`).
/// Outputs `output` and the hidden `mask` (0 or 1/(1 − p) per element), which backward reads.
/// Masks come from a generator seeded by (context seed, kernel number, training step): a run
/// is repeatable, and a resumed run draws the masks the uninterrupted one drew.
public struct Dropout: OperatorDefinition {
    public static let mxnetName = "Dropout"

    public var probability: Double
    public var always: Bool

    public init(probability: Double = 0.5, always: Bool = false) {
        self.probability = probability
        self.always = always
    }

    public init(attributes: [String: String], node: String) throws(OperatorError) {
        let reader = AttributeReader(attributes, node: node)
        probability = try reader.float("p", default: 0.5)
        always = try reader.string("mode", default: "training", allowed: ["training", "always"]) == "always"
        if let axes = try reader.tuple("axes"), !axes.isEmpty {
            throw OperatorError(node: node, "dropout along axes \(axes) is not supported")
        }
        guard probability >= 0 && probability < 1 else {
            throw OperatorError(node: node, "p must be in [0, 1), got \(probability)")
        }
    }

    public var argumentNames: [String] { ["data"] }
    public func blockedLayoutSupport(_ shapes: NodeShapes) -> BlockedLayoutSupport { .activations }
    public func activationType(computing compute: DataType) -> DataType { compute }
    /// The mask stays float32 (it holds 0 or 1/(1−p)).
    public func outputTypes(activationType type: DataType) -> [DataType] { [type, .float32] }
    public var outputNames: [String] { ["output", "mask"] }
    public var backwardDependencies: BackwardDependencies { BackwardDependencies(outputs: [1]) }
    public var inPlaceOptions: [(argument: Int, output: Int)] { [(0, 0)] }

    public func inferShapes(_ arguments: [Shape?], node: String) throws(OperatorError) -> NodeShapes {
        let data = try requireDataShape(arguments, node: node)
        return NodeShapes(arguments: [data], outputs: [data, data])
    }

    public func makeKernel(shapes: NodeShapes, context: KernelContext) throws -> any OperatorKernel {
        DropoutKernel(self, context: context, stream: context.makeStream())
    }

    /// The mask value of one element from a uniform sample in [0, 1).
    @inline(__always) func maskValue<T: BinaryFloatingPoint>(_ uniform: Float) -> T {
        uniform < Float(probability) ? 0 : T(1 / (1 - probability))
    }

    /// The reference draws its mask from `SeededGenerator(seed: 0)` on every call, so its
    /// forward pass is a deterministic function (finite differences need that).
    public func referenceForward<T: BinaryFloatingPoint & Sendable>(
        _ arguments: [[T]], auxiliary: inout [[T]], shapes: NodeShapes, isTraining: Bool
    ) -> [[T]] {
        guard isTraining || always else { return [arguments[0], [T](repeating: 1, count: arguments[0].count)] }
        var generator = SeededGenerator(seed: 0)
        let mask: [T] = arguments[0].map { _ in maskValue(generator.nextUnitFloat()) }
        return [zip(arguments[0], mask).map { $0 * $1 }, mask]
    }

    public func referenceBackward<T: BinaryFloatingPoint & Sendable>(
        outputGradients: [[T]], arguments: [[T]], outputs: [[T]], auxiliary: inout [[T]],
        shapes: NodeShapes
    ) -> [[T]] {
        [zip(outputGradients[0], outputs[1]).map { $0 * $1 }]
    }
}

final class DropoutKernel: OperatorKernel {
    private let definition: Dropout
    private let context: KernelContext
    private let stream: UInt64

    var implementation: String { "swift" }

    init(_ definition: Dropout, context: KernelContext, stream: UInt64) {
        self.definition = definition
        self.context = context
        self.stream = stream
    }

    func forward(_ call: ForwardCall) {
        let request = call.requests[0]
        guard request != .skip else { return }
        let count = call.arguments[0].elementCount
        let x = call.arguments[0], y = call.outputs[0], mask = call.outputs[1].floats
        guard (call.isTraining || definition.always) && definition.probability > 0 else {
            mask.update(repeating: 1, count: count)
            copyElements(x, to: y, request: request)
            return
        }
        var generator = context.generator(stream: stream)
        let threshold = Float(definition.probability), keepScale = Float(1 / (1 - definition.probability))
        for i in 0..<count {
            let m: Float = generator.nextUnitFloat() < threshold ? 0 : keepScale
            mask[i] = m
            y.store(x.element(i) * m, at: i, request: request)
        }
    }

    func backward(_ call: BackwardCall) {
        let request = call.requests[0]
        guard request != .skip, let gradient = call.argumentGradients[0] else { return }
        let dy = call.outputGradients[0], mask = call.outputs[1].floats
        for i in 0..<gradient.elementCount { gradient.store(dy.element(i) * mask[i], at: i, request: request) }
    }
}
