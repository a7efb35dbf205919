import ArgumentParser
import DNNL
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
              gannet plan --network model/inception-bn-symbol.json \\
                --data-shape 3,224,224 --json
            """)

    @OptionGroup var network: NetworkOptions

    @Option(parsing: .unconditional, help: "Batch size.")
    var batchSize = 32

    @Option(parsing: .unconditional, help: "Number of classes for a built-in network.")
    var numClasses: Int?

    @Option(help: "train (forward + backward) or inference.")
    var mode: Mode = .train

    @Flag(help: "Give every tensor its own memory (to see what planning saves).")
    var noPlanning = false

    @Option(help: "Activation layout between operators: automatic (blocked where possible), plain or blocked.")
    var layout: Executor.LayoutPolicy = .automatic

    @Flag(
        help:
            "Recompute BatchNorm and activation outputs in the backward pass instead of keeping them (MXNet's memory mirror): less memory, a little more time."
    )
    var mirror = false

    @Flag(help: "Also print every buffer of the plan: name, shape, region, offset and size.")
    var buffers = false

    @OptionGroup var precision: PrecisionOptions

    @OptionGroup var report: JSONOutput

    enum Mode: String, ExpressibleByArgument { case train, inference }

    mutating func validate() throws {
        if batchSize < 1 { throw ValidationError("--batch-size must be at least 1") }
    }

    func run() throws {
        let (symbol, dataShape) = try network.load(classCount: numClasses)
        // Planning is arithmetic: nothing the plan sizes is allocated.
        let executor = try runtime(network.network) {
            try Executor.plan(
                symbol, inputShapes: Graph(symbol).inputShapes(data: Shape([batchSize] + dataShape)),
                isTraining: mode == .train, planMemory: !noPlanning, layout: layout, mirror: mirror,
                dataType: precision.dtype)
        }
        let graph = executor.graph
        let parameters = graph.parameterNames.reduce(0) { $0 + (executor.shape(of: $1)?.elementCount ?? 0) }
        if report.json {
            var planReport = Report(executor, parameters: parameters, withBuffers: buffers)
            (planReport.dtype, planReport.isa) = (precision.dtype.rawValue, Library.instructionSet)
            return try printReport(planReport)
        }
        let memory = executor.memory
        let mib = { (bytes: Int) in (Double(bytes) / 1_048_576 * 10).rounded() / 10 }
        print("arguments (\(graph.argumentNodes.count)):")
        for node in graph.argumentNodes {
            print("  \(node.name)  \(executor.shapes.outputs[graph.index(of: node)][0])")
        }
        print("auxiliary states (\(graph.auxiliaryNodes.count)):")
        for node in graph.auxiliaryNodes {
            print("  \(node.name)  \(executor.shapes.outputs[graph.index(of: node)][0])")
        }
        print("output: \(executor.outputShapes.map(\.description).joined(separator: ", "))")
        print("parameters: \(parameters)")
        if buffers {
            print("buffers (region, offset, MiB):")
            for buffer in executor.buffers {
                print(
                    String(
                        format: "  %@  %@  %@ @ %d  %.2f", buffer.name, buffer.shape.description,
                        buffer.region.rawValue, buffer.offset, Double(buffer.bytes) / 1_048_576))
            }
        }
        print(
            String(
                format:
                    "memory plan (%@, batch %d): weights %.1f MiB, gradients %.1f MiB, activations %.1f MiB, workspace %.1f MiB, total %.1f MiB (%d tensors in place; %.1f MiB live at the peak)",
                mode.rawValue, batchSize, mib(memory.weightBytes), mib(memory.gradientBytes),
                mib(memory.activationBytes), mib(memory.workspaceBytes), mib(memory.totalBytes), memory.inPlaceCount,
                mib(memory.peakLiveBytes)))
    }

    /// `--json`: MXNet's argument and auxiliary lists with shapes, and the memory plan.
    struct Report: Encodable {
        struct Tensor: Encodable {
            var name: String
            var shape: [Int]
        }
        struct Totals: Encodable {
            var weightsMiB, gradientsMiB, activationsMiB, workspaceMiB, totalMiB: Double
            enum CodingKeys: String, CodingKey {
                case weightsMiB = "weights-mib", gradientsMiB = "gradients-mib", activationsMiB = "activations-mib"
                case workspaceMiB = "workspace-mib", totalMiB = "total-mib"
            }
        }
        struct Buffer: Encodable {
            var name: String
            var shape: [Int]
            var region: String
            var offset: Int
            var bytes: Int
        }
        var arguments: [Tensor]
        var auxiliary: [Tensor]
        var output: [[Int]]
        var parameters: Int
        var plan: Totals
        /// With `--buffers`.
        var buffers: [Buffer]?
        var dtype = "float32"
        var isa = ""

        init(_ executor: Executor.BindingPlan, parameters: Int, withBuffers: Bool) {
            let graph = executor.graph
            func describe(_ nodes: [Node]) -> [Tensor] {
                nodes.map { Tensor(name: $0.name, shape: executor.shapes.outputs[graph.index(of: $0)][0].dimensions) }
            }
            let mib = { (bytes: Int) in (Double(bytes) / 1_048_576 * 10).rounded() / 10 }
            let memory = executor.memory
            arguments = describe(graph.argumentNodes)
            auxiliary = describe(graph.auxiliaryNodes)
            output = executor.outputShapes.map(\.dimensions)
            self.parameters = parameters
            plan = Totals(
                weightsMiB: mib(memory.weightBytes), gradientsMiB: mib(memory.gradientBytes),
                activationsMiB: mib(memory.activationBytes), workspaceMiB: mib(memory.workspaceBytes),
                totalMiB: mib(memory.totalBytes))
            buffers =
                withBuffers
                ? executor.buffers.map {
                    Buffer(
                        name: $0.name, shape: $0.shape.dimensions, region: $0.region.rawValue, offset: $0.offset,
                        bytes: $0.bytes)
                } : nil
        }
    }
}
