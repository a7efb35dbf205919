import DNNL
import TensorCore

#if canImport(Glibc)
import Glibc
#endif

/// MXNet's `Activation`: element-wise `relu`, `sigmoid`, `tanh`, `softrelu` (log(1+eˣ)) or
/// `softsign` (x/(1+|x|)). Any shape in, the same shape out.
public struct Activation: OperatorDefinition {
    public static let mxnetName = "Activation"

    public enum Kind: String, Sendable, CaseIterable {
        case relu, sigmoid, tanh, softrelu, softsign
    }

    public var kind: Kind

    public init(_ kind: Kind) { self.kind = kind }

    public init(attributes: [String: String], node: String) throws(OperatorError) {
        let reader = AttributeReader(attributes, node: node)
        let name = try reader.string("act_type", default: "", allowed: Kind.allCases.map(\.rawValue))
        guard let kind = Kind(rawValue: name) else {
            throw OperatorError(node: node, "required attribute 'act_type' is missing")
        }
        self.kind = kind
    }

    public var argumentNames: [String] { ["data"] }

    /// relu, sigmoid and tanh differentiate from their output, so they may run in place.
    var backwardUsesOutput: Bool { kind == .relu || kind == .sigmoid || kind == .tanh }

    public var backwardDependencies: BackwardDependencies {
        backwardUsesOutput ? BackwardDependencies(outputs: [0]) : BackwardDependencies(inputs: [0])
    }

    public var inPlaceOptions: [(argument: Int, output: Int)] { backwardUsesOutput ? [(0, 0)] : [] }

    public var isCheapToRecompute: Bool { true }
    public func blockedLayoutSupport(_ shapes: NodeShapes) -> BlockedLayoutSupport { .activations }
    /// softsign has no oneDNN algorithm; its Swift kernel computes in float32.
    public func activationType(computing compute: DataType) -> DataType { kind == .softsign ? .float32 : compute }

    public func inferShapes(_ arguments: [Shape?], node: String) throws(OperatorError) -> NodeShapes {
        let data = try requireDataShape(arguments, node: node)
        return NodeShapes(arguments: [data], outputs: [data])
    }

    public func makeKernel(shapes: NodeShapes, context: KernelContext) throws -> any OperatorKernel {
        try oneDNNOrReference(self, shapes: shapes, context: context) {
            try ActivationKernel(self, shapes: shapes, context: context)
        }
    }

    func apply<T: BinaryFloatingPoint>(_ x: T) -> T {
        let d = Double(x)
        switch kind {
        case .relu: return max(x, 0)
        case .sigmoid: return T(1 / (1 + exp(-d)))
        case .tanh: return T(Foundation_tanh(d))
        case .softrelu: return T(d > 20 ? d : log1p(exp(d)))
        case .softsign: return T(d / (1 + abs(d)))
        }
    }

    /// dy/dx from the input x and the output y.
    func derivative<T: BinaryFloatingPoint>(input x: T, output y: T) -> T {
        switch kind {
        case .relu: return x > 0 ? 1 : 0
        case .sigmoid: return y * (1 - y)
        case .tanh: return 1 - y * y
        case .softrelu: return T(1 / (1 + exp(-Double(x))))
        case .softsign: let a = 1 + abs(x); return 1 / (a * a)
        }
    }

    public func referenceForward<T: BinaryFloatingPoint & Sendable>(
        _ arguments: [[T]], auxiliary: inout [[T]], shapes: NodeShapes, isTraining: Bool
    ) -> [[T]] {
        [arguments[0].map { apply($0) }]
    }

    public func referenceBackward<T: BinaryFloatingPoint & Sendable>(
        outputGradients: [[T]], arguments: [[T]], outputs: [[T]], auxiliary: inout [[T]],
        shapes: NodeShapes
    ) -> [[T]] {
        [
            arguments[0].indices.map {
                outputGradients[0][$0] * derivative(input: arguments[0][$0], output: outputs[0][$0])
            }
        ]
    }
}

