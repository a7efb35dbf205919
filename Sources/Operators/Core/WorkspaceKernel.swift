import DNNL
import TensorCore

/// The oneDNN kernel of a one-input, one-output operator whose backward may read a
/// workspace that forward training writes (Pooling's argmax, LRN's norms): training,
/// inference and backward primitives built once. The workspace lives in a hidden output of
/// the node when there is one large enough (so the memory planner sees it), otherwise in
/// a buffer the kernel owns.
final class WorkspaceKernel: OperatorKernel {
    private let context: KernelContext
    private let trainingPrimitive, inferencePrimitive, backwardPrimitive: Primitive
    private let source, destination, gradientDestination, gradientSource, scratchpad: Memory
    private let workspace: Memory?
    private let ownWorkspace: Tensor?
    /// Index of the hidden output holding the workspace, when it does.
    private let workspaceOutput: Int?
    private let outputTarget = RequestTarget(slot: 0), dataTarget = RequestTarget(slot: 0)
    private let trainingArguments, inferenceArguments, backwardArguments: PrimitiveArguments

    var implementation: String { trainingPrimitive.descriptor.implementationName }
    var workspaceBytes: Int { ownWorkspace?.byteCount ?? 0 }

    /// `hiddenOutput` offers output `index` (of `bytes` bytes) to hold the workspace.
    init(
        training: PrimitiveDescriptor, inference: PrimitiveDescriptor, backward: PrimitiveDescriptor,
        backwardReadsSource: Bool, hiddenOutput: (index: Int, bytes: Int)?, context: KernelContext
    ) throws {
        self.context = context
        source = try Memory(training.memoryDescriptor(.source))
        destination = try Memory(training.memoryDescriptor(.destination))
        gradientDestination = try Memory(backward.memoryDescriptor(.diffDestination))
        gradientSource = try Memory(backward.memoryDescriptor(.diffSource))
        context.reserveScratchpad(
            bytes: max(training.scratchpadBytes, inference.scratchpadBytes, backward.scratchpadBytes))
        scratchpad = try Memory(MemoryDescriptor.plain([max(1, context.scratchpadBytes / 4)]))
        let workspaceDescriptor = training.memoryDescriptor(.workspace)
        if workspaceDescriptor.byteCount == 0 {
            workspace = nil
            ownWorkspace = nil
            workspaceOutput = nil
        } else if let hiddenOutput, workspaceDescriptor.byteCount <= hiddenOutput.bytes {
            workspace = try Memory(workspaceDescriptor)
            ownWorkspace = nil
            workspaceOutput = hiddenOutput.index
        } else {
            let buffer = Tensor(shape: [(workspaceDescriptor.byteCount + 3) / 4])
            workspace = try Memory(workspaceDescriptor, pointer: buffer.rawPointer)
            ownWorkspace = buffer
            workspaceOutput = nil
        }
        trainingPrimitive = try Primitive(training)
        inferencePrimitive = try Primitive(inference)
        backwardPrimitive = try Primitive(backward)
        var workspaceArguments = PrimitiveArguments()
        if let workspace { workspaceArguments.append(.workspace, workspace) }
        inferenceArguments = PrimitiveArguments([.source: source, .destination: destination, .scratchpad: scratchpad])
        trainingArguments = inferenceArguments + workspaceArguments
        var backwardArguments = PrimitiveArguments([
            .diffDestination: gradientDestination, .diffSource: gradientSource,
            .scratchpad: scratchpad,
        ])
        if backwardReadsSource { backwardArguments.append(.source, source) }
        self.backwardArguments = backwardArguments + workspaceArguments
    }

    private func bindWorkspace(_ outputs: [Tensor]) {
        if let workspaceOutput, let workspace { workspace.bind(outputs[workspaceOutput].rawPointer) }
    }

    func forward(_ call: ForwardCall) {
        let request = call.requests[0]
        guard request != .skip else { return }
        scratchpad.bind(context.scratchpadPointer)
        source.bind(call.arguments[0].rawPointer)
        destination.bind(outputTarget.pointer(for: call.outputs[0], request: request, in: context))
        if call.isTraining {
            bindWorkspace(call.outputs)
            trainingPrimitive.execute(trainingArguments, on: context.stream)
        } else {
            inferencePrimitive.execute(inferenceArguments, on: context.stream)
        }
        outputTarget.complete(call.outputs[0], request: request, in: context)
    }

    func backward(_ call: BackwardCall) {
        let request = call.requests[0]
        guard request != .skip, let gradient = call.argumentGradients[0] else { return }
        scratchpad.bind(context.scratchpadPointer)
        source.bind(call.arguments[0].rawPointer)
        bindWorkspace(call.outputs)
        gradientDestination.bind(call.outputGradients[0].rawPointer)
        gradientSource.bind(dataTarget.pointer(for: gradient, request: request, in: context))
        backwardPrimitive.execute(backwardArguments, on: context.stream)
        dataTarget.complete(gradient, request: request, in: context)
    }
}
