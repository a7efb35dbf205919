import Foundation
import Graph
import Interchange
import Models
import Operators
import Protos
import TensorCore
import Testing

/// Values for every learned argument and auxiliary state of `symbol` at `dataShape`
/// (element i of each holds `i % 7` so that tensors are told apart).
func parameterValues(_ symbol: Symbol, dataShape: [Int]) throws -> [String: Tensor] {
    let graph = Graph(symbol)
    let shapes = try graph.inferShapes(graph.inputShapes(data: Shape([1] + dataShape)))
    var values: [String: Tensor] = [:]
    for (position, node) in graph.nodes.enumerated() where node.isVariable {
        guard graph.role(of: node.name)?.isInput != true else { continue }
        let shape = shapes.outputs[position][0]
        values[node.name] = Tensor(shape: shape, values: (0..<shape.elementCount).map { Float($0 % 7) })
    }
    return values
}

func export(_ symbol: Symbol, dataShape: [Int]) throws -> Onnx_ModelProto {
    try ONNXExport.model(
        symbol, parameters: parameterValues(symbol, dataShape: dataShape), dataShape: dataShape,
        metadata: ONNXExport.preprocessingMetadata(
            dataShape: dataShape, resize: 256, meanRGB: [123.68, 116.779, 103.939], meanImage: nil, scale: 1),
        producerVersion: "test")
}

func attribute(_ node: Onnx_NodeProto, _ name: String) -> Onnx_AttributeProto? {
    node.attribute.first { $0.name == name }
}