@inline(__always) private func Foundation_tanh(_ x: Double) -> Double { tanh(x) }

/// oneDNN eltwise for relu/sigmoid/tanh/softrelu (the first three differentiate from the
/// output, so forward may run in place); softsign runs as a Swift loop.
final class ActivationKernel: OperatorKernel {
    private let context: KernelContext
    private let definition: Activation
    private let forwardPrimitive, backwardPrimitive: Primitive?
    private let source, destination, gradientDestination, gradientSource: Memory
    private let outputTarget = RequestTarget(slot: 0), dataTarget = RequestTarget(slot: 0)
    private let forwardArguments, backwardArguments: PrimitiveArguments

    var implementation: String { forwardPrimitive?.descriptor.implementationName ?? "swift" }

    init(_ definition: Activation, shapes: NodeShapes, context: KernelContext) throws {
        self.context = context
        self.definition = definition
        let plain = try shapes.descriptor(ofArgument: 0)
        source = try Memory(plain)
        destination = try Memory(plain)
        gradientDestination = try Memory(plain)
        gradientSource = try Memory(plain)
        let algorithm: EltwiseAlgorithm? =
            switch definition.kind {
            case .relu: .reluUsingOutput
            case .sigmoid: .logisticUsingOutput
            case .tanh: .tanhUsingOutput
            case .softrelu: .softRelu
            case .softsign: nil
            }
        guard let algorithm else {
            forwardPrimitive = nil
            backwardPrimitive = nil
            forwardArguments = PrimitiveArguments()
            backwardArguments = PrimitiveArguments()
            return
        }
        let attributes = try PrimitiveAttributes()
        let fwd = try PrimitiveDescriptor(
            .eltwiseForward(.forwardTraining, algorithm, data: plain), attributes: attributes,
            what: "activation forward")
        let bwd = try PrimitiveDescriptor(
            .eltwiseBackward(algorithm, diffData: plain, data: plain), attributes: attributes,
            hint: fwd, what: "activation backward")
        forwardPrimitive = try Primitive(fwd)
        backwardPrimitive = try Primitive(bwd)
        forwardArguments = PrimitiveArguments([.source: source, .destination: destination])
        var backwardArguments = PrimitiveArguments()
        backwardArguments.append(definition.backwardUsesOutput ? .destination : .source, source)
        backwardArguments.append(.diffDestination, gradientDestination)
        backwardArguments.append(.diffSource, gradientSource)
        self.backwardArguments = backwardArguments
    }

    func forward(_ call: ForwardCall) {
        let request = call.requests[0]
        guard request != .skip else { return }
        let input = call.arguments[0], output = call.outputs[0]
        let target = outputTarget.pointer(for: output, request: request, in: context)
        if let forwardPrimitive {
            source.bind(input.rawPointer)
            destination.bind(target)
            forwardPrimitive.execute(forwardArguments, on: context.stream)
        } else {
            let x = input.floats, y = target.assumingMemoryBound(to: Float.self)
            for i in 0..<input.elementCount { y[i] = definition.apply(x[i]) }
        }
        outputTarget.complete(output, request: request, in: context)
    }

    func backward(_ call: BackwardCall) {
        let request = call.requests[0]
        guard request != .skip, let gradient = call.argumentGradients[0] else { return }
        let target = dataTarget.pointer(for: gradient, request: request, in: context)
        if let backwardPrimitive {
            source.bind(definition.backwardUsesOutput ? call.outputs[0].rawPointer : call.arguments[0].rawPointer)
            gradientDestination.bind(call.outputGradients[0].rawPointer)
            gradientSource.bind(target)
            backwardPrimitive.execute(backwardArguments, on: context.stream)
        } else {
            let x = call.arguments[0].floats, y = call.outputs[0].floats, dy = call.outputGradients[0].floats
            let dx = target.assumingMemoryBound(to: Float.self)
            for i in 0..<gradient.elementCount { dx[i] = dy[i] * definition.derivative(input: x[i], output: y[i]) }
        }
        dataTarget.complete(gradient, request: request, in: context)
    }
}
