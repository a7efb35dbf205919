import Foundation
import Graph
import Operators
import Protos
import SwiftProtobuf
import TensorCore

/// An MXNet-style classifier as an ONNX model (opset 13, IR version 7) for inference.
///
/// The graph takes `data` `(N, C, H, W)` float32, already mean-subtracted and scaled, and
/// gives the softmax probabilities `(N, K)`; the batch extent is the symbolic `N`. Every
/// learned parameter and moving statistic is an initializer named after its MXNet variable.
/// The mapping (MXNet's own exporter made the same choices):
///
/// | MXNet | ONNX |
/// |---|---|
/// | Convolution | Conv (pads begin = end) |
/// | FullyConnected | Flatten (axis 1, unless the input is 2-D and `flatten=False`) + Gemm (`transB=1`) |
/// | BatchNorm | BatchNormalization with the moving statistics (`fix_gamma` → scale of ones) |
/// | Pooling | MaxPool / AveragePool / GlobalMaxPool / GlobalAveragePool |
/// | LRN | LRN (`knorm` → bias, `nsize` → size) |
/// | Activation | Relu / Sigmoid / Tanh / Softplus / Softsign |
/// | Concat, Flatten, elemwise_add | Concat, Flatten (axis 1), Add |
/// | SoftmaxOutput | Softmax (axis 1) |
/// | Dropout, identity | nothing (inference passes the data through) |
///
/// Pooling: ONNX rounds output extents down; where MXNet's `full` convention gives one
/// window more, the end padding grows by what that window hangs past the edge. Padding is
/// never a maximum and is not counted by an average that excludes it, so MaxPool and
/// AveragePool with `count_include_pad=0` compute exactly what MXNet computes. An average
/// that counts padding over such a window, a sum pooling, or any other operator or value
/// ONNX cannot express is refused with an error naming the node.
public enum ONNXExport {
    public static let opsetVersion: Int64 = 13
    public static let irVersion: Int64 = 7

    /// The model of `symbol` with the values of `parameters` (variable name → tensor, the
    /// learned arguments and auxiliary states). `dataShape` is `[C, H, W]`; `metadata` goes
    /// into the model's metadata properties (preprocessing, as `gannet export` stores it).
    public static func model(
        _ symbol: Symbol, parameters: [String: Tensor], dataShape: [Int], metadata: [(String, String)],
        producerVersion: String
    ) throws(OperatorError) -> Onnx_ModelProto {
        var builder = try GraphBuilder(symbol, parameters: parameters, dataShape: dataShape)
        try builder.build()
        var model = Onnx_ModelProto()
        model.irVersion = irVersion
        model.producerName = "gannet"
        model.producerVersion = producerVersion
        var opset = Onnx_OperatorSetIdProto()
        opset.domain = ""
        opset.version = opsetVersion
        model.opsetImport = [opset]
        model.graph = builder.graph
        model.metadataProps = metadata.map { key, value in
            var entry = Onnx_StringStringEntryProto()
            entry.key = key
            entry.value = value
            return entry
        }
        return model
    }

    /// The preprocessing the model expects as metadata properties: `data_shape` `"3,224,224"`,
    /// `scale`, and where given `mean_rgb` `"123.68,116.779,103.939"`, `mean_image` (the
    /// mean file's path) and `resize` (shorter side before the centre crop).
    public static func preprocessingMetadata(
        dataShape: [Int], resize: Int?, meanRGB: [Float]?, meanImage: String?, scale: Float
    ) -> [(String, String)] {
        var entries = [("data_shape", dataShape.map(String.init).joined(separator: ","))]
        if let resize { entries.append(("resize", String(resize))) }
        if let meanRGB { entries.append(("mean_rgb", meanRGB.map { "\($0)" }.joined(separator: ","))) }
        if let meanImage { entries.append(("mean_image", meanImage)) }
        entries.append(("scale", "\(scale)"))
        return entries
    }

