import Operators
import TensorCore

/// Binding phase: every tensor of a bound graph as a numbered slot, and every kernel call
/// of the forward and gradient passes with the slots it reads and writes. It is what the
/// memory planner places and what the executor turns into calls; it holds no memory.
///
/// Slots are numbered: every node output in node order, then the tensors the gradient pass
/// adds (gradients, and with `mirror` the recomputed outputs) in the order it needs them.
struct ExecutionPlan {
    struct Slot {
        var shape: Shape
        /// MXNet-style: `conv1_output`, `conv1_weight`, `conv1_output_grad`.
        var name: String
        /// A gradient has the type of its tensor.
        var type: DataType
    }

    /// One planned kernel call.
    struct Call {
        enum Kind { case forward, backward, recompute }
        var kind: Kind
        var node: Int
        var arguments: [Int]
        var outputs: [Int]
        var auxiliary: [Int]
        /// Backward only: per argument, the request and the slot of its gradient (nil: skip).
        var gradientRequests: [Request] = []
        var gradientSlots: [Int?] = []
        /// Backward only: gradients of the visible outputs it reads.
        var outputGradientSlots: [Int] = []
    }

    let graph: Graph
    let shapes: Graph.Shapes
    private(set) var slots: [Slot] = []
    /// Per node, the slot of each output.
    private(set) var outputSlots: [[Int]] = []
    /// What the memory planner walks: one step per call, forward then gradient pass.
    private(set) var steps: [MemoryPlanner.Step] = []
    private(set) var forwardCalls: [Call] = []
    private(set) var gradientPassCalls: [Call] = []
    /// The gradient slot of each entry that receives one.
    private(set) var gradientSlots: [Entry: Int] = [:]
    /// Gradient slots some call writes (the others stay zero).
    private(set) var contributed: Set<Int> = []
    /// Node positions of learned arguments and of auxiliary states.
    let learnable: Set<Int>
    let auxiliary: Set<Int>
    /// Node positions of the inputs (data, labels).
    let inputs: Set<Int>
    private let layout: LayoutAssignment
    private let mirror: Bool
    private var recomputedSlots: [Int: [Int]] = [:]

    /// Per node, the element type of each output.
    let types: [[DataType]]

    /// Plans `graph` with `inputNames` fed by the user (no gradient). `isTraining` adds the
    /// gradient pass; `mirror` recomputes cheap outputs there instead of keeping them.
    /// `types` gives each node output's element type (all float32 when nil).
    init(
        graph: Graph, shapes: Graph.Shapes, layout: LayoutAssignment, inputNames: Set<String>, isTraining: Bool,
        mirror: Bool, types: [[DataType]]? = nil
    ) throws(OperatorError) {
        self.types = types ?? shapes.outputs.map { $0.map { _ in .float32 } }
        self.graph = graph
        self.shapes = shapes
        self.layout = layout
        self.mirror = mirror
        inputs = Set(graph.argumentNodes.filter { inputNames.contains($0.name) }.map(graph.index(of:)))
        learnable = Set(graph.argumentNodes.map(graph.index(of:))).subtracting(inputs)
        auxiliary = Set(graph.auxiliaryNodes.map(graph.index(of:)))
        for (position, node) in graph.nodes.enumerated() {
            outputSlots.append(
                shapes.outputs[position].indices.map { index in
                    addSlot(
                        shapes.outputs[position][index],
                        node.definition.map { "\(node.name)_\($0.outputNames[index])" } ?? node.name,
                        self.types[position][index])
                })
        }
        planForward()
        if isTraining {
            for output in graph.symbol.outputs
            where output.node.definition?.backwardDependencies.readsOutputGradients != false {
                throw OperatorError(node: output.node.name, "training needs a loss head (SoftmaxOutput) as the output")
            }
            planGradientPass()
        }
    }

    func slot(_ entry: Entry) -> Int { outputSlots[graph.index(of: entry.node)][entry.index] }

