import Graph
import Operators
import TensorCore

/// Evaluates a graph with the operators' plain reference kernels in Double: the oracle for
/// the executor and the subject of whole-graph finite differences.
struct ReferenceGraph {
    let graph: Graph
    let shapes: Graph.Shapes
    /// Values of every variable (arguments and auxiliary states) by name.
    var variables: [String: [Double]]

    /// Forward values of every node output.
    func forward(isTraining: Bool) -> [[[Double]]] {
        var values = [[[Double]]](repeating: [], count: graph.nodes.count)
        for (position, node) in graph.nodes.enumerated() {
            guard let definition = node.definition else {
                values[position] = [variables[node.name]!]
                continue
            }
            let inputs = node.inputs.map { values[graph.index(of: $0.node)][$0.index] }
            let argumentCount = definition.argumentNames.count
            var auxiliary = Array(inputs.dropFirst(argumentCount))
            values[position] = definition.referenceForward(
                Array(inputs.prefix(argumentCount)), auxiliary: &auxiliary,
                shapes: shapes.nodeShapes[position]!, isTraining: isTraining)
        }
        return values
    }

    /// Gradients of the learnable variables, accumulating over fan-out as the executor does.
    func backward(_ values: [[[Double]]], learnable: Set<String>) -> [String: [Double]] {
        var gradients: [Entry: [Double]] = [:]
        for position in graph.nodes.indices.reversed() {
            let node = graph.nodes[position]
            guard let definition = node.definition else { continue }
            let argumentCount = definition.argumentNames.count
            let outputGradients = (0..<definition.visibleOutputCount).map { index in
                gradients[Entry(node, index)] ?? [Double](repeating: 0, count: values[position][index].count)
            }
            let inputs = node.inputs.map { values[graph.index(of: $0.node)][$0.index] }
            var auxiliary = Array(inputs.dropFirst(argumentCount))
            let result = definition.referenceBackward(
                outputGradients: outputGradients, arguments: Array(inputs.prefix(argumentCount)),
                outputs: values[position], auxiliary: &auxiliary, shapes: shapes.nodeShapes[position]!)
            for (entry, gradient) in zip(node.inputs.prefix(argumentCount), result) {
                if let existing = gradients[entry] {
                    gradients[entry] = zip(existing, gradient).map { $0 + $1 }
                } else {
                    gradients[entry] = gradient
                }
            }
        }
        var byName: [String: [Double]] = [:]
        for node in graph.argumentNodes where learnable.contains(node.name) {
            byName[node.name] = gradients[Entry(node)]
        }
        return byName
    }
}
