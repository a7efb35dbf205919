import ArgumentParser
import Foundation
import Graph
import Models
import TensorCore
import Training

/// `gannet export`: writes a built-in network as MXNet symbol JSON.
struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a built-in network as MXNet symbol JSON (PREFIX-symbol.json).",
        discussion: """
            The file is MXNet 1.x's JSON dialect: mx.sym.load (MXNet 1.9.1) reads it, and so does \
            `gannet plan --network PREFIX-symbol.json`. Shapes are checked for the data shape first.

            Example:
              gannet export --network inception-bn --output model/inception-bn
              gannet export --network alexnet --num-classes 10 --pooling valid \\
                --output alexnet10
              gannet export --network inception-bn-small --init --seed 1 --output small
            """)

    @Option(help: "alexnet, inception-bn, inception-bn-full or inception-bn-small.")
    var network: NetworkName

    @Option(
        parsing: .unconditional,
        help: "Number of classes (default: 1000; 21841 for inception-bn-full; 10 for inception-bn-small).")
    var numClasses: Int?

    @Option(help: "Input shape C,H,W used to check the network (default 3,224,224; 3,28,28 for inception-bn-small).")
    var dataShape: DataShape?

    @Option(help: "Pooling rounding: full (MXNet 2015, default), valid, or valid-padded.")
    var pooling: PoolingRounding = .full

    @Option(help: "Output prefix: writes PREFIX-symbol.json.")
    var output: String

    @Flag(
        name: .customLong("init"),
        help: "Also write PREFIX-0000.params initialised as training would (Xavier weights, zero biases).")
    var initialize = false

    @Option(parsing: .unconditional, help: "Seed of the initial weights.")
    var seed: UInt64 = 0

    @OptionGroup var report: JSONOutput

    mutating func validate() throws {
        if let numClasses, numClasses < 1 { throw ValidationError("--num-classes must be at least 1") }
    }

    func run() throws {
        let symbol = try network.symbol(classCount: numClasses, pooling: pooling)
        let shape = dataShape?.dimensions ?? network.dataShape
        let graph = Graph(symbol)
        try runtime("\(network.rawValue) does not fit data shape \(shape)") {
            _ = try graph.inferShapes(graph.inputShapes(data: Shape([1] + shape)))
        }
        let path = "\(output)-symbol.json"
        try writeFileAtomically(Array(try SymbolJSON.encode(symbol).utf8), to: path)
        var parametersPath: String? = nil
        if initialize {
            let executor = try Executor(
                symbol, inputShapes: Graph(symbol).inputShapes(data: Shape([1] + shape)), isTraining: false)
            Initializer.xavier.initialise(executor, seed: seed)
            parametersPath = "\(output)-0000.params"
            try NDArrayFile.write(checkpointEntries(executor), to: parametersPath!)
        }
        if report.json {
            try printReport(
                Report(
                    symbol: path, network: network.rawValue, arguments: graph.argumentNodes.count,
                    auxiliary: graph.auxiliaryNodes.count, parameters: parametersPath))
        } else {
            print(
                "wrote \(path) (\(graph.argumentNodes.count) arguments, \(graph.auxiliaryNodes.count) auxiliary states)"
            )
            if let parametersPath { print("wrote \(parametersPath)") }
        }
    }

    /// `--json`.
    struct Report: Encodable {
        var symbol: String
        var network: String
        var arguments: Int
        var auxiliary: Int
        /// With `--init`.
        var parameters: String?
    }
}
