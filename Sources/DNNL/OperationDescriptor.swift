import CDNNL

/// What a primitive computes, before oneDNN picks an implementation: the operation, its
/// memory descriptors and geometry. Made by the static functions below, turned into a
/// `PrimitiveDescriptor` (one implementation) or `PrimitiveDescriptor.allImplementations`.
///
/// Dimensions are Swift `Int`s in MXNet's order; dilation is MXNet's (1 = none).
public struct OperationDescriptor: @unchecked Sendable {
    /// What it is, for error messages (`convolution backward data`).
    public let name: String

    #if ONEDNN3
    /// oneDNN 3 has no operation descriptors: a primitive descriptor is created from the
    /// operation's arguments, the engine, the attributes and the forward hint in one call,
    /// which this closure makes (it holds the memory descriptors it needs).
    typealias Create = (
        _ descriptor: UnsafeMutablePointer<dnnl_primitive_desc_t?>, _ engine: dnnl_engine_t,
        _ attributes: dnnl_primitive_attr_t, _ hint: dnnl_primitive_desc_t?
    ) -> dnnl_status_t
    let create: Create

    init(name: String, _ create: @escaping Create) {
        self.name = name
        self.create = create
    }
    #else
    enum Storage {
        case convolution(dnnl_convolution_desc_t)
        case innerProduct(dnnl_inner_product_desc_t)
        case eltwise(dnnl_eltwise_desc_t)
        case batchNormalization(dnnl_batch_normalization_desc_t)
        case lrn(dnnl_lrn_desc_t)
        case pooling(dnnl_pooling_v2_desc_t)
        case softmax(dnnl_softmax_desc_t)
    }
    var storage: Storage

    init(storage: Storage, name: String) {
        self.storage = storage
        self.name = name
    }

    /// The C operation descriptor, for `dnnl_primitive_desc_create` and its iterator.
    func withPointer<R>(_ body: (UnsafeRawPointer) throws -> R) rethrows -> R {
        switch storage {
        case .convolution(var d): try withUnsafePointer(to: &d) { try body(UnsafeRawPointer($0)) }
        case .innerProduct(var d): try withUnsafePointer(to: &d) { try body(UnsafeRawPointer($0)) }
        case .eltwise(var d): try withUnsafePointer(to: &d) { try body(UnsafeRawPointer($0)) }
        case .batchNormalization(var d): try withUnsafePointer(to: &d) { try body(UnsafeRawPointer($0)) }
        case .lrn(var d): try withUnsafePointer(to: &d) { try body(UnsafeRawPointer($0)) }
        case .pooling(var d): try withUnsafePointer(to: &d) { try body(UnsafeRawPointer($0)) }
        case .softmax(var d): try withUnsafePointer(to: &d) { try body(UnsafeRawPointer($0)) }
        }
    }
    #endif
}

private func dims(_ values: [Int]) -> [dnnl_dim_t] { values.map { dnnl_dim_t($0) } }

#if !ONEDNN3
/// Calls `body` with a pointer to `descriptor`'s C value, or nil.
private func withOptional<R>(
    _ descriptor: MemoryDescriptor?,
    _ body: (UnsafePointer<dnnl_memory_desc_t>?) throws -> R
) rethrows -> R {
    guard var raw = descriptor?.raw else { return try body(nil) }
    return try withUnsafePointer(to: &raw) { try body($0) }
}
#endif

