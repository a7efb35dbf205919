import CDNNL

/// Attributes of a primitive: user-managed scratchpad always (so the executor owns every
/// byte and nothing is allocated per call), optionally a `sum` post-op so that the primitive
/// adds its result to what the destination holds (an `add` request), optionally an
/// element-wise post-op (ReLU …) applied to the result before it is stored.
public final class PrimitiveAttributes {
    public let handle: dnnl_primitive_attr_t

    public init(accumulate: Bool = false, elementwise: EltwiseAlgorithm? = nil) throws {
        var attr: dnnl_primitive_attr_t?
        try check(dnnl_primitive_attr_create(&attr), "create attributes")
        handle = attr!
        try check(dnnl_primitive_attr_set_scratchpad_mode(handle, dnnl_scratchpad_mode_user), "scratchpad mode")
        guard accumulate || elementwise != nil else { return }
        var postOps: dnnl_post_ops_t?
        try check(dnnl_post_ops_create(&postOps), "create post-ops")
        defer { dnnl_post_ops_destroy(postOps) }
        #if ONEDNN3
        if accumulate {
            try check(dnnl_post_ops_append_sum(postOps, 1.0, 0, dnnl_data_type_undef), "append sum post-op")
        }
        if let elementwise {
            try check(
                dnnl_post_ops_append_eltwise(postOps, elementwise.raw, elementwise.alpha, 0), "append eltwise post-op")
        }
        #else
        if accumulate { try check(dnnl_post_ops_append_sum(postOps, 1.0), "append sum post-op") }
        if let elementwise {
            try check(
                dnnl_post_ops_append_eltwise(postOps, 1.0, elementwise.raw, elementwise.alpha, 0),
                "append eltwise post-op")
        }
        #endif
        try check(dnnl_primitive_attr_set_post_ops(handle, postOps), "set post-ops")
    }

    deinit { dnnl_primitive_attr_destroy(handle) }
}

/// A primitive descriptor: the implementation oneDNN chose for an operation and the memory
/// layouts it wants.
public final class PrimitiveDescriptor {
    public let handle: dnnl_primitive_desc_t

    /// The implementation oneDNN ranks first for `operation`; `hint` is the forward
    /// primitive a backward one must match.
    public init(
        _ operation: OperationDescriptor, attributes: PrimitiveAttributes, engine: Engine = .cpu,
        hint: PrimitiveDescriptor? = nil, what: @autoclosure () -> String
    ) throws {
        var pd: dnnl_primitive_desc_t?
        #if ONEDNN3
        let status = operation.create(&pd, engine.handle, attributes.handle, hint?.handle)
        #else
        let status = operation.withPointer { op in
            dnnl_primitive_desc_create(&pd, op, attributes.handle, engine.handle, hint?.handle)
        }
        #endif
        try check(status, what())
        handle = pd!
    }

    /// Every implementation oneDNN offers for `operation`, best first (its own ranking).
    public static func allImplementations(
        _ operation: OperationDescriptor, attributes: PrimitiveAttributes, engine: Engine = .cpu,
        hint: PrimitiveDescriptor? = nil
    ) throws -> [PrimitiveDescriptor] {
        #if ONEDNN3
        // oneDNN 3 steps a primitive descriptor through the implementations in place:
        // keep a copy of each.
        let current = try PrimitiveDescriptor(
            operation, attributes: attributes, engine: engine, hint: hint,
            what: "enumerate implementations of \(operation.name)")
        var result: [PrimitiveDescriptor] = []
        repeat {
            var copy: dnnl_primitive_desc_t?
            try check(dnnl_primitive_desc_clone(&copy, current.handle), "copy a primitive descriptor")
            result.append(PrimitiveDescriptor(adopting: copy!))
        } while dnnl_primitive_desc_next_impl(current.handle) == dnnl_success
        return result
        #else
        // The iterator keeps a pointer to the operation descriptor: iterate while it is valid.
        try operation.withPointer { op in
            var iterator: dnnl_primitive_desc_iterator_t?
            try check(
                dnnl_primitive_desc_iterator_create(&iterator, op, attributes.handle, engine.handle, hint?.handle),
                "enumerate implementations of \(operation.name)")
            defer { dnnl_primitive_desc_iterator_destroy(iterator) }
            var result: [PrimitiveDescriptor] = []
            repeat {
                if let pd = dnnl_primitive_desc_iterator_fetch(iterator) {
                    result.append(PrimitiveDescriptor(adopting: pd))
                }
            } while dnnl_primitive_desc_iterator_next(iterator) == dnnl_success
            return result
        }
        #endif
    }

