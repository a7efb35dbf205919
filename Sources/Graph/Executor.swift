import Operators
import TensorCore

#if canImport(Glibc)
import Glibc
#endif

/// A bound network: shapes inferred, the gradient pass built, memory planned into one
/// arena, kernels created. `forward` and `backward` then run without allocating.
///
/// ```swift
/// let executor = try Executor(symbol, inputShapes: ["data": [64, 3, 224, 224]], isTraining: true)
/// executor.argument("data")!.copy(from: batch)
/// executor.forward(isTraining: true)
/// executor.backward()
/// let g = executor.gradient("fc1_weight")
/// ```
public final class Executor {
    public let graph: Graph
    public let shapes: Graph.Shapes
    public let context: KernelContext
    /// Sizes of the plan in bytes.
    public let memory: MemorySummary
    /// The memory of every tensor (kept alive here; tensors view it).
    private let storage: Storage
    private let kernels: [(any OperatorKernel)?]
    private var forwardCalls: [(Int, ForwardCall)]
    private let backwardCalls: [GradientPassCall]
    private let argumentTensors: [String: Tensor]
    private let gradientTensors: [String: Tensor]
    private let auxiliaryTensors: [String: Tensor]
    /// The graph's outputs (for a classifier: the probabilities).
    public let outputs: [Tensor]
    /// Zero-filled gradients of outputs nobody consumes, cleared once at bind time.
    private let zeroGradients: [Tensor]

    public struct MemorySummary: Sendable {
        public var weightBytes: Int
        public var gradientBytes: Int
        public var activationBytes: Int
        public var workspaceBytes: Int
        public var inPlaceCount: Int
        /// The most activation bytes live at once (the arena's lower bound).
        public var peakLiveBytes: Int
        public var totalBytes: Int { weightBytes + gradientBytes + activationBytes + workspaceBytes }
    }

    /// Binds `symbol` for the given input shapes (`data`, and labels if known). With
    /// `isTraining` the gradient pass is built: learnable arguments get gradients, inputs
    /// (arguments in a data or label role, `Graph.inputNames`, or `inputs` when given) do not. `planMemory: false` gives every tensor its
    /// own memory (for checking the planner). `mirror` is MXNet's memory mirror: outputs of
    /// operators that are cheap to recompute (BatchNorm, Activation) are freed after their
    /// forward consumers and computed again in the gradient pass, trading about one extra
    /// BatchNorm+ReLU forward per layer for the memory of those outputs. An inference binding
    /// fuses Convolution → BatchNorm → Activation chains into one convolution
    /// (`Symbol.fusedForInference`) unless `fuse` is false; it is then for `forward(isTraining: false)` only.
    /// `dataType` `.bfloat16` computes activations in bfloat16 where operators can
    /// (`Symbol.castForPrecision`); parameters, auxiliary states, inputs and the loss head's
    /// output stay float32; so do the gradients of parameters, while those of activations
    /// have the activations' type.
    public init(
        _ symbol: Symbol, inputShapes: [String: Shape], isTraining: Bool, planMemory: Bool = true,
        layout: LayoutPolicy = .automatic, mirror: Bool = false, fuse: Bool = true, inputs: Set<String>? = nil,
        dataType: DataType = .float32, context: KernelContext = KernelContext()
    ) throws {
        let (graph, shapes, layout, plan, placement) = try Self.prepare(
            symbol, inputShapes: inputShapes, isTraining: isTraining, planMemory: planMemory, layout: layout,
            mirror: mirror, fuse: fuse, inputs: inputs, dataType: dataType)
        let storage = Storage(placement, plan: plan)
        let kernels = try Self.makeKernels(plan, layout: layout, dataType: dataType, context: context)
        // Size the shared scratch of `add` requests now, so that no batch allocates.
        for (slot, bytes) in Self.sharedScratchBytes(plan, placement).enumerated() {
            _ = context.sharedScratch(slot: slot, bytes: bytes)
        }
        let tensors = storage.tensors
        self.graph = graph
        self.shapes = shapes
        self.isBlocked = layout.isBlocked
        self.context = context
        self.storage = storage
        self.kernels = kernels
        self.forwardCalls = plan.forwardCalls.map {
            ($0.node, Self.forwardCall($0, tensors, plan, isTraining: isTraining))
        }
        self.backwardCalls = plan.gradientPassCalls.map { Self.gradientPassCall($0, tensors, plan) }
        self.zeroGradients = plan.zeroGradientSlots.map { tensors[$0] }
        var argumentTensors: [String: Tensor] = [:], auxiliaryTensors: [String: Tensor] = [:]
        for node in graph.argumentNodes {
            argumentTensors[node.name] = tensors[plan.outputSlots[graph.index(of: node)][0]]
        }
        for node in graph.auxiliaryNodes {
            auxiliaryTensors[node.name] = tensors[plan.outputSlots[graph.index(of: node)][0]]
        }
        self.argumentTensors = argumentTensors
        self.auxiliaryTensors = auxiliaryTensors
        let parameterGradients = plan.parameterGradientSlots
        self.gradientTensors = Dictionary(
            uniqueKeysWithValues: parameterGradients.map { (graph.nodes[$0.key].name, tensors[$0.value]) })
        let nameOfGradient = Dictionary(
            uniqueKeysWithValues: parameterGradients.map { ($0.value, graph.nodes[$0.key].name) })
        self.parameterGradientsInCompletionOrder = placement.gradientOrder.map {
            CompletedGradient(
                name: nameOfGradient[$0]!, tensor: tensors[$0], completedAfterCall: placement.completedAfter[$0]!)
        }
        self.buffers = Self.buffers(plan, placement)
        self.outputs = plan.headSlots.map { tensors[$0] }
        let kernelBytes = kernels.compactMap { $0 }.reduce(0) { $0 + $1.workspaceBytes }
        memory = MemorySummary(
            weightBytes: placement.weightBytes, gradientBytes: placement.gradientBytes,
            activationBytes: placement.arenaBytes,
            workspaceBytes: context.scratchpadBytes + context.sharedScratchBytes + kernelBytes,
            inPlaceCount: placement.inPlaceCount, peakLiveBytes: placement.peakLiveBytes)
        for tensor in zeroGradients { tensor.fill(0) }
    }

