import DNNL
import Foundation
import Graph
import Models
import Operators
import TensorCore
import Testing

/// Mixed precision: bfloat16 activations with float32 parameters, against the float32 network.
@Suite struct PrecisionTests {
    /// Casts go where producer and consumer disagree, once per tensor: the data input before
    /// the first convolution, float32 operators (elemwise_add, SoftmaxOutput) behind bfloat16 ones.
    @Test func castsGoWhereTypesChange() throws {
        let symbol = try everyOperatorNetwork(dropout: false)
        #expect(Graph(symbol.castForPrecision(.float32)).nodes.count == Graph(symbol).nodes.count)
        let graph = Graph(symbol.castForPrecision(.bfloat16))
        let casts = graph.nodes.filter { $0.op == Cast.mxnetName }.map(\.name)
        #expect(casts.contains("data_bfloat16") && casts.contains("fc_float32"), "\(casts)")
        for node in graph.nodes where node.op == Cast.mxnetName {
            let input = node.inputs[0]
            let from = input.node.activationTypes(computing: .bfloat16)[input.index]
            #expect(from != (node.definition as! Cast).target, "\(node.name) casts to its own type")
        }
        // Every operator reads its activations in the type it computes in.
        for node in graph.nodes {
            guard let definition = node.definition, !definition.acceptsEveryActivationType else { continue }
            for (index, role) in definition.argumentRoles.enumerated() where role == .data {
                let input = node.inputs[index]
                #expect(
                    input.node.activationTypes(computing: .bfloat16)[input.index]
                        == definition.activationType(computing: .bfloat16), "\(node.name) input \(index)")
            }
        }
    }

    /// Inference in bfloat16 agrees with float32 within bfloat16's rounding (8 bits of
    /// mantissa through a few layers, float32 accumulation); where the CPU has no bfloat16
    /// kernels binding fails naming the node.
    @Test(arguments: ["every-operator", "inception-bn-small"])
    func inferenceAgreesWithFloat32(_ network: String) throws {
        let (symbol, shape): (Symbol, Shape) =
            network == "every-operator"
            ? (try everyOperatorNetwork(dropout: false), [2, 3, 9, 9])
            : (try inceptionBNSmall(classCount: 10), [4, 3, 28, 28])
        let shapes = Graph(symbol).inputShapes
        let reference = try Executor(symbol, inputShapes: try shapes(shape), isTraining: false)
        let mixed: Executor
        do {
            mixed = try Executor(symbol, inputShapes: try shapes(shape), isTraining: false, dataType: .bfloat16)
        } catch let error as OperatorError {
            #expect(
                !Library.instructionSet.hasPrefix("avx512"), "bfloat16 failed on \(Library.instructionSet): \(error)")
            return
        }
        fill(reference, seed: 11)
        copyVariables(from: reference, to: mixed)
        reference.forward(isTraining: false)
        mixed.forward(isTraining: false)
        #expect(mixed.outputs[0].dataType == .float32)
        let expected = reference.outputs[0].toArray(), actual = mixed.outputs[0].toArray()
        let worst = zip(expected, actual).map { abs($0 - $1) }.max() ?? 0
        // Probabilities: bfloat16 keeps 3 significant digits; measured worst differences are
        // below 0.01 on both networks.
        #expect(worst < 0.03, "largest probability difference \(worst)")
        let agree = (0..<shape[0]).filter { row in
            let classes = expected.count / shape[0]
            let slice = { (values: [Float]) in Array(values[(row * classes)..<((row + 1) * classes)]) }
            return slice(expected).indices.max { slice(expected)[$0] < slice(expected)[$1] }
                == slice(actual).indices.max { slice(actual)[$0] < slice(actual)[$1] }
        }
        #expect(agree.count >= shape[0] - 1, "top-1 agrees on \(agree.count) of \(shape[0])")
        #expect(mixed.memory.activationBytes < reference.memory.activationBytes)
        // Converting the network input keeps it a plain input: the activations stay blocked.
        #expect(mixed.isBlocked == reference.isBlocked)
    }
}

