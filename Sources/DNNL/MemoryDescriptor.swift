import CDNNL

/// A oneDNN memory descriptor: dimensions, data type and physical layout.
///
/// oneDNN 2 describes memory by a C struct held by value; oneDNN 3 by an opaque handle that
/// must be destroyed, held here by a shared owner so the descriptor stays a value.
public struct MemoryDescriptor: @unchecked Sendable {
    #if ONEDNN3
    final class Owner: @unchecked Sendable {
        let handle: dnnl_memory_desc_t
        init(adopting handle: dnnl_memory_desc_t) { self.handle = handle }
        deinit { dnnl_memory_desc_destroy(handle) }
    }
    /// nil: the empty descriptor.
    let owner: Owner?
    /// The C handle (nil for the empty descriptor), for oneDNN calls.
    var raw: const_dnnl_memory_desc_t? { owner?.handle }

    /// A copy of a descriptor oneDNN owns (a primitive descriptor's answer to a query).
    init(copying existing: const_dnnl_memory_desc_t) {
        var copy: dnnl_memory_desc_t?
        guard dnnl_memory_desc_clone(&copy, existing) == dnnl_success, let copy else {
            owner = nil
            return
        }
        owner = Owner(adopting: copy)
    }

    /// The empty descriptor (zero bytes): what a primitive answers for memory it does not use.
    public init() { owner = nil }
    #else
    var raw: dnnl_memory_desc_t

    init(raw: dnnl_memory_desc_t) { self.raw = raw }

    /// The empty descriptor (zero bytes): what a primitive answers for memory it does not use.
    public init() { raw = dnnl_memory_desc_t() }
    #endif

    /// A descriptor of `dimensions` in layout `tag` (float32 unless `dataType` says otherwise).
    public init(_ dimensions: [Int], _ tag: FormatTag, dataType: DataType = .float32) throws {
        let dims = dimensions.map { dnnl_dim_t($0) }
        let what = "memory descriptor \(dimensions) \(tag)"
        #if ONEDNN3
        var md: dnnl_memory_desc_t?
        try check(
            dnnl_memory_desc_create_with_tag(
                &md, Int32(dims.count), dims, dataType.raw, tag.raw(rank: dims.count)), what)
        owner = Owner(adopting: md!)
        #else
        var md = dnnl_memory_desc_t()
        try check(
            dnnl_memory_desc_init_by_tag(&md, Int32(dims.count), dims, dataType.raw, tag.raw(rank: dims.count)),
            what)
        raw = md
        #endif
    }

    /// Element types of tensors.
    public enum DataType: Sendable {
        case float32, bfloat16

        var raw: dnnl_data_type_t { self == .float32 ? dnnl_f32 : dnnl_bf16 }
    }

    /// Plain row-major float32 descriptor (MXNet's logical layout).
    public static func plain(_ dimensions: [Int]) throws -> MemoryDescriptor {
        try MemoryDescriptor(dimensions, .plain)
    }

    /// Float32 descriptor whose layout the primitive picks.
    public static func any(_ dimensions: [Int]) throws -> MemoryDescriptor {
        try MemoryDescriptor(dimensions, .any)
    }

    /// Bytes a buffer of this descriptor needs (blocked layouts pad channels).
    public var byteCount: Int {
        #if ONEDNN3
        guard let raw else { return 0 }
        return Int(dnnl_memory_desc_get_size(raw))
        #else
        var md = raw
        return Int(dnnl_memory_desc_get_size(&md))
        #endif
    }

    public func isEqual(to other: MemoryDescriptor) -> Bool {
        #if ONEDNN3
        guard let a = raw, let b = other.raw else { return raw == nil && other.raw == nil }
        return dnnl_memory_desc_equal(a, b) != 0
        #else
        var a = raw, b = other.raw
        return dnnl_memory_desc_equal(&a, &b) != 0
        #endif
    }

    /// oneDNN's letter notation of the layout: `abcd` is plain NCHW, `acdb` NHWC,
    /// `aBcd16b` nChw16c, `ABcd16b16a` OIhw16i16o-like weight blocking.
    public var formatName: String {
        guard let blocking else { return "not blocked" }
        let rank = blocking.strides.count
        let letters = Array("abcdefghijkl")
        let blocked = Set(blocking.innerIndices)
        // Outer order: larger stride first; ties (extent 1) keep logical order.
        let strides = blocking.strides
        let order = (0..<rank).sorted { strides[$0] != strides[$1] ? strides[$0] > strides[$1] : $0 < $1 }
        var name = order.map { blocked.contains($0) ? String(letters[$0]).uppercased() : String(letters[$0]) }.joined()
        for (size, index) in zip(blocking.innerBlocks, blocking.innerIndices) { name += "\(size)\(letters[index])" }
        return name
    }

    /// A blocked layout: the stride of each dimension and the inner blocks (size, dimension),
    /// outermost first. nil for layouts that are not blocked (`any`, the empty descriptor).
    private var blocking: (strides: [Int], innerBlocks: [Int], innerIndices: [Int])? {
        /// The first `count` values of a C `dnnl_dims_t`.
        func prefix(_ values: dnnl_dims_t, _ count: Int) -> [Int] {
            withUnsafeBytes(of: values) { Array($0.bindMemory(to: dnnl_dim_t.self).prefix(count)).map { Int($0) } }
        }
        #if ONEDNN3
        guard let raw else { return nil }
        var rank: Int32 = 0
        var kind = dnnl_format_kind_undef
        var innerCount: Int32 = 0
        var strides: UnsafePointer<dnnl_dims_t>?
        var innerBlocks: UnsafePointer<dnnl_dims_t>?
        var innerIndices: UnsafePointer<dnnl_dims_t>?
        guard dnnl_memory_desc_query(raw, dnnl_query_format_kind, &kind) == dnnl_success, kind == dnnl_blocked,
            dnnl_memory_desc_query(raw, dnnl_query_ndims_s32, &rank) == dnnl_success,
            dnnl_memory_desc_query(raw, dnnl_query_inner_nblks_s32, &innerCount) == dnnl_success,
            dnnl_memory_desc_query(raw, dnnl_query_strides, &strides) == dnnl_success,
            dnnl_memory_desc_query(raw, dnnl_query_inner_blks, &innerBlocks) == dnnl_success,
            dnnl_memory_desc_query(raw, dnnl_query_inner_idxs, &innerIndices) == dnnl_success,
            let strides, let innerBlocks, let innerIndices
        else { return nil }
        return (
            prefix(strides.pointee, Int(rank)), prefix(innerBlocks.pointee, Int(innerCount)),
            prefix(innerIndices.pointee, Int(innerCount))
        )
        #else
        guard raw.format_kind == dnnl_blocked else { return nil }
        let blocking = raw.format_desc.blocking
        let innerCount = Int(blocking.inner_nblks)
        return (
            prefix(blocking.strides, Int(raw.ndims)), prefix(blocking.inner_blks, innerCount),
            prefix(blocking.inner_idxs, innerCount)
        )
        #endif
    }
}
