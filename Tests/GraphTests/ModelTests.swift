import Graph
import Models
import Operators
import TensorCore
import Testing

/// Learnable values: every argument in a weight, bias, gamma or beta role.
func parameterCount(_ graph: Graph, _ shapes: Graph.Shapes) -> Int {
    graph.parameterNames.map { name in shape(name, graph, shapes)!.elementCount }.reduce(0, +)
}

func shape(_ name: String, _ graph: Graph, _ shapes: Graph.Shapes) -> Shape? {
    graph.nodes.firstIndex { $0.name == name }.map { shapes.outputs[$0][0] }
}

@Suite struct AlexNetTests {
    @Test func argumentsFollowMXNetAutomaticNames() throws {
        let graph = Graph(try alexNet())
        var expected = ["data"]
        for layer in 0..<5 { expected += ["convolution\(layer)_weight", "convolution\(layer)_bias"] }
        for layer in 0..<3 { expected += ["fullyconnected\(layer)_weight", "fullyconnected\(layer)_bias"] }
        expected.append("softmax_label")
        #expect(graph.argumentNames == expected)
        #expect(graph.auxiliaryNames.isEmpty)
    }

    /// d.5: 2015 (`full`) AlexNet flattens 256·6·6 = 9216; the same script under `valid` 6400.
    @Test func shapesAndParameterCount() throws {
        let graph = Graph(try alexNet())
        let shapes = try graph.inferShapes(["data": [64, 3, 224, 224]])
        #expect(shape("fullyconnected0_weight", graph, shapes) == [4096, 9216])
        #expect(shape("convolution0_weight", graph, shapes) == [96, 3, 11, 11])
        #expect(shape("softmax_label", graph, shapes) == [64])
        #expect(shapes.outputs[graph.nodes.count - 1] == [[64, 1000]])
        // conv 34,944 + 614,656 + 885,120 + 1,327,488 + 884,992; fc 37,752,832 + 16,781,312 + 4,097,000.
        #expect(parameterCount(graph, shapes) == 62_378_344)
        let valid = Graph(try alexNet(pooling: .valid))
        let validShapes = try valid.inferShapes(["data": [1, 3, 224, 224]])
        #expect(shape("fullyconnected0_weight", valid, validShapes) == [4096, 6400])
    }
}

@Suite struct InceptionTests {
    /// d.5: 280 arguments (data and label included) and 138 auxiliary states; pool1 56²,
    /// pool2 28², 3c 576 channels at 14², 4e 1056 at 7², fc1 (1000, 1024).
    @Test func inceptionBNMatchesMXNetShapes() throws {
        let graph = Graph(try inceptionBN())
        let shapes = try graph.inferShapes(["data": [2, 3, 224, 224]])
        #expect(graph.argumentNodes.count == 280)
        #expect(graph.auxiliaryNodes.count == 138)
        #expect(graph.argumentNames.prefix(4) == ["data", "conv_conv1_weight", "conv_conv1_bias", "bn_conv1_gamma"])
        #expect(graph.auxiliaryNames.prefix(2) == ["bn_conv1_moving_mean", "bn_conv1_moving_var"])
        #expect(shape("pool1", graph, shapes) == [2, 64, 56, 56])
        #expect(shape("pool2", graph, shapes) == [2, 192, 28, 28])
        #expect(shape("ch_concat_3c_chconcat", graph, shapes) == [2, 576, 14, 14])
        #expect(shape("ch_concat_4e_chconcat", graph, shapes) == [2, 1056, 7, 7])
        #expect(shape("global_pool", graph, shapes) == [2, 1024, 1, 1])
        #expect(shape("fc1_weight", graph, shapes) == [1000, 1024])
        #expect(parameterCount(graph, shapes) == 11_295_240)
    }

    /// The script as written, under MXNet ≥ 0.9's floor rounding, fails at 3c — the error
    /// users of the README's pretrained model met; the message names the node.
    @Test func validPoolingFailsAt3cWithANamedError() throws {
        let graph = Graph(try inceptionBN(pooling: .valid))
        do {
            _ = try graph.inferShapes(["data": [1, 3, 224, 224]])
            Issue.record("expected a shape error")
        } catch {
            #expect(error.description.contains("ch_concat_3c_chconcat"))
        }
        let padded = Graph(try inceptionBN(pooling: .validPadded))
        let shapes = try padded.inferShapes(["data": [1, 3, 224, 224]])
        #expect(shape("ch_concat_3c_chconcat", padded, shapes) == [1, 576, 14, 14])
    }

