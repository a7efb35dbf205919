import Operators
import TensorCore

extension Executor {
    /// How the executor lays out activations between operators.
    public enum LayoutPolicy: String, Sendable, CaseIterable {
        /// Blocked where the network allows it (see `LayoutAssignment`), else plain.
        case automatic
        /// MXNet's NCHW everywhere (each oneDNN kernel reorders to its preferred layout).
        case plain
        /// oneDNN's blocked layout, or an error naming the node that prevents it.
        case blocked
    }
}

/// Binding phase: the physical layout of every node output. Either all 4-D activations
/// are blocked (`nChw{b}c`) or all are plain; variables stay plain.
///
/// The blocked layout is used when every 4-D activation has a channel count divisible by
/// the block and every operator reading a 4-D tensor declares blocked support for its
/// shapes (`OperatorDefinition.blockedLayoutSupport`); a network input may be read only by
/// an operator that takes plain inputs too (a convolution).
public struct LayoutAssignment: Sendable {
    /// The block size, or nil when everything is plain.
    public let block: Int?

    public var isBlocked: Bool { block != nil }

    /// Chooses the layout for `policy`; `.blocked` on a network that cannot use it is an
    /// error naming the node that prevents it.
    public init(
        _ policy: Executor.LayoutPolicy, graph: Graph, shapes: Graph.Shapes,
        block: Int = TensorLayout.preferredBlock
    ) throws(OperatorError) {
        guard policy != .plain else {
            self.block = nil
            return
        }
        switch Self.obstacle(graph, shapes, block: block) {
        case nil:
            self.block = block
        case let reason? where policy == .blocked:
            throw reason
        case _?:
            self.block = nil
        }
    }

    /// The layout of output `index` of node `position`.
    public func layout(ofOutput index: Int, node position: Int, graph: Graph, shapes: Graph.Shapes) -> TensorLayout {
        let node = graph.nodes[position]
        guard let block, !Self.isNetworkInput(Entry(node, index), graph, shapes),
            shapes.outputs[position][index].rank == 4
        else { return .plain }
        return .blocked(block)
    }

    /// A variable, or a conversion of one (`BlockedLayoutSupport.followsInput`): plain in
    /// every layout, read only by operators that take plain network inputs.
    static func isNetworkInput(_ entry: Entry, _ graph: Graph, _ shapes: Graph.Shapes) -> Bool {
        guard let definition = entry.node.definition else { return true }
        guard let nodeShapes = shapes.nodeShapes[graph.index(of: entry.node)],
            definition.blockedLayoutSupport(nodeShapes) == .followsInput
        else { return false }
        return isNetworkInput(entry.node.inputs[0], graph, shapes)
    }

    /// The layout of `entry`.
    public func layout(of entry: Entry, graph: Graph, shapes: Graph.Shapes) -> TensorLayout {
        layout(ofOutput: entry.index, node: graph.index(of: entry.node), graph: graph, shapes: shapes)
    }

    /// Why the blocked layout cannot be used, or nil when it can.
    static func obstacle(_ graph: Graph, _ shapes: Graph.Shapes, block: Int) -> OperatorError? {
        var hasBlocked = false
        for (position, node) in graph.nodes.enumerated() {
            guard let definition = node.definition, let nodeShapes = shapes.nodeShapes[position] else { continue }
            for (index, shape) in shapes.outputs[position].enumerated()
            where shape.rank == 4 && !isNetworkInput(Entry(node, index), graph, shapes) {
                // Hidden outputs of another shape (BatchNorm's statistics) are not activations.
                guard index < definition.visibleOutputCount || shape == shapes.outputs[position][0] else { continue }
                if shape[1] % block != 0 {
                    return OperatorError(
                        node: node.name,
                        "the blocked layout needs channel counts divisible by "
                            + "\(block); output \(index) has shape \(shape)")
                }
                hasBlocked = true
            }
            let support = definition.blockedLayoutSupport(nodeShapes)
            for entry in node.inputs.prefix(definition.argumentNames.count) {
                let shape = shapes.outputs[graph.index(of: entry.node)][entry.index]
                guard shape.rank == 4 else { continue }
                if support == .none {
                    return OperatorError(node: node.name, "\(node.op) has no blocked-layout kernel for these shapes")
                }
                if isNetworkInput(entry, graph, shapes) && support != .activationsAndInputs && support != .followsInput
                {
                    return OperatorError(
                        node: node.name,
                        "\(node.op) cannot read the network input "
                            + "'\(entry.node.name)' in the plain layout within a blocked network")
                }
            }
        }
        return hasBlocked
            ? nil : OperatorError(node: graph.nodes.last?.name ?? "graph", "the network has no 4-D activations")
    }
}