    /// Slots of the graph's outputs.
    var headSlots: [Int] { graph.symbol.outputs.map(slot) }

    private mutating func addSlot(_ shape: Shape, _ name: String, _ type: DataType) -> Int {
        slots.append(Slot(shape: shape, name: name, type: type))
        return slots.count - 1
    }

    private func layout(_ entry: Entry) -> TensorLayout { layout.layout(of: entry, graph: graph, shapes: shapes) }

    /// (argument slot, output slot) pairs that may share memory: allowed by the operator
    /// and in the same physical layout and element type.
    private func inPlacePairs(_ position: Int, arguments: [Int], outputs: [Int]) -> [(read: Int, write: Int)] {
        let node = graph.nodes[position]
        return node.definition!.inPlaceOptions.filter { option in
            layout(node.inputs[option.argument]) == layout(Entry(node, option.output))
                && slots[arguments[option.argument]].type == slots[outputs[option.output]].type
        }.map { (arguments[$0.argument], outputs[$0.output]) }
    }

    private mutating func planForward() {
        for (position, node) in graph.nodes.enumerated() {
            guard let definition = node.definition else { continue }
            let argumentCount = definition.argumentNames.count
            let arguments = node.inputs.prefix(argumentCount).map(slot)
            let auxiliaryInputs = node.inputs.dropFirst(argumentCount).map(slot)
            forwardCalls.append(
                forwardStep(
                    .forward, position, arguments: arguments, auxiliary: auxiliaryInputs,
                    writes: outputSlots[position]))
        }
    }

    /// A forward run of node `position` (`.forward`, or `.recompute` in the gradient pass)
    /// and its memory-planner step, outputs allowed to take over arguments in place.
    private mutating func forwardStep(
        _ kind: Call.Kind, _ position: Int, arguments: [Int], auxiliary: [Int], writes: [Int]
    ) -> Call {
        steps.append(
            MemoryPlanner.Step(
                reads: arguments + auxiliary, writes: writes,
                inPlace: inPlacePairs(position, arguments: arguments, outputs: writes)))
        return Call(kind: kind, node: position, arguments: arguments, outputs: writes, auxiliary: auxiliary)
    }

    /// Consumers before producers; the first contribution to a gradient writes, later ones
    /// add (how Inception's fan-out sums gradients without extra buffers).
    private mutating func planGradientPass() {
        var needsGradient = [Bool](repeating: false, count: graph.nodes.count)
        for (position, node) in graph.nodes.enumerated() {
            needsGradient[position] =
                learnable.contains(position)
                || node.inputs.contains { needsGradient[graph.index(of: $0.node)] }
        }
        for position in graph.nodes.indices.reversed()
        where needsGradient[position] && graph.nodes[position].definition != nil {
            planBackward(position, needsGradient: needsGradient)
        }
    }

