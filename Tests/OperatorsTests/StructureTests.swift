import TensorCore
import Testing

@testable import Operators

@Suite struct ConcatFlattenAddTests {
    @Test func concatChannels() throws {
        try Harness(Concat(inputCount: 3), data: [2, 3, 4, 5], otherShapes: [[2, 1, 4, 5], [2, 16, 4, 5]]).check(
            tolerance: 0)
        try Harness(Concat(inputCount: 3), data: [2, 3, 4, 5], otherShapes: [[2, 1, 4, 5], [2, 16, 4, 5]])
            .checkReferenceGradient()
    }

    @Test func concatOtherAxes() throws {
        try Harness(Concat(inputCount: 2, axis: 0), data: [1, 3, 2], otherShapes: [[2, 3, 2]]).check(tolerance: 0)
        try Harness(Concat(inputCount: 2, axis: 3), data: [2, 3, 2, 2], otherShapes: [[2, 3, 2, 5]]).check(tolerance: 0)
    }

    /// d.5: Inception-BN 3c under `valid` pooling: 14×14 from the conv branch, 13×13 from the pool.
    @Test func concatMismatchNamesNodeAndInput() throws {
        let concat = Concat(inputCount: 2)
        do {
            _ = try concat.inferShapes([[1, 320, 14, 14], [1, 256, 13, 13]], node: "ch_concat_3c_chconcat")
            Issue.record("expected a shape error")
        } catch {
            #expect(error.description.contains("ch_concat_3c_chconcat") && error.description.contains("input 1"))
        }
    }

    @Test func flatten() throws {
        let harness = try Harness(Flatten(), data: [2, 3, 4, 5])
        #expect(harness.shapes.outputs[0] == [2, 60])
        try harness.check(tolerance: 0)
    }

    @Test func elementwiseAdd() throws {
        try Harness(ElementwiseAdd(), data: [2, 3, 4], otherShapes: [[2, 3, 4]]).check(tolerance: 0)
        try Harness(ElementwiseAdd(), data: [2, 3, 4], otherShapes: [[2, 3, 4]]).checkReferenceGradient()
        #expect(throws: OperatorError.self) { try ElementwiseAdd().inferShapes([[2, 3], [3, 2]], node: "add") }
    }
}

@Suite struct DropoutTests {
    @Test func trainingMasksAreScaledAndBackwardUsesThem() throws {
        var harness = try Harness(Dropout(probability: 0.3), data: [4, 50, 10])
        let context = KernelContext()
        let kernel = try harness.definition.makeKernel(shapes: harness.shapes, context: context)
        let (outputs, _) = harness.runKernelForward(kernel, isTraining: true)
        let x = harness.arguments[0], y = outputs[0].toArray(), mask = outputs[1].toArray()
        let keep = Float(1 / 0.7)
        #expect(mask.allSatisfy { $0 == 0 || $0 == keep })
        #expect(zip(zip(x, mask), y).allSatisfy { $0.0 * $0.1 == $1 })
        let dropped = Double(mask.filter { $0 == 0 }.count) / Double(mask.count)
        #expect(abs(dropped - 0.3) < 0.03, "dropped fraction \(dropped)")
        // Backward against the reference with the kernel's mask (the harness passes kernel outputs).
        harness.nonDifferentiable = []
        let gradient = Tensor(shape: [4, 50, 10])
        let dy = Tensor(shape: [4, 50, 10], values: (0..<2000).map { Float($0 % 13) })
        kernel.backward(
            BackwardCall(
                outputGradients: [dy], arguments: [Tensor(shape: [4, 50, 10], values: x)],
                outputs: outputs, argumentGradients: [gradient], requests: [.write]))
        #expect(gradient.toArray() == zip(dy.toArray(), mask).map { $0 * $1 })
    }

    @Test func inferenceIsIdentity() throws {
        let harness = try Harness(Dropout(probability: 0.5), data: [3, 7])
        let kernel = try harness.definition.makeKernel(shapes: harness.shapes, context: KernelContext())
        let (outputs, _) = harness.runKernelForward(kernel, isTraining: false)
        #expect(outputs[0].toArray() == harness.arguments[0])
    }

    @Test func sameSeedSameMasks() throws {
        let harness = try Harness(Dropout(probability: 0.5), data: [3, 70])
        func masks(seed: UInt64) throws -> [Float] {
            let context = KernelContext()
            context.randomSeed = seed
            let kernel = try harness.definition.makeKernel(shapes: harness.shapes, context: context)
            return harness.runKernelForward(kernel, isTraining: true).outputs[1].toArray()
        }
        #expect(try masks(seed: 3) == masks(seed: 3))
        #expect(try masks(seed: 3) != masks(seed: 4))
    }

