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

        /// The BatchNorm and Activation that can fold into `convolution`, and the last node of
        /// the chain; nil when neither follows it.
        func chain(after convolution: Node) -> (batchNorm: (BatchNorm, Node)?, activation: Activation.Kind?, tail: Node)? {
            var tail = convolution
            var batchNorm: (BatchNorm, Node)? = nil
            if let next = soleConsumer(Entry(convolution)), let definition = next.definition as? BatchNorm,
               next.inputs[0] == Entry(convolution),
               [1, 2].allSatisfy({ consumers[Entry(next, $0)] == nil && !outputEntries.contains(Entry(next, $0)) }) {
                batchNorm = (definition, next)
                tail = next
            }
            var activation: Activation.Kind? = nil
            if let next = soleConsumer(Entry(tail)), let definition = next.definition as? Activation,
               FusedConvolution.canFuse(definition.kind) {
                activation = definition.kind
                tail = next
            }
            return tail === convolution ? nil : (batchNorm, activation, tail)
        }

        var replacement: [Entry: Entry] = [:]
        var absorbed = Set<ObjectIdentifier>()
        func mapped(_ entry: Entry) -> Entry { replacement[entry] ?? entry }
        for node in graph.nodes {
            guard let definition = node.definition, !absorbed.contains(ObjectIdentifier(node)) else { continue }
            let inputs = node.inputs.map(mapped)
            if let convolution = definition as? Convolution, let (batchNorm, activation, tail) = chain(after: node) {
                let fused = FusedConvolution(convolution: convolution, batchNorm: batchNorm?.0, activation: activation)
                // BatchNorm's inputs after data: gamma, beta, then its auxiliary states.
                let extra = batchNorm.map { Array($0.1.inputs.dropFirst().map(mapped)) } ?? []
                let fusedNode = Node(name: node.name, op: fused.description, attributes: node.attributes,
                                     definition: fused, inputs: inputs + extra)
                if let (_, normNode) = batchNorm { absorbed.insert(ObjectIdentifier(normNode)) }
                absorbed.insert(ObjectIdentifier(tail))
                replacement[Entry(tail)] = Entry(fusedNode)
            } else if inputs != node.inputs {
                let copy = node.replacingInputs(inputs)
                for index in 0..<node.outputCount { replacement[Entry(node, index)] = Entry(copy, index) }
            }
        }
        return Symbol(outputs.map(mapped))
    }
}
