import Operators

extension Symbol {
    /// The same network for inference with every `Convolution → BatchNorm → Activation`
    /// chain (and `Convolution → BatchNorm`, `Convolution → Activation`) replaced by one
    /// `FusedConvolution` node. A chain is fused only where each intermediate output has the
    /// next operator as its single consumer and is not a network output, so nothing that
    /// is read elsewhere disappears. Variables are shared with this symbol: argument and
    /// auxiliary names, and therefore checkpoint keys, are unchanged.
    ///
    /// BatchNorm is folded with its moving statistics, which is what inference uses; the
    /// result is not meant for training.
    public func fusedForInference() -> Symbol {
        let graph = Graph(self)
        var consumers: [Entry: [Node]] = [:]
        for node in graph.nodes {
            for entry in node.inputs { consumers[entry, default: []].append(node) }
        }
        let outputEntries = Set(outputs)
        /// The single node reading `entry`, when it is the only reader and `entry` is not an output.
        func soleConsumer(_ entry: Entry) -> Node? {
            guard !outputEntries.contains(entry), let readers = consumers[entry], readers.count == 1 else { return nil }
            return readers[0]
        }

        var replacement: [Entry: Entry] = [:]
        var absorbed = Set<ObjectIdentifier>()
        func mapped(_ entry: Entry) -> Entry { replacement[entry] ?? entry }
        for node in graph.nodes {
            guard let definition = node.definition, !absorbed.contains(ObjectIdentifier(node)) else { continue }
            let inputs = node.inputs.map(mapped)
            guard let convolution = definition as? Convolution else {
                if inputs != node.inputs {
                    let copy = Node(name: node.name, op: node.op, attributes: node.attributes, definition: definition,
                                    inputs: inputs)
                    for index in 0..<node.outputCount { replacement[Entry(node, index)] = Entry(copy, index) }
                }
                continue
            }
            var tail = node
            var batchNorm: (BatchNorm, Node)? = nil
            if let next = soleConsumer(Entry(node)), let definition = next.definition as? BatchNorm,
               next.inputs[0] == Entry(node), consumers[Entry(next, 1)] == nil, consumers[Entry(next, 2)] == nil,
               !outputEntries.contains(Entry(next, 1)), !outputEntries.contains(Entry(next, 2)) {
                batchNorm = (definition, next)
                tail = next
            }
            var activation: Activation.Kind? = nil
            if let next = soleConsumer(Entry(tail)), let definition = next.definition as? Activation,
               FusedConvolution.canFuse(definition.kind) {
                activation = definition.kind
                tail = next
            }
            guard tail !== node else {
                if inputs != node.inputs {
                    let copy = Node(name: node.name, op: node.op, attributes: node.attributes, definition: definition,
                                    inputs: inputs)
                    replacement[Entry(node)] = Entry(copy)
                }
                continue
            }
            let fused = FusedConvolution(convolution: convolution, batchNorm: batchNorm?.0, activation: activation)
            // BatchNorm's inputs after data: gamma, beta, then its auxiliary states.
            let extra = batchNorm.map { Array($0.1.inputs.dropFirst().map(mapped)) } ?? []
            let fusedNode = Node(name: node.name, op: fused.description, attributes: node.attributes, definition: fused,
                                 inputs: inputs + extra)
            if let (_, normNode) = batchNorm { absorbed.insert(ObjectIdentifier(normNode)) }
            absorbed.insert(ObjectIdentifier(tail))
            replacement[Entry(tail)] = Entry(fusedNode)
        }
        return Symbol(outputs.map(mapped))
    }
}
