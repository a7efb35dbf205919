import Operators
import TensorCore
import Testing

/// Runs one operator through its oneDNN kernel and its reference kernel and compares them,
/// forward and backward, and checks that `add` requests accumulate exactly.
struct Harness<Definition: OperatorDefinition> {
    let definition: Definition
    let node: String
    let shapes: NodeShapes
    var arguments: [[Float]]
    var auxiliary: [[Float]]
    /// Arguments that get no gradient (labels).
    var nonDifferentiable: Set<Int> = []

    init(
        _ definition: Definition, data: Shape, otherShapes: [Shape?] = [], seed: UInt64 = 1,
        node: String = "node", fill: ((Int, Shape, inout SeededGenerator) -> [Float])? = nil
    ) throws {
        self.definition = definition
        self.node = node
        shapes = try definition.inferShapes([data] + otherShapes, node: node)
        var generator = SeededGenerator(seed: seed)
        arguments = shapes.arguments.enumerated().map { index, shape in
            if let fill { return fill(index, shape, &generator) }
            return (0..<shape.elementCount).map { _ in generator.nextUnitFloat() * 2 - 1 }
        }
        auxiliary = shapes.auxiliary.map { shape in
            (0..<shape.elementCount).map { _ in generator.nextUnitFloat() + 0.5 }
        }
    }

    static func tensors(_ values: [[Float]], _ shapes: [Shape]) -> [Tensor] {
        zip(values, shapes).map { Tensor(shape: $1, values: $0) }
    }

    /// Forward through the kernel; returns the outputs and the auxiliary states after.
    func runKernelForward(_ kernel: any OperatorKernel, isTraining: Bool) -> (outputs: [Tensor], auxiliary: [Tensor]) {
        let args = Self.tensors(arguments, shapes.arguments)
        let outputs = shapes.outputs.map { Tensor(shape: $0) }
        let aux = Self.tensors(auxiliary, shapes.auxiliary)
        kernel.forward(ForwardCall(isTraining: isTraining, arguments: args, outputs: outputs, auxiliary: aux))
        return (outputs, aux)
    }

