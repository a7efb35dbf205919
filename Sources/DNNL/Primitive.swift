import CDNNL

/// Attributes of a primitive: user-managed scratchpad always (so the executor owns every
/// byte and nothing is allocated per call), optionally a `sum` post-op so that the primitive
/// adds its result to what the destination holds (an `add` request), optionally an
/// element-wise post-op (`dnnl_eltwise_relu` …) applied to the result before it is stored.
public final class PrimitiveAttributes {
    public let handle: dnnl_primitive_attr_t

    public init(accumulate: Bool = false, elementwise: dnnl_alg_kind_t? = nil) throws {
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
            try check(dnnl_post_ops_append_eltwise(postOps, 1.0, elementwise, 0, 0), "append eltwise post-op")
        }
        try check(dnnl_primitive_attr_set_post_ops(handle, postOps), "set post-ops")
    }

    deinit { dnnl_primitive_attr_destroy(handle) }
}

/// A primitive descriptor: the implementation oneDNN chose for an operation and the memory
/// layouts it wants.
public final class PrimitiveDescriptor {
    public let handle: dnnl_primitive_desc_t

    /// Creates the descriptor for an operation descriptor (`dnnl_convolution_desc_t` …).
    public init<OperationDescriptor>(
        _ operation: inout OperationDescriptor, attributes: PrimitiveAttributes,
        engine: Engine = .cpu, hint: PrimitiveDescriptor? = nil, what: @autoclosure () -> String
    ) throws {
        var pd: dnnl_primitive_desc_t?
        let status = withUnsafeMutablePointer(to: &operation) { op in
            dnnl_primitive_desc_create(&pd, UnsafeRawPointer(op), attributes.handle, engine.handle, hint?.handle)
        }
        try check(status, what())
        handle = pd!
    }

    /// Every implementation oneDNN offers for an operation, best first (its own ranking).
    public static func allImplementations<OperationDescriptor>(
        _ operation: inout OperationDescriptor, attributes: PrimitiveAttributes, engine: Engine = .cpu,
        hint: PrimitiveDescriptor? = nil
    ) throws -> [PrimitiveDescriptor] {
        var iterator: dnnl_primitive_desc_iterator_t?
        let status = withUnsafeMutablePointer(to: &operation) { op in
            dnnl_primitive_desc_iterator_create(&iterator, UnsafeRawPointer(op), attributes.handle, engine.handle,
                                                hint?.handle)
        }
        try check(status, "enumerate implementations")
        defer { dnnl_primitive_desc_iterator_destroy(iterator) }
        var result: [PrimitiveDescriptor] = []
        repeat {
            if let pd = dnnl_primitive_desc_iterator_fetch(iterator) { result.append(PrimitiveDescriptor(adopting: pd)) }
        } while dnnl_primitive_desc_iterator_next(iterator) == dnnl_success
        return result
    }

    /// Wraps a descriptor made by another constructor (reorder, concat, sum).
    public init(adopting handle: dnnl_primitive_desc_t) { self.handle = handle }

    deinit { dnnl_primitive_desc_destroy(handle) }

    /// The memory descriptor the primitive uses for `query` (`dnnl_query_src_md`, …), index `index`.
    public func memoryDescriptor(_ query: dnnl_query_t, _ index: Int32 = 0) -> MemoryDescriptor {
        guard let md = dnnl_primitive_desc_query_md(handle, query, index) else {
            fatalError("primitive has no memory descriptor for query \(query.rawValue)")
        }
        return MemoryDescriptor(raw: md.pointee)
    }

    public var scratchpadBytes: Int { memoryDescriptor(dnnl_query_scratchpad_md).byteCount }

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
    public func execute(_ arguments: [dnnl_exec_arg_t], on stream: Stream) {
        arguments.withUnsafeBufferPointer { args in
            mustSucceed(dnnl_primitive_execute(handle, stream.handle, Int32(args.count), args.baseAddress),
                        "execute \(descriptor.implementationName)")
        }
    }
}

/// One execution argument: a oneDNN argument index bound to a memory object.
@inlinable
public func argument(_ index: Int32, _ memory: Memory) -> dnnl_exec_arg_t {
    dnnl_exec_arg_t(arg: index, memory: memory.handle)
}
