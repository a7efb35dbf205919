import Foundation

#if canImport(Glibc)
import Glibc
import TensorCore
#endif

/// A progress bar on standard error, drawn only when it is a terminal and at most ten
/// times a second; `finish` ends the line. Updated by one thread at a time.
final class ProgressBar: @unchecked Sendable {
    private let total: Int
    private let label: String
    private let isTerminal: Bool
    private let start = monotonicSeconds()
    private var lastDraw = 0.0

    init(total: Int, label: String, isShown: Bool = true) {
        self.total = total
        self.label = label
        isTerminal = isShown && isatty(2) != 0
    }

    func update(_ done: Int, unit: String = "images") {
        guard isTerminal else { return }
        let time = monotonicSeconds()
        guard time - lastDraw > 0.1 || done == total else { return }
        lastDraw = time
        let fraction = total > 0 ? Double(done) / Double(total) : 1
        let filled = Int(fraction * 30)
        let rate = Double(done) / max(time - start, 1e-9)
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: 30 - filled)
        let text = String(format: "\r%@ [%@] %d/%d %@ %.0f/s", label, bar, done, total, unit, rate)
        text.withCString { _ = write(2, $0, strlen($0)) }
    }

    /// Clears the bar so that a log line can be written; the next update redraws it.
    func interrupt() {
        guard isTerminal else { return }
        "\r\u{1B}[K".withCString { _ = write(2, $0, strlen($0)) }
        lastDraw = 0
    }

    func finish() {
        if isTerminal { "\n".withCString { _ = write(2, $0, 1) } }
    }
}

/// CPU seconds (user + system) used by this process so far.
func processCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) * 1e-6
        + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) * 1e-6
}
