import CDNNL
import DNNL
import Foundation
import Operators
import TensorCore

/// The memory-bound operators timed on their oneDNN primitives in each candidate layout of
/// the executor: plain NCHW (`abcd`), NHWC (`acdb`) and the blocked layout the convolutions
/// pick on this machine (`aBcd8b` with AVX2, `aBcd16b` with AVX-512).
func benchLayouts(blockedFormat: String, batch n: Int, runs: Int, runSeconds: Double,
                  selected: (String) -> Bool) throws -> [OperatorResult] {
    var layouts: [(String, dnnl_format_tag_t)] = [("abcd", dnnl_abcd), ("acdb", dnnl_acdb)]
    switch blockedFormat {
    case "aBcd8b": layouts.append(("aBcd8b", dnnl_aBcd8b))
    case "aBcd16b": layouts.append(("aBcd16b", dnnl_aBcd16b))
    default: break
    }
    let stream = try DNNL.Stream()
    let attributes = try PrimitiveAttributes()
    var results: [OperatorResult] = []

    for (format, tag) in layouts {
        // BatchNorm, Inception 3a size.
        if selected("inception.3a.bn") { results += try timePair(name: "inception.3a.bn", op: "BatchNorm", data: [n, 64, 28, 28], output: [n, 64, 28, 28],
                                format: format, readsOfData: 2, stream: stream, runs: runs, runSeconds: runSeconds) { md in
            var src = md
            let flags = dnnl_use_scale.rawValue | dnnl_use_shift.rawValue
            var forward = dnnl_batch_normalization_desc_t(), backward = dnnl_batch_normalization_desc_t()
            try check(dnnl_batch_normalization_forward_desc_init(&forward, dnnl_forward_training, &src, 1e-3, flags), "bn")
            let fwd = try PrimitiveDescriptor(&forward, attributes: attributes, what: "bn forward")
            try check(dnnl_batch_normalization_backward_desc_init(&backward, dnnl_backward, &src, &src, 1e-3, flags), "bn")
            return (fwd, try PrimitiveDescriptor(&backward, attributes: attributes, hint: fwd, what: "bn backward"))
        } layoutTag: { tag } }
        // Max pooling 3/2 `full`, AlexNet pool1.
        if selected("alexnet.pool1") { results += try timePair(name: "alexnet.pool1", op: "Pooling", data: [n, 96, 54, 54], output: [n, 96, 27, 27],
                                format: format, readsOfData: 1, stream: stream, runs: runs, runSeconds: runSeconds) { md in
            try poolingDescriptors(md, output: [n, 96, 27, 27], tag: tag, algorithm: dnnl_pooling_max, kernel: 3, stride: 2,
                                   pad: 0, padRight: 1, attributes: attributes)
        } layoutTag: { tag } }
        // Avg pooling 3/1 pad 1, Inception 3a pool branch.
        if selected("inception.3a.pool") { results += try timePair(name: "inception.3a.pool", op: "Pooling", data: [n, 192, 28, 28], output: [n, 192, 28, 28],
                                format: format, readsOfData: 1, stream: stream, runs: runs, runSeconds: runSeconds) { md in
            try poolingDescriptors(md, output: [n, 192, 28, 28], tag: tag, algorithm: dnnl_pooling_avg_include_padding,
                                   kernel: 3, stride: 1, pad: 1, padRight: 1, attributes: attributes)
        } layoutTag: { tag } }
        // LRN across 5 channels, AlexNet after conv1.
        if selected("alexnet.lrn1") { results += try timePair(name: "alexnet.lrn1", op: "LRN", data: [n, 96, 54, 54], output: [n, 96, 54, 54],
                                format: format, readsOfData: 1, stream: stream, runs: runs, runSeconds: runSeconds) { md in
            var src = md
            var forward = dnnl_lrn_desc_t(), backward = dnnl_lrn_desc_t()
            try check(dnnl_lrn_forward_desc_init(&forward, dnnl_forward_training, dnnl_lrn_across_channels, &src, 5,
                                                 1e-4, 0.75, 1), "lrn")
            let fwd = try PrimitiveDescriptor(&forward, attributes: attributes, what: "lrn forward")
            try check(dnnl_lrn_backward_desc_init(&backward, dnnl_lrn_across_channels, &src, &src, 5, 1e-4, 0.75, 1), "lrn")
            return (fwd, try PrimitiveDescriptor(&backward, attributes: attributes, hint: fwd, what: "lrn backward"))
        } layoutTag: { tag } }
        // ReLU after an Inception 3a convolution.
        if selected("inception.3a.relu") { results += try timePair(name: "inception.3a.relu", op: "Activation", data: [n, 64, 28, 28], output: [n, 64, 28, 28],
                                format: format, readsOfData: 1, stream: stream, runs: runs, runSeconds: runSeconds) { md in
            var src = md
            var forward = dnnl_eltwise_desc_t(), backward = dnnl_eltwise_desc_t()
            try check(dnnl_eltwise_forward_desc_init(&forward, dnnl_forward_training, dnnl_eltwise_relu_use_dst_for_bwd,
                                                     &src, 0, 0), "relu")
            let fwd = try PrimitiveDescriptor(&forward, attributes: attributes, what: "relu forward")
            try check(dnnl_eltwise_backward_desc_init(&backward, dnnl_eltwise_relu_use_dst_for_bwd, &src, &src, 0, 0), "relu")
            return (fwd, try PrimitiveDescriptor(&backward, attributes: attributes, hint: fwd, what: "relu backward"))
        } layoutTag: { tag } }
    }
    return results
}

