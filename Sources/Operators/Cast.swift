import DNNL
import TensorCore

/// Mixed precision: converts an activation to `target` (float32 ↔ bfloat16) where its
/// producer and its consumer compute in different types, in the same layout; the gradient
/// is converted back. The executor inserts these (`Symbol.castForPrecision`); it is not an
/// MXNet operator and never appears in symbol JSON. Output `(same shape)`.
public struct Cast: ValuePreserving {
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
        try ReorderKernel(from: shapes.descriptor(ofArgument: 0), to: shapes.descriptor(ofOutput: 0), context: context)
    }
}
