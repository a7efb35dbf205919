import CKernels
import TensorCore

/// MXNet's `elemwise_add` (also `_Plus`/`_plus` in older files): `out = lhs + rhs`, equal
/// shapes. Residual networks use it; the output may reuse either input's memory. In
/// bfloat16 each sum is formed in float32 and rounded once.
public struct ElementwiseAdd: OperatorDefinition {
    public static let mxnetName = "elemwise_add"

    public init() {}
    public init(attributes: [String: String], node: String) throws(OperatorError) {}

    public var argumentNames: [String] { ["lhs", "rhs"] }
    public func activationType(computing compute: DataType) -> DataType { compute }
    public func blockedLayoutSupport(_ shapes: NodeShapes) -> BlockedLayoutSupport { .activations }
    public var backwardDependencies: BackwardDependencies { BackwardDependencies() }
    public var inPlaceOptions: [(argument: Int, output: Int)] { [(0, 0), (1, 0)] }
    /// Either input's gradient is the output gradient itself (the other gets a copy).
    public var backwardInPlaceOptions: [(outputGradient: Int, argumentGradient: Int)] { [(0, 0), (0, 1)] }

    public func inferShapes(_ arguments: [Shape?], node: String) throws(OperatorError) -> NodeShapes {
        let known = arguments.compactMap { $0 }
        guard let shape = known.first else {
            throw OperatorError(node: node, "the shapes of 'lhs' and 'rhs' are unknown")
        }
        for (index, name) in ["lhs", "rhs"].enumerated() where arguments.count > index {
            try expectShape(arguments[index], shape, argument: name, node: node)
        }
        return NodeShapes(arguments: [shape, shape], outputs: [shape])
    }

    public func makeKernel(shapes: NodeShapes, context: KernelContext) throws -> any OperatorKernel {
        ElementwiseAddKernel()
    }

    public func referenceForward<T: BinaryFloatingPoint & Sendable>(
        _ arguments: [[T]], auxiliary: inout [[T]], shapes: NodeShapes, isTraining: Bool
    ) -> [[T]] {
        [zip(arguments[0], arguments[1]).map { $0 + $1 }]
    }

    public func referenceBackward<T: BinaryFloatingPoint & Sendable>(
        outputGradients: [[T]], arguments: [[T]], outputs: [[T]], auxiliary: inout [[T]],
        shapes: NodeShapes
    ) -> [[T]] {
        [outputGradients[0], outputGradients[0]]
    }
}

final class ElementwiseAddKernel: OperatorKernel {
    var implementation: String { "c" }

    func forward(_ call: ForwardCall) {
        let request = call.requests[0]
        guard request != .skip else { return }
        let output = call.outputs[0]
        let operands = Operands(a: call.arguments[0].rawPointer, b: call.arguments[1].rawPointer, y: output.rawPointer)
        let count = output.elementCount, chunk = 1 << 16
        let chunks = (count + chunk - 1) / chunk, bytes = count * 3 * output.dataType.byteCount
        let accumulate: Int32 = request == .add ? 1 : 0
        // The loops are C compiled for AVX-512, AVX2 and baseline x86-64: Swift's build
        // targets the baseline, where the bfloat16 conversions did not vectorise.
        switch output.dataType {
        case .float32:
            parallelFor(chunks, bytes: bytes) { index in
                let (a, b, y) = operands.typed(Float.self)
                let start = index * chunk
                gannet_add_float32(a + start, b + start, y + start, min(chunk, count - start), accumulate)
            }
        case .bfloat16:
            parallelFor(chunks, bytes: bytes) { index in
                let (a, b, y) = operands.typed(UInt16.self)
                let start = index * chunk
                gannet_add_bfloat16(a + start, b + start, y + start, min(chunk, count - start), accumulate)
            }
        }
    }

    func backward(_ call: BackwardCall) {
        for index in 0..<2 {
            guard let gradient = call.argumentGradients[index] else { continue }
            copyElements(call.outputGradients[0], to: gradient, request: call.requests[index])
        }
    }
}

/// The arrays of one elementwise sum; chunks touch disjoint ranges.
private struct Operands: @unchecked Sendable {
    let a, b, y: UnsafeMutableRawPointer

    func typed<T>(_ type: T.Type) -> (UnsafePointer<T>, UnsafePointer<T>, UnsafeMutablePointer<T>) {
        (
            UnsafePointer(a.assumingMemoryBound(to: T.self)), UnsafePointer(b.assumingMemoryBound(to: T.self)),
            y.assumingMemoryBound(to: T.self)
        )
    }
}