    /// A binding planned but not made: what `gannet plan` reports. The kernels are built (to
    /// size their workspaces) but the weights, gradients and activations are not allocated.
    public struct BindingPlan {
        public let graph: Graph
        public let shapes: Graph.Shapes
        /// Every tensor of the plan, as `Executor.buffers`.
        public let buffers: [Buffer]
        public let memory: MemorySummary
        /// The shapes of the graph's outputs.
        public let outputShapes: [Shape]

        /// The shape of argument or auxiliary state `name`.
        public func shape(of name: String) -> Shape? {
            graph.nodes.firstIndex { $0.name == name && $0.isVariable }.map { shapes.outputs[$0][0] }
        }
    }

    /// Plans a binding with the arguments of `init` without allocating its memory.
    public static func plan(
        _ symbol: Symbol, inputShapes: [String: Shape], isTraining: Bool, planMemory: Bool = true,
        layout: LayoutPolicy = .automatic, mirror: Bool = false, fuse: Bool = true, dataType: DataType = .float32
    ) throws -> BindingPlan {
        let (graph, shapes, layout, plan, placement) = try prepare(
            symbol, inputShapes: inputShapes, isTraining: isTraining, planMemory: planMemory, layout: layout,
            mirror: mirror, fuse: fuse, inputs: nil, dataType: dataType)
        let context = KernelContext()
        let kernels = try makeKernels(plan, layout: layout, dataType: dataType, context: context)
        let kernelBytes = kernels.compactMap { $0 }.reduce(0) { $0 + $1.workspaceBytes }
        let memory = MemorySummary(
            weightBytes: placement.weightBytes, gradientBytes: placement.gradientBytes,
            activationBytes: placement.arenaBytes,
            workspaceBytes: context.scratchpadBytes + sharedScratchBytes(plan, placement).reduce(0, +) + kernelBytes,
            inPlaceCount: placement.inPlaceCount, peakLiveBytes: placement.peakLiveBytes)
        return BindingPlan(
            graph: graph, shapes: shapes, buffers: buffers(plan, placement), memory: memory,
            outputShapes: plan.headSlots.map { plan.slots[$0].shape })
    }

    private static func buffers(_ plan: ExecutionPlan, _ placement: MemoryPlacement) -> [Buffer] {
        plan.slots.indices.map { index in
            Buffer(
                name: plan.slots[index].name, shape: plan.slots[index].shape, bytes: placement.sizes[index],
                region: placement.regions[index], offset: placement.offsets[index])
        }
    }

