import DNNL
import TensorCore

/// Mixed precision: converts an activation to `target` (float32 ↔ bfloat16) where its
/// producer and its consumer compute in different types, in the same layout; the gradient
/// is converted back. The executor inserts these (`Symbol.castForPrecision`); it is not an
/// MXNet operator and never appears in symbol JSON. Output `(same shape)`.
public struct Cast: OperatorDefinition {
    public static let mxnetName = "_Cast"

    public var target: DataType

    public init(to target: DataType) { self.target = target }

    public init(attributes: [String: String], node: String) throws(OperatorError) {
        throw OperatorError(node: node, "\(Self.mxnetName) is built by the executor, not read from symbol JSON")
    }

    public var argumentNames: [String] { ["data"] }
    public func activationType(computing compute: DataType) -> DataType { target }
    public var acceptsEveryActivationType: Bool { true }
    public func blockedLayoutSupport(_ shapes: NodeShapes) -> BlockedLayoutSupport { .followsInput }
    public var backwardDependencies: BackwardDependencies { BackwardDependencies() }

    public func inferShapes(_ arguments: [Shape?], node: String) throws(OperatorError) -> NodeShapes {
        let data = try requireDataShape(arguments, node: node)
        return NodeShapes(arguments: [data], outputs: [data])
    }

    public func makeKernel(shapes: NodeShapes, context: KernelContext) throws -> any OperatorKernel {
        try CastKernel(shapes: shapes, context: context)
    }

    /// The value itself: the reference is exact, the converted tensor is within bfloat16's
    /// rounding of it.
    public func referenceForward<T: BinaryFloatingPoint & Sendable>(
        _ arguments: [[T]], auxiliary: inout [[T]], shapes: NodeShapes, isTraining: Bool
    ) -> [[T]] {
        [arguments[0]]
    }

    public func referenceBackward<T: BinaryFloatingPoint & Sendable>(
        outputGradients: [[T]], arguments: [[T]], outputs: [[T]], auxiliary: inout [[T]],
        shapes: NodeShapes
    ) -> [[T]] {
        [outputGradients[0]]
    }
}

/// Two oneDNN reorders that change the element type and keep the layout.
final class CastKernel: OperatorKernel {
    private let context: KernelContext
    private let forwardReorder, backwardReorder: Reorder
    private let outputTarget = RequestTarget(slot: 0), dataTarget = RequestTarget(slot: 0)

    var implementation: String { "reorder" }

    init(shapes: NodeShapes, context: KernelContext) throws {
        self.context = context
        let source = try shapes.descriptor(ofArgument: 0), destination = try shapes.descriptor(ofOutput: 0)
        forwardReorder = try Reorder(from: source, to: destination)
        backwardReorder = try Reorder(from: destination, to: source)
    }

    func forward(_ call: ForwardCall) {
        let request = call.requests[0]
        guard request != .skip else { return }
        let target = outputTarget.pointer(for: call.outputs[0], request: request, in: context)
        forwardReorder.run(from: call.arguments[0].rawPointer, to: target, on: context.stream)
        outputTarget.complete(call.outputs[0], request: request, in: context)
    }

    func backward(_ call: BackwardCall) {
        let request = call.requests[0]
        guard request != .skip, let gradient = call.argumentGradients[0] else { return }
        let target = dataTarget.pointer(for: gradient, request: request, in: context)
        backwardReorder.run(from: call.outputGradients[0].rawPointer, to: target, on: context.stream)
        dataTarget.complete(gradient, request: request, in: context)
    }
}
