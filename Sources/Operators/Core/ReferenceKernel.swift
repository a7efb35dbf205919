import DNNL
import TensorCore

/// Runs an operator's plain Swift reference kernel in float32: the fallback where oneDNN
/// has no implementation that matches MXNet's semantics (logged once per node). Slow, and
/// it allocates per call; it exists for correctness, not speed.
final class ReferenceKernel<Definition: OperatorDefinition>: OperatorKernel {
    private let definition: Definition
    private let shapes: NodeShapes

    var implementation: String { "reference" }

    init(_ definition: Definition, shapes: NodeShapes) {
        self.definition = definition
        self.shapes = shapes
    }

    func forward(_ call: ForwardCall) {
        var auxiliary = call.auxiliary.map { $0.toArray() }
        let outputs = definition.referenceForward(
            call.arguments.map { $0.toArray() }, auxiliary: &auxiliary,
            shapes: shapes, isTraining: call.isTraining)
        for (index, values) in outputs.enumerated() where call.requests[index] != .skip {
            write(values, to: call.outputs[index], request: call.requests[index])
        }
        for (tensor, values) in zip(call.auxiliary, auxiliary) { tensor.copy(from: values) }
    }

    func backward(_ call: BackwardCall) {
        var auxiliary = call.auxiliary.map { $0.toArray() }
        let gradients = definition.referenceBackward(
            outputGradients: call.outputGradients.map { $0.toArray() }, arguments: call.arguments.map { $0.toArray() },
            outputs: call.outputs.map { $0.toArray() }, auxiliary: &auxiliary, shapes: shapes)
        for (index, values) in gradients.enumerated() {
            guard call.requests[index] != .skip, let destination = call.argumentGradients[index] else { continue }
            write(values, to: destination, request: call.requests[index])
        }
        for (tensor, values) in zip(call.auxiliary, auxiliary) { tensor.copy(from: values) }
    }

    private func write(_ values: [Float], to tensor: Tensor, request: Request) {
        let destination = tensor.floats
        for i in values.indices { store(request, destination, i, values[i]) }
    }
}

/// Builds the oneDNN kernel, or, where oneDNN has no implementation for these shapes,
/// logs it once for the node and returns the reference kernel.
func oneDNNOrReference<Definition: OperatorDefinition>(
    _ definition: Definition, shapes: NodeShapes, context: KernelContext, _ make: () throws -> any OperatorKernel
) throws -> any OperatorKernel {
    do {
        return try make()
    } catch let error as DNNLError {
        // The reference kernels compute in float32 on float32 tensors.
        guard (shapes.argumentTypes + shapes.outputTypes).allSatisfy({ $0 == .float32 }) else { throw error }
        context.noteFallback(node: "\(Definition.mxnetName) \(shapes.arguments[0])", reason: error.description)
        return ReferenceKernel(definition, shapes: shapes)
    }
}
