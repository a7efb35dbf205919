import DNNL
import TensorCore

#if canImport(Glibc)
import Glibc
#endif

/// One forward call of a kernel. The executor builds these once and reuses them.
public struct ForwardCall {
    public var isTraining: Bool
    /// Arguments in definition order.
    public var arguments: [Tensor]
    /// All outputs (hidden ones included).
    public var outputs: [Tensor]
    /// One request per output.
    public var requests: [Request]
    public var auxiliary: [Tensor]

    public init(
        isTraining: Bool, arguments: [Tensor], outputs: [Tensor], requests: [Request]? = nil,
        auxiliary: [Tensor] = []
    ) {
        self.isTraining = isTraining
        self.arguments = arguments
        self.outputs = outputs
        self.requests = requests ?? Array(repeating: .write, count: outputs.count)
        self.auxiliary = auxiliary
    }
}

/// One backward call: gradients of the visible outputs in, gradients of the arguments out.
public struct BackwardCall {
    public var outputGradients: [Tensor]
    public var arguments: [Tensor]
    public var outputs: [Tensor]
    public var auxiliary: [Tensor]
    /// One per argument; `nil` where the request is `.skip`.
    public var argumentGradients: [Tensor?]
    /// One per argument.
    public var requests: [Request]

    public init(
        outputGradients: [Tensor], arguments: [Tensor], outputs: [Tensor], auxiliary: [Tensor] = [],
        argumentGradients: [Tensor?], requests: [Request]
    ) {
        self.outputGradients = outputGradients
        self.arguments = arguments
        self.outputs = outputs
        self.auxiliary = auxiliary
        self.argumentGradients = argumentGradients
        self.requests = requests
    }
}

/// The run-time half of an operator, built once per node and shape.
public protocol OperatorKernel: AnyObject {
    /// What computes this node (the oneDNN implementation name, or `reference`).
    var implementation: String { get }
    func forward(_ call: ForwardCall)
    func backward(_ call: BackwardCall)
    /// Bytes the kernel keeps for itself (layout-conversion buffers, oneDNN workspaces).
    var workspaceBytes: Int { get }
}

extension OperatorKernel {
    public var workspaceBytes: Int { 0 }
}

/// Shared by all kernels of one executor: the engine and one scratchpad sized for the
/// hungriest primitive (kernels run one at a time, so they can share it).
public final class KernelContext {
    public let engine: Engine
    public let stream: Stream
    private(set) var scratchpad: Tensor
    /// Seed of the random streams of stochastic kernels (Dropout).
    public var randomSeed: UInt64 = 0
    /// The training step. Stochastic kernels draw from (seed, their stream, step), so a run
    /// resumed at step n draws what the uninterrupted run drew there.
    public var step: UInt64 = 0
    /// Set while the parameters and auxiliary states are known not to change (inference of a
    /// loaded model, `Executor.freezeParameters`): kernels then convert or fold them once
    /// per value of this counter instead of at every call. nil while they may change.
    public var frozenParameters: UInt64?
    private var generatorCount: UInt64 = 0
    /// Kernels that fell back to the reference path, for the once-per-node log.
    public private(set) var fallbacks: [String] = []

    public init(engine: Engine = .cpu) {
        self.engine = engine
        do { stream = try Stream(engine: engine) } catch { fatalError("\(error)") }
        scratchpad = Tensor(shape: [0])
    }

    /// Grows the scratchpad to at least `bytes` (at kernel creation only).
    func reserveScratchpad(bytes: Int) {
        if bytes > scratchpad.byteCount {
            scratchpad = Tensor(shape: [(bytes + 3) / 4])
        }
    }

    private var scratchSlots: [Tensor] = []

    /// Shared scratch memory for `add` requests, at least `bytes` long; grows on first use
    /// (the first batch), then is reused by every kernel.
    public func sharedScratch(slot: Int, bytes: Int) -> UnsafeMutableRawPointer {
        while scratchSlots.count <= slot { scratchSlots.append(Tensor(shape: [0])) }
        if scratchSlots[slot].byteCount < bytes { scratchSlots[slot] = Tensor(shape: [(bytes + 3) / 4]) }
        return scratchSlots[slot].rawPointer
    }

    /// Bytes of the shared `add` scratch buffers.
    public var sharedScratchBytes: Int { scratchSlots.reduce(0) { $0 + $1.byteCount } }

    /// A bridge between MXNet's plain layout and the layout a primitive chose.
    func bridge(plain: MemoryDescriptor, chosen: MemoryDescriptor) throws -> LayoutBridge {
        try LayoutBridge(plain: plain, chosen: chosen, stream: stream)
    }

    public var scratchpadBytes: Int { scratchpad.byteCount }
    var scratchpadPointer: UnsafeMutableRawPointer { scratchpad.rawPointer }

    /// A generator for the next stochastic kernel: streams follow creation order, so the
    /// same graph with the same seed draws the same masks.
    /// A new stream number for one stochastic kernel.
    func makeStream() -> UInt64 {
        generatorCount += 1
        return generatorCount
    }

    /// The generator of `stream` at the current step.
    func generator(stream: UInt64) -> SeededGenerator {
        SeededGenerator(seed: randomSeed ^ (step &* 0x9E37_79B9_7F4A_7C15), stream: stream)
    }

    func noteFallback(node: String, reason: String) {
        fallbacks.append(node)
        logWarning("node '\(node)': \(reason); using the reference kernel")
    }
}

/// Writes to file descriptor 2 without buffering.
public func writeStandardError(_ text: String) {
    text.withCString { _ = write(2, $0, strlen($0)) }
}

/// Logs to standard error (standard output is reserved for results and `--json`).
func logWarning(_ message: String) {
    writeStandardError("warning: \(message)\n")
}

/// Whether a kernel must convert (or fold) its parameters again before using them: always
/// while they may change, once per freeze otherwise.
struct PreparedParameters {
    private var version: UInt64?

    mutating func needsUpdate(in context: KernelContext) -> Bool {
        if let frozen = context.frozenParameters, frozen == version { return false }
        version = context.frozenParameters
        return true
    }
}