extension OperationDescriptor {
    /// Direct convolution; `dilation` as MXNet (1 = dense); padding the same on both sides
    /// unless `paddingRight` is given.
    public static func convolutionForward(
        _ kind: PropagationKind, source: MemoryDescriptor, weights: MemoryDescriptor, bias: MemoryDescriptor?,
        destination: MemoryDescriptor, strides: [Int], dilation: [Int], padding: [Int], paddingRight: [Int]? = nil
    ) throws(DNNLError) -> OperationDescriptor {
        #if ONEDNN3
        return OperationDescriptor(name: "convolution forward") { pd, engine, attributes, _ in
            dnnl_convolution_forward_primitive_desc_create(
                pd, engine, kind.raw, dnnl_convolution_direct, source.raw, weights.raw, bias.flatMap(\.raw),
                destination.raw, dims(strides), dims(dilation.map { $0 - 1 }), dims(padding),
                dims(paddingRight ?? padding), attributes)
        }
        #else
        var d = dnnl_convolution_desc_t()
        var (src, wei, dst) = (source.raw, weights.raw, destination.raw)
        let status = withOptional(bias) { biasPointer in
            dnnl_dilated_convolution_forward_desc_init(
                &d, kind.raw, dnnl_convolution_direct, &src, &wei, biasPointer, &dst, dims(strides),
                dims(dilation.map { $0 - 1 }), dims(padding), dims(paddingRight ?? padding))
        }
        try check(status, "convolution forward descriptor")
        return OperationDescriptor(storage: .convolution(d), name: "convolution forward")
        #endif
    }

    public static func convolutionBackwardData(
        diffSource: MemoryDescriptor, weights: MemoryDescriptor, diffDestination: MemoryDescriptor, strides: [Int],
        dilation: [Int], padding: [Int], paddingRight: [Int]? = nil
    ) throws(DNNLError) -> OperationDescriptor {
        #if ONEDNN3
        return OperationDescriptor(name: "convolution backward data") { pd, engine, attributes, hint in
            dnnl_convolution_backward_data_primitive_desc_create(
                pd, engine, dnnl_convolution_direct, diffSource.raw, weights.raw, diffDestination.raw, dims(strides),
                dims(dilation.map { $0 - 1 }), dims(padding), dims(paddingRight ?? padding), hint, attributes)
        }
        #else
        var d = dnnl_convolution_desc_t()
        var (src, wei, dst) = (diffSource.raw, weights.raw, diffDestination.raw)
        try check(
            dnnl_dilated_convolution_backward_data_desc_init(
                &d, dnnl_convolution_direct, &src, &wei, &dst, dims(strides), dims(dilation.map { $0 - 1 }),
                dims(padding),
                dims(paddingRight ?? padding)), "convolution backward-data descriptor")
        return OperationDescriptor(storage: .convolution(d), name: "convolution backward data")
        #endif
    }

    public static func convolutionBackwardWeights(
        source: MemoryDescriptor, diffWeights: MemoryDescriptor, diffBias: MemoryDescriptor?,
        diffDestination: MemoryDescriptor, strides: [Int], dilation: [Int], padding: [Int], paddingRight: [Int]? = nil
    ) throws(DNNLError) -> OperationDescriptor {
        #if ONEDNN3
        return OperationDescriptor(name: "convolution backward weights") { pd, engine, attributes, hint in
            dnnl_convolution_backward_weights_primitive_desc_create(
                pd, engine, dnnl_convolution_direct, source.raw, diffWeights.raw, diffBias.flatMap(\.raw),
                diffDestination.raw, dims(strides), dims(dilation.map { $0 - 1 }), dims(padding),
                dims(paddingRight ?? padding), hint, attributes)
        }
        #else
        var d = dnnl_convolution_desc_t()
        var (src, wei, dst) = (source.raw, diffWeights.raw, diffDestination.raw)
        let status = withOptional(diffBias) { biasPointer in
            dnnl_dilated_convolution_backward_weights_desc_init(
                &d, dnnl_convolution_direct, &src, &wei, biasPointer, &dst, dims(strides),
                dims(dilation.map { $0 - 1 }), dims(padding), dims(paddingRight ?? padding))
        }
        try check(status, "convolution backward-weights descriptor")
        return OperationDescriptor(storage: .convolution(d), name: "convolution backward weights")
        #endif
    }

