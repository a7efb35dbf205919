import Foundation
import Operators
import TensorCore

/// A symbol file that cannot be read, naming the file's node or field at fault.
public struct SymbolFileError: Error, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// MXNet symbol JSON (`PREFIX-symbol.json`): Gannet writes the MXNet 1.x (nnvm) dialect and
/// reads it, the older `attr` dialect and the 2015 StaticGraph dialect (`param`,
/// 2-element entries, `backward_source_id`, no BatchNorm auxiliary variables).
public enum SymbolJSON {
    /// The version Gannet writes (`mxnet_version` of 1.9.1).
    public static let writtenVersion = 10901

    /// The nnvm-dialect text of a symbol.
    public static func encode(_ symbol: Symbol) throws -> String {
        let graph = Graph(symbol)
        var rowPointer = [0]
        var nodes: [[String: Any]] = []
        for node in graph.nodes {
            var object: [String: Any] = [
                "op": node.op, "name": node.name,
                "inputs": node.inputs.map { [graph.index(of: $0.node), $0.index, 0] },
            ]
            if !node.attributes.isEmpty { object["attrs"] = node.attributes }
            nodes.append(object)
            rowPointer.append(rowPointer.last! + node.outputCount)
        }
        let top: [String: Any] = [
            "nodes": nodes,
            "arg_nodes": graph.nodes.indices.filter { graph.nodes[$0].isVariable },
            "node_row_ptr": rowPointer,
            "heads": symbol.outputs.map { [graph.index(of: $0.node), $0.index, 0] },
            "attrs": ["mxnet_version": ["int", writtenVersion]],
        ]
        let data = try JSONSerialization.data(withJSONObject: top, options: [.sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    /// The attributes of the variable `name` in a symbol JSON text (empty when it has none
    /// or the text does not parse; `decode` reports errors).
    public static func variableAttributes(_ text: String, name: String) -> [String: String] {
        guard let top = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
            let nodes = top["nodes"] as? [[String: Any]],
            let node = nodes.first(where: { $0["name"] as? String == name && $0["op"] as? String == "null" })
        else { return [:] }
        var attributes: [String: String] = [:]
        for key in ["param", "attr", "attrs"] {
            for (k, v) in node[key] as? [String: Any] ?? [:] { attributes[k] = v as? String ?? "\(v)" }
        }
        return attributes
    }

    /// What the reader decided for a pre-nnvm file, for the caller to log.
    public struct Notes: Sendable {
        /// True for files without `mxnet_version` (written before MXNet 0.9).
        public var isLegacy = false
        /// BatchNorm nodes that got auxiliary variables added (as MXNet's upgrader does).
        public var addedAuxiliary: [String] = []
        /// Pooling nodes without `pooling_convention` in a legacy file, set to `full`.
        public var legacyPooling: [String] = []
        /// BatchNorm nodes of a `param` file without `fix_gamma`: gamma learned.
        public var learnedGamma: [String] = []
    }

    /// Parses symbol JSON. `file` names the source in errors. In a legacy file Pooling
    /// without `pooling_convention` is read as `full` (MXNet rounded up until July 2016;
    /// the caller may re-resolve against the parameter shapes), and a `param`-dialect
    /// BatchNorm without `fix_gamma` learns gamma (the field did not exist yet).
    public static func decode(
        _ text: String, file: String = "symbol JSON",
        legacyPooling: Pooling.Convention = .full
    ) throws -> (Symbol, Notes) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)),
            let top = object as? [String: Any]
        else {
            throw SymbolFileError("\(file): not a JSON object")
        }
        guard let nodeList = top["nodes"] as? [[String: Any]] else {
            throw SymbolFileError("\(file): no 'nodes' list")
        }
        var notes = Notes()
        let topAttributes = top["attrs"] as? [String: Any]
        notes.isLegacy = topAttributes?["mxnet_version"] == nil
        var built: [Node] = []
        for (position, raw) in nodeList.enumerated() {
            built.append(
                try node(raw, at: position, after: built, file: file, legacyPooling: legacyPooling, notes: &notes))
        }
        guard let heads = top["heads"] as? [[Any]], !heads.isEmpty else {
            throw SymbolFileError("\(file): no 'heads' (graph outputs)")
        }
        let outputs = try heads.map { head -> Entry in
            guard head.count >= 1, let source = (head[0] as? NSNumber)?.intValue, source >= 0, source < built.count
            else {
                throw SymbolFileError("\(file): head \(head) is not a node")
            }
            let output = head.count > 1 ? (head[1] as? NSNumber)?.intValue ?? 0 : 0
            return Entry(built[source], output)
        }
        return (Symbol(outputs), notes)
    }

