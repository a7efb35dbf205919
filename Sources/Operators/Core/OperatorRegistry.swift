/// The one table from MXNet's `op` names to definitions, used only to decode symbol JSON.
/// Older spellings map to the same definitions.
public enum OperatorRegistry {
    public static let definitions: [String: any OperatorDefinition.Type] = [
        "Convolution": Convolution.self,
        "FullyConnected": FullyConnected.self,
        "Pooling": Pooling.self,
        "BatchNorm": BatchNorm.self,
        "Activation": Activation.self,
        "LRN": LRN.self,
        "Dropout": Dropout.self,
        "Concat": Concat.self,
        "Flatten": Flatten.self,
        "SoftmaxOutput": SoftmaxOutput.self,
        "Softmax": SoftmaxOutput.self,  // 2015 name of SoftmaxOutput
        "elemwise_add": ElementwiseAdd.self,
        "_Plus": ElementwiseAdd.self,
        "_plus": ElementwiseAdd.self,
        "_copy": Identity.self,
        "identity": Identity.self,
    ]

    /// Parses one node's attributes into its definition; unknown operators name the node.
    public static func definition(op: String, attributes: [String: String], node: String)
        throws(OperatorError) -> any OperatorDefinition
    {
        guard let type = definitions[op] else {
            throw OperatorError(
                node: node,
                "operator '\(op)' is not supported (supported: "
                    + definitions.keys.sorted().joined(separator: ", ") + ")")
        }
        return try type.init(attributes: attributes, node: node)
    }
}
