import TensorCore
import Testing

@testable import Operators

@Suite struct FullyConnectedTests {
    static let cases: [(FullyConnected, Shape)] = [
        (FullyConnected(hiddenCount: 7), [3, 10]),
        (FullyConnected(hiddenCount: 5), [2, 3, 2, 3]),  // flattened
        (FullyConnected(hiddenCount: 17, hasBias: false), [1, 19]),
        (FullyConnected(hiddenCount: 4, flatten: false), [2, 3, 6]),
    ]

    @Test(arguments: 0..<cases.count) func kernelMatchesReference(_ index: Int) throws {
        try Harness(Self.cases[index].0, data: Self.cases[index].1).check()
    }

    @Test(arguments: 0..<cases.count) func referenceGradient(_ index: Int) throws {
        try Harness(Self.cases[index].0, data: Self.cases[index].1).checkReferenceGradient()
    }

    @Test func alexNetFc6TakesFullPoolOutput() throws {
        let fc = try FullyConnected(attributes: ["num_hidden": "4096"], node: "fc6")
        let shapes = try fc.inferShapes([[64, 256, 6, 6]], node: "fc6")
        #expect(shapes.arguments[1] == [4096, 9216] && shapes.outputs[0] == [64, 4096])
    }
}

@Suite struct ActivationTests {
    @Test(arguments: Activation.Kind.allCases) func kernelMatchesReference(_ kind: Activation.Kind) throws {
        try Harness(Activation(kind), data: [2, 3, 5, 7]).check(tolerance: 2e-5)
    }

    @Test(arguments: Activation.Kind.allCases) func referenceGradient(_ kind: Activation.Kind) throws {
        // Keep relu probes away from the kink at 0.
        try Harness(
            Activation(kind), data: [2, 3, 4],
            fill: { _, shape, generator in
                (0..<shape.elementCount).map { _ in
                    let v = generator.nextUnitFloat() * 2 - 1
                    return v < 0 ? v - 0.05 : v + 0.05
                }
            }
        ).checkReferenceGradient()
    }

    @Test func reluRunsInPlace() throws {
        let definition = Activation(.relu)
        let context = KernelContext()
        let shapes = try definition.inferShapes([[4, 5]], node: "relu")
        let kernel = try definition.makeKernel(shapes: shapes, context: context)
        let values: [Float] = (0..<20).map { Float($0) - 10 }
        let tensor = Tensor(shape: [4, 5], values: values)
        kernel.forward(ForwardCall(isTraining: true, arguments: [tensor], outputs: [tensor], requests: [.inPlace]))
        #expect(tensor.toArray() == values.map { max($0, 0) })
    }

    @Test func unknownActTypeIsNamed() {
        #expect(throws: OperatorError.self) { try Activation(attributes: ["act_type": "gelu"], node: "a") }
    }
}

@Suite struct PoolingTests {
    static let cases: [(String, Pooling, Shape)] = [
        ("max 3/2 valid", Pooling(.max, kernel: [3, 3], stride: [2, 2]), [2, 3, 9, 8]),
        ("max 3/2 full overhang", Pooling(.max, kernel: [3, 3], stride: [2, 2], convention: .full), [1, 5, 8, 10]),
        ("max pad", Pooling(.max, kernel: [3, 3], stride: [1, 1], pad: [1, 1]), [2, 3, 5, 6]),
        ("max stride > kernel", Pooling(.max, kernel: [2, 2], stride: [3, 3]), [1, 2, 8, 7]),
        ("avg include pad", Pooling(.avg, kernel: [3, 3], stride: [1, 1], pad: [1, 1]), [2, 3, 5, 5]),
        (
            "avg exclude pad", Pooling(.avg, kernel: [3, 3], stride: [2, 2], pad: [1, 1], countIncludesPad: false),
            [1, 3, 7, 6]
        ),
        ("avg full overhang", Pooling(.avg, kernel: [3, 3], stride: [2, 2], convention: .full), [2, 2, 8, 8]),
        (
            "avg full overhang + pad (reference)",
            Pooling(.avg, kernel: [3, 3], stride: [2, 2], pad: [1, 1], convention: .full), [1, 2, 8, 8]
        ),
        ("sum (reference)", Pooling(.sum, kernel: [2, 2], stride: [2, 2]), [1, 3, 6, 6]),
        ("global avg", Pooling(.avg, kernel: [7, 7], isGlobal: true), [2, 17, 7, 7]),
        ("global max", Pooling(.max, kernel: [1, 1], isGlobal: true), [1, 5, 4, 3]),
        ("same", Pooling(.max, kernel: [3, 3], stride: [2, 2], convention: .same), [1, 2, 7, 8]),
    ]

    @Test(arguments: 0..<cases.count) func kernelMatchesReference(_ index: Int) throws {
        try Harness(Self.cases[index].1, data: Self.cases[index].2).check(tolerance: 2e-6)
    }

    @Test(arguments: 0..<cases.count) func referenceGradient(_ index: Int) throws {
        try Harness(Self.cases[index].1, data: Self.cases[index].2).checkReferenceGradient()
    }

    /// d.5: AlexNet conv1 gives 54 on a 224 input; pool1 (3/2) gives 27 under `full`, 26 under `valid`.
    @Test func alexNetPool1Sizes() throws {
        let conv = try Convolution(
            attributes: ["kernel": "(11, 11)", "stride": "(4, 4)", "num_filter": "96"], node: "conv1")
        let conv1 = try conv.inferShapes([[1, 3, 224, 224]], node: "conv1").outputs[0]
        #expect(conv1[2] == 54)
        let full = try Pooling(
            attributes: [
                "kernel": "(3, 3)", "stride": "(2, 2)", "pool_type": "max",
                "pooling_convention": "full",
            ], node: "pool1")
        let valid = try Pooling(
            attributes: ["kernel": "(3, 3)", "stride": "(2, 2)", "pool_type": "max"], node: "pool1")
        #expect(try full.inferShapes([conv1], node: "pool1").outputs[0][2] == 27)
        #expect(try valid.inferShapes([conv1], node: "pool1").outputs[0][2] == 26)
        // 227 input: conv1 55, both conventions 27.
        let conv1on227 = try conv.inferShapes([[1, 3, 227, 227]], node: "conv1").outputs[0]
        #expect(conv1on227[2] == 55)
        #expect(try valid.inferShapes([conv1on227], node: "pool1").outputs[0][2] == 27)
    }
}