    /// One node of the `nodes` list; its inputs must be earlier nodes of `built`.
    private static func node(
        _ raw: [String: Any], at position: Int, after built: [Node], file: String, legacyPooling: Pooling.Convention,
        notes: inout Notes
    ) throws -> Node {
        guard let op = raw["op"] as? String, let name = raw["name"] as? String else {
            throw SymbolFileError("\(file): node \(position) has no 'op' or 'name'")
        }
        let isParamDialect = raw["param"] != nil
        var attributes: [String: String] = [:]
        for key in ["param", "attr", "attrs"] {
            if let values = raw[key] as? [String: Any] {
                for (k, v) in values { attributes[k] = v as? String ?? "\(v)" }
            }
        }
        let inputs = try (raw["inputs"] as? [[Any]] ?? []).map { entry -> Entry in
            guard entry.count >= 2, let source = (entry[0] as? NSNumber)?.intValue,
                let output = (entry[1] as? NSNumber)?.intValue, source >= 0, source < built.count
            else {
                throw SymbolFileError("\(file): node '\(name)' has an input \(entry) that is not an earlier node")
            }
            return Entry(built[source], output)
        }
        if op == "null" { return Node(name: name, op: op, attributes: attributes, definition: nil, inputs: []) }
        if op == "Pooling" && notes.isLegacy && attributes["pooling_convention"] == nil
            && (attributes["global_pool"].map { $0.lowercased() != "true" } ?? true)
        {
            attributes["pooling_convention"] = legacyPooling.rawValue
            notes.legacyPooling.append(name)
        }
        if op == "BatchNorm" && isParamDialect && attributes["fix_gamma"] == nil {
            attributes["fix_gamma"] = "False"
            notes.learnedGamma.append(name)
        }
        let definition: any OperatorDefinition
        do {
            definition = try OperatorRegistry.definition(op: op, attributes: attributes, node: name)
        } catch {
            throw SymbolFileError("\(file): \(error)")
        }
        var allInputs = inputs
        let expected = definition.argumentNames.count + definition.auxiliaryNames.count
        if allInputs.count == definition.argumentNames.count && !definition.auxiliaryNames.isEmpty {
            // Pre-nnvm files have no auxiliary variables; add them as MXNet's upgrader does.
            for auxiliary in definition.auxiliaryNames {
                let variable = Node(
                    name: "\(name)_\(auxiliary)", op: "null", attributes: attributes, definition: nil, inputs: [])
                allInputs.append(Entry(variable))
            }
            notes.addedAuxiliary.append(name)
        }
        guard allInputs.count == expected else {
            throw SymbolFileError(
                "\(file): node '\(name)' (\(op)) has \(inputs.count) inputs, expected \(expected) "
                    + "(\((definition.argumentNames + definition.auxiliaryNames).joined(separator: ", ")))")
        }
        return Node(name: name, op: op, attributes: attributes, definition: definition, inputs: allInputs)
    }

    /// Reads a pre-0.9 symbol file whose Pooling nodes carry no `pooling_convention`, choosing
    /// the rounding that agrees with the checkpoint: shapes are inferred with the parameter
    /// shapes of its `.params` under `full` (MXNet ≤ July 2016) and then `valid` (later), and
    /// the first that fits every parameter and Concat is taken. Files with no such node are
    /// read as they are.
    public static func decodeLegacy(
        _ text: String, file: String, dataShape: Shape,
        parameterShapes: [String: Shape]
    ) throws -> (Symbol, Notes, Pooling.Convention?) {
        let (symbol, notes) = try decode(text, file: file)
        guard !notes.legacyPooling.isEmpty else { return (symbol, notes, nil) }
        var known = parameterShapes
        known[try Graph(symbol).dataInput()] = dataShape
        var failures: [String] = []
        for convention in [Pooling.Convention.full, .valid] {
            let (candidate, candidateNotes) = try decode(text, file: file, legacyPooling: convention)
            do {
                _ = try Graph(candidate).inferShapes(known)
                return (candidate, candidateNotes, convention)
            } catch {
                failures.append("\(convention.rawValue): \(error)")
            }
        }
        throw SymbolFileError(
            "\(file): its parameters fit neither pooling rounding (\(failures.joined(separator: "; ")))")
    }
}
