import Dispatch
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
        guard source.rawPointer != destination.rawPointer else { return }
        let chunk = 1 << 20, total = source.byteCount
        let memory = SharedMemory(destination: destination.rawPointer, source: UnsafeRawPointer(source.rawPointer))
        parallelFor((total + chunk - 1) / chunk, bytes: total) { index in
            let start = index * chunk
            (memory.destination + start).copyMemory(from: memory.source + start, byteCount: min(chunk, total - start))
        }
    }
}

/// Memory the iterations of `parallelFor` share; each touches a disjoint part.
struct SharedMemory: @unchecked Sendable {
    let destination: UnsafeMutableRawPointer
    let source: UnsafeRawPointer
}

/// Runs `body(index)` for every index below `count`, spread over the cores when the work
/// (`bytes` in all) is large enough to pay for the threads, in order otherwise. Memory-bound
/// copies and sums of activations take half the time on two cores.
func parallelFor(_ count: Int, bytes: Int, _ body: @Sendable (Int) -> Void) {
    if count > 1 && bytes >= 1 << 20 {
        DispatchQueue.concurrentPerform(iterations: count, execute: body)
    } else {
        for index in 0..<count { body(index) }
    }
}

/// `accumulate` in chunks over the cores.
func accumulateInParallel(
    into destination: UnsafeMutableRawPointer, from source: UnsafeRawPointer, count: Int, type: DataType
) {
    let chunk = 1 << 16, bytes = type.byteCount
    let memory = SharedMemory(destination: destination, source: source)
    parallelFor((count + chunk - 1) / chunk, bytes: count * bytes) { index in
        let start = index * chunk, size = min(chunk, count - start)
        accumulate(
            into: memory.destination + start * bytes, from: memory.source + start * bytes, count: size, type: type)
    }
}
