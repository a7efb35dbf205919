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
    private let arena: Tensor
    private let weightArena: Tensor
    private let gradientArena: Tensor
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
    public init(_ symbol: Symbol, inputShapes: [String: Shape], isTraining: Bool, planMemory: Bool = true,
                layout: LayoutPolicy = .automatic, mirror: Bool = false, fuse: Bool = true, inputs: Set<String>? = nil,
                context: KernelContext = KernelContext()) throws {
        let symbol = !isTraining && fuse ? symbol.fusedForInference() : symbol
        let graph = Graph(symbol)
        let shapes = try graph.inferShapes(inputShapes)
        let block = TensorLayout.preferredBlock
        let useBlocked = layout != .plain && Self.canUseBlockedLayout(graph, shapes, block: block)
        if layout == .blocked && !useBlocked {
            throw OperatorError(node: graph.nodes.last?.name ?? "graph",
                                "the blocked layout needs 4-D activations with channels divisible by \(block), "
                                + "consumed only by Convolution, BatchNorm, Pooling, LRN, Activation, Concat (dim 1), "
                                + "elemwise_add, Dropout and Flatten")
        }
        /// Physical layout of each node output.
        func entryLayout(_ entry: Entry) -> TensorLayout {
            guard useBlocked, !entry.node.isVariable,
                  shapes.outputs[graph.index(of: entry.node)][entry.index].rank == 4 else { return .plain }
            return .blocked(block)
        }
        let nodes = graph.nodes
        let inputNames = inputs ?? Set(graph.inputNames).union(inputShapes.keys)

        // Tensor slots: every node output, then the gradients.
        var slotShape: [Shape] = []
        var slotName: [String] = []
        var outputSlot: [[Int]] = []
        for (position, node) in nodes.enumerated() {
            outputSlot.append(shapes.outputs[position].enumerated().map { index, shape in
                slotShape.append(shape)
                slotName.append(node.definition.map { "\(node.name)_\($0.outputNames[index])" } ?? node.name)
                return slotShape.count - 1
            })
        }
        func slot(_ entry: Entry) -> Int { outputSlot[graph.index(of: entry.node)][entry.index] }
        let learnable = Set(graph.argumentNodes.filter { !inputNames.contains($0.name) }.map { graph.index(of: $0) })
        let auxiliary = Set(graph.auxiliaryNodes.map { graph.index(of: $0) })

        // Which entries need a gradient: those that depend on a learnable argument.
        var needsGradient = [Bool](repeating: false, count: nodes.count)
        for (position, node) in nodes.enumerated() {
            needsGradient[position] = learnable.contains(position)
                || node.inputs.contains { needsGradient[graph.index(of: $0.node)] }
        }
        if isTraining {
            for output in symbol.outputs where output.node.definition?.backwardDependencies.readsOutputGradients != false {
                throw OperatorError(node: output.node.name, "training needs a loss head (SoftmaxOutput) as the output")
            }
        }

        var gradientSlot: [Entry: Int] = [:]
        var steps: [MemoryPlanner.Step] = []
        var forwardPlan: [(node: Int, requests: [Request])] = []
        for (position, node) in nodes.enumerated() {
            guard let definition = node.definition else { continue }
            let reads = node.inputs.map(slot)
            let writes = outputSlot[position]
            var inPlace: [(read: Int, write: Int)] = []
            for option in definition.inPlaceOptions
            where entryLayout(node.inputs[option.argument]) == entryLayout(Entry(node, option.output)) {
                inPlace.append((slot(node.inputs[option.argument]), outputSlot[position][option.output]))
            }
            steps.append(MemoryPlanner.Step(reads: reads, writes: writes, inPlace: inPlace))
            forwardPlan.append((position, writes.map { _ in .write }))
        }
        // Backward: consumers before producers; the first contribution to a gradient writes,
        // the later ones add. With `mirror`, a recomputable node's outputs read here come from
        // a second forward run of that node, planned just before the first step that reads them.
        var backwardPlan: [PlannedGradientCall] = []
        var contributed = Set<Int>()
        var recomputedSlots: [Int: [Int]] = [:]
        let headNodes = Set(symbol.outputs.map { graph.index(of: $0.node) })
        func isMirrored(_ position: Int) -> Bool {
            mirror && nodes[position].definition?.isCheapToRecompute == true && !headNodes.contains(position)
        }
        /// The slots the gradient pass reads for the outputs of node `position`.
        func gradientPassOutputs(_ position: Int) -> [Int] {
            guard isMirrored(position) else { return outputSlot[position] }
            if let slots = recomputedSlots[position] { return slots }
            let node = nodes[position]
            let definition = node.definition!
            let argumentCount = definition.argumentNames.count
            let arguments = node.inputs.prefix(argumentCount).map {
                gradientPassOutputs(graph.index(of: $0.node))[$0.index]
            }
            let auxiliarySlots = node.inputs.dropFirst(argumentCount).map(slot)
            let writes = shapes.outputs[position].indices.map { index in
                slotShape.append(shapes.outputs[position][index])
                slotName.append("\(slotName[outputSlot[position][index]])_recomputed")
                return slotShape.count - 1
            }
            var inPlace: [(read: Int, write: Int)] = []
            for option in definition.inPlaceOptions
            where entryLayout(node.inputs[option.argument]) == entryLayout(Entry(node, option.output)) {
                inPlace.append((arguments[option.argument], writes[option.output]))
            }
            steps.append(MemoryPlanner.Step(reads: arguments + auxiliarySlots, writes: writes, inPlace: inPlace))
            backwardPlan.append(PlannedGradientCall(node: position, arguments: arguments, outputs: writes,
                                                    auxiliary: auxiliarySlots, isRecompute: true))
            recomputedSlots[position] = writes
            return writes
        }
        if isTraining {
            for position in nodes.indices.reversed() {
                let node = nodes[position]
                guard let definition = node.definition, needsGradient[position] else { continue }
                let dependencies = definition.backwardDependencies
                let argumentCount = definition.argumentNames.count
                var reads: [Int] = []
                var outputGradientSlots: [Int] = []
                if dependencies.readsOutputGradients {
                    for index in 0..<definition.visibleOutputCount {
                        let entry = Entry(node, index)
                        if gradientSlot[entry] == nil {
                            // An output nobody consumes: its gradient is zero.
                            slotShape.append(shapes.outputs[position][index])
                            slotName.append("\(slotName[outputSlot[position][index]])_grad")
                            gradientSlot[entry] = slotShape.count - 1
                        }
                        outputGradientSlots.append(gradientSlot[entry]!)
                    }
                    reads += outputGradientSlots
                }
                // Tensors backward does not read keep their forward slots (never dereferenced).
                let arguments = node.inputs.prefix(argumentCount).enumerated().map { index, entry in
                    dependencies.inputs.contains(index)
                        ? gradientPassOutputs(graph.index(of: entry.node))[entry.index] : slot(entry)
                }
                let outputs = dependencies.outputs.isEmpty ? outputSlot[position] : gradientPassOutputs(position)
                reads += dependencies.inputs.map { arguments[$0] }
                reads += dependencies.outputs.map { outputs[$0] }
                let auxiliarySlots = node.inputs.dropFirst(argumentCount).map(slot)
                reads += auxiliarySlots
                var writes: [Int] = []
                var requests: [Request] = []
                var gradientSlots: [Int?] = []
                for entry in node.inputs.prefix(argumentCount) {
                    let source = graph.index(of: entry.node)
                    guard needsGradient[source], !auxiliary.contains(source) else {
                        requests.append(.skip)
                        gradientSlots.append(nil)
                        continue
                    }
                    let gradient: Int
                    if let existing = gradientSlot[entry] {
                        gradient = existing
                    } else {
                        slotShape.append(shapes.outputs[source][entry.index])
                        slotName.append("\(slotName[outputSlot[source][entry.index]])_grad")
                        gradient = slotShape.count - 1
                        gradientSlot[entry] = gradient
                    }
                    requests.append(contributed.contains(gradient) ? .add : .write)
                    contributed.insert(gradient)
                    writes.append(gradient)
                    gradientSlots.append(gradient)
                }
                steps.append(MemoryPlanner.Step(reads: reads, writes: writes))
                backwardPlan.append(PlannedGradientCall(
                    node: position, arguments: arguments, outputs: outputs, auxiliary: auxiliarySlots,
                    gradientRequests: requests, gradientSlots: gradientSlots, outputGradientSlots: outputGradientSlots))
            }
        }

        // Pinned: weights and auxiliary states live in their own arena; inputs, outputs and
        // parameter gradients keep their blocks.
        var pinned = Set<Int>()
        var weightSlots = Set<Int>()
        for position in learnable.union(auxiliary) { weightSlots.insert(outputSlot[position][0]) }
        for node in graph.argumentNodes where inputNames.contains(node.name) { pinned.insert(outputSlot[graph.index(of: node)][0]) }
        for output in symbol.outputs { pinned.insert(slot(output)) }
        var parameterGradientSlots = Set<Int>()
        for position in learnable {
            if let gradient = gradientSlot[Entry(nodes[position])] { parameterGradientSlots.insert(gradient) }
        }
        pinned.formUnion(parameterGradientSlots)
        // Gradients of outputs nobody consumes are read but never written: zeros, kept apart.
        for plan in backwardPlan { pinned.formUnion(plan.outputGradientSlots.filter { !contributed.contains($0) }) }
        let sizes = slotShape.map { $0.elementCount * 4 }
        var activationSizes = sizes
        for weight in weightSlots.union(parameterGradientSlots) { activationSizes[weight] = 0 }
        // Weights are read by every step that uses them, and parameter gradients live until the
        // update: both stay out of the activation plan, in regions of their own.
        let activationPlan = MemoryPlanner.plan(sizes: activationSizes, pinned: pinned.union(weightSlots),
                                                steps: steps, reuse: planMemory)
        var weightOffsets: [Int: Int] = [:]
        var weightBytes = 0
        for weight in weightSlots.sorted() {
            weightOffsets[weight] = weightBytes
            weightBytes += (sizes[weight] + 63) / 64 * 64
        }
        // Parameter gradients back to back in the order the gradient pass completes them, so
        // that consecutive finished gradients form one contiguous range (an allreduce bucket).
        var completedAfter: [Int: Int] = [:]
        for (call, plan) in backwardPlan.enumerated() {
            for gradient in plan.gradientSlots.compactMap({ $0 }) where parameterGradientSlots.contains(gradient) {
                completedAfter[gradient] = call
            }
        }
        let gradientOrder = parameterGradientSlots.sorted { (completedAfter[$0]!, $0) < (completedAfter[$1]!, $1) }
        var gradientOffsets: [Int: Int] = [:]
        var gradientBytes = 0
        for gradient in gradientOrder {
            gradientOffsets[gradient] = gradientBytes
            gradientBytes += (sizes[gradient] + 63) / 64 * 64
        }
        let arena = Tensor(shape: [max(activationPlan.arenaBytes / 4, 1)])
        let weightArena = Tensor(shape: [max(weightBytes / 4, 1)])
        let gradientArena = Tensor(shape: [max(gradientBytes / 4, 1)])
        let tensors: [Tensor] = slotShape.indices.map { index in
            if let offset = weightOffsets[index] {
                return Tensor(viewing: weightArena.rawPointer + offset, shape: slotShape[index], owner: weightArena)
            }
            if let offset = gradientOffsets[index] {
                return Tensor(viewing: gradientArena.rawPointer + offset, shape: slotShape[index], owner: gradientArena)
            }
            return Tensor(viewing: arena.rawPointer + activationPlan.offsets[index], shape: slotShape[index], owner: arena)
        }

        // Kernels, created once, and the prepared calls.
        var kernels = [(any OperatorKernel)?](repeating: nil, count: nodes.count)
        for (position, node) in nodes.enumerated() {
            guard let definition = node.definition, var nodeShapes = shapes.nodeShapes[position] else { continue }
            if useBlocked {
                nodeShapes.argumentLayouts = node.inputs.prefix(definition.argumentNames.count).map(entryLayout)
                nodeShapes.outputLayouts = definition.outputNames.indices.map { entryLayout(Entry(node, $0)) }
            }  // Plain: tensors stay NCHW and each kernel reorders to what its primitive prefers.
            kernels[position] = try definition.makeKernel(shapes: nodeShapes, context: context)
            if useBlocked && kernels[position]!.implementation == "reference" {
                // The reference kernels compute in plain NCHW only.
                throw OperatorError(node: node.name, "has no oneDNN kernel for these shapes; bind with the plain layout")
            }
        }
        // Size the shared scratch of `add` requests now, so that no batch allocates.
        for plan in backwardPlan {
            for (index, request) in plan.gradientRequests.enumerated() where request == .add {
                _ = context.sharedScratch(slot: min(index, 2), bytes: sizes[plan.gradientSlots[index]!])
            }
        }
        var forwardCalls: [(Int, ForwardCall)] = []
        var backwardCalls: [GradientPassCall] = []
        var zeroGradients: [Tensor] = []
        for (position, requests) in forwardPlan {
            let node = nodes[position]
            let definition = node.definition!
            let argumentCount = definition.argumentNames.count
            var outputRequests = requests
            for option in definition.inPlaceOptions
            where tensors[slot(node.inputs[option.argument])].rawPointer == tensors[outputSlot[position][option.output]].rawPointer {
                outputRequests[option.output] = .inPlace
            }
            forwardCalls.append((position, ForwardCall(
                isTraining: isTraining, arguments: node.inputs.prefix(argumentCount).map { tensors[slot($0)] },
                outputs: outputSlot[position].map { tensors[$0] }, requests: outputRequests,
                auxiliary: node.inputs.dropFirst(argumentCount).map { tensors[slot($0)] })))
        }
        for plan in backwardPlan {
            if plan.isRecompute {
                var requests = [Request](repeating: .write, count: plan.outputs.count)
                for option in nodes[plan.node].definition!.inPlaceOptions
                where tensors[plan.arguments[option.argument]].rawPointer == tensors[plan.outputs[option.output]].rawPointer {
                    requests[option.output] = .inPlace
                }
                backwardCalls.append(.recompute(plan.node, ForwardCall(
                    isTraining: true, arguments: plan.arguments.map { tensors[$0] },
                    outputs: plan.outputs.map { tensors[$0] }, requests: requests,
                    auxiliary: plan.auxiliary.map { tensors[$0] })))
                continue
            }
            backwardCalls.append(.backward(plan.node, BackwardCall(
                outputGradients: plan.outputGradientSlots.map { tensors[$0] },
                arguments: plan.arguments.map { tensors[$0] }, outputs: plan.outputs.map { tensors[$0] },
                auxiliary: plan.auxiliary.map { tensors[$0] },
                argumentGradients: plan.gradientSlots.map { $0.map { tensors[$0] } }, requests: plan.gradientRequests)))
            for gradient in plan.outputGradientSlots where !contributed.contains(gradient) {
                zeroGradients.append(tensors[gradient])
            }
        }
        var argumentTensors: [String: Tensor] = [:], auxiliaryTensors: [String: Tensor] = [:]
        var gradientTensors: [String: Tensor] = [:]
        for node in graph.argumentNodes { argumentTensors[node.name] = tensors[outputSlot[graph.index(of: node)][0]] }
        for node in graph.auxiliaryNodes { auxiliaryTensors[node.name] = tensors[outputSlot[graph.index(of: node)][0]] }
        for position in learnable {
            if let gradient = gradientSlot[Entry(nodes[position])] { gradientTensors[nodes[position].name] = tensors[gradient] }
        }
        let slotNode = Dictionary(uniqueKeysWithValues: learnable.compactMap { position in
            gradientSlot[Entry(nodes[position])].map { ($0, nodes[position].name) }
        })
        self.parameterGradientsInCompletionOrder = gradientOrder.map {
            CompletedGradient(name: slotNode[$0]!, tensor: tensors[$0], completedAfterCall: completedAfter[$0]!)
        }
        self.buffers = slotShape.indices.map { index in
            let (region, offset): (Buffer.Region, Int) = if let offset = weightOffsets[index] { (.weights, offset) }
                else if let offset = gradientOffsets[index] { (.gradients, offset) }
                else { (.arena, activationPlan.offsets[index]) }
            return Buffer(name: slotName[index], shape: slotShape[index], bytes: sizes[index], region: region, offset: offset)
        }
        self.graph = graph
        self.shapes = shapes
        self.isBlocked = useBlocked
        self.context = context
        self.arena = arena
        self.weightArena = weightArena
        self.gradientArena = gradientArena
        self.kernels = kernels
        self.forwardCalls = forwardCalls
        self.backwardCalls = backwardCalls
        self.zeroGradients = zeroGradients
        self.argumentTensors = argumentTensors
        self.auxiliaryTensors = auxiliaryTensors
        self.gradientTensors = gradientTensors
        self.outputs = symbol.outputs.map { tensors[slot($0)] }
        memory = MemorySummary(weightBytes: weightBytes, gradientBytes: gradientBytes,
                               activationBytes: activationPlan.arenaBytes,
                               workspaceBytes: context.scratchpadBytes + context.sharedScratchBytes + kernels.compactMap { $0 }.reduce(0) { $0 + $1.workspaceBytes },
                               inPlaceCount: activationPlan.inPlaceCount, peakLiveBytes: activationPlan.peakLiveBytes)
        for tensor in zeroGradients { tensor.fill(0) }
    }

    /// One kernel call of the gradient pass: a node's backward, or (mirroring) a node's
    /// forward run again to recompute outputs that were not kept.
    private enum GradientPassCall {
        case backward(Int, BackwardCall)
        case recompute(Int, ForwardCall)
    }

    /// A gradient-pass call with the slots it reads and writes resolved.
    private struct PlannedGradientCall {
        var node: Int
        var arguments: [Int]
        var outputs: [Int]
        var auxiliary: [Int]
        var isRecompute = false
        var gradientRequests: [Request] = []
        var gradientSlots: [Int?] = []
        var outputGradientSlots: [Int] = []
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

    /// How the executor lays out activations between operators.
    public enum LayoutPolicy: String, Sendable, CaseIterable {
        /// Blocked where the network allows it (see `canUseBlockedLayout`), else plain.
        case automatic
        /// MXNet's NCHW everywhere (each oneDNN kernel reorders to its preferred layout).
        case plain
        /// oneDNN's blocked layout, or an error naming why not.
        case blocked
    }

    /// The blocked layout is used when every 4-D activation has a channel count divisible by
    /// the block and is consumed by operators with blocked kernels; network inputs stay
    /// plain and may feed only convolutions.
    static func canUseBlockedLayout(_ graph: Graph, _ shapes: Graph.Shapes, block: Int) -> Bool {
        let blockedConsumers: Set<String> = ["Convolution", "BatchNorm", "Pooling", "LRN", "Activation", "Concat",
                                             "elemwise_add", "_Plus", "_plus", "Dropout", "Flatten"]
        var hasBlocked = false
        for (position, node) in graph.nodes.enumerated() {
            guard let definition = node.definition else { continue }
            for (index, shape) in shapes.outputs[position].enumerated() where shape.rank == 4 {
                guard index < definition.visibleOutputCount || shape == shapes.outputs[position][0] else { continue }
                if shape[1] % block != 0 { return false }
                hasBlocked = true
            }
            for entry in node.inputs.prefix(definition.argumentNames.count) {
                let shape = shapes.outputs[graph.index(of: entry.node)][entry.index]
                guard shape.rank == 4 else { continue }
                let isConvolution = definition is Convolution || definition is FusedConvolution
                if entry.node.isVariable && !isConvolution { return false }
                if !isConvolution && !blockedConsumers.contains(node.op) { return false }
                if let concat = definition as? Concat, concat.axis != 1 { return false }
                if let pooling = definition as? Pooling, pooling.oneDNNMismatch(shapes.nodeShapes[position]!) != nil {
                    return false
                }
                if let lrn = definition as? LRN, lrn.size % 2 == 0 { return false }
            }
        }
        return hasBlocked
    }

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
