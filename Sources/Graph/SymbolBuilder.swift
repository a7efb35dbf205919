import Operators
import TensorCore

/// Builds symbols with MXNet's naming, which checkpoints depend on: an operator named
/// `conv1` creates its missing arguments as `conv1_weight`, `conv1_bias`; an unnamed one is
/// called `<op in lower case><counter>` (`convolution0`, `pooling3`), counters kept per
/// builder as MXNet's `NameManager` does per process.
///
/// ```swift
/// let b = SymbolBuilder()
/// let data = b.variable("data")
/// let conv = try b.convolution(data, name: "conv1", kernel: [11, 11], filterCount: 96, stride: [4, 4])
/// ```
public final class SymbolBuilder {
    private var counters: [String: Int] = [:]

    public init() {}

    public func variable(_ name: String, attributes: [String: String] = [:]) -> Symbol {
        Symbol(Node(name: name, op: "null", attributes: attributes, definition: nil, inputs: []))
    }

    /// The given name, or MXNet's automatic one.
    func resolveName(_ name: String?, op: String) -> String {
        if let name { return name }
        let key = op.lowercased()
        let count = counters[key, default: 0]
        counters[key] = count + 1
        return "\(key)\(count)"
    }

    /// Applies operator `op` with MXNet attributes; `inputs` gives symbols for some of the
    /// definition's arguments by name, the others become variables `<name>_<argument>`.
    public func apply(_ op: String, name: String? = nil, inputs: [String: Symbol], attributes: [String: String])
        throws(OperatorError) -> Symbol
    {
        let nodeName = resolveName(name, op: op)
        let definition = try OperatorRegistry.definition(op: op, attributes: attributes, node: nodeName)
        var entries: [Entry] = []
        for argument in definition.argumentNames {
            if let symbol = inputs[argument] {
                entries.append(symbol.entry)
            } else {
                entries.append(variable("\(nodeName)_\(argument)").entry)
            }
        }
        for auxiliary in definition.auxiliaryNames {
            // MXNet marks the initial values of the moving statistics on the variables.
            let initial = auxiliary == "moving_var" ? "[\"one\", {}]" : "[\"zero\", {}]"
            entries.append(variable("\(nodeName)_\(auxiliary)", attributes: ["__init__": initial]).entry)
        }
        return Symbol(Node(name: nodeName, op: op, attributes: attributes, definition: definition, inputs: entries))
    }
}

/// MXNet's spelling of attribute values.
enum AttributeText {
    static func tuple(_ values: [Int]) -> String { "(" + values.map(String.init).joined(separator: ", ") + ")" }
    static func bool(_ value: Bool) -> String { value ? "True" : "False" }
    /// Python's `str()` of a float (`0.0001`, `1e-05`, `0.5`): Swift prints the same
    /// shortest round-trip form.
    static func number(_ value: Double) -> String { "\(value)" }
}

extension SymbolBuilder {
    public func convolution(
        _ data: Symbol, name: String? = nil, kernel: [Int], filterCount: Int,
        stride: [Int]? = nil, pad: [Int]? = nil, dilate: [Int]? = nil, groupCount: Int? = nil,
        noBias: Bool? = nil
    ) throws(OperatorError) -> Symbol {
        var attributes = ["kernel": AttributeText.tuple(kernel), "num_filter": "\(filterCount)"]
        if let stride { attributes["stride"] = AttributeText.tuple(stride) }
        if let pad { attributes["pad"] = AttributeText.tuple(pad) }
        if let dilate { attributes["dilate"] = AttributeText.tuple(dilate) }
        if let groupCount { attributes["num_group"] = "\(groupCount)" }
        if let noBias { attributes["no_bias"] = AttributeText.bool(noBias) }
        return try apply("Convolution", name: name, inputs: ["data": data], attributes: attributes)
    }

