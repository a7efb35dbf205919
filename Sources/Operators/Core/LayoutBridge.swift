import DNNL
import TensorCore

/// Connects a tensor in MXNet's plain layout to a primitive that chose another layout
/// (`nChw16c`, blocked weights): a buffer in the chosen layout plus the reorders, built
/// once. When the layouts agree the primitive reads and writes the tensor directly.
final class LayoutBridge {
    let plain: MemoryDescriptor
    let chosen: MemoryDescriptor
    /// The memory object the primitive is executed with.
    let memory: Memory
    private let buffer: Tensor?
    private let toChosen: Reorder?
    private let toPlain: Reorder?

    var needsReorder: Bool { buffer != nil }
    /// Bytes of the buffer in the chosen layout (0 when the layouts agree).
    var bufferBytes: Int { buffer?.byteCount ?? 0 }

    private let stream: Stream

    init(plain: MemoryDescriptor, chosen: MemoryDescriptor, stream: Stream) throws {
        self.stream = stream
        self.plain = plain
        self.chosen = chosen
        memory = try Memory(chosen)
        if plain.isEqual(to: chosen) {
            buffer = nil
            toChosen = nil
            toPlain = nil
        } else {
            let storage = Tensor(shape: [(chosen.byteCount + 3) / 4])
            buffer = storage
            memory.bind(storage.rawPointer)
            toChosen = try Reorder(from: plain, to: chosen)
            toPlain = try Reorder(from: chosen, to: plain)
        }
    }

    /// Makes `memory` hold the plain tensor at `pointer` (reordering when layouts differ).
    func input(_ pointer: UnsafeMutableRawPointer) {
        if let buffer, let toChosen {
            toChosen.run(from: pointer, to: buffer.rawPointer, on: stream)
        } else {
            memory.bind(pointer)
        }
    }

    /// Points `memory` at the destination before the primitive writes.
    func prepareOutput(_ pointer: UnsafeMutableRawPointer) {
        if buffer == nil { memory.bind(pointer) }
    }

    /// Moves what the primitive wrote into the plain destination.
    func finishOutput(_ pointer: UnsafeMutableRawPointer) {
        if let buffer, let toPlain { toPlain.run(from: buffer.rawPointer, to: pointer, on: stream) }
    }

    /// Runs `execute` (a primitive writing this bridge's memory) so that `output` receives
    /// the result as `request` says: written in place, or added through `target`'s scratch.
    func write(
        _ output: Tensor, request: Request, through target: RequestTarget, in context: KernelContext,
        execute: () -> Void
    ) {
        let pointer = target.pointer(for: output, request: request, in: context)
        prepareOutput(pointer)
        execute()
        finishOutput(pointer)
        target.complete(output, request: request, in: context)
    }
}

/// Where a kernel writes a result under a request: into the destination itself for
/// `write`/`inPlace`, or into scratch memory that is then added for `add`. The scratch is
/// one of the context's shared buffers (`slot` 0 for data/output, 1 for weights, 2 for
/// biases, so the gradients of one call do not collide): kernels run one at a time, so
/// one buffer per slot serves the whole network instead of one per kernel.
struct RequestTarget {
    let slot: Int

    func pointer(for destination: Tensor, request: Request, in context: KernelContext) -> UnsafeMutableRawPointer {
        guard request == .add else { return destination.rawPointer }
        return context.sharedScratch(slot: slot, bytes: destination.byteCount)
    }

    /// Adds the scratch into the destination when the request was `add`.
    func complete(_ destination: Tensor, request: Request, in context: KernelContext) {
        guard request == .add else { return }
        let scratch = context.sharedScratch(slot: slot, bytes: destination.byteCount)
        accumulateInParallel(
            into: destination.rawPointer, from: scratch, count: destination.elementCount, type: destination.dataType)
    }
}

/// `destination[i] += source[i]`.
@inline(__always)
func accumulate(into destination: UnsafeMutablePointer<Float>, from source: UnsafePointer<Float>, count: Int) {
    for i in 0..<count { destination[i] += source[i] }
}

/// Writes `value(i)` to `destination[i]` or adds it, as the request says.
@inline(__always)
func store(_ request: Request, _ destination: UnsafeMutablePointer<Float>, _ index: Int, _ value: Float) {
    if request == .add { destination[index] += value } else { destination[index] = value }
}

/// The weight and bias gradients of a backward-weights primitive (Convolution,
/// FullyConnected). oneDNN computes both in one pass, so one that is skipped (or has no
/// destination) goes to a discard buffer, allocated once.
final class WeightGradients {
    /// The primitive's weight-gradient memory, in its chosen layout.
    let weights: LayoutBridge
    /// The primitive's bias-gradient memory, nil without a bias.
    let bias: Memory?
    private let weightShape: Shape
    private let biasShape: Shape
    private let weightTarget = RequestTarget(slot: 1), biasTarget = RequestTarget(slot: 2)
    private lazy var discardedWeights = Tensor(shape: weightShape)
    private lazy var discardedBias = Tensor(shape: biasShape)

    private let context: KernelContext

    init(weights: LayoutBridge, weightShape: Shape, bias: Memory?, biasShape: Shape, context: KernelContext) {
        self.context = context
        self.weights = weights
        self.weightShape = weightShape
        self.bias = bias
        self.biasShape = biasShape
    }

    /// Requests of the weight and bias gradients (arguments 1 and 2).
    private func requests(_ call: BackwardCall) -> (weights: Request, bias: Request) {
        (call.requests[1], bias == nil ? .skip : call.requests[2])
    }

    func isNeeded(_ call: BackwardCall) -> Bool {
        let (weightRequest, biasRequest) = requests(call)
        return weightRequest != .skip || biasRequest != .skip
    }

    /// Points the primitive's outputs at the gradients, runs `execute`, then reorders and
    /// accumulates as the requests say.
    func compute(_ call: BackwardCall, execute: () -> Void) {
        let (weightRequest, biasRequest) = requests(call)
        let weightGradient = weightRequest == .skip ? discardedWeights : call.argumentGradients[1] ?? discardedWeights
        let weightPointer = weightTarget.pointer(for: weightGradient, request: weightRequest, in: context)
        weights.prepareOutput(weightPointer)
        var biasGradient: Tensor? = nil
        if let bias {
            let gradient = biasRequest == .skip ? discardedBias : call.argumentGradients[2] ?? discardedBias
            biasGradient = gradient
            bias.bind(biasTarget.pointer(for: gradient, request: biasRequest, in: context))
        }
        execute()
        weights.finishOutput(weightPointer)
        weightTarget.complete(weightGradient, request: weightRequest, in: context)
        if let biasGradient { biasTarget.complete(biasGradient, request: biasRequest, in: context) }
    }
}