    @Test func referenceGradient() throws {
        try Harness(Dropout(probability: 0.4), data: [3, 8]).checkReferenceGradient()
    }
}

@Suite struct SoftmaxOutputTests {
    static func labels(_ classes: Int) -> (Int, Shape, inout SeededGenerator) -> [Float] {
        { index, shape, generator in
            index == 1
                ? (0..<shape.elementCount).map { _ in Float(generator.next() % UInt64(classes)) }
                : (0..<shape.elementCount).map { _ in generator.nextUnitFloat() * 4 - 2 }
        }
    }

    static let cases: [(String, SoftmaxOutput, Shape)] = [
        ("default", SoftmaxOutput(), [5, 10]),
        ("grad_scale, batch", SoftmaxOutput(gradientScale: 0.5, normalization: .batch), [4, 7]),
        ("ignore, valid", SoftmaxOutput(ignoreLabel: 2, useIgnore: true, normalization: .valid), [8, 3]),
        ("smoothing", SoftmaxOutput(smoothAlpha: 0.1), [3, 6]),
        ("4-D data", SoftmaxOutput(), [2, 5, 1, 1]),
    ]

    @Test(arguments: 0..<cases.count) func kernelMatchesReference(_ index: Int) throws {
        let (_, definition, data) = Self.cases[index]
        var harness = try Harness(definition, data: data, fill: Self.labels(data[1]))
        harness.nonDifferentiable = [1]
        try harness.check(tolerance: 1e-6)
    }

    /// The backward pass is the gradient of grad_scale/norm · Σ cross-entropy, checked by
    /// finite differences of that loss.
    @Test(arguments: 0..<cases.count) func backwardIsCrossEntropyGradient(_ index: Int) throws {
        let (_, definition, data) = Self.cases[index]
        let harness = try Harness(definition, data: data, fill: Self.labels(data[1]))
        let shapes = harness.shapes
        let x = harness.arguments[0].map(Double.init), labels = harness.arguments[1]
        let rows = data[0], classes = data.elementCount / rows
        let norm = labels.withUnsafeBufferPointer { definition.normalizer(labels: $0) }
        func loss(_ values: [Double]) -> Double {
            var aux: [[Double]] = []
            let p = definition.referenceForward(
                [values, labels.map(Double.init)], auxiliary: &aux, shapes: shapes,
                isTraining: true)[0]
            var total = 0.0
            for r in 0..<rows where !definition.isIgnored(Double(labels[r])) {
                for k in 0..<classes {
                    let target =
                        definition.smoothAlpha == 0
                        ? (k == Int(labels[r]) ? 1.0 : 0)
                        : (k == Int(labels[r])
                            ? 1 - definition.smoothAlpha : definition.smoothAlpha / Double(classes - 1))
                    total -= target * log(p[r * classes + k])
                }
            }
            return total * definition.gradientScale / norm
        }
        var aux: [[Double]] = []
        let p = definition.referenceForward(
            [x, labels.map(Double.init)], auxiliary: &aux, shapes: shapes, isTraining: true)
        let analytic = definition.referenceBackward(
            outputGradients: p, arguments: [x, labels.map(Double.init)],
            outputs: p, auxiliary: &aux, shapes: shapes)[0]
        for i in x.indices {
            var plus = x, minus = x
            plus[i] += 1e-5
            minus[i] -= 1e-5
            let numeric = (loss(plus) - loss(minus)) / 2e-5
            #expect(abs(numeric - analytic[i]) < 1e-6, "d/dx[\(i)]: \(numeric) vs \(analytic[i])")
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif

@Suite struct RegistryTests {
    @Test func everySeedOperatorDecodes() throws {
        let nodes: [(String, [String: String])] = [
            ("Convolution", ["kernel": "(3, 3)", "num_filter": "8"]), ("FullyConnected", ["num_hidden": "10"]),
            ("Pooling", ["kernel": "(3, 3)", "pool_type": "avg"]), ("BatchNorm", [:]),
            ("Activation", ["act_type": "relu"]),
            ("LRN", ["nsize": "5"]), ("Dropout", ["p": "0.5"]), ("Concat", ["num_args": "2"]), ("Flatten", [:]),
            ("SoftmaxOutput", [:]), ("elemwise_add", [:]),
        ]
        for (op, attributes) in nodes {
            let definition = try OperatorRegistry.definition(op: op, attributes: attributes, node: "n")
            #expect(type(of: definition).mxnetName == op)
        }
        #expect(throws: OperatorError.self) {
            try OperatorRegistry.definition(op: "Deconvolution", attributes: [:], node: "d")
        }
    }
}
