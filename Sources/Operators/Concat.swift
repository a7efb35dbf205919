import TensorCore

#if canImport(Glibc)
import Glibc
#endif

/// MXNet's `Concat`: joins `num_args` tensors along `dim` (default 1, the channels); all
/// other extents must agree. A copy of contiguous blocks, so a plain `memcpy` loop is as
/// fast as any library primitive here.
public struct Concat: OperatorDefinition {
    public static let mxnetName = "Concat"

    public var inputCount: Int
    public var axis: Int

    public init(inputCount: Int, axis: Int = 1) {
        self.inputCount = inputCount
        self.axis = axis
    }

    public init(attributes: [String: String], node: String) throws(OperatorError) {
        let reader = AttributeReader(attributes, node: node)
        inputCount = try reader.int("num_args")
        axis = try reader.int("dim", default: 1)
        guard inputCount >= 1 else { throw OperatorError(node: node, "num_args must be at least 1") }
    }

    public var argumentNames: [String] { (0..<inputCount).map { "arg\($0)" } }
    public func activationType(computing compute: DataType) -> DataType { compute }
    /// oneDNN concatenates blocked tensors along channels only.
    public func blockedLayoutSupport(_ shapes: NodeShapes) -> BlockedLayoutSupport { axis == 1 ? .activations : .none }
    public var backwardDependencies: BackwardDependencies { BackwardDependencies() }

    public func inferShapes(_ arguments: [Shape?], node: String) throws(OperatorError) -> NodeShapes {
        guard arguments.count == inputCount, arguments.allSatisfy({ $0 != nil }) else {
            throw OperatorError(node: node, "Concat needs the shapes of all \(inputCount) inputs")
        }
        let shapes = arguments.map { $0! }
        let first = shapes[0]
        guard axis >= 0 && axis < first.rank else {
            throw OperatorError(node: node, "dim \(axis) is out of range for shape \(first)")
        }
        var output = first
        output[axis] = 0
        for (index, shape) in shapes.enumerated() {
            var expected = first
            expected[axis] = shape.rank == first.rank ? shape[axis] : -1
            guard shape.rank == first.rank, shape == expected else {
                throw OperatorError(
                    node: node,
                    "input \(index) has shape \(shape), which does not match \(first) "
                        + "outside dim \(axis)")
            }
            output[axis] += shape[axis]
        }
        return NodeShapes(arguments: shapes, outputs: [output])
    }

    public func makeKernel(shapes: NodeShapes, context: KernelContext) throws -> any OperatorKernel {
        ConcatKernel(self, shapes: shapes)
    }

    /// (outer count, inner block size of each input).
    func blocks(_ shapes: NodeShapes) -> (outer: Int, inner: [Int]) {
        let outer = shapes.outputs[0].dimensions[..<axis].reduce(1, *)
        return (outer, shapes.arguments.map { $0.elementCount / max(outer, 1) })
    }

    public func referenceForward<T: BinaryFloatingPoint & Sendable>(
        _ arguments: [[T]], auxiliary: inout [[T]], shapes: NodeShapes, isTraining: Bool
    ) -> [[T]] {
        let (outer, inner) = blocks(shapes)
        var output: [T] = []
        for o in 0..<outer {
            for (index, size) in inner.enumerated() { output += arguments[index][(o * size)..<((o + 1) * size)] }
        }
        return [output]
    }

    public func referenceBackward<T: BinaryFloatingPoint & Sendable>(
        outputGradients: [[T]], arguments: [[T]], outputs: [[T]], auxiliary: inout [[T]],
        shapes: NodeShapes
    ) -> [[T]] {
        let (outer, inner) = blocks(shapes)
        var gradients = inner.map { [T](repeating: 0, count: $0 * outer) }
        var position = 0
        for o in 0..<outer {
            for (index, size) in inner.enumerated() {
                for i in 0..<size { gradients[index][o * size + i] = outputGradients[0][position + i] }
                position += size
            }
        }
        return gradients
    }
}

final class ConcatKernel: OperatorKernel {
    private let outer: Int
    private let inner: [Int]
    private let total: Int

    var implementation: String { "memcpy" }

    init(_ definition: Concat, shapes: NodeShapes) {
        (outer, inner) = definition.blocks(shapes)
        total = inner.reduce(0, +)
    }

    func forward(_ call: ForwardCall) {
        let request = call.requests[0]
        guard request != .skip else { return }
        var offset = 0
        for (index, size) in inner.enumerated() {
            // Input block o lands at output block o, shifted by the inputs before it.
            copyBlocks(
                from: call.arguments[index].rawPointer, sourceStride: size,
                to: call.outputs[0].rawPointer, destinationOffset: offset, destinationStride: total, size: size,
                type: call.outputs[0].dataType, request: request)
            offset += size
        }
    }

    func backward(_ call: BackwardCall) {
        var offset = 0
        for (index, size) in inner.enumerated() {
            defer { offset += size }
            let request = call.requests[index]
            guard request != .skip, let gradient = call.argumentGradients[index] else { continue }
            copyBlocks(
                from: call.outputGradients[0].rawPointer + offset * gradient.dataType.byteCount, sourceStride: total,
                to: gradient.rawPointer, destinationOffset: 0, destinationStride: size, size: size,
                type: gradient.dataType, request: request)
        }
    }

    /// Copies (or adds) `outer` blocks of `size` elements of `type` between two strided
    /// sequences (strides and offsets in elements).
    private func copyBlocks(
        from source: UnsafeMutableRawPointer, sourceStride: Int,
        to destination: UnsafeMutableRawPointer, destinationOffset: Int, destinationStride: Int,
        size: Int, type: DataType, request: Request
    ) {
        let bytes = type.byteCount
        let memory = SharedMemory(destination: destination, source: UnsafeRawPointer(source))
        parallelFor(outer, bytes: outer * size * bytes) { o in
            let from = memory.source + o * sourceStride * bytes
            let to = memory.destination + (destinationOffset + o * destinationStride) * bytes
            if request == .add {
                accumulate(into: to, from: from, count: size, type: type)
            } else {
                to.copyMemory(from: from, byteCount: size * bytes)
            }
        }
    }
}