    /// The model's bytes (protobuf binary).
    public static func serialized(_ model: Onnx_ModelProto) throws -> [UInt8] {
        try model.serializedBytes()
    }
}

/// Walks the graph in topological order, emitting nodes and initializers.
private struct GraphBuilder {
    let symbol: Symbol
    let graphNodes: Graph
    let shapes: Graph.Shapes
    let parameters: [String: Tensor]
    let dataName: String
    var graph = Onnx_GraphProto()
    /// The ONNX value that carries each MXNet output (omitted operators alias their input).
    var values: [Entry: String] = [:]
    var emittedInitializers: Set<String> = []

    init(_ symbol: Symbol, parameters: [String: Tensor], dataShape: [Int]) throws(OperatorError) {
        self.symbol = symbol
        self.parameters = parameters
        graphNodes = Graph(symbol)
        dataName = try graphNodes.dataInput()
        shapes = try graphNodes.inferShapes(graphNodes.inputShapes(data: Shape([1] + dataShape)))
        graph.name = "gannet"
        graph.input = [
            Self.valueInfo(dataName, dimensions: ["N"] + dataShape.map { String($0) })
        ]
    }

    mutating func build() throws(OperatorError) {
        for node in graphNodes.nodes {
            if node.isVariable {
                values[Entry(node)] = node.name
                continue
            }
            try emit(node)
        }
        guard symbol.outputs.count == 1, let output = values[symbol.outputs[0]] else {
            throw OperatorError(node: "", "ONNX export needs a network with one output")
        }
        let classes = shape(symbol.outputs[0]).dimensions.last ?? 0
        graph.output = [Self.valueInfo(output, dimensions: ["N", String(classes)])]
    }

    func shape(_ entry: Entry) -> Shape { shapes.shape(of: entry, in: graphNodes) }

    /// The ONNX value of one of `node`'s inputs.
    func input(_ node: Node, _ index: Int) -> String { values[node.inputs[index]]! }

    /// Adds the initializer of variable input `index` of `node` (once), optionally replaced by `values`.
    mutating func initializer(_ node: Node, _ index: Int, replacingWith fill: Float? = nil) throws(OperatorError)
        -> String
    {
        let variable = node.inputs[index].node
        guard variable.isVariable, let tensor = parameters[variable.name] else {
            throw OperatorError(node: node.name, "input '\(variable.name)' has no value to export")
        }
        let name = fill == nil ? variable.name : "\(variable.name)_fixed"
        if emittedInitializers.insert(name).inserted {
            var proto = Onnx_TensorProto()
            proto.name = name
            proto.dataType = Int32(Onnx_TensorProto.DataType.float.rawValue)
            proto.dims = tensor.shape.dimensions.map { Int64($0) }
            let values = fill.map { [Float](repeating: $0, count: tensor.elementCount) } ?? tensor.toArray()
            proto.rawData = values.withUnsafeBytes { Data($0) }  // little-endian, as ONNX stores raw data
            graph.initializer.append(proto)
        }
        return name
    }

    mutating func add(
        _ opType: String, name: String, inputs: [String], output: String, _ attributes: [Onnx_AttributeProto] = []
    ) {
        var proto = Onnx_NodeProto()
        proto.opType = opType
        proto.name = name
        proto.input = inputs
        proto.output = [output]
        proto.attribute = attributes
        graph.node.append(proto)
    }