@Suite struct ONNXExportTests {
    @Test func alexNetMapsEveryOperatorAndKeepsEveryParameter() throws {
        let symbol = try Models.alexNet(classCount: 10)
        let model = try export(symbol, dataShape: [3, 224, 224])
        #expect(model.irVersion == 7 && model.opsetImport.map(\.version) == [13])
        let types = model.graph.node.map(\.opType)
        #expect(Set(types) == ["Conv", "Relu", "MaxPool", "LRN", "Flatten", "Gemm", "Softmax"])
        #expect(types.filter { $0 == "Gemm" }.count == 3 && types.filter { $0 == "Conv" }.count == 5)
        // Dropout is gone: the Gemm after it reads the ReLU before it.
        let graph = Graph(symbol)
        #expect(Set(model.graph.initializer.map(\.name)) == Set(graph.parameterNames))
        let values = model.graph.initializer.reduce(0) { $0 + $1.rawData.count / 4 }
        #expect(values == 58_322_314)  // AlexNet with 10 classes, full pooling
        for gemm in model.graph.node where gemm.opType == "Gemm" { #expect(attribute(gemm, "transB")?.i == 1) }
        #expect(model.graph.input.map(\.name) == ["data"])
        let dims = model.graph.input[0].type.tensorType.shape.dim
        #expect(dims[0].dimParam == "N" && dims.dropFirst().map(\.dimValue) == [3, 224, 224])
        #expect(model.graph.output[0].type.tensorType.shape.dim.last?.dimValue == 10)
        let metadata = Dictionary(uniqueKeysWithValues: model.metadataProps.map { ($0.key, $0.value) })
        #expect(metadata["mean_rgb"] == "123.68,116.779,103.939" && metadata["data_shape"] == "3,224,224")
        #expect(metadata["resize"] == "256" && metadata["scale"] == "1.0")
    }

    @Test func bytesParseBackAndValuesAreLittleEndianFloats() throws {
        let model = try export(try Models.inceptionBNSmall(classCount: 10), dataShape: [3, 28, 28])
        let bytes = try ONNXExport.serialized(model)
        let parsed = try Onnx_ModelProto(serializedBytes: bytes)
        #expect(parsed == model)
        let weight = try #require(parsed.graph.initializer.first { $0.name == "convolution0_weight" })
        let floats = weight.rawData.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        #expect(floats.prefix(9) == [0, 1, 2, 3, 4, 5, 6, 0, 1])
    }

    @Test func batchNormUsesMovingStatisticsAndFixedGammaIsOnes() throws {
        let b = SymbolBuilder()
        let bn = try b.batchNorm(b.variable("data"), name: "bn", epsilon: 2e-5, fixGamma: true)
        let model = try export(try b.softmaxOutput(b.flatten(bn), name: "softmax"), dataShape: [4, 2, 2])
        let node = try #require(model.graph.node.first { $0.opType == "BatchNormalization" })
        #expect(node.input == ["data", "bn_gamma_fixed", "bn_beta", "bn_moving_mean", "bn_moving_var"])
        #expect(abs((attribute(node, "epsilon")?.f ?? 0) - 2e-5) < 1e-10)
        let gamma = try #require(model.graph.initializer.first { $0.name == "bn_gamma_fixed" })
        #expect(gamma.rawData.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) } == [1, 1, 1, 1])
    }

    /// MXNet's `full` rounding gives a last window past the padded edge: the end padding grows.
    @Test func fullPoolingGrowsTheEndPadding() throws {
        let b = SymbolBuilder()
        let pool = try b.pooling(
            b.variable("data"), name: "pool", kind: .max, kernel: [3, 3], stride: [2, 2], convention: .full)
        let model = try export(try b.softmaxOutput(b.flatten(pool), name: "softmax"), dataShape: [1, 8, 8])
        let node = try #require(model.graph.node.first { $0.opType == "MaxPool" })
        #expect(attribute(node, "pads")?.ints == [0, 0, 1, 1])  // 4 windows of 3 with stride 2 need 9 rows
        #expect(attribute(node, "kernel_shape")?.ints == [3, 3] && attribute(node, "strides")?.ints == [2, 2])
    }

    @Test func averageCountingPaddingPastTheEdgeIsRefusedByName() throws {
        let b = SymbolBuilder()
        let pool = try b.pooling(
            b.variable("data"), name: "pool3", kind: .avg, kernel: [3, 3], stride: [2, 2], convention: .full)
        let symbol = try b.softmaxOutput(b.flatten(pool), name: "softmax")
        let error = #expect(throws: OperatorError.self) { try export(symbol, dataShape: [1, 8, 8]) }
        #expect(error?.description.contains("pool3") == true)
        // The same window counted without padding is exact.
        let exact = try b.apply(
            "Pooling", name: "pool4", inputs: ["data": b.variable("data")],
            attributes: [
                "pool_type": "avg", "kernel": "(3, 3)", "stride": "(2, 2)", "pooling_convention": "full",
                "count_include_pad": "False",
            ])
        let model = try export(try b.softmaxOutput(b.flatten(exact), name: "softmax"), dataShape: [1, 8, 8])
        let node = try #require(model.graph.node.first { $0.opType == "AveragePool" })
        #expect(attribute(node, "count_include_pad")?.i == 0 && attribute(node, "pads")?.ints == [0, 0, 1, 1])
    }

    @Test func sumPoolingIsRefusedByName() throws {
        let b = SymbolBuilder()
        let pool = try b.pooling(b.variable("data"), name: "sum_pool", kind: .sum, kernel: [2, 2])
        let symbol = try b.softmaxOutput(b.flatten(pool), name: "softmax")
        let error = #expect(throws: OperatorError.self) { try export(symbol, dataShape: [1, 4, 4]) }
        #expect(error?.description.contains("sum_pool") == true)
    }

    @Test func resNetResidualSumIsAddAndIdentityDisappears() throws {
        let model = try export(try Models.resNet(depth: 20, classCount: 10, smallImages: true), dataShape: [3, 28, 28])
        let types = model.graph.node.map(\.opType)
        #expect(types.filter { $0 == "Add" }.count == 9)
        #expect(types.contains("GlobalAveragePool"))
        #expect(!types.contains("Identity"))
    }
}
