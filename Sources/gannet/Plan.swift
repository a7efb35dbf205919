import ArgumentParser
import Foundation
import Graph
import Models
import Operators
import TensorCore

/// `gannet plan`: binds a network and prints its arguments, auxiliary states, parameter
/// count and memory plan.
struct Plan: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Bind a network and print its arguments, shapes, parameter count and memory plan.",
        discussion: """
            NETWORK is a built-in name or an MXNet symbol JSON file (either dialect).

            Example:
              gannet plan --network inception-bn --batch-size 64
              gannet plan --network model/inception-bn-symbol.json --data-shape 3,224,224 --json
            """)

    @Option(help: "alexnet, inception-bn, inception-bn-full, inception-bn-small, or a symbol JSON file.")
    var network: String

    @Option(help: "Batch size.")
    var batchSize = 32

    @Option(help: "Input shape C,H,W (default: the network's).")
    var dataShape: DataShape?

    @Option(help: "Number of classes for a built-in network.")
    var numClasses: Int?

    @Option(help: "train (forward + backward) or inference.")
    var mode: Mode = .train

    @Flag(help: "Give every tensor its own memory (to see what planning saves).")
    var noPlanning = false

    @Option(help: "Activation layout between operators: automatic (blocked where possible), plain or blocked.")
    var layout: Executor.LayoutPolicy = .automatic

    @Flag(help: "Recompute BatchNorm and activation outputs in the backward pass instead of keeping them (MXNet's memory mirror): less memory, a little more time.")
    var mirror = false

    @Flag(help: "Also print every buffer of the plan: name, shape, region, offset and size.")
    var buffers = false

    @Flag(help: "Print one JSON object on standard output.")
    var json = false

    enum Mode: String, ExpressibleByArgument { case train, inference }

    mutating func validate() throws {
        if batchSize < 1 { throw ValidationError("--batch-size must be at least 1") }
    }

    func run() throws {
        let (symbol, defaultShape) = try loadNetwork(network, classCount: numClasses)
        let shape = [batchSize] + (dataShape?.dimensions ?? defaultShape)
        let executor: Executor
        do {
            executor = try Executor(symbol, inputShapes: Graph(symbol).inputShapes(data: Shape(shape)), isTraining: mode == .train,
                                    planMemory: !noPlanning, layout: layout, mirror: mirror)
        } catch {
            throw RuntimeFailure("\(network): \(error)")
        }
        let graph = executor.graph
        func describe(_ nodes: [Node]) -> [[String: Any]] {
            nodes.map { ["name": $0.name, "shape": executor.shapes.outputs[graph.index(of: $0)][0].dimensions] }
        }
        let parameters = graph.parameterNames.reduce(0) { $0 + executor.argument($1)!.elementCount }
        let memory = executor.memory
        let mib = { (bytes: Int) in (Double(bytes) / 1_048_576 * 10).rounded() / 10 }
        let bufferList: [[String: Any]] = executor.buffers.map {
            ["name": $0.name, "shape": $0.shape.dimensions, "region": $0.region.rawValue, "offset": $0.offset,
             "bytes": $0.bytes]
        }
        if json {
            var object: [String: Any] = [
                "arguments": describe(graph.argumentNodes), "auxiliary": describe(graph.auxiliaryNodes),
                "output": executor.outputs.map { $0.shape.dimensions }, "parameters": parameters,
                "plan": ["weights-mib": mib(memory.weightBytes), "gradients-mib": mib(memory.gradientBytes),
                         "activations-mib": mib(memory.activationBytes), "workspace-mib": mib(memory.workspaceBytes),
                         "total-mib": mib(memory.totalBytes)],
            ]
            if buffers { object["buffers"] = bufferList }
            printJSON(object)
            return
        }
        print("arguments (\(graph.argumentNodes.count)):")
        for node in graph.argumentNodes { print("  \(node.name)  \(executor.shapes.outputs[graph.index(of: node)][0])") }
        print("auxiliary states (\(graph.auxiliaryNodes.count)):")
        for node in graph.auxiliaryNodes { print("  \(node.name)  \(executor.shapes.outputs[graph.index(of: node)][0])") }
        print("output: \(executor.outputs.map { $0.shape.description }.joined(separator: ", "))")
        print("parameters: \(parameters)")
        if buffers {
            print("buffers (region, offset, MiB):")
            for buffer in executor.buffers {
                print(String(format: "  %@  %@  %@ @ %d  %.2f", buffer.name, buffer.shape.description,
                             buffer.region.rawValue, buffer.offset, Double(buffer.bytes) / 1_048_576))
            }
        }
        print(String(format: "memory plan (%@, batch %d): weights %.1f MiB, gradients %.1f MiB, activations %.1f MiB, workspace %.1f MiB, total %.1f MiB (%d tensors in place; %.1f MiB live at the peak)",
                     mode.rawValue, batchSize, mib(memory.weightBytes), mib(memory.gradientBytes),
                     mib(memory.activationBytes), mib(memory.workspaceBytes), mib(memory.totalBytes), memory.inPlaceCount,
                     mib(memory.peakLiveBytes)))
    }
}

/// A built-in network by name, or a symbol JSON file; with the default data shape.
func loadNetwork(_ name: String, classCount: Int?) throws -> (Symbol, [Int]) {
    if let builtIn = NetworkName(rawValue: name) {
        return (try builtIn.symbol(classCount: classCount), builtIn.dataShape)
    }
    guard name.hasSuffix(".json") else {
        throw ValidationError("--network '\(name)' is neither a built-in network "
                              + "(\(NetworkName.allCases.map(\.rawValue).joined(separator: ", "))) nor a .json file")
    }
    let text: String
    do {
        text = String(decoding: try readFile(name), as: UTF8.self)
    } catch {
        throw RuntimeFailure("\(error)")
    }
    let (symbol, notes) = try SymbolJSON.decode(text, file: name)
    if !notes.legacyPooling.isEmpty {
        FileHandle.standardError.write(Data(("note: \(name) predates MXNet 0.9; Pooling without pooling_convention "
            + "read as 'full' (MXNet rounded up then): \(notes.legacyPooling.joined(separator: ", "))\n").utf8))
    }
    return (symbol, [3, 224, 224])
}
