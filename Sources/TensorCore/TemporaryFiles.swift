#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Temporary files that an interrupt (SIGINT, SIGTERM, SIGHUP) must not leave behind: the
/// signal handler unlinks every registered path, then lets the signal end the process as it
/// would have. Writers register a temporary file before creating it and unregister it once
/// it is renamed or removed.
///
/// The handler may only call async-signal-safe functions, so the paths live in a fixed table
/// of C strings that registration fills and the handler reads (no Swift allocation there).
public enum TemporaryFiles {
    private static let capacity = 64
    private static let lock = Mutex()
    nonisolated(unsafe) private static let table: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?> = {
        let table = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: capacity)
        table.initialize(repeating: nil, count: capacity)
        return table
    }()
    nonisolated(unsafe) private static var isInstalled = false

    /// Deletes `path` if the process is interrupted before `unregister(path)`.
    public static func register(_ path: String) {
        lock.withLock {
            installHandlers()
            guard let free = (0..<capacity).first(where: { table[$0] == nil }) else { return }
            table[free] = strdup(path)
        }
    }

    public static func unregister(_ path: String) {
        lock.withLock {
            for index in 0..<capacity {
                guard let entry = table[index], String(cString: entry) == path else { continue }
                table[index] = nil
                free(entry)
                return
            }
        }
    }

    private static func installHandlers() {
        guard !isInstalled else { return }
        isInstalled = true
        for signalNumber in [SIGINT, SIGTERM, SIGHUP] {
            signal(signalNumber) { received in
                let savedErrno = errno  // unlink may set it; the interrupted code keeps its own
                for index in 0..<TemporaryFiles.capacity {
                    if let entry = TemporaryFiles.table[index] { unlink(entry) }
                }
                errno = savedErrno
                signal(received, SIG_DFL)
                raise(received)
            }
        }
    }
}

/// A pthread mutex (Foundation-free, usable from TensorCore).
final class Mutex: @unchecked Sendable {
    private var mutex = pthread_mutex_t()

    init() { pthread_mutex_init(&mutex, nil) }
    deinit { pthread_mutex_destroy(&mutex) }

    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return try body()
    }
}
