import Operators
import TensorCore

extension Symbol {
    /// The same network computing in `compute`: wherever an activation's producer and its
    /// consumer work in different element types (`OperatorDefinition.activationType`), a
    /// `Cast` node converts it, one per tensor and target type (named `<producer>_<type>`).
    /// Variables (data, labels, weights) stay float32: a network input read by a bfloat16
    /// operator is converted once, and weights are converted by the kernels that read them
    /// from the float32 master copy. Unchanged for float32.
    public func castForPrecision(_ compute: DataType) -> Symbol {
        guard compute != .float32 else { return self }
        var replacement: [ObjectIdentifier: Node] = [:]
        struct CastKey: Hashable {
            let entry: Entry
            let type: DataType
        }
        var casts: [CastKey: Node] = [:]
        func mapped(_ entry: Entry) -> Entry {
            replacement[ObjectIdentifier(entry.node)].map { Entry($0, entry.index) } ?? entry
        }
        /// `entry` in `type`, through a cast when it has another.
        func converted(_ entry: Entry, to type: DataType) -> Entry {
            guard entry.node.activationTypes(computing: compute)[entry.index] != type else { return entry }
            let key = CastKey(entry: entry, type: type)
            if let cast = casts[key] { return Entry(cast) }
            let name = entry.node.isVariable || entry.index == 0 ? entry.node.name : "\(entry.node.name)_\(entry.index)"
            let cast = Node(
                name: "\(name)_\(type.rawValue)", op: Cast.mxnetName, attributes: [:], definition: Cast(to: type),
                inputs: [entry])
            casts[key] = cast
            return Entry(cast)
        }
        for node in Graph(self).nodes {
            guard let definition = node.definition else { continue }
            var inputs = node.inputs.map(mapped)
            if !definition.acceptsEveryActivationType {
                let type = definition.activationType(computing: compute)
                for (index, role) in definition.argumentRoles.enumerated() where role == .data {
                    inputs[index] = converted(inputs[index], to: type)
                }
            }
            if inputs != node.inputs { replacement[ObjectIdentifier(node)] = node.replacingInputs(inputs) }
        }
        return Symbol(outputs.map(mapped))
    }
}

extension Node {
    /// The element type of each output when the network computes in `compute`: float32 for
    /// variables, what the operator declares otherwise.
    public func activationTypes(computing compute: DataType) -> [DataType] {
        guard let definition else { return [.float32] }
        return definition.outputTypes(activationType: definition.activationType(computing: compute))
    }
}