    @Test func inceptionBNFull() throws {
        let graph = Graph(try Models.inceptionBNFull())
        let shapes = try graph.inferShapes(["data": [1, 3, 224, 224]])
        #expect(shape("fc1_weight", graph, shapes) == [21841, 1024])
        #expect(shape("conv_conv2_weight", graph, shapes) == [288, 128, 3, 3])
        #expect(graph.argumentNodes.count == 280 && graph.auxiliaryNodes.count == 138)
    }

    @Test func inceptionBNSmall() throws {
        let graph = Graph(try Models.inceptionBNSmall())
        let shapes = try graph.inferShapes(["data": [8, 3, 28, 28]])
        #expect(graph.argumentNames.prefix(3) == ["data", "convolution0_weight", "convolution0_bias"])
        #expect(graph.argumentNames.contains("batchnorm0_gamma"))
        #expect(shape("global_pool", graph, shapes) == [8, 336, 1, 1])
        #expect(shape("fc1_weight", graph, shapes) == [10, 336])
    }
}

@Suite struct ArgumentRoleTests {
    /// Every operator declares one role per argument and auxiliary state, and in the seed's
    /// networks the declared roles agree with MXNet's naming convention.
    @Test(arguments: ["alexnet", "inception-bn", "every-operator"])
    func declaredRolesMatchMXNetNames(_ network: String) throws {
        let symbol =
            switch network {
            case "alexnet": try alexNet()
            case "inception-bn": try inceptionBN()
            default: try everyOperatorNetwork()
            }
        let graph = Graph(symbol)
        for node in graph.nodes {
            guard let definition = node.definition else { continue }
            #expect(definition.argumentRoles.count == definition.argumentNames.count, "\(node.name)")
            #expect(definition.auxiliaryRoles.count == definition.auxiliaryNames.count, "\(node.name)")
        }
        let suffixes: [(String, ArgumentRole)] = [
            ("_weight", .weight), ("_bias", .bias), ("_gamma", .gamma),
            ("_beta", .beta), ("_moving_mean", .movingMean),
            ("_moving_var", .movingVariance), ("_label", .label),
        ]
        for name in graph.argumentNames + graph.auxiliaryNames {
            let expected = suffixes.first { name.hasSuffix($0.0) }?.1 ?? .data
            #expect(graph.role(of: name) == expected, "\(name)")
        }
        #expect(try graph.dataInput() == "data")
        #expect(try graph.labelInput() == "softmax_label")
        #expect(graph.inputNames == ["data", "softmax_label"])
        #expect(graph.parameterNames.count + 2 == graph.argumentNames.count)
    }

    /// Roles come from the operators, not the names: an input called `image` and
    /// parameters called `k`, `g`, `b` are told apart, and two data inputs are an error.
    @Test func rolesDoNotDependOnNames() throws {
        let b = SymbolBuilder()
        let image = b.variable("image")
        let conv = try b.apply(
            "Convolution", name: "c", inputs: ["data": image, "weight": b.variable("k")],
            attributes: ["kernel": "(1, 1)", "num_filter": "4", "no_bias": "True"])
        let norm = try b.apply(
            "BatchNorm", name: "n", inputs: ["data": conv, "gamma": b.variable("g"), "beta": b.variable("b")],
            attributes: [:])
        let graph = Graph(try b.softmaxOutput(b.flatten(norm), name: "out"))
        #expect(try graph.dataInput() == "image")
        #expect(graph.parameterNames == ["k", "g", "b"])
        #expect(graph.role(of: "g") == .gamma && graph.role(of: "n_moving_var") == .movingVariance)
        #expect(graph.role(of: "nonexistent") == nil)
        let executor = try Executor(graph.symbol, inputShapes: graph.inputShapes(data: [2, 3, 4, 4]), isTraining: true)
        #expect(executor.gradient("image") == nil && executor.gradient("out_label") == nil)
        #expect(executor.gradient("k") != nil && executor.gradient("g") != nil)

        let sum = try b.elementwiseAdd(b.variable("left"), b.variable("right"), name: "sum")
        #expect(throws: OperatorError.self) { try Graph(b.softmaxOutput(sum, name: "s")).dataInput() }
    }
}