    public func fullyConnected(_ data: Symbol, name: String? = nil, hiddenCount: Int, noBias: Bool? = nil)
        throws(OperatorError) -> Symbol
    {
        var attributes = ["num_hidden": "\(hiddenCount)"]
        if let noBias { attributes["no_bias"] = AttributeText.bool(noBias) }
        return try apply("FullyConnected", name: name, inputs: ["data": data], attributes: attributes)
    }

    public func pooling(
        _ data: Symbol, name: String? = nil, kind: Pooling.Kind, kernel: [Int], stride: [Int]? = nil,
        pad: [Int]? = nil, convention: Pooling.Convention? = nil, isGlobal: Bool? = nil
    )
        throws(OperatorError) -> Symbol
    {
        var attributes = ["pool_type": kind.rawValue, "kernel": AttributeText.tuple(kernel)]
        if let stride { attributes["stride"] = AttributeText.tuple(stride) }
        if let pad { attributes["pad"] = AttributeText.tuple(pad) }
        if let convention { attributes["pooling_convention"] = convention.rawValue }
        if let isGlobal { attributes["global_pool"] = AttributeText.bool(isGlobal) }
        return try apply("Pooling", name: name, inputs: ["data": data], attributes: attributes)
    }

    public func batchNorm(
        _ data: Symbol, name: String? = nil, epsilon: Double? = nil, momentum: Double? = nil,
        fixGamma: Bool? = nil
    ) throws(OperatorError) -> Symbol {
        var attributes: [String: String] = [:]
        if let epsilon { attributes["eps"] = AttributeText.number(epsilon) }
        if let momentum { attributes["momentum"] = AttributeText.number(momentum) }
        if let fixGamma { attributes["fix_gamma"] = AttributeText.bool(fixGamma) }
        return try apply("BatchNorm", name: name, inputs: ["data": data], attributes: attributes)
    }

    public func activation(_ data: Symbol, name: String? = nil, kind: Activation.Kind) throws(OperatorError) -> Symbol {
        try apply("Activation", name: name, inputs: ["data": data], attributes: ["act_type": kind.rawValue])
    }

    public func lrn(_ data: Symbol, name: String? = nil, size: Int, alpha: Double, beta: Double, knorm: Double)
        throws(OperatorError) -> Symbol
    {
        try apply(
            "LRN", name: name, inputs: ["data": data],
            attributes: [
                "nsize": "\(size)", "alpha": AttributeText.number(alpha), "beta": AttributeText.number(beta),
                "knorm": AttributeText.number(knorm),
            ])
    }

    public func dropout(_ data: Symbol, name: String? = nil, probability: Double) throws(OperatorError) -> Symbol {
        try apply("Dropout", name: name, inputs: ["data": data], attributes: ["p": AttributeText.number(probability)])
    }

    public func concat(_ inputs: [Symbol], name: String? = nil, dim: Int? = nil) throws(OperatorError) -> Symbol {
        var attributes = ["num_args": "\(inputs.count)"]
        if let dim { attributes["dim"] = "\(dim)" }
        var named: [String: Symbol] = [:]
        for (index, symbol) in inputs.enumerated() { named["arg\(index)"] = symbol }
        return try apply("Concat", name: name, inputs: named, attributes: attributes)
    }

    public func flatten(_ data: Symbol, name: String? = nil) throws(OperatorError) -> Symbol {
        try apply("Flatten", name: name, inputs: ["data": data], attributes: [:])
    }

    public func softmaxOutput(_ data: Symbol, name: String? = nil) throws(OperatorError) -> Symbol {
        try apply("SoftmaxOutput", name: name, inputs: ["data": data], attributes: [:])
    }

    public func elementwiseAdd(_ lhs: Symbol, _ rhs: Symbol, name: String? = nil) throws(OperatorError) -> Symbol {
        try apply("elemwise_add", name: name, inputs: ["lhs": lhs, "rhs": rhs], attributes: [:])
    }
}
