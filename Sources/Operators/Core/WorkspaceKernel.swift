import CDNNL
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
    private let trainingArguments, inferenceArguments, backwardArguments: [dnnl_exec_arg_t]

    var implementation: String { trainingPrimitive.descriptor.implementationName }
    var workspaceBytes: Int { ownWorkspace?.byteCount ?? 0 }

    /// `hiddenOutput` offers output `index` (of `bytes` bytes) to hold the workspace.
    init(training: PrimitiveDescriptor, inference: PrimitiveDescriptor, backward: PrimitiveDescriptor,
         backwardReadsSource: Bool, hiddenOutput: (index: Int, bytes: Int)?, context: KernelContext) throws {
        self.context = context
        source = try Memory(training.memoryDescriptor(dnnl_query_src_md))
        destination = try Memory(training.memoryDescriptor(dnnl_query_dst_md))
        gradientDestination = try Memory(backward.memoryDescriptor(dnnl_query_diff_dst_md))
        gradientSource = try Memory(backward.memoryDescriptor(dnnl_query_diff_src_md))
        context.reserveScratchpad(bytes: max(training.scratchpadBytes, inference.scratchpadBytes, backward.scratchpadBytes))
        scratchpad = try Memory(MemoryDescriptor.plain([max(1, context.scratchpadBytes / 4)]))
        let workspaceDescriptor = training.memoryDescriptor(dnnl_query_workspace_md)
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
        let workspaceArguments = workspace.map { [argument(DNNL_ARG_WORKSPACE, $0)] } ?? []
        inferenceArguments = [argument(DNNL_ARG_SRC, source), argument(DNNL_ARG_DST, destination),
                              argument(DNNL_ARG_SCRATCHPAD, scratchpad)]
        trainingArguments = inferenceArguments + workspaceArguments
        backwardArguments = [argument(DNNL_ARG_DIFF_DST, gradientDestination), argument(DNNL_ARG_DIFF_SRC, gradientSource),
                             argument(DNNL_ARG_SCRATCHPAD, scratchpad)]
            + (backwardReadsSource ? [argument(DNNL_ARG_SRC, source)] : []) + workspaceArguments
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