    /// Inner product (FullyConnected): `y = x·Wᵀ + b`.
    public static func innerProductForward(
        _ kind: PropagationKind, source: MemoryDescriptor, weights: MemoryDescriptor, bias: MemoryDescriptor?,
        destination: MemoryDescriptor
    ) throws(DNNLError) -> OperationDescriptor {
        #if ONEDNN3
        return OperationDescriptor(name: "inner product forward") { pd, engine, attributes, _ in
            dnnl_inner_product_forward_primitive_desc_create(
                pd, engine, kind.raw, source.raw, weights.raw, bias.flatMap(\.raw), destination.raw, attributes)
        }
        #else
        var d = dnnl_inner_product_desc_t()
        var (src, wei, dst) = (source.raw, weights.raw, destination.raw)
        let status = withOptional(bias) { dnnl_inner_product_forward_desc_init(&d, kind.raw, &src, &wei, $0, &dst) }
        try check(status, "inner product forward descriptor")
        return OperationDescriptor(storage: .innerProduct(d), name: "inner product forward")
        #endif
    }

    public static func innerProductBackwardData(
        diffSource: MemoryDescriptor, weights: MemoryDescriptor, diffDestination: MemoryDescriptor
    ) throws(DNNLError) -> OperationDescriptor {
        #if ONEDNN3
        return OperationDescriptor(name: "inner product backward data") { pd, engine, attributes, hint in
            dnnl_inner_product_backward_data_primitive_desc_create(
                pd, engine, diffSource.raw, weights.raw, diffDestination.raw, hint, attributes)
        }
        #else
        var d = dnnl_inner_product_desc_t()
        var (src, wei, dst) = (diffSource.raw, weights.raw, diffDestination.raw)
        try check(
            dnnl_inner_product_backward_data_desc_init(&d, &src, &wei, &dst), "inner product backward-data descriptor")
        return OperationDescriptor(storage: .innerProduct(d), name: "inner product backward data")
        #endif
    }

    public static func innerProductBackwardWeights(
        source: MemoryDescriptor, diffWeights: MemoryDescriptor, diffBias: MemoryDescriptor?,
        diffDestination: MemoryDescriptor
    ) throws(DNNLError) -> OperationDescriptor {
        #if ONEDNN3
        return OperationDescriptor(name: "inner product backward weights") { pd, engine, attributes, hint in
            dnnl_inner_product_backward_weights_primitive_desc_create(
                pd, engine, source.raw, diffWeights.raw, diffBias.flatMap(\.raw), diffDestination.raw, hint,
                attributes)
        }
        #else
        var d = dnnl_inner_product_desc_t()
        var (src, wei, dst) = (source.raw, diffWeights.raw, diffDestination.raw)
        let status = withOptional(diffBias) { dnnl_inner_product_backward_weights_desc_init(&d, &src, &wei, $0, &dst) }
        try check(status, "inner product backward-weights descriptor")
        return OperationDescriptor(storage: .innerProduct(d), name: "inner product backward weights")
        #endif
    }

    public static func eltwiseForward(
        _ kind: PropagationKind, _ algorithm: EltwiseAlgorithm, data: MemoryDescriptor
    ) throws(DNNLError) -> OperationDescriptor {
        #if ONEDNN3
        return OperationDescriptor(name: "eltwise forward") { pd, engine, attributes, _ in
            dnnl_eltwise_forward_primitive_desc_create(
                pd, engine, kind.raw, algorithm.raw, data.raw, data.raw, algorithm.alpha, 0, attributes)
        }
        #else
        var d = dnnl_eltwise_desc_t()
        var md = data.raw
        try check(
            dnnl_eltwise_forward_desc_init(&d, kind.raw, algorithm.raw, &md, algorithm.alpha, 0),
            "eltwise forward descriptor")
        return OperationDescriptor(storage: .eltwise(d), name: "eltwise forward")
        #endif
    }

