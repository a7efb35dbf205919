import CDNNL

/// A oneDNN call that failed, with what was being done.
public struct DNNLError: Error, CustomStringConvertible {
    public let status: dnnl_status_t
    public let operation: String

    public init(status: dnnl_status_t, operation: String) {
        self.status = status
        self.operation = operation
    }

    public var description: String {
        let reason: String =
            switch status {
            case dnnl_out_of_memory: "out of memory"
            case dnnl_invalid_arguments: "invalid arguments"
            case dnnl_unimplemented: "no implementation for these shapes/formats"
            case dnnl_runtime_error: "runtime error"
            default: "status \(status.rawValue)"
            }
        return "oneDNN: \(operation): \(reason)"
    }
}

/// Turns a oneDNN status into a Swift error naming `operation`.
@inlinable
public func check(_ status: dnnl_status_t, _ operation: @autoclosure () -> String) throws(DNNLError) {
    if status != dnnl_success { throw DNNLError(status: status, operation: operation()) }
}

/// For calls that cannot fail once their primitive exists (execution of a validated primitive).
@inlinable
public func mustSucceed(_ status: dnnl_status_t, _ operation: @autoclosure () -> String) {
    if status != dnnl_success {
        fatalError(DNNLError(status: status, operation: operation()).description)
    }
}
