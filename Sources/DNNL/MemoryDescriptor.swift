import CDNNL

/// A oneDNN memory descriptor: dimensions, data type and physical layout.
public struct MemoryDescriptor: @unchecked Sendable {
    public var raw: dnnl_memory_desc_t

    public init(raw: dnnl_memory_desc_t) { self.raw = raw }

    /// The empty descriptor (zero bytes): what a primitive answers for memory it does not use.
    public init() { raw = dnnl_memory_desc_t() }

    /// A descriptor of `dimensions` in layout `tag` (float32 unless `dataType` says otherwise).
    public init(_ dimensions: [Int], _ tag: FormatTag, dataType: DataType = .float32) throws {
        var md = dnnl_memory_desc_t()
        let dims = dimensions.map { dnnl_dim_t($0) }
        try check(
            dnnl_memory_desc_init_by_tag(&md, Int32(dims.count), dims, dataType.raw, tag.raw(rank: dims.count)),
            "memory descriptor \(dimensions) \(tag)")
        raw = md
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
        var md = raw
        return Int(dnnl_memory_desc_get_size(&md))
    }

    public func isEqual(to other: MemoryDescriptor) -> Bool {
        var a = raw, b = other.raw
        return dnnl_memory_desc_equal(&a, &b) != 0
    }

    /// oneDNN's letter notation of the layout: `abcd` is plain NCHW, `acdb` NHWC,
    /// `aBcd16b` nChw16c, `ABcd16b16a` OIhw16i16o-like weight blocking.
    public var formatName: String {
        let rank = Int(raw.ndims)
        guard raw.format_kind == dnnl_blocked else { return "kind\(raw.format_kind.rawValue)" }
        let blocking = raw.format_desc.blocking
        let strides = withUnsafeBytes(of: blocking.strides) { Array($0.bindMemory(to: dnnl_dim_t.self).prefix(rank)) }
        let innerCount = Int(blocking.inner_nblks)
        let innerBlocks = withUnsafeBytes(of: blocking.inner_blks) {
            Array($0.bindMemory(to: dnnl_dim_t.self).prefix(innerCount))
        }
        let innerIndices = withUnsafeBytes(of: blocking.inner_idxs) {
            Array($0.bindMemory(to: dnnl_dim_t.self).prefix(innerCount))
        }
        let letters = Array("abcdefghijkl")
        let blocked = Set(innerIndices.map { Int($0) })
        // Outer order: larger stride first; ties (extent 1) keep logical order.
        let order = (0..<rank).sorted { strides[$0] != strides[$1] ? strides[$0] > strides[$1] : $0 < $1 }
        var name = order.map { blocked.contains($0) ? String(letters[$0]).uppercased() : String(letters[$0]) }.joined()
        for (size, index) in zip(innerBlocks, innerIndices) { name += "\(size)\(letters[Int(index)])" }
        return name
    }
}
