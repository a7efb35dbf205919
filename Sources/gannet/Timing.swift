#if canImport(Glibc)
import Glibc
#endif
import TensorCore

/// Times `body`: one warm-up call, then `runs` runs of enough repetitions to last about
/// `runSeconds` each. Returns seconds per call for every run.
func measure(runs: Int, runSeconds: Double, _ body: () -> Void) -> [Double] {
    let start = monotonicSeconds()
    body()
    let once = max(monotonicSeconds() - start, 1e-6)
    let repetitions = max(1, Int(runSeconds / once))
    return (0..<runs).map { _ in
        let begin = monotonicSeconds()
        for _ in 0..<repetitions { body() }
        return (monotonicSeconds() - begin) / Double(repetitions)
    }
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    let middle = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

/// Writes to standard error (standard output carries results).
func log(_ text: String) {
    let line = text + "\n"
    line.withCString { _ = write(2, $0, strlen($0)) }
}

/// `log` under another name, for code whose local `log` decides who speaks.
func logToStandardError(_ text: String) { log(text) }
