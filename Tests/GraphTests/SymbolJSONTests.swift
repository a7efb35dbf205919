import Foundation
import Graph
import Models
import Operators
import TensorCore
import Testing

@Suite struct SymbolJSONTests {
    @Test(arguments: NetworkName.allCases) func roundTripIsLossless(_ network: NetworkName) throws {
        let text = try SymbolJSON.encode(try network.symbol())
        let (decoded, notes) = try SymbolJSON.decode(text)
        #expect(!notes.isLegacy)
        #expect(try SymbolJSON.encode(decoded) == text)
        #expect(Graph(decoded).argumentNames == Graph(try network.symbol()).argumentNames)
    }

    @Test func writesTheNNVMDialect() throws {
        let text = try SymbolJSON.encode(try alexNet())
        let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [String: Any]
        let nodes = object["nodes"] as! [[String: Any]]
        let rowPointer = object["node_row_ptr"] as! [Int]
        #expect(rowPointer.count == nodes.count + 1)
        // LRN and Dropout have two outputs each in MXNet's row pointer.
        let lrn = nodes.firstIndex { ($0["op"] as! String) == "LRN" }!
        #expect(rowPointer[lrn + 1] - rowPointer[lrn] == 2)
        let conv = nodes.first { ($0["name"] as! String) == "convolution0" }!
        let attributes = conv["attrs"] as! [String: String]
        #expect(attributes == ["kernel": "(11, 11)", "num_filter": "96", "stride": "(4, 4)"])
        let version = (object["attrs"] as! [String: Any])["mxnet_version"] as! [Any]
        #expect(version[1] as! Int == 10901)
        let arguments = object["arg_nodes"] as! [Int]
        #expect(arguments.allSatisfy { (nodes[$0]["op"] as! String) == "null" })
    }

    /// A 2015 StaticGraph file: `param` holds every field, entries have two elements, BatchNorm
    /// has no auxiliary inputs and no `fix_gamma`, Pooling no `pooling_convention`.
    @Test func readsThe2015Dialect() throws {
        let legacy = """
            {"nodes": [
              {"op": "null", "param": {}, "name": "data", "inputs": [], "backward_source_id": -1},
              {"op": "null", "param": {}, "name": "conv_weight", "inputs": [], "backward_source_id": -1},
              {"op": "null", "param": {}, "name": "conv_bias", "inputs": [], "backward_source_id": -1},
              {"op": "Convolution", "param": {"kernel": "(3,3)", "no_bias": "False", "num_filter": "4", "num_group": "1",
                 "pad": "(1,1)", "stride": "(1,1)", "workspace": "512"}, "name": "conv", "inputs": [[0, 0], [1, 0], [2, 0]],
                 "backward_source_id": -1},
              {"op": "null", "param": {}, "name": "bn_gamma", "inputs": [], "backward_source_id": -1},
              {"op": "null", "param": {}, "name": "bn_beta", "inputs": [], "backward_source_id": -1},
              {"op": "BatchNorm", "param": {"eps": "1e-10", "momentum": "0.1"}, "name": "bn",
                 "inputs": [[3, 0], [4, 0], [5, 0]], "backward_source_id": -1},
              {"op": "Pooling", "param": {"kernel": "(3,3)", "pool_type": "max", "stride": "(2,2)", "pad": "(0,0)"},
                 "name": "pool", "inputs": [[6, 0]], "backward_source_id": -1},
              {"op": "Flatten", "param": {}, "name": "flatten", "inputs": [[7, 0]], "backward_source_id": -1},
              {"op": "null", "param": {}, "name": "fc_weight", "inputs": [], "backward_source_id": -1},
              {"op": "null", "param": {}, "name": "fc_bias", "inputs": [], "backward_source_id": -1},
              {"op": "FullyConnected", "param": {"no_bias": "False", "num_hidden": "3"}, "name": "fc",
                 "inputs": [[8, 0], [9, 0], [10, 0]], "backward_source_id": -1},
              {"op": "null", "param": {}, "name": "softmax_label", "inputs": [], "backward_source_id": -1},
              {"op": "Softmax", "param": {"grad_scale": "1"}, "name": "softmax", "inputs": [[11, 0], [12, 0]],
                 "backward_source_id": -1}],
             "arg_nodes": [0, 1, 2, 4, 5, 9, 10, 12], "heads": [[13, 0]]}
            """
        let (symbol, notes) = try SymbolJSON.decode(legacy, file: "Inception_BN-symbol.json")
        #expect(notes.isLegacy)
        #expect(notes.addedAuxiliary == ["bn"] && notes.learnedGamma == ["bn"] && notes.legacyPooling == ["pool"])
        let graph = Graph(symbol)
        #expect(
            graph.argumentNames == [
                "data", "conv_weight", "conv_bias", "bn_gamma", "bn_beta", "fc_weight", "fc_bias",
                "softmax_label",
            ])
        #expect(graph.auxiliaryNames == ["bn_moving_mean", "bn_moving_var"])
        let bn = graph.nodes.first { $0.name == "bn" }!.definition as! BatchNorm
        #expect(!bn.fixGamma && bn.epsilon == 1e-10 && bn.momentum == 0.1)
        let shapes = try graph.inferShapes(["data": [2, 3, 8, 8]])
        // `full` rounding: 8 → ceil((8 − 3)/2) + 1 = 4 (floor would give 3).
        #expect(shapes.outputs[graph.nodes.firstIndex { $0.name == "pool" }!] == [[2, 4, 4, 4]])
        // Written back in the current dialect, MXNet 1.9.1 reads it with the decisions explicit.
        let (again, againNotes) = try SymbolJSON.decode(try SymbolJSON.encode(symbol))
        #expect(!againNotes.isLegacy && Graph(again).auxiliaryNames == graph.auxiliaryNames)
    }

    @Test func badFilesNameTheFileAndNode() {
        #expect(throws: SymbolFileError.self) { try SymbolJSON.decode("[1, 2]", file: "x.json") }
        let unknown = """
            {"nodes": [{"op": "null", "name": "data", "inputs": []},
                       {"op": "Deconvolution", "name": "deconv", "attrs": {}, "inputs": [[0, 0, 0]]}],
             "heads": [[1, 0, 0]], "attrs": {"mxnet_version": ["int", 10901]}}
            """
        do {
            _ = try SymbolJSON.decode(unknown, file: "x.json")
            Issue.record("expected an error")
        } catch {
            #expect(
                "\(error)".contains("x.json") && "\(error)".contains("deconv") && "\(error)".contains("Deconvolution"))
        }
    }
}

