import DNNL
import TensorCore

/// The physical layout of a tensor between operators. The logical order is always MXNet's
/// NCHW; `blocked(b)` stores 4-D activations as oneDNN's `nChw{b}c` (channels in groups
/// of b innermost, b = the SIMD width: 8 with AVX2, 16 with AVX-512), which the
/// convolutions run fastest on and the pooling, BatchNorm and LRN kernels need to be fast
/// at all (see docs/layout.md). Blocked tensors have channel counts divisible by b, so
/// they occupy exactly the bytes of their plain form.
public enum TensorLayout: Sendable, Equatable, CustomStringConvertible {
    case plain
    case blocked(Int)

    /// The oneDNN descriptor of a tensor of `shape` and element type `type` in this layout.
    public func descriptor(_ shape: Shape, _ type: DataType = .float32) throws -> MemoryDescriptor {
        switch self {
        case .plain: return try MemoryDescriptor(shape.dimensions, .plain, dataType: type.oneDNN)
        case .blocked(let size):
            precondition(shape.rank == 4, "blocked layout of a rank-\(shape.rank) tensor")
            return try MemoryDescriptor(shape.dimensions, .channelBlocked(size), dataType: type.oneDNN)
        }
    }

    public var description: String {
        switch self {
        case .plain: "plain"
        case .blocked(let size): "nChw\(size)c"
        }
    }

    /// The block size oneDNN's convolutions pick on this machine (8 with AVX2, 16 with
    /// AVX-512), found by asking for a small convolution's preferred layout.
    public static let preferredBlock: Int = {
        let probe = Convolution(kernel: [3, 3], filterCount: 32, pad: [1, 1])
        guard let shapes = try? probe.inferShapes([[2, 32, 8, 8]], node: "probe"),
            let primitives = try? ConvolutionPrimitives(probe, shapes: shapes)
        else { return 8 }
        let name = primitives.forward.memoryDescriptor(.destination).formatName
        return name.hasSuffix("16b") ? 16 : 8
    }()
}

extension DataType {
    /// oneDNN's name for this element type.
    public var oneDNN: MemoryDescriptor.DataType { self == .float32 ? .float32 : .bfloat16 }
}

extension NodeShapes {
    /// Element type of argument `index` (float32 unless the executor chose otherwise).
    public func type(ofArgument index: Int) -> DataType {
        index < argumentTypes.count ? argumentTypes[index] : .float32
    }

    /// Element type of output `index`.
    public func type(ofOutput index: Int) -> DataType { index < outputTypes.count ? outputTypes[index] : .float32 }

    /// The descriptor of argument `index` in the layout and type the executor gives it.
    public func descriptor(ofArgument index: Int) throws -> MemoryDescriptor {
        try layout(ofArgument: index).descriptor(arguments[index], type(ofArgument: index))
    }

    /// The descriptor of output `index` in the layout and type the executor gives it.
    public func descriptor(ofOutput index: Int) throws -> MemoryDescriptor {
        try layout(ofOutput: index).descriptor(outputs[index], type(ofOutput: index))
    }

    /// Layout of argument `index` (plain unless the executor chose otherwise).
    public func layout(ofArgument index: Int) -> TensorLayout {
        index < argumentLayouts.count ? argumentLayouts[index] : .plain
    }

    /// Layout of output `index`.
    public func layout(ofOutput index: Int) -> TensorLayout {
        index < outputLayouts.count ? outputLayouts[index] : .plain
    }
}
