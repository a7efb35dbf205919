import Operators
import TensorCore
import Testing

@testable import Graph

/// The phases of binding, each on its own: layout assignment, the execution plan (forward
/// and gradient pass), memory placement, and what operators declare to them.
@Suite struct BindingPhaseTests {
    let inputShapes: [String: Shape] = ["data": [2, 3, 9, 9]]

    func analysed(_ symbol: Symbol) throws -> (Graph, Graph.Shapes) {
        let graph = Graph(symbol)
        return (graph, try graph.inferShapes(inputShapes))
    }

    /// Blocked when every operator declares support; otherwise the error names the node.
    @Test func layoutAssignmentNamesWhatPreventsBlocking() throws {
        let (graph, shapes) = try analysed(try everyOperatorNetwork())
        #expect(try LayoutAssignment(.automatic, graph: graph, shapes: shapes, block: 8).block == 8)
        #expect(try LayoutAssignment(.plain, graph: graph, shapes: shapes, block: 8).block == nil)

        let b = SymbolBuilder()
        let conv = try b.convolution(b.variable("data"), name: "c", kernel: [3, 3], filterCount: 16, pad: [1, 1])
        let evenLRN = try b.softmaxOutput(
            b.flatten(b.lrn(conv, name: "even", size: 4, alpha: 0.1, beta: 0.75, knorm: 2)))
        let pooledInput = try b.softmaxOutput(
            b.flatten(
                b.pooling(
                    b.variable("data"), name: "p", kind: .max, kernel: [2, 2],
                    stride: [2, 2])))
        for (symbol, node) in [(evenLRN, "even"), (pooledInput, "p")] {
            let (graph, shapes) = try analysed(symbol)
            #expect(try LayoutAssignment(.automatic, graph: graph, shapes: shapes, block: 8).block == nil)
            #expect { try LayoutAssignment(.blocked, graph: graph, shapes: shapes, block: 8) } throws: { error in
                (error as? OperatorError)?.node == node
            }
        }
    }

    /// Fan-out sums gradients with one `write` and then `add`; inputs get none; an
    /// inference plan has no gradient pass; the planner gets one step per call.
    @Test func executionPlanOfTheGradientPass() throws {
        let (graph, shapes) = try analysed(try everyOperatorNetwork())
        let layout = try LayoutAssignment(.plain, graph: graph, shapes: shapes)
        let inputs = Set(graph.inputNames)
        let plan = try ExecutionPlan(
            graph: graph, shapes: shapes, layout: layout, inputNames: inputs, isTraining: true,
            mirror: false)
        #expect(plan.steps.count == plan.forwardCalls.count + plan.gradientPassCalls.count)
        // p1 feeds l1 and c2: its gradient is written by one and added to by the other.
        let p1 = graph.nodes.first { $0.name == "p1" }!
        let p1Gradient = plan.gradientSlots[Entry(p1)]!
        let requests = plan.gradientPassCalls.flatMap { call in
            zip(call.gradientSlots, call.gradientRequests).filter { $0.0 == p1Gradient }.map(\.1)
        }
        #expect(requests == [.write, .add])
        let data = graph.nodes.first { $0.name == "data" }!
        #expect(plan.gradientSlots[Entry(data)] == nil)
        #expect(Set(plan.parameterGradientSlots.keys) == plan.learnable)

        let inference = try ExecutionPlan(
            graph: graph, shapes: shapes, layout: layout, inputNames: inputs,
            isTraining: false, mirror: false)
        #expect(inference.gradientPassCalls.isEmpty)
        #expect(inference.slots.count == graph.nodes.reduce(0) { $0 + $1.outputCount })

        // Mirroring: each recomputation comes before the first backward call that reads it.
        let mirrored = try ExecutionPlan(
            graph: graph, shapes: shapes, layout: layout, inputNames: inputs,
            isTraining: true, mirror: true)
        let recomputes = mirrored.gradientPassCalls.enumerated().filter { $0.element.kind == .recompute }
        #expect(!recomputes.isEmpty)
        for (index, call) in recomputes {
            let readers = mirrored.gradientPassCalls.indices.filter { reader in
                mirrored.gradientPassCalls[reader].kind == .backward
                    && !Set(mirrored.gradientPassCalls[reader].arguments + mirrored.gradientPassCalls[reader].outputs)
                        .isDisjoint(with: call.outputs)
            }
            #expect(readers.allSatisfy { $0 > index }, "\(graph.nodes[call.node].name)")
        }
    }

    /// Weights and auxiliary states in their region; parameter gradients back to back in
    /// completion order; nothing of a region overlaps.
    @Test func memoryPlacementRegions() throws {
        let (graph, shapes) = try analysed(try everyOperatorNetwork())
        let plan = try ExecutionPlan(
            graph: graph, shapes: shapes, layout: LayoutAssignment(.plain, graph: graph, shapes: shapes),
            inputNames: Set(graph.inputNames), isTraining: true, mirror: false)
        let placement = MemoryPlacement(plan, reuse: true)
        let weights = Set(plan.learnable.union(plan.auxiliary).map { plan.outputSlots[$0][0] })
        #expect(Set(placement.regions.indices.filter { placement.regions[$0] == .weights }) == weights)
        var end = 0
        for slot in placement.gradientOrder {
            #expect(placement.regions[slot] == .gradients && placement.offsets[slot] == end)
            end += (placement.sizes[slot] + 63) / 64 * 64
        }
        #expect(end == placement.gradientBytes)
        let completion = placement.gradientOrder.map { placement.completedAfter[$0]! }
        #expect(completion == completion.sorted())
        for slot in placement.regions.indices where placement.regions[slot] == .arena {
            #expect(placement.offsets[slot] + placement.sizes[slot] <= placement.arenaBytes)
        }
    }

    /// FLOPs as the operators declare them: 2 · multiply-adds of convolutions and FullyConnected.
    @Test func forwardFlopsFromDeclarations() throws {
        let b = SymbolBuilder()
        let conv = try b.convolution(b.variable("data"), name: "c", kernel: [3, 3], filterCount: 8, pad: [1, 1])
        let symbol = try b.softmaxOutput(
            b.fullyConnected(b.flatten(b.activation(conv, kind: .relu)), name: "fc", hiddenCount: 5))
        let executor = try Executor(symbol, inputShapes: ["data": [4, 3, 6, 6]], isTraining: false)
        #expect(executor.forwardFlopsPerImage == Double(2 * 27 * 8 * 36 + 2 * 8 * 36 * 5))
    }
}
