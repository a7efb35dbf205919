import ArgumentParser
import Foundation
import Graph
import Interchange
import Models
import TensorCore
import Training

/// `gannet export`: a built-in network as MXNet symbol JSON, or a network as ONNX.
struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a built-in network as MXNet symbol JSON, or a checkpoint or network as ONNX.",
        discussion: """
            --output writes MXNet 1.x's JSON dialect: mx.sym.load (MXNet 1.9.1) reads it, and so \
            does `gannet plan --network PREFIX-symbol.json`. Shapes are checked for the data shape first.

            --onnx writes the inference graph as ONNX (opset 13) with its parameters: input `data` \
            (N,C,H,W float32, already mean-subtracted and scaled; the preprocessing is in the \
            model's metadata properties: data_shape, resize, mean_rgb or mean_image, scale), \
            output the softmax probabilities (N,K). An operator ONNX cannot express exactly is \
            refused, naming the node. With --network the parameters are freshly initialised \
            (--seed), as --init writes them.

            Example:
              gannet export --network inception-bn --output model/inception-bn
              gannet export --network alexnet --num-classes 10 --pooling valid \\
                --output alexnet10
              gannet export --network inception-bn-small --init --seed 1 --output small
              gannet export --model model/small --epoch 8 --onnx small.onnx
            """)

    @Option(
        help:
            "A built-in network (\(NetworkName.allCases.map(\.rawValue).joined(separator: ", "))).")
    var network: NetworkName?

    @Option(help: "Checkpoint prefix (PREFIX-symbol.json, PREFIX-NNNN.params) to export as ONNX.")
    var model: String?

    @Option(parsing: .unconditional, help: "Checkpoint epoch N (PREFIX-NNNN.params), with --model.")
    var epoch: Int?

    @Option(
        parsing: .unconditional,
        help: "Number of classes (default: 1000; 21841 for inception-bn-full; 10 for inception-bn-small).")
    var numClasses: Int?

    @Option(help: "Input shape C,H,W used to check the network (default: the network's or the training run's).")
    var dataShape: DataShape?

    @Option(help: "Pooling rounding: full (MXNet 2015, default), valid, or valid-padded.")
    var pooling: PoolingRounding = .full

    @Option(help: "Output prefix: writes PREFIX-symbol.json.")
    var output: String?

    @Option(help: "Write the network as an ONNX model to this file.")
    var onnx: String?

    @Flag(
        name: .customLong("init"),
        help: "Also write PREFIX-0000.params initialised as training would (Xavier weights, zero biases).")
    var initialize = false

    @Option(parsing: .unconditional, help: "Seed of the initial weights.")
    var seed: UInt64 = 0

    @OptionGroup var report: JSONOutput

    mutating func validate() throws {
        if let numClasses, numClasses < 1 { throw ValidationError("--num-classes must be at least 1") }
        switch (network, model) {
        case (nil, nil): throw ValidationError("give --network NAME or --model PREFIX --epoch N")
        case (.some, .some): throw ValidationError("give --network or --model, not both")
        case (nil, .some):
            guard onnx != nil else { throw ValidationError("--model exports to ONNX: give --onnx OUT.onnx") }
            guard let epoch else { throw ValidationError("--model needs --epoch N") }
            if epoch < 0 { throw ValidationError("--epoch must be at least 0") }
            if output != nil || initialize { throw ValidationError("--output and --init go with --network") }
        case (.some, nil):
            if output == nil && onnx == nil { throw ValidationError("give --output PREFIX, --onnx OUT.onnx or both") }
            if epoch != nil { throw ValidationError("--epoch goes with --model") }
        }
        if let output { try checkWritablePrefix(output, flag: "--output") }
        if let onnx { try checkWritablePrefix(onnx, flag: "--onnx") }
    }

    func run() throws {
        var result = Report()
        if let model, let epoch, let onnx {
            let loaded = try InferenceModel.load(
                prefix: model, epoch: epoch, batchSize: 1, dataShape: dataShape,
                options: PreprocessingOptions.parse([]),
                precision: PrecisionOptions.parse([]))
            let preprocessing = loaded.preprocessing
            try writeONNX(
                loaded.symbol, executor: loaded.executor, dataShape: preprocessing.dataShape,
                metadata: ONNXExport.preprocessingMetadata(
                    dataShape: preprocessing.dataShape, resize: preprocessing.resize, meanRGB: preprocessing.meanRGB,
                    meanImage: preprocessing.meanImage, scale: preprocessing.scale),
                to: onnx)
            result.onnx = onnx
            result.network = model
        } else if let network {
            try exportNetwork(network, into: &result)
        }
        if report.json { return try printReport(result) }
        if let symbol = result.symbol {
            print("wrote \(symbol) (\(result.arguments ?? 0) arguments, \(result.auxiliary ?? 0) auxiliary states)")
        }
        if let parameters = result.parameters { print("wrote \(parameters)") }
        if let onnx = result.onnx { print("wrote \(onnx)") }
    }

    func exportNetwork(_ network: NetworkName, into result: inout Report) throws {
        let symbol = try network.symbol(classCount: numClasses, pooling: pooling)
        let shape = dataShape?.dimensions ?? network.dataShape
        let graph = Graph(symbol)
        try runtime("\(network.rawValue) does not fit data shape \(shape)") {
            _ = try graph.inferShapes(graph.inputShapes(data: Shape([1] + shape)))
        }
        result.network = network.rawValue
        result.arguments = graph.argumentNodes.count
        result.auxiliary = graph.auxiliaryNodes.count
        if let output {
            let path = "\(output)-symbol.json"
            try writeFileAtomically(Array(try SymbolJSON.encode(symbol).utf8), to: path)
            result.symbol = path
        }
        guard initialize || onnx != nil else { return }
        let executor = try runtime {
            try Executor(symbol, inputShapes: Graph(symbol).inputShapes(data: Shape([1] + shape)), isTraining: false)
        }
        Initializer.xavier.initialise(executor, seed: seed)
        if initialize, let output {
            let path = "\(output)-0000.params"
            try NDArrayFile.write(checkpointEntries(executor), to: path)
            result.parameters = path
        }
        if let onnx {
            try writeONNX(
                symbol, executor: executor, dataShape: shape,
                metadata: ONNXExport.preprocessingMetadata(
                    dataShape: shape, resize: nil, meanRGB: nil, meanImage: nil, scale: 1),
                to: onnx)
            result.onnx = onnx
        }
    }

    /// The ONNX model of `symbol` with the executor's parameters and auxiliary states.
    func writeONNX(
        _ symbol: Symbol, executor: Executor, dataShape: [Int], metadata: [(String, String)], to path: String
    ) throws {
        var parameters: [String: Tensor] = [:]
        for name in executor.graph.parameterNames { parameters[name] = executor.argument(name) }
        for name in executor.graph.auxiliaryNames { parameters[name] = executor.auxiliary(name) }
        let model = try runtime {
            try ONNXExport.model(
                symbol, parameters: parameters, dataShape: dataShape, metadata: metadata,
                producerVersion: gannetVersion)
        }
        try writeFileAtomically(try ONNXExport.serialized(model), to: path)
    }

    /// `--json`: what was written (absent keys: not written).
    struct Report: Encodable {
        var symbol: String?
        var network: String?
        var arguments: Int?
        var auxiliary: Int?
        /// With `--init`.
        var parameters: String?
        /// With `--onnx`.
        var onnx: String?
    }
}
