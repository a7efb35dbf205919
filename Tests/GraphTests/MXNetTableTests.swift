import Graph
import Models
import TensorCore
import Testing

/// The argument and auxiliary tables MXNet 1.9.1 itself produced for the same scripts
/// (`Fixtures/*-mxnet-1.9.1.txt`, written by `list_arguments`, `list_auxiliary_states` and
/// `infer_shape` on `../shared/baselines/train/mx_models.py` with 2015 `full` pooling):
/// names, order and shapes must be identical, since they are checkpoint keys.
@Suite struct MXNetTableTests {
    static let fixtures = String(#filePath).split(separator: "/").dropLast().joined(separator: "/")

    static func table(_ network: String) throws -> (
        arguments: [(String, Shape)], auxiliary: [(String, Shape)], outputs: [Shape]
    ) {
        let text = String(decoding: try readFile("/\(fixtures)/Fixtures/\(network)-mxnet-1.9.1.txt"), as: UTF8.self)
        var table: (arguments: [(String, Shape)], auxiliary: [(String, Shape)], outputs: [Shape]) = ([], [], [])
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let fields = line.split(separator: " ").map(String.init)
            let shape = Shape(fields.last!.split(separator: ",").map { Int($0)! })
            switch fields[0] {
            case "arg": table.arguments.append((fields[1], shape))
            case "aux": table.auxiliary.append((fields[1], shape))
            default: table.outputs.append(shape)
            }
        }
        return table
    }

    @Test(
        arguments: [
            ("alexnet", NetworkName.alexnet, [2, 3, 224, 224]),
            ("inception-bn", .inceptionBN, [2, 3, 224, 224]),
            ("inception-bn-small", .inceptionBNSmall, [2, 3, 28, 28]),
            ("resnet-18", .resnet18, [2, 3, 224, 224]),
            ("resnet-50", .resnet50, [2, 3, 224, 224]),
            ("resnet-20", .resnet20, [2, 3, 28, 28]),
        ] as [(String, NetworkName, [Int])])
    func tablesEqualMXNets(_ file: String, _ network: NetworkName, _ data: [Int]) throws {
        let expected = try Self.table(file)
        let graph = Graph(try network.symbol())
        let shapes = try graph.inferShapes(["data": Shape(data)])
        let arguments = graph.argumentNodes.map { ($0.name, shapes.outputs[graph.index(of: $0)][0]) }
        let auxiliary = graph.auxiliaryNodes.map { ($0.name, shapes.outputs[graph.index(of: $0)][0]) }
        #expect(arguments.map(\.0) == expected.arguments.map(\.0))
        #expect(arguments.map(\.1) == expected.arguments.map(\.1))
        #expect(auxiliary.map(\.0) == expected.auxiliary.map(\.0))
        #expect(auxiliary.map(\.1) == expected.auxiliary.map(\.1))
        #expect(graph.symbol.outputs.map { shapes.shape(of: $0, in: graph) } == expected.outputs)
    }

    /// The symbol MXNet's own `resnet.py` saves (an `identity` named `id` after `data`,
    /// `workspace` attributes, `_Plus` sums) reads as Gannet's resnet-20: the same tables,
    /// and the same probabilities for the same parameters.
    @Test func mxnetsResNetSymbolReadsAsOurs() throws {
        let text = String(
            decoding: try readFile("/\(Self.fixtures)/Fixtures/resnet-20-mxnet-symbol.json"), as: UTF8.self)
        let (theirs, _) = try SymbolJSON.decode(text, file: "resnet-20-mxnet-symbol.json")
        let ours = try NetworkName.resnet20.symbol()
        let inputs: [String: Shape] = ["data": [2, 3, 28, 28]]
        let a = try Executor(theirs, inputShapes: inputs, isTraining: false)
        let b = try Executor(ours, inputShapes: inputs, isTraining: false)
        #expect(a.graph.argumentNames == b.graph.argumentNames)
        #expect(a.graph.auxiliaryNames == b.graph.auxiliaryNames)
        var generator = SeededGenerator(seed: 5)
        for name in b.graph.argumentNames + b.graph.auxiliaryNames {
            let target = b.argument(name) ?? b.auxiliary(name)!
            if b.graph.role(of: name) == .movingVariance {
                target.fill(1)
            } else {
                target.fillUniform(-1...1, using: &generator)
            }
        }
        copyVariables(from: b, to: a)
        a.forward(isTraining: false)
        b.forward(isTraining: false)
        #expect(a.outputs[0].toArray() == b.outputs[0].toArray())
    }
}
