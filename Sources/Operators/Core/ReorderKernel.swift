import DNNL
import TensorCore

/// A one-input operator that is a change of representation (layout or element type): a
/// oneDNN reorder from the argument's descriptor to the output's forward, and back for
/// the gradient. Flatten of a blocked activation and Cast are this.
final class ReorderKernel: OperatorKernel {
    private let context: KernelContext
    private let forwardReorder, backwardReorder: Reorder
    private let outputTarget = RequestTarget(slot: 0), dataTarget = RequestTarget(slot: 0)

    var implementation: String { "reorder" }

    init(from argument: MemoryDescriptor, to output: MemoryDescriptor, context: KernelContext) throws {
        self.context = context
        forwardReorder = try Reorder(from: argument, to: output)
        backwardReorder = try Reorder(from: output, to: argument)
    }

    func forward(_ call: ForwardCall) {
        let request = call.requests[0]
        guard request != .skip else { return }
        let target = outputTarget.pointer(for: call.outputs[0], request: request, in: context)
        forwardReorder.run(from: call.arguments[0].rawPointer, to: target, on: context.stream)
        outputTarget.complete(call.outputs[0], request: request, in: context)
    }

    func backward(_ call: BackwardCall) {
        let request = call.requests[0]
        guard request != .skip, let gradient = call.argumentGradients[0] else { return }
        let target = dataTarget.pointer(for: gradient, request: request, in: context)
        backwardReorder.run(from: call.outputGradients[0].rawPointer, to: target, on: context.stream)
        dataTarget.complete(gradient, request: request, in: context)
    }
}
