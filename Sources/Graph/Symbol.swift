import Operators
import TensorCore

/// One node of a symbolic graph: a variable (`op == "null"`) or an operator applied to
/// the outputs of earlier nodes. Immutable; identity is the object.
public final class Node: Sendable {
    public let name: String
    /// MXNet's operator name, `"null"` for a variable.
    public let op: String
    /// The attributes as MXNet spells them (only those given explicitly), kept verbatim so
    /// that symbol JSON round-trips.
    public let attributes: [String: String]
    /// The parsed operator; nil for variables.
    public let definition: (any OperatorDefinition)?
    /// Inputs in the definition's order: arguments, then auxiliary states.
    public let inputs: [Entry]

    public init(
        name: String, op: String, attributes: [String: String], definition: (any OperatorDefinition)?,
        inputs: [Entry]
    ) {
        self.name = name
        self.op = op
        self.attributes = attributes
        self.definition = definition
        self.inputs = inputs
    }

    public var isVariable: Bool { definition == nil }

    /// This node reading other inputs (same name, operator, attributes and definition).
    public func replacingInputs(_ inputs: [Entry]) -> Node {
        Node(name: name, op: op, attributes: attributes, definition: definition, inputs: inputs)
    }

    /// Number of outputs, hidden ones included (MXNet's `node_row_ptr` step).
    public var outputCount: Int { definition?.outputNames.count ?? 1 }
}

/// One output of a node.
public struct Entry: Hashable, Sendable {
    public let node: Node
    public let index: Int

    public init(_ node: Node, _ index: Int = 0) {
        self.node = node
        self.index = index
    }

    public static func == (a: Entry, b: Entry) -> Bool { a.node === b.node && a.index == b.index }
    public func hash(into hasher: inout Hasher) {
        hasher.combine(ObjectIdentifier(node))
        hasher.combine(index)
    }
}

/// A network: the outputs of a static graph (for a classifier, one SoftmaxOutput).
public struct Symbol: Sendable {
    public let outputs: [Entry]

    public init(_ outputs: [Entry]) { self.outputs = outputs }
    public init(_ node: Node) { self.outputs = [Entry(node)] }

    /// The single output of a one-output symbol.
    var entry: Entry {
        precondition(outputs.count == 1, "a symbol with \(outputs.count) outputs used as one input")
        return outputs[0]
    }
}

extension Symbol {
    /// The same network with `attributes` merged into those of the variable `name` (MXNet
    /// keeps a variable's attributes verbatim, as it does `__lr_mult__`). Unchanged when no
    /// such variable exists.
    public func settingAttributes(_ attributes: [String: String], ofVariable name: String) -> Symbol {
        var replacement: [ObjectIdentifier: Node] = [:]
        func mapped(_ entry: Entry) -> Entry {
            replacement[ObjectIdentifier(entry.node)].map { Entry($0, entry.index) } ?? entry
        }
        for node in Graph(self).nodes {
            let inputs = node.inputs.map(mapped)
            if node.isVariable && node.name == name {
                replacement[ObjectIdentifier(node)] = Node(
                    name: node.name, op: node.op, attributes: node.attributes.merging(attributes) { $1 },
                    definition: nil,
                    inputs: [])
            } else if inputs != node.inputs {
                replacement[ObjectIdentifier(node)] = node.replacingInputs(inputs)
            }
        }
        return Symbol(outputs.map(mapped))
    }
}