    /// Bytes of each shared scratch slot that `add` requests of the gradient pass need.
    private static func sharedScratchBytes(_ plan: ExecutionPlan, _ placement: MemoryPlacement) -> [Int] {
        var bytes = [0, 0, 0]
        for call in plan.gradientPassCalls {
            for (index, request) in call.gradientRequests.enumerated() where request == .add {
                bytes[min(index, 2)] = max(bytes[min(index, 2)], placement.sizes[call.gradientSlots[index]!])
            }
        }
        while bytes.last == 0 { bytes.removeLast() }
        return bytes
    }

    /// The phases of binding that allocate nothing: rewrites (fusion, precision casts),
    /// shapes, layout, the execution plan and the memory placement.
    private static func prepare(
        _ symbol: Symbol, inputShapes: [String: Shape], isTraining: Bool, planMemory: Bool, layout: LayoutPolicy,
        mirror: Bool, fuse: Bool, inputs: Set<String>?, dataType: DataType
    ) throws -> (Graph, Graph.Shapes, LayoutAssignment, ExecutionPlan, MemoryPlacement) {
        let fused = !fuse ? symbol : isTraining ? symbol.fusedForTraining() : symbol.fusedForInference()
        let symbol = fused.castForPrecision(dataType)
        let graph = Graph(symbol)
        let shapes = try graph.inferShapes(inputShapes)
        let layout = try LayoutAssignment(layout, graph: graph, shapes: shapes)
        let types = graph.nodes.map { $0.activationTypes(computing: dataType) }
        let plan = try ExecutionPlan(
            graph: graph, shapes: shapes, layout: layout,
            inputNames: inputs ?? Set(graph.inputNames).union(inputShapes.keys),
            isTraining: isTraining, mirror: mirror, types: types)
        return (graph, shapes, layout, plan, MemoryPlacement(plan, reuse: planMemory))
    }

    /// What a binding with these arguments would need, without allocating it: weights,
    /// gradients and activations exactly, workspace 0 (the kernels' buffers are sized when
    /// they are built).
    public static func memoryPlan(
        _ symbol: Symbol, inputShapes: [String: Shape], isTraining: Bool, layout: LayoutPolicy = .automatic,
        mirror: Bool = false, fuse: Bool = true, dataType: DataType = .float32
    ) throws -> MemorySummary {
        let placement = try prepare(
            symbol, inputShapes: inputShapes, isTraining: isTraining, planMemory: true, layout: layout, mirror: mirror,
            fuse: fuse, inputs: nil, dataType: dataType
        ).4
        return MemorySummary(
            weightBytes: placement.weightBytes, gradientBytes: placement.gradientBytes,
            activationBytes: placement.arenaBytes, workspaceBytes: 0, inPlaceCount: placement.inPlaceCount,
            peakLiveBytes: placement.peakLiveBytes)
    }

    /// The three allocations of a binding and a tensor viewing each slot.
    private struct Storage {
        let arena: Tensor
        let weights: Tensor
        let gradients: Tensor
        let tensors: [Tensor]

        init(_ placement: MemoryPlacement, plan: ExecutionPlan) {
            let arena = Tensor(shape: [max(placement.arenaBytes / 4, 1)])
            let weights = Tensor(shape: [max(placement.weightBytes / 4, 1)])
            let gradients = Tensor(shape: [max(placement.gradientBytes / 4, 1)])
            tensors = plan.slots.indices.map { index in
                let owner =
                    switch placement.regions[index] {
                    case .arena: arena
                    case .weights: weights
                    case .gradients: gradients
                    }
                return Tensor(
                    viewing: owner.rawPointer + placement.offsets[index], shape: plan.slots[index].shape,
                    dataType: plan.slots[index].type, owner: owner)
            }
            (self.arena, self.weights, self.gradients) = (arena, weights, gradients)
        }
    }

