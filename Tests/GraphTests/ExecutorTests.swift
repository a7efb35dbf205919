import CHeapStatistics
import Graph
import Models
import Operators
import TensorCore
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A small network with every operator: fan-out (gradient `add`), in-place ReLU, `full`
/// pooling, LRN, Concat, elemwise_add, Dropout, Flatten, FullyConnected, SoftmaxOutput.
func everyOperatorNetwork(dropout: Bool = true, filters: Int = 16) throws -> Symbol {
    let b = SymbolBuilder()
    let data = b.variable("data")
    let c1 = try b.convolution(data, name: "c1", kernel: [3, 3], filterCount: filters, pad: [1, 1])
    let r1 = try b.activation(b.batchNorm(c1, name: "bn1", fixGamma: false), name: "r1", kind: .relu)
    let p1 = try b.pooling(r1, name: "p1", kind: .max, kernel: [3, 3], stride: [2, 2], convention: .full)
    let l1 = try b.lrn(p1, name: "l1", size: 3, alpha: 0.1, beta: 0.75, knorm: 2)
    let c2 = try b.convolution(p1, name: "c2", kernel: [1, 1], filterCount: filters)
    let sum = try b.elementwiseAdd(l1, c2, name: "sum")
    let joined = try b.activation(b.concat([sum, c2], name: "cat"), name: "t1", kind: .tanh)
    let p2 = try b.pooling(joined, name: "p2", kind: .avg, kernel: [2, 2], stride: [2, 2])
    var x = try b.flatten(p2, name: "flat")
    if dropout { x = try b.dropout(x, name: "drop", probability: 0.3) }
    return try b.softmaxOutput(b.fullyConnected(x, name: "fc", hiddenCount: 5), name: "softmax")
}

/// Fills data, parameters, labels and auxiliary states of an executor deterministically.
/// Copies every argument and auxiliary state of `source` into `target` (same names and shapes).
func copyVariables(from source: Executor, to target: Executor) {
    for name in source.graph.argumentNames + source.graph.auxiliaryNames {
        let values = (source.argument(name) ?? source.auxiliary(name)!).toArray()
        (target.argument(name) ?? target.auxiliary(name)!).copy(from: values)
    }
}

func fill(_ executor: Executor, seed: UInt64 = 3) {
    var generator = SeededGenerator(seed: seed)
    for name in executor.graph.argumentNames {
        let tensor = executor.argument(name)!
        let role = executor.graph.role(of: name)
        if role == .label {
            tensor.copy(from: (0..<tensor.elementCount).map { Float($0 % 5) })
        } else if role == .gamma {
            tensor.copy(from: (0..<tensor.elementCount).map { _ in 0.5 + generator.nextUnitFloat() })
        } else {
            tensor.fillUniform(-1...1, using: &generator)
        }
    }
    for name in executor.graph.auxiliaryNames {
        executor.auxiliary(name)!.fill(executor.graph.role(of: name) == .movingVariance ? 1 : 0)
    }
}

@Suite struct ExecutorTests {
    let inputShapes: [String: Shape] = ["data": [2, 3, 9, 9]]

    @Test(arguments: [Executor.LayoutPolicy.plain, .blocked])
    func plannedAndUnplannedRunsAreBitIdentical(_ layout: Executor.LayoutPolicy) throws {
        let symbol = try everyOperatorNetwork()
        let planned = try Executor(symbol, inputShapes: inputShapes, isTraining: true, planMemory: true, layout: layout)
        let unplanned = try Executor(
            symbol, inputShapes: inputShapes, isTraining: true, planMemory: false, layout: layout)
        #expect(planned.isBlocked == (layout == .blocked))
        #expect(planned.memory.activationBytes < unplanned.memory.activationBytes)
        #expect(planned.memory.inPlaceCount > 0)
        for executor in [planned, unplanned] {
            fill(executor)
            for _ in 0..<2 {
                executor.forward(isTraining: true)
                executor.backward()
            }
        }
        #expect(planned.outputs[0].toArray() == unplanned.outputs[0].toArray())
        for name in planned.graph.argumentNames {
            #expect(planned.gradient(name)?.toArray() == unplanned.gradient(name)?.toArray(), "gradient of \(name)")
        }
        for name in planned.graph.auxiliaryNames {
            #expect(planned.auxiliary(name)!.toArray() == unplanned.auxiliary(name)!.toArray(), "\(name)")
        }
        #expect(planned.gradient("data") == nil && planned.gradient("softmax_label") == nil)
    }

