import Operators

extension Symbol {
    /// The same network for inference with chains of operators that fuse
    /// (`OperatorDefinition.fusedForInference(followedBy:)`: today every
    /// `Convolution → BatchNorm → Activation`, `Convolution → BatchNorm` and
    /// `Convolution → Activation`) replaced by one node. A chain grows only where the
    /// intermediate output has the next operator as its single consumer, is not a network
    /// output, and the next operator's hidden outputs are unused, so nothing that is read
    /// elsewhere disappears. Variables are shared with this symbol: argument and auxiliary
    /// names, and therefore checkpoint keys, are unchanged.
    ///
    /// BatchNorm is folded with its moving statistics, which is what inference uses; the
    /// result is not meant for training.
    public func fusedForInference() -> Symbol {
        fused { $0.fusedForInference(followedBy: $1) }
    }

    /// The same network for training with the chains that fuse in both passes
    /// (`OperatorDefinition.fusedForTraining(followedBy:)`: today BatchNorm → ReLU) replaced
    /// by one node, under the same rules as `fusedForInference`.
    public func fusedForTraining() -> Symbol {
        fused { $0.fusedForTraining(followedBy: $1) }
    }

    /// Chains whose next operator `rule` absorbs, replaced by one node.
    func fused(
        _ rule: (any OperatorDefinition, any OperatorDefinition) -> (any OperatorDefinition)?
    ) -> Symbol {
        let graph = Graph(self)
        var consumers: [Entry: [Node]] = [:]
        for node in graph.nodes {
            for entry in node.inputs { consumers[entry, default: []].append(node) }
        }
        let outputEntries = Set(outputs)
        func isUnused(_ entry: Entry) -> Bool { consumers[entry] == nil && !outputEntries.contains(entry) }
        /// The node that reads output 0 of `node` as its data, when it is the only reader,
        /// output 0 is not a network output and `node` has no other output in use.
        func soleConsumer(_ node: Node) -> Node? {
            let entry = Entry(node)
            guard !outputEntries.contains(entry), let readers = consumers[entry], readers.count == 1,
                readers[0].inputs.first == entry, (1..<node.outputCount).allSatisfy({ isUnused(Entry(node, $0)) })
            else { return nil }
            return readers[0]
        }

        var replacement: [Entry: Entry] = [:]
        var absorbed = Set<ObjectIdentifier>()
        func mapped(_ entry: Entry) -> Entry { replacement[entry] ?? entry }
        for node in graph.nodes {
            guard let definition = node.definition, !absorbed.contains(ObjectIdentifier(node)) else { continue }
            var fused = (definition: definition, op: node.op, inputs: node.inputs.map(mapped))
            var tail = node
            while let next = soleConsumer(tail), let nextDefinition = next.definition,
                (1..<nextDefinition.outputNames.count).allSatisfy({ isUnused(Entry(next, $0)) }),
                let combined = rule(fused.definition, nextDefinition)
            {
                let (count, nextCount) = (fused.definition.argumentNames.count, nextDefinition.argumentNames.count)
                let nextInputs = next.inputs.map(mapped)
                fused = (
                    combined, fused.op + "+" + next.op,
                    Array(fused.inputs.prefix(count)) + nextInputs[1..<nextCount]
                        + fused.inputs.dropFirst(count) + nextInputs.dropFirst(nextCount)
                )
                absorbed.insert(ObjectIdentifier(next))
                tail = next
            }
            if tail !== node {
                replacement[Entry(tail)] = Entry(
                    Node(
                        name: node.name, op: fused.op, attributes: node.attributes,
                        definition: fused.definition, inputs: fused.inputs))
            } else if fused.inputs != node.inputs {
                let copy = node.replacingInputs(fused.inputs)
                for index in 0..<node.outputCount { replacement[Entry(node, index)] = Entry(copy, index) }
            }
        }
        return Symbol(outputs.map(mapped))
    }
}
