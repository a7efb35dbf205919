import DNNL
import TensorCore

#if canImport(Glibc)
import Glibc
#endif

/// MXNet's `SoftmaxOutput`: forward is the softmax over axis 1 of data `(N, K)` (more axes
/// are flattened into K); backward ignores the incoming gradient and returns
/// `(p − onehot(label)) · grad_scale / norm` (with `smooth_alpha`, the target puts
/// 1 − α on the label and α/(K − 1) elsewhere). `norm` is 1 (`null`), N (`batch`) or the
/// number of rows whose label is not `ignore_label` (`valid`). With `use_ignore`, rows
/// labelled `ignore_label` get no gradient. Not divided by the batch otherwise: the
/// optimizer's `rescale_grad = 1/batch` does that. Arguments `data`, `label (N,)`.
public struct SoftmaxOutput: OperatorDefinition {
    public static let mxnetName = "SoftmaxOutput"

    public enum Normalization: String, Sendable, CaseIterable { case null, batch, valid }

    public var gradientScale: Double
    public var ignoreLabel: Double
    public var useIgnore: Bool
    public var normalization: Normalization
    public var smoothAlpha: Double

    public init(
        gradientScale: Double = 1, ignoreLabel: Double = -1, useIgnore: Bool = false,
        normalization: Normalization = .null, smoothAlpha: Double = 0
    ) {
        self.gradientScale = gradientScale
        self.ignoreLabel = ignoreLabel
        self.useIgnore = useIgnore
        self.normalization = normalization
        self.smoothAlpha = smoothAlpha
    }

    public init(attributes: [String: String], node: String) throws(OperatorError) {
        let reader = AttributeReader(attributes, node: node)
        gradientScale = try reader.float("grad_scale", default: 1)
        ignoreLabel = try reader.float("ignore_label", default: -1)
        useIgnore = try reader.bool("use_ignore", default: false)
        normalization = Normalization(
            rawValue: try reader.string(
                "normalization", default: "null", allowed: Normalization.allCases.map(\.rawValue)))!
        smoothAlpha = try reader.float("smooth_alpha", default: 0)
        if try reader.bool("multi_output", default: false) {
            throw OperatorError(node: node, "multi_output=True is not supported")
        }
        if try reader.bool("preserve_shape", default: false) {
            throw OperatorError(node: node, "preserve_shape=True is not supported")
        }
    }

    public var argumentNames: [String] { ["data", "label"] }
    public var argumentRoles: [ArgumentRole] { [.data, .label] }
    public var backwardDependencies: BackwardDependencies {
        BackwardDependencies(inputs: [1], outputs: [0], readsOutputGradients: false)
    }
    public var inPlaceOptions: [(argument: Int, output: Int)] { [(0, 0)] }

    public func inferShapes(_ arguments: [Shape?], node: String) throws(OperatorError) -> NodeShapes {
        let data = try requireDataShape(arguments, node: node)
        guard data.rank >= 2 else { throw OperatorError(node: node, "data must be (N, K), got \(data)") }
        try expectShape(arguments.count > 1 ? arguments[1] : nil, [data[0]], argument: "label", node: node)
        return NodeShapes(arguments: [data, [data[0]]], outputs: [data])
    }

    public func makeKernel(shapes: NodeShapes, context: KernelContext) throws -> any OperatorKernel {
        try oneDNNOrReference(self, shapes: shapes, context: context) {
            try SoftmaxOutputKernel(self, shapes: shapes, context: context)
        }
    }

    /// Rows that count for the gradient and the `valid` normalisation.
    @inline(__always) func isIgnored(_ label: Double) -> Bool { useIgnore && label == ignoreLabel }

    func normalizer(labels: UnsafeBufferPointer<Float>) -> Double {
        switch normalization {
        case .null: return 1
        case .batch: return Double(labels.count)
        case .valid:
            // Counted in place: this runs every batch and must not allocate.
            var valid = 0
            for label in labels where !isIgnored(Double(label)) { valid += 1 }
            return Double(max(1, valid))
        }
    }

