import DNNL
import TensorCore

/// MXNet's `Flatten`: `(N, d1, d2, …)` → `(N, d1·d2·…)`, row-major, so the element order is
/// unchanged and the output may share the input's memory.
public struct Flatten: ValuePreserving {
    public static let mxnetName = "Flatten"

    public init() {}
    public init(attributes: [String: String], node: String) throws(OperatorError) {}

    public var argumentNames: [String] { ["data"] }
    public func blockedLayoutSupport(_ shapes: NodeShapes) -> BlockedLayoutSupport { .activations }
    public func activationType(computing compute: DataType) -> DataType { compute }
    public var backwardDependencies: BackwardDependencies { BackwardDependencies() }
    public var inPlaceOptions: [(argument: Int, output: Int)] { [(0, 0)] }

    public func inferShapes(_ arguments: [Shape?], node: String) throws(OperatorError) -> NodeShapes {
        let data = try requireDataShape(arguments, node: node)
        guard data.rank >= 1 else { throw OperatorError(node: node, "cannot flatten a scalar") }
        let rest = data.dimensions.dropFirst().reduce(1, *)
        return NodeShapes(arguments: [data], outputs: [[data[0], rest]])
    }

    public func makeKernel(shapes: NodeShapes, context: KernelContext) throws -> any OperatorKernel {
        if shapes.layout(ofArgument: 0) != .plain {
            // The edge where the blocked layout returns to MXNet's NCHW order (so fully-connected
            // weights keep MXNet's layout): blocked → plain forward, plain → blocked backward.
            let (data, type) = (shapes.arguments[0], shapes.type(ofArgument: 0))
            return try ReorderKernel(
                from: shapes.layout(ofArgument: 0).descriptor(data, type),
                to: TensorLayout.plain.descriptor(data, type), context: context)
        }
        return CopyKernel()
    }
}

/// Output = input and input gradient = output gradient, element for element; nothing is
/// copied when the executor placed both in the same memory.
final class CopyKernel: OperatorKernel {
    var implementation: String { "memcpy" }

    func forward(_ call: ForwardCall) {
        copyElements(call.arguments[0], to: call.outputs[0], request: call.requests[0])
    }

    func backward(_ call: BackwardCall) {
        guard let gradient = call.argumentGradients[0] else { return }
        copyElements(call.outputGradients[0], to: gradient, request: call.requests[0])
    }
}