private func poolingDescriptors(_ md: dnnl_memory_desc_t, output: [Int], tag: dnnl_format_tag_t,
                                algorithm: dnnl_alg_kind_t, kernel: Int, stride: Int, pad: Int, padRight: Int,
                                attributes: PrimitiveAttributes) throws -> (PrimitiveDescriptor, PrimitiveDescriptor) {
    var src = md
    var dst = try MemoryDescriptor(output, tag).raw
    let kernels = [dnnl_dim_t(kernel), dnnl_dim_t(kernel)], strides = [dnnl_dim_t(stride), dnnl_dim_t(stride)]
    let dilation: [dnnl_dim_t] = [0, 0]
    let left = [dnnl_dim_t(pad), dnnl_dim_t(pad)], right = [dnnl_dim_t(padRight), dnnl_dim_t(padRight)]
    var forward = dnnl_pooling_v2_desc_t(), backward = dnnl_pooling_v2_desc_t()
    try check(dnnl_pooling_v2_forward_desc_init(&forward, dnnl_forward_training, algorithm, &src, &dst, strides, kernels,
                                                dilation, left, right), "pooling")
    let fwd = try PrimitiveDescriptor(&forward, attributes: attributes, what: "pooling forward")
    try check(dnnl_pooling_v2_backward_desc_init(&backward, algorithm, &src, &dst, strides, kernels, dilation, left, right),
              "pooling")
    return (fwd, try PrimitiveDescriptor(&backward, attributes: attributes, hint: fwd, what: "pooling backward"))
}