    public func referenceForward<T: BinaryFloatingPoint & Sendable>(
        _ arguments: [[T]], auxiliary: inout [[T]], shapes: NodeShapes, isTraining: Bool
    ) -> [[T]] {
        let rows = shapes.arguments[0][0], classes = shapes.arguments[0].elementCount / rows
        var p = arguments[0]
        for r in 0..<rows {
            let row = (r * classes)..<((r + 1) * classes)
            let top = p[row].max()!
            var sum: T = 0
            for i in row { p[i] = T(exp(Double(p[i] - top))); sum += p[i] }
            for i in row { p[i] /= sum }
        }
        return [p]
    }

    public func referenceBackward<T: BinaryFloatingPoint & Sendable>(
        outputGradients: [[T]], arguments: [[T]], outputs: [[T]], auxiliary: inout [[T]],
        shapes: NodeShapes
    ) -> [[T]] {
        let rows = shapes.arguments[0][0], classes = shapes.arguments[0].elementCount / rows
        let labels = arguments[1].map { Float($0) }
        let norm = labels.withUnsafeBufferPointer { normalizer(labels: $0) }
        let scale = T(gradientScale / norm)
        var dx = [T](repeating: 0, count: outputs[0].count)
        for r in 0..<rows where !isIgnored(Double(labels[r])) {
            let label = Int(labels[r])
            for k in 0..<classes {
                let target: T =
                    smoothAlpha == 0
                    ? (k == label ? 1 : 0)
                    : (k == label ? T(1 - smoothAlpha) : T(smoothAlpha / Double(classes - 1)))
                dx[r * classes + k] = (outputs[0][r * classes + k] - target) * scale
            }
        }
        return [dx, [T](repeating: 0, count: rows)]
    }
}

/// oneDNN softmax forward; the loss gradient is a short Swift loop.
final class SoftmaxOutputKernel: OperatorKernel {
    private let context: KernelContext
    private let definition: SoftmaxOutput
    private let rows, classes: Int
    private let primitive: Primitive
    private let source, destination: Memory
    private let outputTarget = RequestTarget(slot: 0)
    private let arguments: PrimitiveArguments

    var implementation: String { primitive.descriptor.implementationName }

    init(_ definition: SoftmaxOutput, shapes: NodeShapes, context: KernelContext) throws {
        self.context = context
        self.definition = definition
        rows = shapes.arguments[0][0]
        classes = shapes.arguments[0].elementCount / rows
        let md = try MemoryDescriptor.plain([rows, classes])
        primitive = try Primitive(
            PrimitiveDescriptor(
                .softmaxForward(.forwardTraining, data: md, axis: 1),
                attributes: PrimitiveAttributes(), what: "softmax"))
        source = try Memory(md)
        destination = try Memory(md)
        arguments = PrimitiveArguments([.source: source, .destination: destination])
    }

    func forward(_ call: ForwardCall) {
        let request = call.requests[0]
        guard request != .skip else { return }
        source.bind(call.arguments[0].rawPointer)
        destination.bind(outputTarget.pointer(for: call.outputs[0], request: request, in: context))
        primitive.execute(arguments, on: context.stream)
        outputTarget.complete(call.outputs[0], request: request, in: context)
    }

    func backward(_ call: BackwardCall) {
        if call.requests.count > 1, call.requests[1] == .write, let labelGradient = call.argumentGradients[1] {
            labelGradient.fill(0)
        }
        let request = call.requests[0]
        guard request != .skip, let gradient = call.argumentGradients[0] else { return }
        let labels = UnsafeBufferPointer(start: call.arguments[1].floats, count: rows)
        let scale = Float(definition.gradientScale / definition.normalizer(labels: labels))
        let p = call.outputs[0].floats, dx = gradient.floats
        let alpha = definition.smoothAlpha
        let onLabel = Float(alpha == 0 ? 1 : 1 - alpha)
        let offLabel = Float(alpha == 0 ? 0 : alpha / Double(classes - 1))
        for r in 0..<rows {
            let base = r * classes
            if definition.isIgnored(Double(labels[r])) {
                if request != .add { (dx + base).update(repeating: 0, count: classes) }
                continue
            }
            let label = Int(labels[r])
            for k in 0..<classes {
                let target = k == label ? onLabel : offLabel
                store(request, dx, base + k, (p[base + k] - target) * scale)
            }
        }
    }
}