    mutating func emit(_ node: Node) throws(OperatorError) {
        let output = node.name
        values[Entry(node)] = output
        let definition = node.definition!
        switch definition {
        case let convolution as Convolution:
            guard convolution.kernel.count == 2 else {
                throw OperatorError(node: node.name, "only 2-D convolutions are exported")
            }
            var inputs = [input(node, 0), try initializer(node, 1)]
            if convolution.hasBias { inputs.append(try initializer(node, 2)) }
            add(
                "Conv", name: node.name, inputs: inputs, output: output,
                [
                    .ints("kernel_shape", convolution.kernel), .ints("strides", convolution.stride),
                    .ints("pads", convolution.pad + convolution.pad), .ints("dilations", convolution.dilate),
                    .int("group", convolution.groupCount),
                ])
        case let fullyConnected as FullyConnected:
            var data = input(node, 0)
            let rank = shape(node.inputs[0]).dimensions.count
            if fullyConnected.flatten || rank != 2 {
                guard fullyConnected.flatten else {
                    throw OperatorError(node: node.name, "FullyConnected with flatten=False on a \(rank)-D input")
                }
                add(
                    "Flatten", name: node.name + "_flatten", inputs: [data], output: node.name + "_flatten",
                    [.int("axis", 1)])
                data = node.name + "_flatten"
            }
            var inputs = [data, try initializer(node, 1)]
            if fullyConnected.hasBias { inputs.append(try initializer(node, 2)) }
            add("Gemm", name: node.name, inputs: inputs, output: output, [.int("transB", 1)])
        case let batchNorm as BatchNorm:
            guard shape(node.inputs[0]).dimensions.count >= 2 else {
                throw OperatorError(node: node.name, "BatchNorm on a 1-D input")
            }
            let inputs = [
                input(node, 0), try initializer(node, 1, replacingWith: batchNorm.fixGamma ? 1 : nil),
                try initializer(node, 2), try initializer(node, 3), try initializer(node, 4),
            ]
            add(
                "BatchNormalization", name: node.name, inputs: inputs, output: output,
                [.float("epsilon", batchNorm.epsilon)])
            if batchNorm.fusedReLU {
                graph.node[graph.node.count - 1].output = [node.name + "_bn"]
                add("Relu", name: node.name + "_relu", inputs: [node.name + "_bn"], output: output)
            }
        case let pooling as Pooling:
            try emitPooling(node, pooling, output: output)
        case let lrn as LRN:
            add(
                "LRN", name: node.name, inputs: [input(node, 0)], output: output,
                [
                    .int("size", lrn.size), .float("alpha", lrn.alpha), .float("beta", lrn.beta),
                    .float("bias", lrn.knorm),
                ])
        case let activation as Activation:
            let opType: String
            switch activation.kind {
            case .relu: opType = "Relu"
            case .sigmoid: opType = "Sigmoid"
            case .tanh: opType = "Tanh"
            case .softrelu: opType = "Softplus"
            case .softsign: opType = "Softsign"
            }
            add(opType, name: node.name, inputs: [input(node, 0)], output: output)
        case let concat as Concat:
            let rank = shape(node.inputs[0]).dimensions.count
            let axis = concat.axis < 0 ? concat.axis + rank : concat.axis
            add(
                "Concat", name: node.name, inputs: node.inputs.indices.map { input(node, $0) }, output: output,
                [.int("axis", axis)])
        case is Flatten:
            add("Flatten", name: node.name, inputs: [input(node, 0)], output: output, [.int("axis", 1)])
        case is ElementwiseAdd:
            add("Add", name: node.name, inputs: [input(node, 0), input(node, 1)], output: output)
        case is SoftmaxOutput:
            let rank = shape(node.inputs[0]).dimensions.count
            guard rank == 2 else {
                throw OperatorError(node: node.name, "SoftmaxOutput on a \(rank)-D input (ONNX export takes (N, K))")
            }
            add("Softmax", name: node.name, inputs: [input(node, 0)], output: output, [.int("axis", 1)])
        case is Dropout, is Identity:
            values[Entry(node)] = input(node, 0)
        default:
            throw OperatorError(node: node.name, "operator '\(node.op)' has no ONNX export")
        }
    }