    /// Compares kernel and reference. `tolerance` is relative to the largest magnitude.
    func check(
        isTraining: Bool = true, tolerance: Float = 1e-4, checkBackward: Bool = true,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let context = KernelContext()
        let kernel = try definition.makeKernel(shapes: shapes, context: context)
        let args = Self.tensors(arguments, shapes.arguments)
        let outputs = shapes.outputs.map { Tensor(shape: $0) }
        let aux = Self.tensors(auxiliary, shapes.auxiliary)
        kernel.forward(ForwardCall(isTraining: isTraining, arguments: args, outputs: outputs, auxiliary: aux))

        var referenceAux = auxiliary.map { $0.map(Double.init) }
        let doubleArgs = arguments.map { $0.map(Double.init) }
        let expected = definition.referenceForward(
            doubleArgs, auxiliary: &referenceAux, shapes: shapes,
            isTraining: isTraining)
        for index in 0..<definition.visibleOutputCount {
            expectClose(
                outputs[index].toArray(), expected[index].map(Float.init), tolerance: tolerance,
                "\(Definition.mxnetName) forward output \(index)", sourceLocation: sourceLocation)
        }
        guard checkBackward else { return }

        var generator = SeededGenerator(seed: 99)
        let outputGradients = (0..<definition.visibleOutputCount).map { index in
            Tensor(
                shape: shapes.outputs[index],
                values: (0..<shapes.outputs[index].elementCount).map { _ in generator.nextUnitFloat() * 2 - 1 })
        }
        let requests: [Request] = shapes.arguments.indices.map { nonDifferentiable.contains($0) ? .skip : .write }
        let gradients: [Tensor?] = shapes.arguments.indices.map {
            nonDifferentiable.contains($0) ? nil : Tensor(shape: shapes.arguments[$0])
        }
        kernel.backward(
            BackwardCall(
                outputGradients: outputGradients, arguments: args, outputs: outputs,
                auxiliary: aux, argumentGradients: gradients, requests: requests))
        // The reference sees the kernel's hidden outputs (dropout mask, batch statistics).
        let doubleOutputs = outputs.map { $0.toArray().map(Double.init) }
        let expectedGradients = definition.referenceBackward(
            outputGradients: outputGradients.map { $0.toArray().map(Double.init) }, arguments: doubleArgs,
            outputs: doubleOutputs, auxiliary: &referenceAux, shapes: shapes)
        for index in shapes.arguments.indices where !nonDifferentiable.contains(index) {
            expectClose(
                gradients[index]!.toArray(), expectedGradients[index].map(Float.init), tolerance: tolerance,
                "\(Definition.mxnetName) gradient of \(definition.argumentNames[index])",
                sourceLocation: sourceLocation)
        }

        // `add` must give exactly prefill + the written gradient.
        let prefilled: [Tensor?] = shapes.arguments.indices.map { index in
            guard !nonDifferentiable.contains(index) else { return nil }
            return Tensor(
                shape: shapes.arguments[index],
                values: (0..<shapes.arguments[index].elementCount).map { Float($0 % 7) - 3 })
        }
        let addRequests: [Request] = requests.map { $0 == .skip ? .skip : .add }
        let freshOutputs = shapes.outputs.map { Tensor(shape: $0) }
        let freshAux = Self.tensors(auxiliary, shapes.auxiliary)
        kernel.forward(ForwardCall(isTraining: isTraining, arguments: args, outputs: freshOutputs, auxiliary: freshAux))
        kernel.backward(
            BackwardCall(
                outputGradients: outputGradients, arguments: args, outputs: freshOutputs,
                auxiliary: freshAux, argumentGradients: prefilled, requests: addRequests))
        for index in shapes.arguments.indices where !nonDifferentiable.contains(index) {
            let written = gradients[index]!.toArray()
            let base = (0..<written.count).map { Float($0 % 7) - 3 }
            let sum = zip(base, written).map { $0 + $1 }
            let added = prefilled[index]!.toArray()
            let exact = zip(sum, added).allSatisfy { $0 == $1 }
            // Stochastic operators draw a new mask each forward, so they are compared with tolerance.
            if Definition.mxnetName == "Dropout" { continue }
            #expect(
                exact, "\(Definition.mxnetName) add request on \(definition.argumentNames[index]) is not exact",
                sourceLocation: sourceLocation)
        }
    }

    /// Central finite differences of the reference forward (in Double) against the reference
    /// backward, for the loss `sum(output₀ · G)` with a fixed random G.
    func checkReferenceGradient(
        isTraining: Bool = true, step: Double = 1e-5, tolerance: Double = 1e-6,
        maxProbes: Int = 24, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let args = arguments.map { $0.map(Double.init) }
        var generator = SeededGenerator(seed: 7)
        let weights = (0..<shapes.outputs[0].elementCount).map { _ in Double(generator.nextUnitFloat()) * 2 - 1 }
        func loss(_ values: [[Double]]) -> Double {
            var aux = auxiliary.map { $0.map(Double.init) }
            let out = definition.referenceForward(values, auxiliary: &aux, shapes: shapes, isTraining: isTraining)
            return zip(out[0], weights).reduce(0) { $0 + $1.0 * $1.1 }
        }
        var aux = auxiliary.map { $0.map(Double.init) }
        let outputs = definition.referenceForward(args, auxiliary: &aux, shapes: shapes, isTraining: isTraining)
        var outputGradients = [weights]
        for index in 1..<definition.visibleOutputCount {
            outputGradients.append([Double](repeating: 0, count: shapes.outputs[index].elementCount))
        }
        let analytic = definition.referenceBackward(
            outputGradients: outputGradients, arguments: args,
            outputs: outputs, auxiliary: &aux, shapes: shapes)
        for index in args.indices where !nonDifferentiable.contains(index) {
            let count = args[index].count
            let probes =
                count <= maxProbes
                ? Array(0..<count)
                : (0..<maxProbes).map { _ in Int(generator.next() % UInt64(count)) }
            for position in probes {
                var plus = args, minus = args
                plus[index][position] += step
                minus[index][position] -= step
                let numeric = (loss(plus) - loss(minus)) / (2 * step)
                let error = abs(numeric - analytic[index][position]) / max(1, abs(numeric))
                #expect(
                    error < tolerance,
                    "\(Definition.mxnetName) d/d\(definition.argumentNames[index])[\(position)]: numeric \(numeric) vs analytic \(analytic[index][position])",
                    sourceLocation: sourceLocation)
            }
        }
    }
}