    /// Mirroring recomputes BatchNorm and activation outputs in backward with the same
    /// kernels, so results are bit-identical while fewer activations are kept (unfused, so
    /// that both kinds of node are there to mirror).
    @Test(arguments: [Executor.LayoutPolicy.plain, .blocked])
    func mirroredRunsAreBitIdentical(_ layout: Executor.LayoutPolicy) throws {
        let symbol = try everyOperatorNetwork()
        let kept = try Executor(symbol, inputShapes: inputShapes, isTraining: true, layout: layout, fuse: false)
        let mirrored = try Executor(
            symbol, inputShapes: inputShapes, isTraining: true, layout: layout, mirror: true, fuse: false)
        #expect(mirrored.buffers.contains { $0.name == "r1_output_recomputed" })
        #expect(mirrored.buffers.contains { $0.name == "bn1_output_recomputed" })
        #expect(!kept.buffers.contains { $0.name.hasSuffix("_recomputed") })
        for executor in [kept, mirrored] {
            fill(executor)
            for _ in 0..<2 {
                executor.forward(isTraining: true)
                executor.backward()
            }
        }
        #expect(kept.outputs[0].toArray() == mirrored.outputs[0].toArray())
        for name in kept.graph.argumentNames {
            #expect(kept.gradient(name)?.toArray() == mirrored.gradient(name)?.toArray(), "gradient of \(name)")
        }
        for name in kept.graph.auxiliaryNames {
            #expect(kept.auxiliary(name)!.toArray() == mirrored.auxiliary(name)!.toArray(), "\(name)")
        }
    }

    /// Inference folds BatchNorm into the convolution before it and applies the activation
    /// as a post-op; the probabilities match the unfused network (oneDNN kernels) and the
    /// fused graph's reference kernels (Double), with non-trivial moving statistics.
    @Test(arguments: [Executor.LayoutPolicy.plain, .blocked])
    func fusedInferenceMatchesUnfused(_ layout: Executor.LayoutPolicy) throws {
        let symbol = try everyOperatorNetwork(dropout: false)
        let fused = try Executor(symbol, inputShapes: inputShapes, isTraining: false, layout: layout)
        let unfused = try Executor(symbol, inputShapes: inputShapes, isTraining: false, layout: layout, fuse: false)
        // c1 → bn1 → r1 is one node; c2 feeds two operators and stays alone.
        #expect(fused.graph.nodes.map(\.op).contains("Convolution+BatchNorm+Activation"))
        #expect(fused.graph.nodes.filter { $0.op == "Convolution" }.map(\.name) == ["c2"])
        #expect(fused.graph.argumentNames == unfused.graph.argumentNames)
        #expect(fused.graph.auxiliaryNames == unfused.graph.auxiliaryNames)
        for executor in [fused, unfused] {
            fill(executor)
            var generator = SeededGenerator(seed: 9)
            executor.auxiliary("bn1_moving_mean")!.fillUniform(-0.5...0.5, using: &generator)
            executor.auxiliary("bn1_moving_var")!.fillUniform(0.2...2, using: &generator)
            executor.forward(isTraining: false)
        }
        expectClose(fused.outputs[0].toArray(), unfused.outputs[0].toArray(), tolerance: 1e-5, "probabilities")
        var variables: [String: [Double]] = [:]
        for name in fused.graph.argumentNames { variables[name] = fused.argument(name)!.toArray().map(Double.init) }
        for name in fused.graph.auxiliaryNames { variables[name] = fused.auxiliary(name)!.toArray().map(Double.init) }
        let reference = ReferenceGraph(graph: fused.graph, shapes: fused.shapes, variables: variables)
        expectClose(
            fused.outputs[0].toArray(), reference.forward(isTraining: false).last![0].map(Float.init),
            tolerance: 1e-5, "reference probabilities")
    }

