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
        if accumulate { try check(dnnl_post_ops_append_sum(postOps, 1.0), "append sum post-op") }
        if let elementwise {
            try check(dnnl_post_ops_append_eltwise(postOps, 1.0, elementwise.raw, 0, 0), "append eltwise post-op")
        }
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
        let status = operation.withPointer { op in
            dnnl_primitive_desc_create(&pd, op, attributes.handle, engine.handle, hint?.handle)
        }
        try check(status, what())
        handle = pd!
    }

    /// Every implementation oneDNN offers for `operation`, best first (its own ranking).
    public static func allImplementations(
        _ operation: OperationDescriptor, attributes: PrimitiveAttributes, engine: Engine = .cpu,
        hint: PrimitiveDescriptor? = nil
    ) throws -> [PrimitiveDescriptor] {
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
    }

    /// Wraps a descriptor made by another constructor (reorder, concat, sum).
    public init(adopting handle: dnnl_primitive_desc_t) { self.handle = handle }

    deinit { dnnl_primitive_desc_destroy(handle) }

    /// The memory descriptor the primitive uses for `query`, index `index` (the bias is
    /// `.weights` index 1). A primitive without one (no workspace) answers an empty
    /// descriptor of zero bytes.
    public func memoryDescriptor(_ query: MemoryQuery, _ index: Int = 0) -> MemoryDescriptor {
        guard let md = dnnl_primitive_desc_query_md(handle, query.raw, Int32(index)) else { return MemoryDescriptor() }
        return MemoryDescriptor(raw: md.pointee)
    }

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

    public init(_ descriptor: PrimitiveDescriptor) throws {
        var primitive: dnnl_primitive_t?
        try check(dnnl_primitive_create(&primitive, descriptor.handle), "create primitive")
        handle = primitive!
        self.descriptor = descriptor
    }

    deinit { dnnl_primitive_destroy(handle) }

    /// Runs the primitive with prepared arguments (no allocation).
    @inlinable
    public func execute(_ arguments: PrimitiveArguments, on stream: Stream) {
        arguments.raw.withUnsafeBufferPointer { args in
            mustSucceed(
                dnnl_primitive_execute(handle, stream.handle, Int32(args.count), args.baseAddress),
                "execute \(descriptor.implementationName)")
        }
    }
}