    /// Pooling as ONNX's floor-rounded pools, with the end padding MXNet's `full` windows need.
    mutating func emitPooling(_ node: Node, _ pooling: Pooling, output: String) throws(OperatorError) {
        let inputExtent = Array(shape(node.inputs[0]).dimensions.suffix(2))
        let outputExtent = Array(shape(Entry(node)).dimensions.suffix(2))
        guard shape(node.inputs[0]).dimensions.count == 4 else {
            throw OperatorError(node: node.name, "only 2-D pooling is exported")
        }
        if pooling.kind == .sum {
            throw OperatorError(node: node.name, "sum pooling has no ONNX operator")
        }
        if pooling.isGlobal || (outputExtent == [1, 1] && pooling.kernel == inputExtent && pooling.pad == [0, 0]) {
            add(
                pooling.kind == .max ? "GlobalMaxPool" : "GlobalAveragePool", name: node.name,
                inputs: [input(node, 0)], output: output)
            return
        }
        var endPad = pooling.pad
        for axis in 0..<2 {
            let padded = inputExtent[axis] + 2 * pooling.pad[axis]
            let rounded = (padded - pooling.kernel[axis]) / pooling.stride[axis] + 1
            if rounded == outputExtent[axis] { continue }
            let extra = (outputExtent[axis] - 1) * pooling.stride[axis] + pooling.kernel[axis] - padded
            guard outputExtent[axis] > rounded, extra > 0, extra < pooling.kernel[axis] else {
                throw OperatorError(
                    node: node.name,
                    "pooling gives \(outputExtent[axis]) windows where ONNX gives \(rounded) (axis \(axis + 2))")
            }
            if pooling.kind == .avg && pooling.countIncludesPad {
                throw OperatorError(
                    node: node.name,
                    "average pooling that counts padding has a last window past the padded edge "
                        + "(pooling_convention=\(pooling.convention.rawValue)); ONNX's AveragePool would count it "
                        + "differently")
            }
            endPad[axis] += extra
            guard endPad[axis] < pooling.kernel[axis] else {
                throw OperatorError(
                    node: node.name, "pooling's last window lies wholly in the padding (axis \(axis + 2))")
            }
        }
        var attributes: [Onnx_AttributeProto] = [
            .ints("kernel_shape", pooling.kernel), .ints("strides", pooling.stride),
            .ints("pads", pooling.pad + endPad),
        ]
        if pooling.kind == .avg { attributes.append(.int("count_include_pad", pooling.countIncludesPad ? 1 : 0)) }
        add(
            pooling.kind == .max ? "MaxPool" : "AveragePool", name: node.name, inputs: [input(node, 0)], output: output,
            attributes)
    }

    static func valueInfo(_ name: String, dimensions: [String]) -> Onnx_ValueInfoProto {
        var tensor = Onnx_TypeProto.Tensor()
        tensor.elemType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        tensor.shape.dim = dimensions.map { text in
            var dimension = Onnx_TensorShapeProto.Dimension()
            if let value = Int64(text) { dimension.dimValue = value } else { dimension.dimParam = text }
            return dimension
        }
        var info = Onnx_ValueInfoProto()
        info.name = name
        info.type.tensorType = tensor
        return info
    }
}

extension Onnx_AttributeProto {
    static func int(_ name: String, _ value: Int) -> Onnx_AttributeProto {
        var attribute = Onnx_AttributeProto()
        attribute.name = name
        attribute.type = .int
        attribute.i = Int64(value)
        return attribute
    }

    static func ints(_ name: String, _ values: [Int]) -> Onnx_AttributeProto {
        var attribute = Onnx_AttributeProto()
        attribute.name = name
        attribute.type = .ints
        attribute.ints = values.map { Int64($0) }
        return attribute
    }

    static func float(_ name: String, _ value: Double) -> Onnx_AttributeProto {
        var attribute = Onnx_AttributeProto()
        attribute.name = name
        attribute.type = .float
        attribute.f = Float(value)
        return attribute
    }
}