    /// Every Convolution → BatchNorm → ReLU chain of Inception-BN fuses (no_bias convolutions,
    /// `fix_gamma`), and AlexNet's Convolution → ReLU pairs do.
    @Test func seedNetworksFuseEveryChain() throws {
        let inception = try Executor(
            inceptionBNSmall(classCount: 10), inputShapes: ["data": [2, 3, 28, 28]],
            isTraining: false)
        #expect(
            !inception.graph.nodes.contains { $0.op == "BatchNorm" || $0.op == "Activation" || $0.op == "Convolution" })
        let alexnet = try Executor(alexNet(classCount: 10), inputShapes: ["data": [1, 3, 224, 224]], isTraining: false)
        #expect(alexnet.graph.nodes.filter { $0.op == "Convolution+Activation" }.count == 5)
    }

    @Test func mirrorKeepsFewerActivations() throws {
        let symbol = try inceptionBNSmall(classCount: 10)
        let shapes: [String: Shape] = ["data": [16, 3, 28, 28]]
        let kept = try Executor(symbol, inputShapes: shapes, isTraining: true, fuse: false)
        let mirrored = try Executor(symbol, inputShapes: shapes, isTraining: true, mirror: true, fuse: false)
        #expect(Double(mirrored.memory.peakLiveBytes) < 0.8 * Double(kept.memory.peakLiveBytes))
        #expect(mirrored.memory.activationBytes < kept.memory.activationBytes)
    }

    /// One training step of `executor` (filled with `fill`) against the graph evaluated with
    /// the reference kernels in Double: the probabilities and every parameter gradient.
    func expectMatchesReferenceGraph(_ executor: Executor, tolerance: Float) {
        fill(executor)
        var variables: [String: [Double]] = [:]
        for name in executor.graph.argumentNames {
            variables[name] = executor.argument(name)!.toArray().map(Double.init)
        }
        for name in executor.graph.auxiliaryNames {
            variables[name] = executor.auxiliary(name)!.toArray().map(Double.init)
        }
        executor.forward(isTraining: true)
        executor.backward()
        let reference = ReferenceGraph(graph: executor.graph, shapes: executor.shapes, variables: variables)
        let values = reference.forward(isTraining: true)
        let learnable = Set(executor.graph.parameterNames)
        let gradients = reference.backward(values, learnable: learnable)
        expectClose(
            executor.outputs[0].toArray(), values.last![0].map(Float.init), tolerance: tolerance / 10,
            "probabilities")
        for name in learnable.sorted() {
            expectClose(
                executor.gradient(name)!.toArray(), gradients[name]!.map(Float.init), tolerance: tolerance,
                "gradient of \(name)")
        }
    }

    /// The executor (oneDNN kernels, planned memory, `add` at fan-out) against the graph
    /// evaluated with the reference kernels in Double.
    @Test(arguments: [Executor.LayoutPolicy.plain, .blocked])
    func executorMatchesReferenceGraph(_ layout: Executor.LayoutPolicy) throws {
        let symbol = try everyOperatorNetwork(dropout: false)
        let executor = try Executor(symbol, inputShapes: inputShapes, isTraining: true, layout: layout)
        expectMatchesReferenceGraph(executor, tolerance: 1e-4)
    }

    /// A pre-activation ResNet (residual sums, shortcut convolutions, a plain normalisation
    /// of the RGB input beside blocked activations, whose gradient a convolution computes
    /// through reordered layouts) against the reference graph, in both layouts.
    @Test(arguments: [Executor.LayoutPolicy.plain, .blocked])
    func resNetMatchesReferenceGraph(_ layout: Executor.LayoutPolicy) throws {
        let symbol = try Models.resNet(depth: 8, classCount: 5, smallImages: true)
        let executor = try Executor(symbol, inputShapes: ["data": [2, 3, 8, 8]], isTraining: true, layout: layout)
        #expect(executor.isBlocked == (layout == .blocked))
        expectMatchesReferenceGraph(executor, tolerance: 1e-3)
    }

    /// Pre-activation inference: Conv → BN → ReLU folds into the convolution (each unit's
    /// conv1 → bn2 → relu2, and conv0 → the first unit's bn1 → relu1); a BN → ReLU after a
    /// residual sum runs as one batch normalization.
    @Test(arguments: [Executor.LayoutPolicy.plain, .blocked])
    func fusedResNetInferenceMatchesUnfused(_ layout: Executor.LayoutPolicy) throws {
        let symbol = try Models.resNet(depth: 8, classCount: 5, smallImages: true)
        let inputs: [String: Shape] = ["data": [2, 3, 8, 8]]
        let fused = try Executor(symbol, inputShapes: inputs, isTraining: false, layout: layout)
        let unfused = try Executor(symbol, inputShapes: inputs, isTraining: false, layout: layout, fuse: false)
        let ops = fused.graph.nodes.map(\.op)
        #expect(ops.filter { $0 == "Convolution+BatchNorm+Activation" }.count == 4)
        #expect(ops.filter { $0 == "BatchNorm+Activation" }.count == 3)
        #expect(!ops.contains("Activation"))
        var generator = SeededGenerator(seed: 9)
        for name in unfused.graph.argumentNames + unfused.graph.auxiliaryNames {
            let target = unfused.argument(name) ?? unfused.auxiliary(name)!
            if unfused.graph.role(of: name) == .movingVariance {
                target.fillUniform(0.2...2, using: &generator)
            } else {
                target.fillUniform(-1...1, using: &generator)
            }
        }
        copyVariables(from: unfused, to: fused)
        fused.forward(isTraining: false)
        unfused.forward(isTraining: false)
        expectClose(fused.outputs[0].toArray(), unfused.outputs[0].toArray(), tolerance: 1e-4, "probabilities")
    }

    /// A residual sum costs no memory in either pass: its output takes over an input's block
    /// (forward) and an input's gradient takes over its output gradient's block (backward).
    @Test func residualSumsAreInPlace() throws {
        let symbol = try Models.resNet(depth: 8, classCount: 5, smallImages: true)
        let plan = try Executor.plan(symbol, inputShapes: ["data": [2, 3, 8, 8]], isTraining: true)
        let offsets = Dictionary(plan.buffers.map { ($0.name, $0.offset) }, uniquingKeysWith: { first, _ in first })
        let sums = plan.graph.nodes.filter { $0.op == "elemwise_add" }
        #expect(sums.count == 3)
        // An input is read and the output written in the same step (forward), the output
        // gradient read and the input gradients written (backward): only in place do they share.
        for sum in sums {
            let inputs = sum.inputs.map(\.node.name)
            #expect(inputs.contains { offsets["\($0)_output"] == offsets["\(sum.name)_output"] }, "\(sum.name) forward")
            #expect(
                inputs.contains { offsets["\($0)_output_grad"] == offsets["\(sum.name)_output_grad"] },
                "\(sum.name) backward")
        }
    }

    /// Whole-graph finite differences of the cross-entropy through the reference path
    /// (Double), against its backward: proves the gradient pass and the fan-out sums.
    @Test func wholeGraphGradientMatchesFiniteDifferences() throws {
        let symbol = try everyOperatorNetwork()
        let executor = try Executor(symbol, inputShapes: inputShapes, isTraining: true)
        fill(executor)
        var variables: [String: [Double]] = [:]
        for name in executor.graph.argumentNames {
            variables[name] = executor.argument(name)!.toArray().map(Double.init)
        }
        for name in executor.graph.auxiliaryNames {
            variables[name] = executor.auxiliary(name)!.toArray().map(Double.init)
        }
        let labels = variables["softmax_label"]!.map { Int($0) }
        func loss(_ values: [String: [Double]]) -> Double {
            let probabilities = ReferenceGraph(graph: executor.graph, shapes: executor.shapes, variables: values)
                .forward(isTraining: true).last![0]
            return labels.enumerated().reduce(0) { $0 - log(probabilities[$1.offset * 5 + $1.element]) }
        }
        let reference = ReferenceGraph(graph: executor.graph, shapes: executor.shapes, variables: variables)
        let learnable = Set(executor.graph.parameterNames)
        let gradients = reference.backward(reference.forward(isTraining: true), learnable: learnable)
        var generator = SeededGenerator(seed: 11)
        for name in learnable.sorted() {
            for _ in 0..<3 {
                let position = Int(generator.next() % UInt64(variables[name]!.count))
                var plus = variables, minus = variables
                plus[name]![position] += 1e-6
                minus[name]![position] -= 1e-6
                let numeric = (loss(plus) - loss(minus)) / 2e-6
                let analytic = gradients[name]![position]
                #expect(
                    abs(numeric - analytic) < 1e-5 * max(1, abs(numeric)),
                    "d loss / d \(name)[\(position)]: numeric \(numeric), analytic \(analytic)")
            }
        }
    }

    /// A few dozen SGD steps fit a tiny batch through the executor.
    @Test func fitsATinyBatch() throws {
        let b = SymbolBuilder()
        let conv = try b.convolution(b.variable("data"), name: "conv", kernel: [3, 3], filterCount: 8, pad: [1, 1])
        let features = try b.pooling(
            b.activation(b.batchNorm(conv, name: "bn", fixGamma: false), kind: .relu),
            kind: .max, kernel: [2, 2], stride: [2, 2])
        let symbol = try b.softmaxOutput(
            b.fullyConnected(b.flatten(features), name: "fc", hiddenCount: 4), name: "softmax")
        let executor = try Executor(symbol, inputShapes: ["data": [8, 3, 8, 8]], isTraining: true)
        fill(executor)
        executor.argument("softmax_label")!.copy(from: [0, 1, 2, 3, 3, 2, 1, 0])
        for name in executor.graph.argumentNames where executor.graph.role(of: name) == .weight {
            let tensor = executor.argument(name)!
            tensor.copy(from: tensor.toArray().map { $0 * 0.3 })
        }
        let parameters = executor.graph.parameterNames
        var momentum: [String: [Float]] = [:]
        for _ in 0..<40 {
            executor.forward(isTraining: true)
            executor.backward()
            for name in parameters {
                let weight = executor.argument(name)!, gradient = executor.gradient(name)!.toArray()
                var velocity = momentum[name] ?? [Float](repeating: 0, count: gradient.count)
                var values = weight.toArray()
                for i in values.indices {
                    velocity[i] = 0.9 * velocity[i] - 0.1 * gradient[i] / 8
                    values[i] += velocity[i]
                }
                momentum[name] = velocity
                weight.copy(from: values)
            }
        }
        executor.forward(isTraining: false)
        let probabilities = executor.outputs[0].toArray()
        let predictions = (0..<8).map { row in
            (0..<4).max { probabilities[row * 4 + $0] < probabilities[row * 4 + $1] }!
        }
        #expect(predictions == [0, 1, 2, 3, 3, 2, 1, 0])
    }

    /// Training fuses BatchNorm → ReLU into one batch normalization (oneDNN's fused-ReLU
    /// flag, its workspace instead of the ReLU output): the same results as the two
    /// operators within float rounding, and less to keep.
    @Test(arguments: [Executor.LayoutPolicy.plain, .blocked])
    func fusedTrainingMatchesUnfused(_ layout: Executor.LayoutPolicy) throws {
        let symbol = try everyOperatorNetwork(dropout: false)
        let fused = try Executor(symbol, inputShapes: inputShapes, isTraining: true, layout: layout)
        let unfused = try Executor(symbol, inputShapes: inputShapes, isTraining: true, layout: layout, fuse: false)
        #expect(fused.graph.nodes.contains { $0.op == "BatchNorm+Activation" })
        #expect(!fused.graph.nodes.contains { $0.name == "r1" })
        #expect(fused.memory.activationBytes < unfused.memory.activationBytes)
        for executor in [fused, unfused] {
            fill(executor)
            for _ in 0..<2 {
                executor.forward(isTraining: true)
                executor.backward()
            }
        }
        expectClose(fused.outputs[0].toArray(), unfused.outputs[0].toArray(), tolerance: 1e-5, "probabilities")
        for name in fused.graph.parameterNames {
            expectClose(
                fused.gradient(name)!.toArray(), unfused.gradient(name)!.toArray(), tolerance: 1e-4,
                "gradient of \(name)")
        }
        for name in fused.graph.auxiliaryNames {
            expectClose(fused.auxiliary(name)!.toArray(), unfused.auxiliary(name)!.toArray(), tolerance: 1e-5, name)
        }
    }

    @Test func profileAttributesTimeToOperators() throws {
        let executor = try Executor(try everyOperatorNetwork(), inputShapes: inputShapes, isTraining: true, fuse: false)
        fill(executor)
        executor.isProfiling = true
        executor.forward(isTraining: true)
        executor.backward()
        let convolution = executor.profile.first { $0.op == "Convolution" }
        #expect(convolution != nil && convolution!.forward > 0 && convolution!.backward > 0)
        #expect(
            Set(executor.profile.map(\.op)).isSuperset(of: ["BatchNorm", "Pooling", "LRN", "Concat", "SoftmaxOutput"]))
    }

    /// Channel counts that do not divide into blocks keep the plain layout automatically and
    /// make an explicit request for the blocked one fail with a reason.
    @Test func layoutChoice() throws {
        let odd = try everyOperatorNetwork(filters: 4)
        #expect(try !Executor(odd, inputShapes: inputShapes, isTraining: true).isBlocked)
        #expect(throws: OperatorError.self) {
            try Executor(odd, inputShapes: inputShapes, isTraining: true, layout: .blocked)
        }
        #expect(try Executor(everyOperatorNetwork(), inputShapes: inputShapes, isTraining: true).isBlocked)
    }

    /// Once bound, batches run without growing the heap. Other tests run in parallel in
    /// this process and allocate, so a window of batches without any growth is searched
    /// for: if the executor allocated per batch, no window would be clean.
    @Test func batchesDoNotAllocate() throws {
        let executor = try Executor(try everyOperatorNetwork(), inputShapes: inputShapes, isTraining: true)
        fill(executor)
        func step() {
            executor.forward(isTraining: true)
            executor.backward()
        }
        step()
        step()
        var cleanWindow = false
        for _ in 0..<500 where !cleanWindow {
            let before = gannet_heap_allocated_bytes()
            for _ in 0..<3 { step() }
            cleanWindow = gannet_heap_allocated_bytes() == before
        }
        #expect(cleanWindow, "every window of 3 batches grew the heap")
    }
}

