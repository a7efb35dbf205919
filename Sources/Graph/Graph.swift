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
    /// The role of each variable: the one its first consumer (in node order) declares for
    /// the input it fills. A variable nobody consumes (a symbol that is only a variable) is data.
    private let roleByName: [String: ArgumentRole]
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
        var roles: [String: ArgumentRole] = [:]
        for node in order {
            guard let definition = node.definition else { continue }
            for entry in node.inputs.dropFirst(definition.argumentNames.count) {
                auxiliary.insert(ObjectIdentifier(entry.node))
            }
            let declared = definition.argumentRoles + definition.auxiliaryRoles
            for (entry, role) in zip(node.inputs, declared) where entry.node.isVariable && roles[entry.node.name] == nil
            {
                roles[entry.node.name] = role
            }
        }
        argumentNodes = order.filter { $0.isVariable && !auxiliary.contains(ObjectIdentifier($0)) }
        auxiliaryNodes = order.filter { $0.isVariable && auxiliary.contains(ObjectIdentifier($0)) }
        roleByName = roles
        var index: [ObjectIdentifier: Int] = [:]
        for (position, node) in order.enumerated() { index[ObjectIdentifier(node)] = position }
        indexByNode = index
    }

    public func index(of node: Node) -> Int { indexByNode[ObjectIdentifier(node)]! }

    /// Every argument (`list_arguments`): inputs and learned parameters, in node order.
    public var argumentNames: [String] { argumentNodes.map(\.name) }
    /// Every auxiliary state (`list_auxiliary_states`), in node order.
    public var auxiliaryNames: [String] { auxiliaryNodes.map(\.name) }

    /// The declared role of variable `name`; nil when the graph has no such variable.
    public func role(of name: String) -> ArgumentRole? {
        guard let role = roleByName[name] else { return argumentNames.contains(name) ? .data : nil }
        return role
    }
    /// Arguments the user feeds every batch (MXNet's `data_names` + `label_names`).
    public var inputNames: [String] { argumentNames.filter { role(of: $0)?.isInput == true } }
    /// Inputs in a data role (`data`, or whatever the symbol calls its image input).
    public var dataNames: [String] { argumentNames.filter { role(of: $0) == .data } }
    /// Inputs in a label role (`softmax_label`).
    public var labelNames: [String] { argumentNames.filter { role(of: $0) == .label } }
    /// Learned arguments (weights, biases, gammas, betas): what gradients, weight decay,
    /// initialisation, broadcast and checkpoints cover, with `auxiliaryNames`.
    public var parameterNames: [String] { argumentNames.filter { role(of: $0)?.isLearned == true } }

    /// The one data input of an image classifier (`data`, or the symbol's own name for it).
    public func dataInput() throws(OperatorError) -> String {
        try single(dataNames, "data input", missing: "")
    }

    /// The one label input of a classifier's loss head (`softmax_label`).
    public func labelInput() throws(OperatorError) -> String {
        try single(labelNames, "label input", missing: " (training needs a loss head such as SoftmaxOutput)")
    }

    /// Input shapes that give the one data input `shape` (for `Executor` and `inferShapes`).
    public func inputShapes(data shape: Shape) throws(OperatorError) -> [String: Shape] { [try dataInput(): shape] }

    private func single(_ names: [String], _ what: String, missing: String) throws(OperatorError) -> String {
        guard names.count == 1 else {
            throw OperatorError(
                node: nodes.last?.name ?? "graph",
                names.isEmpty
                    ? "the network has no \(what)\(missing)"
                    : "the network has \(names.count) \(what)s (\(names.joined(separator: ", "))); one is expected")
        }
        return names[0]
    }

    /// Shapes of everything, after inference.
    public struct Shapes: Sendable {
        /// Per node (by topological index), its shapes (variables: one output).
        public var nodeShapes: [NodeShapes?]
        /// Per node, per output.
        public var outputs: [[Shape]]

        public func shape(of entry: Entry, in graph: Graph) -> Shape {
            outputs[graph.index(of: entry.node)][entry.index]
        }
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
            for (number, entry) in node.inputs.enumerated() {
                let available = entry.node.isVariable ? 1 : outputs[index(of: entry.node)].count
                guard entry.index >= 0 && entry.index < available else {
                    throw OperatorError(
                        node: node.name,
                        "input \(number) refers to output \(entry.index) of '\(entry.node.name)', which has "
                            + "\(available) output\(available == 1 ? "" : "s")")
                }
            }
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
                    throw OperatorError(
                        node: node.name,
                        "argument '\(entry.node.name)' has shape \(existing) "
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
        for head in symbol.outputs where head.index < 0 || head.index >= outputs[index(of: head.node)].count {
            throw OperatorError(
                node: head.node.name,
                "the symbol's output refers to output \(head.index) of '\(head.node.name)', which has "
                    + "\(outputs[index(of: head.node)].count)")
        }
        return Shapes(nodeShapes: nodeShapes, outputs: outputs)
    }
}
