import TensorCore

/// Element-wise copies and sums over tensors of either element type, for the kernels that
/// move activations themselves (Concat, Flatten, Dropout, Cast, `add` requests). bfloat16
/// sums are formed in float32 and rounded once.
extension Tensor {
    /// Element `index` as float32.
    @inline(__always)
    func element(_ index: Int) -> Float {
        switch dataType {
        case .float32: rawPointer.assumingMemoryBound(to: Float.self)[index]
        case .bfloat16: BFloat16.float(fromBits: rawPointer.assumingMemoryBound(to: UInt16.self)[index])
        }
    }

    /// Stores `value` at `index` (rounded for bfloat16), or adds it under an `add` request.
    @inline(__always)
    func store(_ value: Float, at index: Int, request: Request) {
        let total = request == .add ? element(index) + value : value
        switch dataType {
        case .float32: rawPointer.assumingMemoryBound(to: Float.self)[index] = total
        case .bfloat16: rawPointer.assumingMemoryBound(to: UInt16.self)[index] = BFloat16.bits(from: total)
        }
    }
}

/// `destination[i] += source[i]` for `count` elements of `type`, from `offset` elements in.
func accumulate(
    into destination: UnsafeMutableRawPointer, from source: UnsafeRawPointer, count: Int, type: DataType
) {
    switch type {
    case .float32:
        accumulate(
            into: destination.assumingMemoryBound(to: Float.self), from: source.assumingMemoryBound(to: Float.self),
            count: count)
    case .bfloat16:
        let to = destination.assumingMemoryBound(to: UInt16.self), from = source.assumingMemoryBound(to: UInt16.self)
        for i in 0..<count {
            to[i] = BFloat16.bits(from: BFloat16.float(fromBits: to[i]) + BFloat16.float(fromBits: from[i]))
        }
    }
}

/// Copies (or adds, as the request says) every element of `source` into `destination`
/// (same element type).
func copyElements(_ source: Tensor, to destination: Tensor, request: Request) {
    precondition(source.dataType == destination.dataType, "copy of \(source.dataType) into \(destination.dataType)")
    switch request {
    case .skip: return
    case .add:
        accumulate(
            into: destination.rawPointer, from: source.rawPointer, count: source.elementCount, type: source.dataType)
    case .write, .inPlace:
        if source.rawPointer != destination.rawPointer {
            destination.rawPointer.copyMemory(from: source.rawPointer, byteCount: source.byteCount)
        }
    }
}