@Suite struct MixedPrecisionTrainingTests {
    /// One training step in bfloat16 (activations and their gradients bfloat16, parameter
    /// gradients float32) points the same way as in float32: every parameter gradient has a
    /// cosine similarity of at least 0.97 with float32's.
    @Test(arguments: [Executor.LayoutPolicy.plain, .blocked])
    func gradientsAgreeWithFloat32(_ layout: Executor.LayoutPolicy) throws {
        let symbol = try everyOperatorNetwork(dropout: false)
        let shapes: [String: Shape] = ["data": [4, 3, 9, 9]]
        let reference = try Executor(symbol, inputShapes: shapes, isTraining: true, layout: layout)
        let mixed: Executor
        do {
            mixed = try Executor(symbol, inputShapes: shapes, isTraining: true, layout: layout, dataType: .bfloat16)
        } catch let error as OperatorError {
            #expect(
                !Library.instructionSet.hasPrefix("avx512"), "bfloat16 failed on \(Library.instructionSet): \(error)")
            return
        }
        fill(reference, seed: 5)
        copyVariables(from: reference, to: mixed)
        for executor in [reference, mixed] {
            executor.forward(isTraining: true)
            executor.backward()
        }
        func norm(_ values: [Float]) -> Double { values.reduce(0.0) { $0 + Double($1 * $1) }.squareRoot() }
        let largest = reference.graph.parameterNames.map { norm(reference.gradient($0)!.toArray()) }.max() ?? 0
        for name in reference.graph.parameterNames {
            let a = reference.gradient(name)!.toArray(), b = mixed.gradient(name)!.toArray()
            #expect(mixed.gradient(name)!.dataType == .float32)
            // A convolution bias before BatchNorm has a gradient of zero in exact arithmetic
            // (BatchNorm removes the mean): there both are rounding noise, and only small.
            guard norm(a) > 1e-4 * largest else {
                #expect(norm(b) < 1e-2 * largest, "\(name): \(norm(b)) where float32 has \(norm(a))")
                continue
            }
            let dot = zip(a, b).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            #expect(dot / (norm(a) * norm(b)) > 0.97, "\(name): cosine \(dot / (norm(a) * norm(b)))")
        }
    }

    /// A few SGD steps in bfloat16 fit a tiny batch as float32 does.
    @Test func bfloat16TrainingLearns() throws {
        let symbol = try inceptionBNSmall(classCount: 4)
        let executor: Executor
        do {
            executor = try Executor(
                symbol, inputShapes: ["data": [8, 3, 28, 28]], isTraining: true, dataType: .bfloat16)
        } catch let error as OperatorError {
            #expect(!Library.instructionSet.hasPrefix("avx512"), "\(error)")
            return
        }
        fill(executor, seed: 2)
        for name in executor.graph.parameterNames where executor.graph.role(of: name) == .weight {
            let tensor = executor.argument(name)!
            tensor.copy(from: tensor.toArray().map { $0 * 0.1 })
        }
        executor.argument("softmax_label")!.copy(from: [0, 1, 2, 3, 3, 2, 1, 0])
        func loss() -> Double {
            let p = executor.outputs[0].toArray(), labels = executor.argument("softmax_label")!.toArray()
            return labels.enumerated().reduce(0) { $0 - log(max(Double(p[$1.offset * 4 + Int($1.element)]), 1e-30)) }
                / 8
        }
        executor.forward(isTraining: true)
        let first = loss()
        for _ in 0..<30 {
            executor.forward(isTraining: true)
            executor.backward()
            for name in executor.graph.parameterNames {
                let weight = executor.argument(name)!, gradient = executor.gradient(name)!.toArray()
                weight.copy(from: zip(weight.toArray(), gradient).map { $0 - 0.05 / 8 * $1 })
            }
        }
        executor.forward(isTraining: true)
        #expect(loss() < first * 0.5, "loss \(first) → \(loss())")
    }
}

@Suite struct FrozenParameterTests {
    /// Frozen parameters are prepared once: the same results as unfrozen, new values are
    /// taken at the next freeze (and not before: the promise was broken).
    @Test(arguments: [DataType.float32, .bfloat16])
    func freezingPreparesParametersOnce(_ type: DataType) throws {
        if type == .bfloat16 && !Library.instructionSet.hasPrefix("avx512") { return }
        let symbol = try everyOperatorNetwork(dropout: false)
        let executor = try Executor(symbol, inputShapes: ["data": [2, 3, 9, 9]], isTraining: false, dataType: type)
        fill(executor, seed: 4)
        executor.forward(isTraining: false)
        let unfrozen = executor.outputs[0].toArray()
        executor.freezeParameters()
        executor.forward(isTraining: false)
        executor.forward(isTraining: false)
        #expect(executor.outputs[0].toArray() == unfrozen)
        let weight = executor.argument("c1_weight")!
        weight.copy(from: weight.toArray().map { $0 * 2 })
        executor.forward(isTraining: false)
        #expect(executor.outputs[0].toArray() == unfrozen, "a frozen kernel read the new weights")
        executor.freezeParameters()
        executor.forward(isTraining: false)
        let refrozen = executor.outputs[0].toArray()
        executor.thawParameters()
        executor.forward(isTraining: false)
        #expect(refrozen != unfrozen && executor.outputs[0].toArray() == refrozen)
    }
}
