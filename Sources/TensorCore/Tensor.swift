#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A dense, row-major tensor over 64-byte aligned memory.
///
/// A tensor either owns its memory (allocated in `init(shape:dataType:)`, freed in `deinit`)
/// or views memory owned by someone else (an executor's arena), whom it keeps alive through
/// `owner`. It is a reference type on purpose: writing through one reference is seen by all,
/// and nothing is ever copied behind the caller's back. Synchronisation between threads is
/// the caller's job.
public final class Tensor: @unchecked Sendable {
    /// Alignment of every owned allocation: one cache line, the widest AVX-512 load.
    public static let alignment = 64

    public let shape: Shape
    public let dataType: DataType
    /// First byte of the elements.
    public let rawPointer: UnsafeMutableRawPointer
    private let ownsMemory: Bool
    /// The length of the mapping when the memory is mapped pages (0: a heap block).
    private let mappedBytes: Int
    /// Keeps the memory of a view alive.
    private let owner: AnyObject?

    /// Allocates a zero-filled tensor.
    public init(shape: Shape, dataType: DataType = .float32) {
        self.shape = shape
        self.dataType = dataType
        let bytes = max(shape.elementCount * dataType.byteCount, 1)
        let rounded = (bytes + Tensor.alignment - 1) / Tensor.alignment * Tensor.alignment
        if rounded >= Tensor.mappingThreshold {
            // Fresh anonymous pages read as zero and take no memory until written: a binding
            // that is only planned, or a buffer that is sized for the worst case, costs nothing.
            let memory = mmap(nil, rounded, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
            guard let memory, memory != MAP_FAILED else {
                fatalError("out of memory mapping \(rounded) bytes for a tensor of shape \(shape)")
            }
            self.rawPointer = memory
            self.mappedBytes = rounded
        } else {
            guard let memory = aligned_alloc(Tensor.alignment, rounded) else {
                fatalError("out of memory allocating \(rounded) bytes for a tensor of shape \(shape)")
            }
            memset(memory, 0, rounded)
            self.rawPointer = memory
            self.mappedBytes = 0
        }
        self.ownsMemory = true
        self.owner = nil
    }

    /// Tensors of at least this many bytes are mapped pages rather than heap blocks.
    static let mappingThreshold = 1 << 20

    /// A view of `shape` elements at `pointer`; `owner` (if any) is retained for the view's lifetime.
    public init(
        viewing pointer: UnsafeMutableRawPointer, shape: Shape, dataType: DataType = .float32,
        owner: AnyObject? = nil
    ) {
        self.shape = shape
        self.dataType = dataType
        self.rawPointer = pointer
        self.ownsMemory = false
        self.mappedBytes = 0
        self.owner = owner
    }

    /// A float32 tensor holding `values`.
    public convenience init(shape: Shape, values: [Float]) {
        precondition(
            values.count == shape.elementCount,
            "\(values.count) values for shape \(shape) of \(shape.elementCount) elements")
        self.init(shape: shape)
        values.withUnsafeBufferPointer { source in
            floats.update(from: source.baseAddress!, count: source.count)
        }
    }

    deinit {
        if ownsMemory {
            if mappedBytes > 0 { munmap(rawPointer, mappedBytes) } else { free(rawPointer) }
        }
    }

    public var elementCount: Int { shape.elementCount }
    public var byteCount: Int { elementCount * dataType.byteCount }

    /// The elements as float32 (the tensor must be float32).
    public var floats: UnsafeMutablePointer<Float> {
        precondition(dataType == .float32, "float32 access to a \(dataType) tensor")
        return rawPointer.assumingMemoryBound(to: Float.self)
    }

    /// The same memory seen with another shape of the same element count (Flatten, reshape).
    public func reshaped(_ newShape: Shape) -> Tensor {
        precondition(newShape.elementCount == elementCount, "cannot reshape \(shape) to \(newShape)")
        return Tensor(viewing: rawPointer, shape: newShape, dataType: dataType, owner: self)
    }

    /// The elements converted to float32.
    public func toArray() -> [Float] {
        switch dataType {
        case .float32:
            return Array(UnsafeBufferPointer(start: floats, count: elementCount))
        case .bfloat16:
            let bits = rawPointer.assumingMemoryBound(to: UInt16.self)
            return (0..<elementCount).map { BFloat16.float(fromBits: bits[$0]) }
        }
    }

    /// Overwrites the elements from float32 values (rounded for bfloat16 tensors).
    public func copy(from values: [Float]) {
        precondition(values.count == elementCount, "\(values.count) values for \(elementCount) elements")
        switch dataType {
        case .float32:
            values.withUnsafeBufferPointer { floats.update(from: $0.baseAddress!, count: values.count) }
        case .bfloat16:
            let bits = rawPointer.assumingMemoryBound(to: UInt16.self)
            for i in 0..<values.count { bits[i] = BFloat16.bits(from: values[i]) }
        }
    }

    public func fill(_ value: Float) {
        precondition(dataType == .float32, "fill of a \(dataType) tensor")
        floats.update(repeating: value, count: elementCount)
    }

    /// Fills with uniform samples in `range`.
    public func fillUniform(_ range: ClosedRange<Float>, using generator: inout SeededGenerator) {
        let base = floats
        let width = range.upperBound - range.lowerBound
        for i in 0..<elementCount { base[i] = range.lowerBound + width * generator.nextUnitFloat() }
    }

    /// Fills with normal samples of the given mean and standard deviation.
    public func fillNormal(
        mean: Float = 0, standardDeviation: Float = 1,
        using generator: inout SeededGenerator
    ) {
        let base = floats
        for i in 0..<elementCount {
            base[i] = mean + standardDeviation * Float(generator.nextNormal())
        }
    }
}