    private mutating func planBackward(_ position: Int, needsGradient: [Bool]) {
        let node = graph.nodes[position]
        let definition = node.definition!
        let dependencies = definition.backwardDependencies
        let argumentCount = definition.argumentNames.count
        var outputGradients: [Int] = []
        if dependencies.readsOutputGradients {
            // An output nobody consumes has no gradient slot yet: its gradient is zero.
            outputGradients = (0..<definition.visibleOutputCount).map { gradientSlot(for: Entry(node, $0)) }
        }
        // Tensors backward does not read keep their forward slots (never dereferenced).
        var arguments: [Int] = []
        for (index, entry) in node.inputs.prefix(argumentCount).enumerated() {
            arguments.append(
                dependencies.inputs.contains(index)
                    ? gradientPassOutputs(graph.index(of: entry.node))[entry.index] : slot(entry))
        }
        let outputs = dependencies.outputs.isEmpty ? outputSlots[position] : gradientPassOutputs(position)
        let auxiliaryInputs = node.inputs.dropFirst(argumentCount).map(slot)
        var call = Call(
            kind: .backward, node: position, arguments: arguments, outputs: outputs, auxiliary: auxiliaryInputs,
            outputGradientSlots: outputGradients)
        for entry in node.inputs.prefix(argumentCount) {
            let source = graph.index(of: entry.node)
            guard needsGradient[source], !auxiliary.contains(source) else {
                call.gradientRequests.append(.skip)
                call.gradientSlots.append(nil)
                continue
            }
            let gradient = gradientSlot(for: entry)
            call.gradientRequests.append(contributed.contains(gradient) ? .add : .write)
            contributed.insert(gradient)
            call.gradientSlots.append(gradient)
        }
        let reads =
            outputGradients + dependencies.inputs.map { arguments[$0] } + dependencies.outputs.map { outputs[$0] }
            + auxiliaryInputs
        // A first write may take over an output gradient in place: one consumers wrote (never
        // the shared zero gradient of an unused output), in the same layout and type.
        let inPlace = definition.backwardInPlaceOptions.compactMap { option -> (read: Int, write: Int)? in
            guard option.outputGradient < outputGradients.count,
                call.gradientRequests[option.argumentGradient] == .write,
                let write = call.gradientSlots[option.argumentGradient]
            else { return nil }
            let read = outputGradients[option.outputGradient]
            guard contributed.contains(read), slots[read].type == slots[write].type,
                layout(Entry(node, option.outputGradient)) == layout(node.inputs[option.argumentGradient])
            else { return nil }
            return (read, write)
        }
        steps.append(MemoryPlanner.Step(reads: reads, writes: call.gradientSlots.compactMap { $0 }, inPlace: inPlace))
        gradientPassCalls.append(call)
    }

    private mutating func gradientSlot(for entry: Entry) -> Int {
        if let existing = gradientSlots[entry] { return existing }
        let source = graph.index(of: entry.node)
        let forward = slots[outputSlots[source][entry.index]]
        let gradient = addSlot(forward.shape, "\(forward.name)_grad", forward.type)
        gradientSlots[entry] = gradient
        return gradient
    }

    /// Whether node `position`'s outputs are recomputed in the gradient pass (`mirror`).
    private func isMirrored(_ position: Int) -> Bool {
        mirror && graph.nodes[position].definition?.isCheapToRecompute == true
            && !graph.symbol.outputs.contains { $0.node === graph.nodes[position] }
    }

    /// The slots the gradient pass reads for the outputs of node `position`: the forward
    /// ones, or for a mirrored node those of a second forward call, planned just before the
    /// first call that reads them.
    private mutating func gradientPassOutputs(_ position: Int) -> [Int] {
        guard isMirrored(position) else { return outputSlots[position] }
        if let recomputed = recomputedSlots[position] { return recomputed }
        let node = graph.nodes[position]
        let argumentCount = node.definition!.argumentNames.count
        var arguments: [Int] = []
        for entry in node.inputs.prefix(argumentCount) {
            arguments.append(gradientPassOutputs(graph.index(of: entry.node))[entry.index])
        }
        let auxiliaryInputs = node.inputs.dropFirst(argumentCount).map(slot)
        let writes = outputSlots[position].map {
            addSlot(slots[$0].shape, "\(slots[$0].name)_recomputed", slots[$0].type)
        }
        gradientPassCalls.append(
            forwardStep(.recompute, position, arguments: arguments, auxiliary: auxiliaryInputs, writes: writes))
        recomputedSlots[position] = writes
        return writes
    }

    /// Slots of the learned parameters' gradients, by node position.
    var parameterGradientSlots: [Int: Int] {
        var result: [Int: Int] = [:]
        for position in learnable {
            if let gradient = gradientSlots[Entry(graph.nodes[position])] { result[position] = gradient }
        }
        return result
    }

    /// Gradients of outputs nobody consumes: read by the gradient pass but never written.
    var zeroGradientSlots: [Int] {
        gradientPassCalls.flatMap { $0.outputGradientSlots.filter { !contributed.contains($0) } }
    }
}