    /// Wraps a descriptor made by another constructor (reorder, concat, sum).
    public init(adopting handle: dnnl_primitive_desc_t) { self.handle = handle }

    deinit { dnnl_primitive_desc_destroy(handle) }

    /// The memory descriptor the primitive uses for `query`, index `index` (the bias is
    /// `.weights` index 1). A primitive without one (no workspace) answers an empty
    /// descriptor of zero bytes.
    public func memoryDescriptor(_ query: MemoryQuery, _ index: Int = 0) -> MemoryDescriptor {
        guard let md = dnnl_primitive_desc_query_md(handle, query.raw, Int32(index)) else { return MemoryDescriptor() }
        #if ONEDNN3
        return MemoryDescriptor(copying: md)
        #else
        return MemoryDescriptor(raw: md.pointee)
        #endif
    }

    #if ONEDNN3
    var isBatchNormalizationBackward: Bool {
        var kind = dnnl_undefined_primitive
        var propagation = dnnl_prop_kind_undef
        return dnnl_primitive_desc_query(handle, dnnl_query_primitive_kind, 0, &kind) == dnnl_success
            && kind == dnnl_batch_normalization
            && dnnl_primitive_desc_query(handle, dnnl_query_prop_kind, 0, &propagation) == dnnl_success
            && propagation == dnnl_backward
    }
    #endif

    public var scratchpadBytes: Int { memoryDescriptor(.scratchpad).byteCount }

    /// oneDNN's name of the implementation it chose (`brgconv:avx512_core`, `jit:avx512_core` …).
    public var implementationName: String {
        var name: UnsafePointer<CChar>?
        withUnsafeMutablePointer(to: &name) { pointer in
            _ = dnnl_primitive_desc_query(handle, dnnl_query_impl_info_str, 0, UnsafeMutableRawPointer(pointer))
        }
        return name.map { String(cString: $0) } ?? "unknown"
    }
}

/// An executable primitive. Arguments are prepared once (`Argument` list with bound memory
/// objects) and executed many times.
public final class Primitive {
    public let handle: dnnl_primitive_t
    public let descriptor: PrimitiveDescriptor
    #if ONEDNN3
    /// The arguments (`DNNL_ARG_*`) this primitive reads or writes. oneDNN 3 refuses an
    /// execution that passes others (2.x ignored them: a batch normalization's shift in
    /// backward, a scratchpad of zero bytes), so `execute` leaves those out.
    @usableFromInline let usedArguments: [Int32]
    #endif

    public init(_ descriptor: PrimitiveDescriptor) throws {
        var primitive: dnnl_primitive_t?
        try check(dnnl_primitive_create(&primitive, descriptor.handle), "create primitive")
        handle = primitive!
        self.descriptor = descriptor
        #if ONEDNN3
        let ignoresShift = descriptor.isBatchNormalizationBackward
        usedArguments = ArgumentKind.allCases.map(\.raw).filter { argument in
            // Backward batch normalization has a shift descriptor but does not read β.
            if ignoresShift && argument == DNNL_ARG_SHIFT { return false }
            guard let md = dnnl_primitive_desc_query_md(descriptor.handle, dnnl_query_exec_arg_md, argument)
            else { return false }
            return dnnl_memory_desc_get_size(md) > 0
        }
        #endif
    }

    deinit { dnnl_primitive_destroy(handle) }

    /// Runs the primitive with prepared arguments (no allocation).
    @inlinable
    public func execute(_ arguments: PrimitiveArguments, on stream: Stream) {
        arguments.raw.withUnsafeBufferPointer { args in
            #if ONEDNN3
            withUnsafeTemporaryAllocation(of: dnnl_exec_arg_t.self, capacity: args.count) { used in
                var count = 0
                for argument in args where usedArguments.contains(argument.arg) {
                    used[count] = argument
                    count += 1
                }
                mustSucceed(
                    dnnl_primitive_execute(handle, stream.handle, Int32(count), used.baseAddress),
                    "execute \(descriptor.implementationName)")
            }
            #else
            mustSucceed(
                dnnl_primitive_execute(handle, stream.handle, Int32(args.count), args.baseAddress),
                "execute \(descriptor.implementationName)")
            #endif
        }
    }
}