/// Times the forward-training and backward primitives of one operator in one layout and
/// reports GB/s of the activations they read and write.
private func timePair(name: String, op: String, data: [Int], output: [Int], format: String, readsOfData: Double,
                      stream: DNNL.Stream, runs: Int, runSeconds: Double,
                      _ build: (dnnl_memory_desc_t) throws -> (PrimitiveDescriptor, PrimitiveDescriptor),
                      layoutTag: () -> dnnl_format_tag_t) throws -> [OperatorResult] {
    let md = try MemoryDescriptor(data, layoutTag()).raw
    let (forward, backward) = try build(md)
    let queries: [(Int32, dnnl_query_t)] = [
        (DNNL_ARG_SRC, dnnl_query_src_md), (DNNL_ARG_DST, dnnl_query_dst_md), (DNNL_ARG_WORKSPACE, dnnl_query_workspace_md),
        (DNNL_ARG_SCALE, dnnl_query_weights_md), (DNNL_ARG_SHIFT, dnnl_query_weights_md),
        (DNNL_ARG_MEAN, dnnl_query_src_md), (DNNL_ARG_VARIANCE, dnnl_query_src_md),
        (DNNL_ARG_DIFF_DST, dnnl_query_diff_dst_md), (DNNL_ARG_DIFF_SRC, dnnl_query_diff_src_md),
        (DNNL_ARG_DIFF_SCALE, dnnl_query_diff_weights_md), (DNNL_ARG_DIFF_SHIFT, dnnl_query_diff_weights_md),
        (DNNL_ARG_SCRATCHPAD, dnnl_query_scratchpad_md),
    ]
    var keep: [(Tensor, Memory)] = []
    var workspace: (Tensor, Memory)? = nil
    func arguments(_ descriptor: PrimitiveDescriptor, isBackward: Bool) throws -> [dnnl_exec_arg_t] {
        var result: [dnnl_exec_arg_t] = []
        for (arg, query) in queries {
            // Batch statistics are per channel; scale/shift likewise.
            var descriptorForArg: MemoryDescriptor
            if arg == DNNL_ARG_MEAN || arg == DNNL_ARG_VARIANCE || arg == DNNL_ARG_SCALE || arg == DNNL_ARG_SHIFT
                || arg == DNNL_ARG_DIFF_SCALE || arg == DNNL_ARG_DIFF_SHIFT {
                guard op == "BatchNorm" else { continue }
                descriptorForArg = try MemoryDescriptor.plain([data[1]])
            } else {
                descriptorForArg = descriptor.memoryDescriptor(query)
            }
            if descriptorForArg.byteCount == 0 { continue }
            if arg == DNNL_ARG_WORKSPACE, let workspace {
                result.append(argument(arg, workspace.1))
                continue
            }
            let tensor = Tensor(shape: [(descriptorForArg.byteCount + 3) / 4])
            var generator = SeededGenerator(seed: UInt64(arg))
            tensor.fillUniform(0.5...1.5, using: &generator)
            let memory = try Memory(descriptorForArg, pointer: tensor.rawPointer)
            keep.append((tensor, memory))
            if arg == DNNL_ARG_WORKSPACE { workspace = (tensor, memory) }
            result.append(argument(arg, memory))
        }
        return result
    }
    let forwardArguments = try arguments(forward, isBackward: false)
    let backwardArguments = try arguments(backward, isBackward: true)
    let forwardPrimitive = try Primitive(forward), backwardPrimitive = try Primitive(backward)
    forwardPrimitive.execute(forwardArguments, on: stream)
    let forwardSeconds = measure(runs: runs, runSeconds: runSeconds) { forwardPrimitive.execute(forwardArguments, on: stream) }
    let backwardSeconds = measure(runs: runs, runSeconds: runSeconds) { backwardPrimitive.execute(backwardArguments, on: stream) }
    let dataBytes = Double(data.reduce(1, *) * 4), outputBytes = Double(output.reduce(1, *) * 4)
    let forwardBytes = readsOfData * dataBytes + outputBytes, backwardBytes = 2 * dataBytes + outputBytes
    withExtendedLifetime(keep) {}
    func result(_ pass: String, _ seconds: [Double], _ bytes: Double, _ descriptor: PrimitiveDescriptor) -> OperatorResult {
        let middle = median(seconds)
        return OperatorResult(name: name, op: op, pass: pass, batch: data[0], gflops: nil, gbps: bytes / middle / 1e9,
                              runs: seconds.map { bytes / $0 / 1e9 }, implementation: descriptor.implementationName,
                              format: format, seconds: middle, reorderShare: nil)
    }
    let results = [result("forward", forwardSeconds, forwardBytes, forward),
                   result("backward", backwardSeconds, backwardBytes, backward)]
    for r in results {
        log(String(format: "%@ %@ [%@]: %.1f GB/s (%@)", r.name, r.pass, format, r.gbps ?? 0, r.implementation))
    }
    return results
}