@Suite struct SymbolBuilderTests {
    @Test func automaticNamesCountPerOperator() throws {
        let b = SymbolBuilder()
        let data = b.variable("data")
        let a = try b.activation(b.convolution(data, kernel: [3, 3], filterCount: 2), kind: .relu)
        let c = try b.convolution(a, kernel: [1, 1], filterCount: 2)
        let named = try b.batchNorm(c, name: "bn1")
        let graph = Graph(named)
        #expect(
            graph.nodes.map(\.name) == [
                "data", "convolution0_weight", "convolution0_bias", "convolution0",
                "activation0", "convolution1_weight", "convolution1_bias", "convolution1",
                "bn1_gamma", "bn1_beta", "bn1_moving_mean", "bn1_moving_var", "bn1",
            ])
        #expect(graph.auxiliaryNames == ["bn1_moving_mean", "bn1_moving_var"])
    }

    @Test func variableShapeConflictNamesNodeAndArgument() throws {
        let b = SymbolBuilder()
        let shared = b.variable("shared_weight")
        let data = b.variable("data")
        let one = try b.apply(
            "FullyConnected", name: "fc1", inputs: ["data": data, "weight": shared], attributes: ["num_hidden": "4"])
        let two = try b.apply(
            "FullyConnected", name: "fc2", inputs: ["data": one, "weight": shared], attributes: ["num_hidden": "4"])
        do {
            _ = try Graph(two).inferShapes(["data": [2, 3]])
            Issue.record("expected a shape error")
        } catch {
            #expect(
                error.description.contains("fc2") && error.description.contains("weight")
                    && error.description.contains("(4, 3)"))
        }
    }
}

@Suite struct LegacyPoolingTests {
    /// A 2015-dialect file: pool 3/2 on 8×8 then a fully-connected layer whose weight shape
    /// tells the rounding (4·4·4 = 64 inputs under `full`, 3·3·4 = 36 under `valid`).
    let legacy = """
        {"nodes": [
          {"op": "null", "param": {}, "name": "data", "inputs": [], "backward_source_id": -1},
          {"op": "Pooling", "param": {"kernel": "(3,3)", "pool_type": "max", "stride": "(2,2)", "pad": "(0,0)"},
             "name": "pool", "inputs": [[0, 0]], "backward_source_id": -1},
          {"op": "Flatten", "param": {}, "name": "flatten", "inputs": [[1, 0]], "backward_source_id": -1},
          {"op": "null", "param": {}, "name": "fc_weight", "inputs": [], "backward_source_id": -1},
          {"op": "null", "param": {}, "name": "fc_bias", "inputs": [], "backward_source_id": -1},
          {"op": "FullyConnected", "param": {"no_bias": "False", "num_hidden": "3"}, "name": "fc",
             "inputs": [[2, 0], [3, 0], [4, 0]], "backward_source_id": -1}],
         "arg_nodes": [0, 3, 4], "heads": [[5, 0]]}
        """

    @Test func parameterShapesChooseTheRounding() throws {
        let (_, _, full) = try SymbolJSON.decodeLegacy(
            legacy, file: "old-symbol.json", dataShape: [1, 4, 8, 8],
            parameterShapes: ["fc_weight": [3, 64], "fc_bias": [3]])
        #expect(full == .full)
        let (symbol, _, valid) = try SymbolJSON.decodeLegacy(
            legacy, file: "old-symbol.json", dataShape: [1, 4, 8, 8],
            parameterShapes: ["fc_weight": [3, 36], "fc_bias": [3]])
        #expect(valid == .valid)
        let pool = Graph(symbol).nodes.first { $0.name == "pool" }!.definition as! Pooling
        #expect(pool.convention == .valid)
        do {
            _ = try SymbolJSON.decodeLegacy(
                legacy, file: "old-symbol.json", dataShape: [1, 4, 8, 8],
                parameterShapes: ["fc_weight": [3, 50], "fc_bias": [3]])
            Issue.record("expected an error")
        } catch {
            #expect(
                "\(error)".contains("old-symbol.json") && "\(error)".contains("node 'fc'")
                    && "\(error)".contains("(3, 50)"))
        }
    }
}