    public static func eltwiseBackward(
        _ algorithm: EltwiseAlgorithm, diffData: MemoryDescriptor, data: MemoryDescriptor
    ) throws(DNNLError) -> OperationDescriptor {
        #if ONEDNN3
        return OperationDescriptor(name: "eltwise backward") { pd, engine, attributes, hint in
            dnnl_eltwise_backward_primitive_desc_create(
                pd, engine, algorithm.raw, diffData.raw, diffData.raw, data.raw, algorithm.alpha, 0, hint, attributes)
        }
        #else
        var d = dnnl_eltwise_desc_t()
        var (diff, md) = (diffData.raw, data.raw)
        try check(
            dnnl_eltwise_backward_desc_init(&d, algorithm.raw, &diff, &md, algorithm.alpha, 0),
            "eltwise backward descriptor")
        return OperationDescriptor(storage: .eltwise(d), name: "eltwise backward")
        #endif
    }

    public static func batchNormalizationForward(
        _ kind: PropagationKind, data: MemoryDescriptor, epsilon: Float, flags: BatchNormalizationFlags
    ) throws(DNNLError) -> OperationDescriptor {
        #if ONEDNN3
        return OperationDescriptor(name: "batch normalization forward") { pd, engine, attributes, _ in
            dnnl_batch_normalization_forward_primitive_desc_create(
                pd, engine, kind.raw, data.raw, data.raw, epsilon, flags.rawValue, attributes)
        }
        #else
        var d = dnnl_batch_normalization_desc_t()
        var md = data.raw
        try check(
            dnnl_batch_normalization_forward_desc_init(&d, kind.raw, &md, epsilon, flags.rawValue),
            "batch normalization forward descriptor")
        return OperationDescriptor(storage: .batchNormalization(d), name: "batch normalization forward")
        #endif
    }

    /// Backward of data, scale and shift (those of `flags`).
    public static func batchNormalizationBackward(
        diffData: MemoryDescriptor, data: MemoryDescriptor, epsilon: Float, flags: BatchNormalizationFlags
    ) throws(DNNLError) -> OperationDescriptor {
        #if ONEDNN3
        return OperationDescriptor(name: "batch normalization backward") { pd, engine, attributes, hint in
            dnnl_batch_normalization_backward_primitive_desc_create(
                pd, engine, dnnl_backward, diffData.raw, diffData.raw, data.raw, epsilon, flags.rawValue, hint,
                attributes)
        }
        #else
        var d = dnnl_batch_normalization_desc_t()
        var (diff, md) = (diffData.raw, data.raw)
        try check(
            dnnl_batch_normalization_backward_desc_init(&d, dnnl_backward, &diff, &md, epsilon, flags.rawValue),
            "batch normalization backward descriptor")
        return OperationDescriptor(storage: .batchNormalization(d), name: "batch normalization backward")
        #endif
    }

    /// Local response normalisation across `size` channels: `x / (k + α/size · Σx²)^β`.
    public static func lrnForward(
        _ kind: PropagationKind, data: MemoryDescriptor, size: Int, alpha: Float, beta: Float, k: Float
    ) throws(DNNLError) -> OperationDescriptor {
        #if ONEDNN3
        return OperationDescriptor(name: "LRN forward") { pd, engine, attributes, _ in
            dnnl_lrn_forward_primitive_desc_create(
                pd, engine, kind.raw, dnnl_lrn_across_channels, data.raw, data.raw, dnnl_dim_t(size), alpha, beta, k,
                attributes)
        }
        #else
        var d = dnnl_lrn_desc_t()
        var md = data.raw
        try check(
            dnnl_lrn_forward_desc_init(&d, kind.raw, dnnl_lrn_across_channels, &md, dnnl_dim_t(size), alpha, beta, k),
            "LRN forward descriptor")
        return OperationDescriptor(storage: .lrn(d), name: "LRN forward")
        #endif
    }