func expectClose(
    _ actual: [Float], _ expected: [Float], tolerance: Float, _ what: String,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(
        actual.count == expected.count, "\(what): \(actual.count) values, expected \(expected.count)",
        sourceLocation: sourceLocation)
    guard actual.count == expected.count else { return }
    let scale = max(1, expected.reduce(0) { max($0, abs($1)) })
    var worst: Float = 0, worstIndex = 0
    for i in actual.indices {
        let error = abs(actual[i] - expected[i]) / scale
        if !(error <= worst) { worst = error; worstIndex = i }
    }
    #expect(
        worst <= tolerance,
        "\(what): max relative error \(worst) at \(worstIndex): \(actual[worstIndex]) vs \(expected[worstIndex])",
        sourceLocation: sourceLocation)
}

extension Harness {
    /// The operator's bfloat16 path (activations and their gradients bfloat16, parameters
    /// and their gradients float32, as the executor binds it) against the Double reference
    /// on the same, bfloat16-rounded activations. `tolerance` is relative to the largest
    /// magnitude: bfloat16 keeps 8 bits, so one rounding is 0.4%. Returns false, after
    /// checking that the CPU lacks AVX-512, where oneDNN has no bfloat16 kernel.
    @discardableResult
    func checkBFloat16(
        isTraining: Bool = true, tolerance: Float = 2e-2, checkBackward: Bool = true,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> Bool {
        var typed = shapes
        let activation = definition.activationType(computing: .bfloat16)
        typed.argumentTypes = definition.argumentRoles.map { $0 == .data ? activation : .float32 }
        typed.outputTypes = definition.outputTypes(activationType: activation)
        typed.computeType = .bfloat16
        let kernel: any OperatorKernel
        do {
            kernel = try definition.makeKernel(shapes: typed, context: KernelContext())
        } catch {
            #expect(
                !DNNLInfo.isAVX512, "no bfloat16 kernel on an AVX-512 CPU: \(error)", sourceLocation: sourceLocation)
            return false
        }
        let args = zip(arguments, typed.arguments.indices).map { values, index in
            let tensor = Tensor(shape: typed.arguments[index], dataType: typed.type(ofArgument: index))
            tensor.copy(from: values)
            return tensor
        }
        let outputs = typed.outputs.indices.map { Tensor(shape: typed.outputs[$0], dataType: typed.type(ofOutput: $0)) }
        let aux = Self.tensors(auxiliary, typed.auxiliary)
        kernel.forward(ForwardCall(isTraining: isTraining, arguments: args, outputs: outputs, auxiliary: aux))
        var referenceAux = auxiliary.map { $0.map(Double.init) }
        let rounded = args.map { $0.toArray().map(Double.init) }
        let expected = definition.referenceForward(
            rounded, auxiliary: &referenceAux, shapes: shapes, isTraining: isTraining)
        for index in 0..<definition.visibleOutputCount {
            expectClose(
                outputs[index].toArray(), expected[index].map(Float.init), tolerance: tolerance,
                "\(Definition.mxnetName) bfloat16 forward output \(index)", sourceLocation: sourceLocation)
        }
        guard checkBackward else { return true }
        var generator = SeededGenerator(seed: 99)
        let outputGradients = (0..<definition.visibleOutputCount).map { index in
            let tensor = Tensor(shape: typed.outputs[index], dataType: typed.type(ofOutput: index))
            tensor.copy(from: (0..<typed.outputs[index].elementCount).map { _ in generator.nextUnitFloat() * 2 - 1 })
            return tensor
        }
        let gradients: [Tensor?] = typed.arguments.indices.map {
            nonDifferentiable.contains($0)
                ? nil : Tensor(shape: typed.arguments[$0], dataType: typed.type(ofArgument: $0))
        }
        kernel.backward(
            BackwardCall(
                outputGradients: outputGradients, arguments: args, outputs: outputs, auxiliary: aux,
                argumentGradients: gradients,
                requests: typed.arguments.indices.map { nonDifferentiable.contains($0) ? .skip : .write }))
        let expectedGradients = definition.referenceBackward(
            outputGradients: outputGradients.map { $0.toArray().map(Double.init) }, arguments: rounded,
            outputs: outputs.map { $0.toArray().map(Double.init) }, auxiliary: &referenceAux, shapes: shapes)
        for index in typed.arguments.indices where !nonDifferentiable.contains(index) {
            expectClose(
                gradients[index]!.toArray(), expectedGradients[index].map(Float.init), tolerance: tolerance,
                "\(Definition.mxnetName) bfloat16 gradient of \(definition.argumentNames[index])",
                sourceLocation: sourceLocation)
        }
        return true
    }
}
