import CDNNL

/// Swift spelling of `DNNL_MEMORY_NONE`: create a memory object without a buffer.
public var dnnlMemoryNone: UnsafeMutableRawPointer? { nil }
/// Swift spelling of `DNNL_MEMORY_ALLOCATE` (`(void *)-1`): let oneDNN allocate the buffer.
public var dnnlMemoryAllocate: UnsafeMutableRawPointer? { UnsafeMutableRawPointer(bitPattern: -1) }

/// A oneDNN memory object: a descriptor plus a data handle that can be repointed cheaply
/// (`bind`), so one object serves every batch.
public final class Memory {
    public let handle: dnnl_memory_t
    public let descriptor: MemoryDescriptor

    public init(
        _ descriptor: MemoryDescriptor, engine: Engine = .cpu,
        pointer: UnsafeMutableRawPointer? = dnnlMemoryNone
    ) throws {
        var memory: dnnl_memory_t?
        #if ONEDNN3
        try check(dnnl_memory_create(&memory, descriptor.raw, engine.handle, pointer), "create memory")
        #else
        var md = descriptor.raw
        try check(dnnl_memory_create(&memory, &md, engine.handle, pointer), "create memory")
        #endif
        self.handle = memory!
        self.descriptor = descriptor
    }

    deinit { dnnl_memory_destroy(handle) }

    /// Points the memory object at `pointer` (no copy).
    @inlinable
    public func bind(_ pointer: UnsafeMutableRawPointer) {
        #if ONEDNN3
        mustSucceed(dnnl_memory_set_data_handle(handle, pointer), "set data handle")
        #else
        mustSucceed(dnnl_memory_set_data_handle_v2(handle, pointer, nil), "set data handle")
        #endif
    }
}
