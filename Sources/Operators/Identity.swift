import TensorCore

/// MXNet's `identity` (op `_copy`): the output is the input. MXNet's float32 ResNet script
/// puts one named `id` after `data`; it computes nothing, so it shares its input's memory
/// and layout (`followsInput`: after the network input it stays a plain network input).
public struct Identity: ValuePreserving {
    public static let mxnetName = "_copy"

    public init() {}
    public init(attributes: [String: String], node: String) throws(OperatorError) {}

    public var argumentNames: [String] { ["data"] }
    public func blockedLayoutSupport(_ shapes: NodeShapes) -> BlockedLayoutSupport { .followsInput }
    public func activationType(computing compute: DataType) -> DataType { compute }
    public var backwardDependencies: BackwardDependencies { BackwardDependencies() }
    public var inPlaceOptions: [(argument: Int, output: Int)] { [(0, 0)] }

    public func inferShapes(_ arguments: [Shape?], node: String) throws(OperatorError) -> NodeShapes {
        let data = try requireDataShape(arguments, node: node)
        return NodeShapes(arguments: [data], outputs: [data])
    }

    public func makeKernel(shapes: NodeShapes, context: KernelContext) throws -> any OperatorKernel { CopyKernel() }
}
