import TensorCore
import Testing

@testable import Operators

@Suite struct BatchNormTests {
    static let cases: [(String, BatchNorm, Shape)] = [
        ("learned gamma", BatchNorm(epsilon: 1e-3, fixGamma: false), [3, 5, 4, 3]),
        ("fix gamma", BatchNorm(epsilon: 1e-3, fixGamma: true), [2, 17, 3, 3]),
        ("2015 eps", BatchNorm(epsilon: 1e-10, momentum: 0.1, fixGamma: false), [4, 3, 2, 5]),
        ("2-D data", BatchNorm(fixGamma: false), [6, 7]),
        ("global stats", BatchNorm(fixGamma: false, useGlobalStats: true), [2, 4, 3, 3]),
        ("batch 1", BatchNorm(fixGamma: false), [1, 3, 5, 5]),
    ]

    @Test(arguments: 0..<cases.count) func kernelMatchesReference(_ index: Int) throws {
        try Harness(Self.cases[index].1, data: Self.cases[index].2).check(tolerance: 1e-4)
    }

    @Test(arguments: 0..<cases.count) func inferenceMatchesReference(_ index: Int) throws {
        try Harness(Self.cases[index].1, data: Self.cases[index].2).check(isTraining: false, checkBackward: false)
    }

    @Test(arguments: 0..<cases.count) func referenceGradient(_ index: Int) throws {
        try Harness(Self.cases[index].1, data: Self.cases[index].2).checkReferenceGradient(tolerance: 1e-5)
    }

    /// d.6: moving = momentum·moving + (1 − momentum)·batch statistic (biased variance),
    /// applied in backward; a forward-only pass leaves them unchanged.
    @Test func movingStatisticsFollowMXNet() throws {
        let definition = BatchNorm(momentum: 0.9, fixGamma: false)
        let shapes = try definition.inferShapes([[4, 3, 2, 2]], node: "bn")
        let kernel = try definition.makeKernel(shapes: shapes, context: KernelContext())
        let gamma = Tensor(shape: [3], values: [1, 2, 3]), beta = Tensor(shape: [3])
        let movingMean = Tensor(shape: [3]), movingVariance = Tensor(shape: [3])
        movingVariance.fill(1)
        var expectedMean = [Double](repeating: 0, count: 3), expectedVariance = [Double](repeating: 1, count: 3)
        var generator = SeededGenerator(seed: 5)
        for step in 0..<4 {
            let data = Tensor(shape: [4, 3, 2, 2])
            data.fillNormal(mean: Float(step), standardDeviation: 2, using: &generator)
            let outputs = shapes.outputs.map { Tensor(shape: $0) }
            kernel.forward(
                ForwardCall(
                    isTraining: true, arguments: [data, gamma, beta], outputs: outputs,
                    auxiliary: [movingMean, movingVariance]))
            #expect(movingMean.toArray().map(Double.init) == expectedMean.map { Double(Float($0)) } || step > 0)
            let gradient = Tensor(shape: [4, 3, 2, 2])
            kernel.backward(
                BackwardCall(
                    outputGradients: [gradient], arguments: [data, gamma, beta], outputs: outputs,
                    auxiliary: [movingMean, movingVariance],
                    argumentGradients: [Tensor(shape: [4, 3, 2, 2]), Tensor(shape: [3]), Tensor(shape: [3])],
                    requests: [.write, .write, .write]))
            let values = data.toArray().map(Double.init)
            for c in 0..<3 {
                let channel = (0..<4).flatMap { n in (0..<4).map { values[(n * 3 + c) * 4 + $0] } }
                let mean = channel.reduce(0, +) / 16
                let variance = channel.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 16
                expectedMean[c] = 0.9 * expectedMean[c] + 0.1 * mean
                expectedVariance[c] = 0.9 * expectedVariance[c] + 0.1 * variance
            }
            expectClose(movingMean.toArray(), expectedMean.map(Float.init), tolerance: 1e-5, "moving mean step \(step)")
            expectClose(
                movingVariance.toArray(), expectedVariance.map(Float.init), tolerance: 1e-5,
                "moving var step \(step)")
        }
    }

    @Test func fixGammaGivesZeroGammaGradientAndLeavesGamma() throws {
        var harness = try Harness(BatchNorm(fixGamma: true), data: [2, 3, 2, 2])
        harness.arguments[1] = [5, 6, 7]
        try harness.check()
        let shapes = harness.shapes
        let kernel = try harness.definition.makeKernel(shapes: shapes, context: KernelContext())
        let args = Harness<BatchNorm>.tensors(harness.arguments, shapes.arguments)
        let outputs = shapes.outputs.map { Tensor(shape: $0) }
        let aux = Harness<BatchNorm>.tensors(harness.auxiliary, shapes.auxiliary)
        kernel.forward(ForwardCall(isTraining: true, arguments: args, outputs: outputs, auxiliary: aux))
        let gammaGradient = Tensor(shape: [3])
        gammaGradient.fill(9)
        kernel.backward(
            BackwardCall(
                outputGradients: [Tensor(shape: [2, 3, 2, 2], values: (0..<24).map(Float.init))],
                arguments: args, outputs: outputs, auxiliary: aux,
                argumentGradients: [Tensor(shape: [2, 3, 2, 2]), gammaGradient, Tensor(shape: [3])],
                requests: [.write, .write, .write]))
        #expect(gammaGradient.toArray() == [0, 0, 0])
        #expect(args[1].toArray() == [5, 6, 7])
    }
}

@Suite struct LRNTests {
    static let cases: [(LRN, Shape)] = [
        (LRN(size: 5, alpha: 1e-4, beta: 0.75, knorm: 2), [2, 7, 3, 3]),
        (LRN(size: 5, alpha: 0.5, beta: 0.75, knorm: 1), [1, 17, 4, 5]),  // seed AlexNet knorm, strong alpha
        (LRN(size: 3, alpha: 0.3, beta: 0.5, knorm: 1), [2, 2, 3, 3]),  // window wider than the channels
        (LRN(size: 4, alpha: 0.2, beta: 0.75, knorm: 2), [1, 6, 2, 2]),  // even window: reference kernel
    ]

    @Test(arguments: 0..<cases.count) func kernelMatchesReference(_ index: Int) throws {
        try Harness(Self.cases[index].0, data: Self.cases[index].1).check(tolerance: 2e-5)
    }

    @Test(arguments: 0..<cases.count) func referenceGradient(_ index: Int) throws {
        try Harness(Self.cases[index].0, data: Self.cases[index].1).checkReferenceGradient()
    }
}

@Suite struct FusedBatchNormReLUTests {
    /// BatchNorm with its ReLU fused (training fusion): oneDNN kernel against the reference,
    /// forward and backward, and the reference by finite differences.
    @Test func fusedReLU() throws {
        var definition = BatchNorm(fixGamma: false)
        definition.fusedReLU = true
        try Harness(definition, data: [4, 16, 3, 3]).check(tolerance: 1e-4)
        try Harness(definition, data: [4, 16, 3, 3]).checkReferenceGradient(tolerance: 1e-5)
        try Harness(definition, data: [4, 16, 3, 3]).checkBFloat16()
        let relu = try #require(
            BatchNorm(fixGamma: false).fusedForTraining(followedBy: Activation(.relu)) as? BatchNorm)
        #expect(relu.fusedReLU)
        #expect(BatchNorm(fixGamma: false).fusedForTraining(followedBy: Activation(.tanh)) == nil)
        #expect(BatchNorm(useGlobalStats: true).fusedForTraining(followedBy: Activation(.relu)) == nil)
    }
}