    public static func lrnBackward(
        diffData: MemoryDescriptor, data: MemoryDescriptor, size: Int, alpha: Float, beta: Float, k: Float
    ) throws(DNNLError) -> OperationDescriptor {
        #if ONEDNN3
        return OperationDescriptor(name: "LRN backward") { pd, engine, attributes, hint in
            dnnl_lrn_backward_primitive_desc_create(
                pd, engine, dnnl_lrn_across_channels, diffData.raw, diffData.raw, data.raw, dnnl_dim_t(size), alpha,
                beta, k, hint, attributes)
        }
        #else
        var d = dnnl_lrn_desc_t()
        var (diff, md) = (diffData.raw, data.raw)
        try check(
            dnnl_lrn_backward_desc_init(&d, dnnl_lrn_across_channels, &diff, &md, dnnl_dim_t(size), alpha, beta, k),
            "LRN backward descriptor")
        return OperationDescriptor(storage: .lrn(d), name: "LRN backward")
        #endif
    }

    /// Pooling with separate left and right padding (MXNet's `full` rounding pads more on
    /// the right).
    public static func poolingForward(
        _ kind: PropagationKind, _ algorithm: PoolingAlgorithm, source: MemoryDescriptor, destination: MemoryDescriptor,
        strides: [Int], kernel: [Int], paddingLeft: [Int], paddingRight: [Int]
    ) throws(DNNLError) -> OperationDescriptor {
        #if ONEDNN3
        return OperationDescriptor(name: "pooling forward") { pd, engine, attributes, _ in
            dnnl_pooling_forward_primitive_desc_create(
                pd, engine, kind.raw, algorithm.raw, source.raw, destination.raw, dims(strides), dims(kernel),
                dims(kernel.map { _ in 0 }), dims(paddingLeft), dims(paddingRight), attributes)
        }
        #else
        var d = dnnl_pooling_v2_desc_t()
        var (src, dst) = (source.raw, destination.raw)
        try check(
            dnnl_pooling_v2_forward_desc_init(
                &d, kind.raw, algorithm.raw, &src, &dst, dims(strides), dims(kernel), dims(kernel.map { _ in 0 }),
                dims(paddingLeft), dims(paddingRight)), "pooling forward descriptor")
        return OperationDescriptor(storage: .pooling(d), name: "pooling forward")
        #endif
    }

    public static func poolingBackward(
        _ algorithm: PoolingAlgorithm, diffSource: MemoryDescriptor, diffDestination: MemoryDescriptor,
        strides: [Int], kernel: [Int], paddingLeft: [Int], paddingRight: [Int]
    ) throws(DNNLError) -> OperationDescriptor {
        #if ONEDNN3
        return OperationDescriptor(name: "pooling backward") { pd, engine, attributes, hint in
            dnnl_pooling_backward_primitive_desc_create(
                pd, engine, algorithm.raw, diffSource.raw, diffDestination.raw, dims(strides), dims(kernel),
                dims(kernel.map { _ in 0 }), dims(paddingLeft), dims(paddingRight), hint, attributes)
        }
        #else
        var d = dnnl_pooling_v2_desc_t()
        var (src, dst) = (diffSource.raw, diffDestination.raw)
        try check(
            dnnl_pooling_v2_backward_desc_init(
                &d, algorithm.raw, &src, &dst, dims(strides), dims(kernel), dims(kernel.map { _ in 0 }),
                dims(paddingLeft),
                dims(paddingRight)), "pooling backward descriptor")
        return OperationDescriptor(storage: .pooling(d), name: "pooling backward")
        #endif
    }

    /// Softmax over `axis`.
    public static func softmaxForward(
        _ kind: PropagationKind, data: MemoryDescriptor, axis: Int
    ) throws(DNNLError) -> OperationDescriptor {
        #if ONEDNN3
        return OperationDescriptor(name: "softmax forward") { pd, engine, attributes, _ in
            dnnl_softmax_forward_primitive_desc_create(
                pd, engine, kind.raw, dnnl_softmax_accurate, data.raw, data.raw, Int32(axis), attributes)
        }
        #else
        var d = dnnl_softmax_desc_t()
        var md = data.raw
        try check(dnnl_softmax_forward_desc_init(&d, kind.raw, &md, Int32(axis)), "softmax forward descriptor")
        return OperationDescriptor(storage: .softmax(d), name: "softmax forward")
        #endif
    }
}