func expectClose(
    _ actual: [Float], _ expected: [Float], tolerance: Float, _ what: String,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(actual.count == expected.count, "\(what): sizes differ", sourceLocation: sourceLocation)
    let scale = max(1, expected.reduce(0) { max($0, abs($1)) })
    let worst = zip(actual, expected).reduce(Float(0)) { max($0, abs($1.0 - $1.1) / scale) }
    #expect(worst <= tolerance, "\(what): max relative error \(worst)", sourceLocation: sourceLocation)
}

@Suite struct MemoryPlannerTests {
    /// Freed ranges are split and coalesced, so the arena reaches the live-bytes bound on a
    /// chain where each step frees its input.
    @Test func arenaReachesThePeakOfLiveBytes() {
        // t0 (pinned input) → t1 (64 B) → t2 (128 B) → t3 (64 B) → t4 (192 B, pinned output).
        let sizes = [64, 64, 128, 64, 192]
        let steps = [
            MemoryPlanner.Step(reads: [0], writes: [1]), MemoryPlanner.Step(reads: [1], writes: [2]),
            MemoryPlanner.Step(reads: [2], writes: [3]), MemoryPlanner.Step(reads: [3], writes: [4]),
        ]
        let plan = MemoryPlanner.plan(sizes: sizes, pinned: [0, 4], steps: steps)
        #expect(plan.arenaBytes == plan.peakLiveBytes)
        #expect(plan.arenaBytes < sizes.reduce(0, +))
        let unplanned = MemoryPlanner.plan(sizes: sizes, pinned: [0, 4], steps: steps, reuse: false)
        #expect(unplanned.arenaBytes == sizes.reduce(0, +))
        // Live tensors never overlap.
        for (a, b) in [(1, 2), (2, 3), (3, 4), (0, 1), (0, 4)] {
            let disjoint =
                plan.offsets[a] + sizes[a] <= plan.offsets[b] || plan.offsets[b] + sizes[b] <= plan.offsets[a]
            #expect(disjoint, "tensors \(a) and \(b) overlap while both live")
        }
    }

    @Test func inPlaceTakesOverTheInputBlock() {
        let steps = [
            MemoryPlanner.Step(reads: [0], writes: [1]),
            MemoryPlanner.Step(reads: [1], writes: [2], inPlace: [(read: 1, write: 2)]),
            MemoryPlanner.Step(reads: [2], writes: [3]),
        ]
        let plan = MemoryPlanner.plan(sizes: [64, 128, 128, 64], pinned: [0, 3], steps: steps)
        #expect(plan.offsets[2] == plan.offsets[1] && plan.inPlaceCount == 1)
    }
}
