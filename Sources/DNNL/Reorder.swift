import CDNNL

/// A layout conversion between two descriptors of the same logical tensor, built once.
public final class Reorder {
    public let source: Memory
    public let destination: Memory
    public let primitive: Primitive
    private let arguments: PrimitiveArguments

    public init(from source: MemoryDescriptor, to destination: MemoryDescriptor, engine: Engine = .cpu) throws {
        var pd: dnnl_primitive_desc_t?
        #if ONEDNN3
        let status = dnnl_reorder_primitive_desc_create(
            &pd, source.raw, engine.handle, destination.raw, engine.handle, nil)
        #else
        var src = source.raw, dst = destination.raw
        let status = dnnl_reorder_primitive_desc_create(&pd, &src, engine.handle, &dst, engine.handle, nil)
        #endif
        try check(status, "reorder \(source.formatName) -> \(destination.formatName)")
        primitive = try Primitive(PrimitiveDescriptor(adopting: pd!))
        self.source = try Memory(source, engine: engine)
        self.destination = try Memory(destination, engine: engine)
        // DNNL_ARG_FROM and DNNL_ARG_TO are DNNL_ARG_SRC and DNNL_ARG_DST.
        arguments = PrimitiveArguments([.source: self.source, .destination: self.destination])
    }

    /// Converts the elements at `from` into the layout at `to`.
    public func run(from: UnsafeMutableRawPointer, to: UnsafeMutableRawPointer, on stream: Stream) {
        source.bind(from)
        destination.bind(to)
        primitive.execute(arguments, on: stream)
    }
}
