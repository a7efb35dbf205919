import TensorCore
import Testing

@testable import Operators

@Suite struct ConvolutionTests {
    static let cases: [(String, Convolution, Shape)] = [
        ("3x3 pad 1", Convolution(kernel: [3, 3], filterCount: 8, pad: [1, 1]), [2, 5, 7, 6]),
        ("1x1", Convolution(kernel: [1, 1], filterCount: 17), [1, 19, 4, 5]),
        ("stride > kernel", Convolution(kernel: [2, 2], filterCount: 3, stride: [3, 3]), [2, 3, 8, 7]),
        (
            "5x3 stride 2 pad", Convolution(kernel: [5, 3], filterCount: 6, stride: [2, 1], pad: [2, 1]), [1, 4, 9, 7]
        ),
        ("groups", Convolution(kernel: [3, 3], filterCount: 6, pad: [1, 1], groupCount: 3), [2, 9, 5, 5]),
        (
            "dilate no bias",
            Convolution(kernel: [3, 3], filterCount: 4, pad: [2, 2], dilate: [2, 2], hasBias: false), [1, 3, 7, 7]
        ),
        ("alexnet conv1 shape", Convolution(kernel: [11, 11], filterCount: 5, stride: [4, 4]), [1, 3, 27, 27]),
    ]

    @Test(arguments: 0..<cases.count)
    func kernelMatchesReference(_ index: Int) throws {
        let (_, definition, data) = Self.cases[index]
        try Harness(definition, data: data).check()
    }

    @Test(arguments: 0..<cases.count)
    func referenceGradientMatchesFiniteDifferences(_ index: Int) throws {
        let (_, definition, data) = Self.cases[index]
        try Harness(definition, data: data).checkReferenceGradient()
    }

    @Test func attributesParseEverySpelling() throws {
        let conv = try Convolution(
            attributes: [
                "kernel": "[3,3]", "num_filter": "64", "stride": "(2, 2)",
                "pad": "1", "no_bias": "true", "num_group": "1",
            ], node: "c")
        #expect(conv.kernel == [3, 3] && conv.stride == [2, 2] && conv.pad == [1, 1] && !conv.hasBias)
        #expect(throws: OperatorError.self) { try Convolution(attributes: ["num_filter": "4"], node: "c") }
    }

    @Test func alexNetConv1Size() throws {
        let conv = try Convolution(
            attributes: ["kernel": "(11, 11)", "stride": "(4, 4)", "num_filter": "96"], node: "conv1")
        let shapes = try conv.inferShapes([[64, 3, 224, 224]], node: "conv1")
        #expect(shapes.outputs[0] == [64, 96, 54, 54])
        #expect(shapes.arguments[1] == [96, 3, 11, 11])
        #expect(shapes.arguments[2] == [96])
    }

    @Test func mismatchedWeightNamesNodeAndArgument() throws {
        let conv = Convolution(kernel: [3, 3], filterCount: 8)
        do {
            _ = try conv.inferShapes([[1, 4, 8, 8], [8, 3, 3, 3]], node: "conv2")
            Issue.record("expected a shape error")
        } catch {
            #expect(
                error.description.contains("conv2") && error.description.contains("weight")
                    && error.description.contains("(8, 4, 3, 3)"))
        }
    }
}

@Suite struct RequestTests {
    /// A skipped gradient is left untouched while the others are computed.
    @Test func skippedWeightGradientIsUntouched() throws {
        let harness = try Harness(Convolution(kernel: [3, 3], filterCount: 4, pad: [1, 1]), data: [2, 3, 5, 5])
        let shapes = harness.shapes
        let kernel = try harness.definition.makeKernel(shapes: shapes, context: KernelContext())
        let (outputs, _) = harness.runKernelForward(kernel, isTraining: true)
        let arguments = Harness<Convolution>.tensors(harness.arguments, shapes.arguments)
        let sentinel = Tensor(shape: shapes.arguments[1])
        sentinel.fill(7)
        let biasGradient = Tensor(shape: [4])
        let outputGradient = Tensor(
            shape: shapes.outputs[0], values: (0..<shapes.outputs[0].elementCount).map { Float($0 % 5) })
        kernel.backward(
            BackwardCall(
                outputGradients: [outputGradient], arguments: arguments, outputs: outputs,
                argumentGradients: [nil, sentinel, biasGradient], requests: [.skip, .skip, .write]))
        #expect(sentinel.toArray().allSatisfy { $0 == 7 })
        var aux: [[Double]] = []
        let expected = harness.definition.referenceBackward(
            outputGradients: [outputGradient.toArray().map(Double.init)],
            arguments: harness.arguments.map { $0.map(Double.init) },
            outputs: [], auxiliary: &aux, shapes: shapes)
        expectClose(biasGradient.toArray(), expected[2].map(Float.init), tolerance: 1e-5, "bias gradient")
    }
}