    /// Binding phase: one kernel per operator node, created once with the layouts chosen.
    private static func makeKernels(
        _ plan: ExecutionPlan, layout: LayoutAssignment, dataType: DataType,
        context: KernelContext
    ) throws -> [(any OperatorKernel)?] {
        let graph = plan.graph
        var kernels = [(any OperatorKernel)?](repeating: nil, count: graph.nodes.count)
        for (position, node) in graph.nodes.enumerated() {
            guard let definition = node.definition, var nodeShapes = plan.shapes.nodeShapes[position] else { continue }
            if layout.isBlocked {
                nodeShapes.argumentLayouts = node.inputs.prefix(definition.argumentNames.count).map {
                    layout.layout(of: $0, graph: graph, shapes: plan.shapes)
                }
                nodeShapes.outputLayouts = definition.outputNames.indices.map {
                    layout.layout(ofOutput: $0, node: position, graph: graph, shapes: plan.shapes)
                }
            }  // Plain: tensors stay NCHW and each kernel reorders to what its primitive prefers.
            nodeShapes.argumentTypes = node.inputs.prefix(definition.argumentNames.count).map {
                plan.types[graph.index(of: $0.node)][$0.index]
            }
            nodeShapes.outputTypes = plan.types[position]
            nodeShapes.computeType = dataType
            let kernel: any OperatorKernel
            do {
                kernel = try definition.makeKernel(shapes: nodeShapes, context: context)
            } catch  where dataType != .float32 {
                throw OperatorError(node: node.name, "has no \(dataType.rawValue) kernel on this CPU (\(error))")
            }
            if layout.isBlocked && kernel.implementation == "reference" {
                // The reference kernels compute in plain NCHW only.
                throw OperatorError(
                    node: node.name, "has no oneDNN kernel for these shapes; bind with the plain layout")
            }
            kernels[position] = kernel
        }
        return kernels
    }

    /// The requests of a forward call: `.inPlace` where an output shares an argument's memory.
    private static func outputRequests(_ call: ExecutionPlan.Call, _ tensors: [Tensor], _ plan: ExecutionPlan)
        -> [Request]
    {
        var requests = [Request](repeating: .write, count: call.outputs.count)
        for option in plan.graph.nodes[call.node].definition!.inPlaceOptions
        where tensors[call.arguments[option.argument]].rawPointer == tensors[call.outputs[option.output]].rawPointer {
            requests[option.output] = .inPlace
        }
        return requests
    }

    private static func forwardCall(
        _ call: ExecutionPlan.Call, _ tensors: [Tensor], _ plan: ExecutionPlan,
        isTraining: Bool
    ) -> ForwardCall {
        ForwardCall(
            isTraining: isTraining, arguments: call.arguments.map { tensors[$0] },
            outputs: call.outputs.map { tensors[$0] }, requests: outputRequests(call, tensors, plan),
            auxiliary: call.auxiliary.map { tensors[$0] })
    }

    private static func gradientPassCall(
        _ call: ExecutionPlan.Call, _ tensors: [Tensor],
        _ plan: ExecutionPlan
    ) -> GradientPassCall {
        if call.kind == .recompute { return .recompute(call.node, forwardCall(call, tensors, plan, isTraining: true)) }
        return .backward(
            call.node,
            BackwardCall(
                outputGradients: call.outputGradientSlots.map { tensors[$0] },
                arguments: call.arguments.map { tensors[$0] }, outputs: call.outputs.map { tensors[$0] },
                auxiliary: call.auxiliary.map { tensors[$0] },
                argumentGradients: call.gradientSlots.map { $0.map { tensors[$0] } }, requests: call.gradientRequests))
    }

    /// One kernel call of the gradient pass: a node's backward, or (mirroring) a node's
    /// forward run again to recompute outputs that were not kept.
    private enum GradientPassCall {
        case backward(Int, BackwardCall)
        case recompute(Int, ForwardCall)
    }

    /// One tensor of the plan: where it lives and how big it is.
    public struct Buffer: Sendable {
        public enum Region: String, Sendable { case weights, gradients, arena }
        /// MXNet-style name: `conv1_weight`, `conv1_output`, `conv1_output_grad`.
        public var name: String
        public var shape: Shape
        public var bytes: Int
        public var region: Region
        /// Byte offset in its region; tensors of the arena share offsets when their lifetimes
        /// do not overlap.
        public var offset: Int
    }

    /// Every tensor of the plan, in creation order (forward outputs, then gradients).
    public let buffers: [Buffer]

    /// Whether activations are kept in oneDNN's blocked layout between operators.
    public let isBlocked: Bool

