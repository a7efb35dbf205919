#if canImport(Glibc)
import Glibc
#endif
import TensorCore

/// Writes to standard error (standard output carries results).
func log(_ text: String) {
    let line = text + "\n"
    line.withCString { _ = write(2, $0, strlen($0)) }
}

/// `log` under another name, for code whose local `log` decides who speaks.
func logToStandardError(_ text: String) { log(text) }
