import Operators
import TensorCore

/// A symbol analysed: nodes in topological order, argument and auxiliary lists in MXNet's
/// order, and shape inference.
public struct Graph: Sendable {
    public let symbol: Symbol
    /// Every node reachable from the outputs, inputs before users (MXNet's DFS order).
    public let nodes: [Node]
    /// Variables that are operator arguments or inputs (`list_arguments`), in node order.
    public let argumentNodes: [Node]
    /// Variables in auxiliary slots (`list_auxiliary_states`), in node order.
    public let auxiliaryNodes: [Node]
    private let indexByNode: [ObjectIdentifier: Int]

    public init(_ symbol: Symbol) {
        self.symbol = symbol
        var order: [Node] = []
        var seen: Set<ObjectIdentifier> = []
        // Iterative post-order DFS, inputs visited in order, as nnvm's DFSVisit.
        for output in symbol.outputs {
            var stack: [(Node, Int)] = [(output.node, 0)]
            guard seen.insert(ObjectIdentifier(output.node)).inserted else { continue }
            while let (node, next) = stack.popLast() {
                if next < node.inputs.count {
                    stack.append((node, next + 1))
                    let child = node.inputs[next].node
                    if seen.insert(ObjectIdentifier(child)).inserted { stack.append((child, 0)) }
                } else {
                    order.append(node)
                }
            }
        }
        nodes = order
        var auxiliary: Set<ObjectIdentifier> = []
        for node in order {
            guard let definition = node.definition else { continue }
            for entry in node.inputs.dropFirst(definition.argumentNames.count) {
                auxiliary.insert(ObjectIdentifier(entry.node))
            }
        }
        argumentNodes = order.filter { $0.isVariable && !auxiliary.contains(ObjectIdentifier($0)) }
        auxiliaryNodes = order.filter { $0.isVariable && auxiliary.contains(ObjectIdentifier($0)) }
        var index: [ObjectIdentifier: Int] = [:]
        for (position, node) in order.enumerated() { index[ObjectIdentifier(node)] = position }
        indexByNode = index
    }

    public func index(of node: Node) -> Int { indexByNode[ObjectIdentifier(node)]! }

    public var argumentNames: [String] { argumentNodes.map(\.name) }
    public var auxiliaryNames: [String] { auxiliaryNodes.map(\.name) }

    /// Shapes of everything, after inference.
    public struct Shapes: Sendable {
        /// Per node (by topological index), its shapes (variables: one output).
        public var nodeShapes: [NodeShapes?]
        /// Per node, per output.
        public var outputs: [[Shape]]

        public func shape(of entry: Entry, in graph: Graph) -> Shape { outputs[graph.index(of: entry.node)][entry.index] }
    }

    /// Infers every shape from the given input shapes (`["data": [64, 3, 224, 224]]`; labels
    /// may be omitted). Errors name the node, the argument and both shapes.
    public func inferShapes(_ known: [String: Shape]) throws(OperatorError) -> Shapes {
        var outputs = [[Shape]](repeating: [], count: nodes.count)
        var variableShapes: [Int: Shape] = [:]
        var nodeShapes = [NodeShapes?](repeating: nil, count: nodes.count)
        for (position, node) in nodes.enumerated() where node.isVariable {
            if let shape = known[node.name] { variableShapes[position] = shape }
        }
        for (position, node) in nodes.enumerated() {
            guard let definition = node.definition else { continue }
            let inputShapes: [Shape?] = node.inputs.prefix(definition.argumentNames.count).map { entry in
                let source = index(of: entry.node)
                return entry.node.isVariable ? variableShapes[source] : outputs[source][entry.index]
            }
            let shapes = try definition.inferShapes(inputShapes, node: node.name)
            nodeShapes[position] = shapes
            outputs[position] = shapes.outputs
            let filled = zip(node.inputs, shapes.arguments + shapes.auxiliary)
            for (entry, shape) in filled where entry.node.isVariable {
                let source = index(of: entry.node)
                if let existing = variableShapes[source], existing != shape {
                    throw OperatorError(node: node.name, "argument '\(entry.node.name)' has shape \(existing) "
                                        + "but \(shape) is required")
                }
                variableShapes[source] = shape
            }
        }
        for (position, node) in nodes.enumerated() where node.isVariable {
            guard let shape = variableShapes[position] else {
                throw OperatorError(node: node.name, "the shape of variable '\(node.name)' cannot be inferred; give it")
            }
            outputs[position] = [shape]
        }
        return Shapes(nodeShapes: nodeShapes, outputs: outputs)
    }
}
