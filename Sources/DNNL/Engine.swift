import CDNNL

/// The CPU engine. One per process is enough: oneDNN parallelises each primitive over all
/// cores itself (OpenMP).
public final class Engine: @unchecked Sendable {
    public let handle: dnnl_engine_t

    /// The process-wide CPU engine.
    public static let cpu: Engine = {
        do { return try Engine() } catch { fatalError("\(error)") }
    }()

    private init() throws {
        var engine: dnnl_engine_t?
        try check(dnnl_engine_create(&engine, dnnl_cpu, 0), "create CPU engine")
        self.handle = engine!
    }

    deinit { dnnl_engine_destroy(handle) }
}

/// An in-order execution stream. Each executor (and each test) has its own, so that
/// independent executors can run on different threads.
public final class Stream {
    public let handle: dnnl_stream_t

    public init(engine: Engine = .cpu) throws {
        var stream: dnnl_stream_t?
        try check(dnnl_stream_create(&stream, engine.handle, dnnl_stream_default_flags.rawValue), "create stream")
        handle = stream!
    }

    deinit { dnnl_stream_destroy(handle) }

    /// Waits for everything submitted (a no-op for the in-order CPU stream, kept for
    /// backends that run asynchronously).
    public func wait() { mustSucceed(dnnl_stream_wait(handle), "stream wait") }
}
