import DNNL
import TensorCore

#if canImport(Glibc)
import Glibc
#endif

/// MXNet's `LRN` across channels of `(N, C, H, W)`:
/// `y = x / (knorm + alpha/nsize · Σ x²)^beta`, the sum over `nsize` channels centred on c
/// (zero beyond the ends). Outputs `output` and the hidden `tmp_norm`, which holds
/// oneDNN's workspace for backward.
public struct LRN: OperatorDefinition {
    public static let mxnetName = "LRN"

    public var size: Int
    public var alpha: Double
    public var beta: Double
    public var knorm: Double

    public init(size: Int, alpha: Double = 1e-4, beta: Double = 0.75, knorm: Double = 2) {
        self.size = size
        self.alpha = alpha
        self.beta = beta
        self.knorm = knorm
    }

    public init(attributes: [String: String], node: String) throws(OperatorError) {
        let reader = AttributeReader(attributes, node: node)
        size = try reader.int("nsize")
        alpha = try reader.float("alpha", default: 1e-4)
        beta = try reader.float("beta", default: 0.75)
        knorm = try reader.float("knorm", default: 2)
        guard size > 0 else { throw OperatorError(node: node, "nsize must be positive") }
    }

    public var argumentNames: [String] { ["data"] }
    /// oneDNN's LRN windows are centred: an even size runs on the (plain) reference kernel.
    public func activationType(computing compute: DataType) -> DataType { compute }
    public func blockedLayoutSupport(_ shapes: NodeShapes) -> BlockedLayoutSupport {
        size % 2 == 1 ? .activations : .none
    }
    public var outputNames: [String] { ["output", "tmp_norm"] }
    public var backwardDependencies: BackwardDependencies { BackwardDependencies(inputs: [0], outputs: [1]) }

    public func inferShapes(_ arguments: [Shape?], node: String) throws(OperatorError) -> NodeShapes {
        let data = try requireDataShape(arguments, node: node, rank: 4)
        return NodeShapes(arguments: [data], outputs: [data, data])
    }

    public func makeKernel(shapes: NodeShapes, context: KernelContext) throws -> any OperatorKernel {
        if size % 2 == 0 {
            context.noteFallback(node: "LRN nsize \(size)", reason: "oneDNN centres only odd windows")
            return ReferenceKernel(self, shapes: shapes)
        }
        return try oneDNNOrReference(self, shapes: shapes, context: context) {
            try makeLRNKernel(self, shapes: shapes, context: context)
        }
    }

    /// First channel of the window centred on `c` (MXNet pads nsize/2 before).
    @inline(__always) func windowStart(_ c: Int) -> Int { c - size / 2 }

    /// knorm + alpha/nsize · Σ x² per element.
    func norms<T: BinaryFloatingPoint>(_ x: [T], _ data: Shape) -> [T] {
        let (channels, spatial) = (data[1], data[2] * data[3])
        var scale = [T](repeating: 0, count: x.count)
        for n in 0..<data[0] {
            for c in 0..<channels {
                for s in 0..<spatial {
                    var sum: T = 0
                    for j in max(0, windowStart(c))..<min(channels, windowStart(c) + size) {
                        let v = x[(n * channels + j) * spatial + s]
                        sum += v * v
                    }
                    scale[(n * channels + c) * spatial + s] = T(knorm) + T(alpha) / T(size) * sum
                }
            }
        }
        return scale
    }

    public func referenceForward<T: BinaryFloatingPoint & Sendable>(
        _ arguments: [[T]], auxiliary: inout [[T]], shapes: NodeShapes, isTraining: Bool
    ) -> [[T]] {
        let x = arguments[0]
        let scale = norms(x, shapes.arguments[0])
        let y = x.indices.map { x[$0] * T(pow(Double(scale[$0]), -beta)) }
        return [y, scale]
    }

    public func referenceBackward<T: BinaryFloatingPoint & Sendable>(
        outputGradients: [[T]], arguments: [[T]], outputs: [[T]], auxiliary: inout [[T]],
        shapes: NodeShapes
    ) -> [[T]] {
        let data = shapes.arguments[0]
        let x = arguments[0], dy = outputGradients[0]
        let scale = norms(x, data)
        let (channels, spatial) = (data[1], data[2] * data[3])
        var dx = [T](repeating: 0, count: x.count)
        let factor = T(2 * alpha * beta / Double(size))
        for n in 0..<data[0] {
            for c in 0..<channels {
                for s in 0..<spatial {
                    let i = (n * channels + c) * spatial + s
                    dx[i] += dy[i] * T(pow(Double(scale[i]), -beta))
                    // x_c appears in the norm of every channel whose window holds c.
                    let common = dy[i] * x[i] * T(pow(Double(scale[i]), -beta - 1)) * factor
                    for j in max(0, windowStart(c))..<min(channels, windowStart(c) + size) {
                        let k = (n * channels + j) * spatial + s
                        dx[k] -= common * x[k]
                    }
                }
            }
        }
        return [dx]
    }
}

/// oneDNN LRN across channels; the workspace lives in the hidden `tmp_norm` output when it
/// fits there, otherwise in a kernel-owned buffer.
func makeLRNKernel(_ definition: LRN, shapes: NodeShapes, context: KernelContext) throws -> WorkspaceKernel {
    let data = shapes.arguments[0]
    let md = try shapes.descriptor(ofArgument: 0)
    let attributes = try PrimitiveAttributes()
    let (alpha, beta, k) = (Float(definition.alpha), Float(definition.beta), Float(definition.knorm))
    func forwardDescriptor(_ kind: PropagationKind) throws -> PrimitiveDescriptor {
        try PrimitiveDescriptor(
            .lrnForward(kind, data: md, size: definition.size, alpha: alpha, beta: beta, k: k),
            attributes: attributes, what: "LRN forward \(data)")
    }
    let training = try forwardDescriptor(.forwardTraining)
    let backward = try PrimitiveDescriptor(
        .lrnBackward(diffData: md, data: md, size: definition.size, alpha: alpha, beta: beta, k: k),
        attributes: attributes, hint: training, what: "LRN backward")
    return try WorkspaceKernel(
        training: training, inference: forwardDescriptor(.forwardInference), backward: backward,
        backwardReadsSource: true,
        hiddenOutput: (1, shapes.outputs[1].elementCount * shapes.type(ofOutput: 1).byteCount),
        context: context)
}