    /// Forward floating-point operations per image, as the operators declare them (the
    /// convolutions and FullyConnected layers; a training step costs about three times this).
    public var forwardFlopsPerImage: Double {
        var total = 0.0
        for (position, node) in graph.nodes.enumerated() {
            guard let definition = node.definition, let shapes = shapes.nodeShapes[position] else { continue }
            total += definition.forwardFlops(shapes) / Double(max(shapes.arguments[0][0], 1))
        }
        return total
    }

    /// Promises that parameters and auxiliary states keep their values until the next
    /// `freezeParameters` or `thawParameters`: kernels then fold BatchNorm into convolutions
    /// and convert weights (to blocked layouts, to bfloat16) once instead of at every call.
    /// For inference of a loaded model; a training step changes them, so `Trainer` thaws.
    public func freezeParameters() { context.frozenParameters = (context.frozenParameters ?? 0) &+ 1 }

    /// Parameters may change again: kernels prepare them at every call.
    public func thawParameters() { context.frozenParameters = nil }

    public func argument(_ name: String) -> Tensor? { argumentTensors[name] }
    public func gradient(_ name: String) -> Tensor? { gradientTensors[name] }
    public func auxiliary(_ name: String) -> Tensor? { auxiliaryTensors[name] }

    /// When on, every kernel call is timed into `profile` (seconds per node, summed).
    public var isProfiling = false {
        didSet { if isProfiling && forwardSeconds.isEmpty { resetProfile() } }
    }
    private var forwardSeconds: [Double] = []
    private var backwardSeconds: [Double] = []

    public func resetProfile() {
        forwardSeconds = [Double](repeating: 0, count: graph.nodes.count)
        backwardSeconds = [Double](repeating: 0, count: graph.nodes.count)
    }

    /// Time per operator type since the last reset: (op, forward seconds, backward seconds),
    /// slowest first.
    public var profile: [(op: String, forward: Double, backward: Double)] {
        var byOp: [String: (Double, Double)] = [:]
        for (position, node) in graph.nodes.enumerated() where !node.isVariable && position < forwardSeconds.count {
            let current = byOp[node.op, default: (0, 0)]
            byOp[node.op] = (current.0 + forwardSeconds[position], current.1 + backwardSeconds[position])
        }
        return byOp.map { (op: $0.key, forward: $0.value.0, backward: $0.value.1) }
            .sorted { $0.forward + $0.backward > $1.forward + $1.backward }
    }

    /// Runs every node forward; `isTraining` selects batch statistics and dropout.
    public func forward(isTraining: Bool) {
        for index in forwardCalls.indices {
            forwardCalls[index].1.isTraining = isTraining
            let (position, call) = forwardCalls[index]
            if isProfiling {
                let start = monotonicSeconds()
                kernels[position]!.forward(call)
                forwardSeconds[position] += monotonicSeconds() - start
            } else {
                kernels[position]!.forward(call)
            }
        }
    }

    /// A parameter gradient and the gradient-pass call after which it holds its final value.
    public struct CompletedGradient {
        public let name: String
        public let tensor: Tensor
        /// Index of the call (0 ..< `gradientPassCallCount`) that completes the gradient.
        public let completedAfterCall: Int
    }

    /// Every parameter gradient, in the order the gradient pass completes them. They lie
    /// back to back in this order in one block (each start aligned to 64 bytes, the gaps
    /// zero), so a run of consecutive entries is one contiguous range of floats from the
    /// first entry's start to the last entry's end: what a data-parallel job sums over
    /// processes as soon as backward has produced it.
    public let parameterGradientsInCompletionOrder: [CompletedGradient]

    /// The number of kernel calls of the gradient pass.
    public var gradientPassCallCount: Int { backwardCalls.count }

    /// Runs the gradient pass (after a training forward).
    public func backward() { backward(afterEachCall: { _ in }) }

    /// Runs the gradient pass, calling `afterEachCall` with the index of each finished call.
    public func backward(afterEachCall: (Int) -> Void) {
        for (index, call) in backwardCalls.enumerated() {
            defer { afterEachCall(index) }
            let start = isProfiling ? monotonicSeconds() : 0
            let position: Int
            switch call {
            case .backward(let node, let backwardCall):
                position = node
                kernels[node]!.backward(backwardCall)
            case .recompute(let node, let forwardCall):
                position = node
                kernels[node]!.forward(forwardCall)
            }
            if isProfiling { backwardSeconds[position] += monotonicSeconds() - start }
        }
    }
}
