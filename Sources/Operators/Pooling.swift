import DNNL
import TensorCore

/// MXNet's `Pooling` over the two spatial axes of `(N, C, H, W)`.
///
/// Output extent per axis (d.5 of the format notes):
/// - `valid`: `⌊(H + 2p − k)/s⌋ + 1`;
/// - `full`: `⌈(H + 2p − k)/s⌉ + 1`, windows hanging past the padded edge are clipped
///   (MXNet before July 2016 always used this; the seed's AlexNet and Inception-BN need it);
/// - `same`: `⌈H/s⌉`.
/// Max ignores padded cells; avg divides by the window clipped to the padded extent
/// (`count_include_pad`, default) or by the number of real cells; sum adds real cells.
/// `global_pool` pools the whole plane.
public struct Pooling: OperatorDefinition {
    public static let mxnetName = "Pooling"

    public enum Kind: String, Sendable, CaseIterable { case max, avg, sum }
    public enum Convention: String, Sendable, CaseIterable { case valid, full, same }

    public var kind: Kind
    public var kernel: [Int]
    public var stride: [Int]
    public var pad: [Int]
    public var convention: Convention
    public var isGlobal: Bool
    public var countIncludesPad: Bool

    public init(
        _ kind: Kind, kernel: [Int], stride: [Int] = [1, 1], pad: [Int] = [0, 0],
        convention: Convention = .valid, isGlobal: Bool = false, countIncludesPad: Bool = true
    ) {
        self.kind = kind
        self.kernel = kernel
        self.stride = stride
        self.pad = pad
        self.convention = convention
        self.isGlobal = isGlobal
        self.countIncludesPad = countIncludesPad
    }

    public init(attributes: [String: String], node: String) throws(OperatorError) {
        let reader = AttributeReader(attributes, node: node)
        kind = Kind(rawValue: try reader.string("pool_type", default: "max", allowed: Kind.allCases.map(\.rawValue)))!
        isGlobal = try reader.bool("global_pool", default: false)
        convention = Convention(
            rawValue: try reader.string(
                "pooling_convention", default: "valid", allowed: Convention.allCases.map(\.rawValue)))!
        countIncludesPad = try reader.optionalBool("count_include_pad") ?? true
        let kernelValues = try reader.tuple("kernel")
        if !isGlobal {
            guard let kernelValues, kernelValues.count == 2 else {
                throw OperatorError(node: node, "attribute 'kernel' must give 2 values for 2-D pooling")
            }
        }
        kernel = kernelValues ?? [1, 1]
        stride = try reader.spatial("stride", count: 2, default: 1)
        pad = try reader.spatial("pad", count: 2, default: 0)
        guard stride.allSatisfy({ $0 > 0 }), kernel.allSatisfy({ $0 > 0 }) else {
            throw OperatorError(node: node, "invalid pooling parameters \(attributes)")
        }
    }

    public var argumentNames: [String] { ["data"] }
    /// Blocked where oneDNN computes it (the reference kernel is plain only).
    public func activationType(computing compute: DataType) -> DataType { compute }
    public func blockedLayoutSupport(_ shapes: NodeShapes) -> BlockedLayoutSupport {
        oneDNNMismatch(shapes) == nil ? .activations : .none
    }
    public var backwardDependencies: BackwardDependencies { BackwardDependencies(inputs: [0], outputs: [0]) }

    /// Kernel, stride and pad actually used for data of spatial size `height × width`.
    func window(height: Int, width: Int) -> (kernel: [Int], stride: [Int], pad: [Int]) {
        isGlobal ? ([height, width], [1, 1], [0, 0]) : (kernel, stride, pad)
    }

    func outputExtent(_ input: Int, axis: Int, window: (kernel: [Int], stride: [Int], pad: [Int])) -> Int {
        let k = window.kernel[axis], s = window.stride[axis], p = window.pad[axis]
        if isGlobal { return 1 }
        switch convention {
        case .valid: return (input + 2 * p - k) / s + 1
        case .full: return (input + 2 * p - k + s - 1) / s + 1
        case .same: return (input + s - 1) / s
        }
    }

    public func inferShapes(_ arguments: [Shape?], node: String) throws(OperatorError) -> NodeShapes {
        let data = try requireDataShape(arguments, node: node, rank: 4)
        let w = window(height: data[2], width: data[3])
        if !isGlobal {
            for axis in 0..<2 where w.kernel[axis] > data[2 + axis] + 2 * w.pad[axis] {
                throw OperatorError(node: node, "kernel \(w.kernel) is larger than the padded data \(data)")
            }
        }
        let height = outputExtent(data[2], axis: 0, window: w), width = outputExtent(data[3], axis: 1, window: w)
        return NodeShapes(arguments: [data], outputs: [[data[0], data[1], height, width]])
    }

    public func makeKernel(shapes: NodeShapes, context: KernelContext) throws -> any OperatorKernel {
        if let reason = oneDNNMismatch(shapes) {
            context.noteFallback(node: "\(Self.mxnetName) \(shapes.arguments[0])", reason: reason)
            return ReferenceKernel(self, shapes: shapes)
        }
        return try oneDNNOrReference(self, shapes: shapes, context: context) {
            try makePoolingKernel(self, shapes: shapes, context: context)
        }
    }

    /// Whether windows reach past the padded edge (only `full`/`same` can do that).
    func overhangs(_ shapes: NodeShapes) -> Bool {
        let data = shapes.arguments[0], output = shapes.outputs[0]
        let w = window(height: data[2], width: data[3])
        return (0..<2).contains { axis in
            (output[2 + axis] - 1) * w.stride[axis] + w.kernel[axis] > data[2 + axis] + 2 * w.pad[axis]
        }
    }

    /// Why oneDNN cannot reproduce MXNet here, or nil when it can.
    public func oneDNNMismatch(_ shapes: NodeShapes) -> String? {
        if kind == .sum { return "sum pooling has no oneDNN algorithm" }
        let hasPad = pad.contains { $0 > 0 } && !isGlobal
        if kind == .avg && countIncludesPad && hasPad && overhangs(shapes) {
            return "avg pooling counting the padding with windows past the padded edge has no oneDNN algorithm"
        }
        return nil
    }

    /// The (inclusive start, exclusive end) of one window along an axis: clipped to the data
    /// for reading, and to the padded extent for the `count_include_pad` divisor.
    @inline(__always)
    func span(_ index: Int, extent: Int, axis: Int, window w: (kernel: [Int], stride: [Int], pad: [Int]))
        -> (start: Int, end: Int, paddedCount: Int)
    {
        let start = index * w.stride[axis] - w.pad[axis]
        let end = start + w.kernel[axis]
        let paddedCount = min(end, extent + w.pad[axis]) - start
        return (max(start, 0), min(end, extent), paddedCount)
    }

    public func referenceForward<T: BinaryFloatingPoint & Sendable>(
        _ arguments: [[T]], auxiliary: inout [[T]], shapes: NodeShapes, isTraining: Bool
    ) -> [[T]] {
        let data = shapes.arguments[0], out = shapes.outputs[0]
        let (planes, height, width, outHeight, outWidth) = (data[0] * data[1], data[2], data[3], out[2], out[3])
        let w = window(height: height, width: width)
        let x = arguments[0]
        var y = [T](repeating: 0, count: out.elementCount)
        for plane in 0..<planes {
            for oy in 0..<outHeight {
                let rows = span(oy, extent: height, axis: 0, window: w)
                for ox in 0..<outWidth {
                    let cols = span(ox, extent: width, axis: 1, window: w)
                    var result: T = kind == .max ? -T.greatestFiniteMagnitude : 0
                    for iy in rows.start..<max(rows.start, rows.end) {
                        for ix in cols.start..<max(cols.start, cols.end) {
                            let value = x[(plane * height + iy) * width + ix]
                            result = kind == .max ? max(result, value) : result + value
                        }
                    }
                    if kind == .avg {
                        let cells =
                            countIncludesPad && !isGlobal
                            ? rows.paddedCount * cols.paddedCount
                            : (rows.end - rows.start) * (cols.end - cols.start)
                        result /= T(max(cells, 1))
                    }
                    y[(plane * outHeight + oy) * outWidth + ox] = result
                }
            }
        }
        return [y]
    }

    public func referenceBackward<T: BinaryFloatingPoint & Sendable>(
        outputGradients: [[T]], arguments: [[T]], outputs: [[T]], auxiliary: inout [[T]],
        shapes: NodeShapes
    ) -> [[T]] {
        let data = shapes.arguments[0], out = shapes.outputs[0]
        let (planes, height, width, outHeight, outWidth) = (data[0] * data[1], data[2], data[3], out[2], out[3])
        let w = window(height: height, width: width)
        let x = arguments[0], dy = outputGradients[0]
        var dx = [T](repeating: 0, count: x.count)
        for plane in 0..<planes {
            for oy in 0..<outHeight {
                let rows = span(oy, extent: height, axis: 0, window: w)
                for ox in 0..<outWidth {
                    let cols = span(ox, extent: width, axis: 1, window: w)
                    let g = dy[(plane * outHeight + oy) * outWidth + ox]
                    if kind == .max {
                        // The gradient goes to the first maximum in scan order.
                        var best = -T.greatestFiniteMagnitude, bestIndex = -1
                        for iy in rows.start..<max(rows.start, rows.end) {
                            for ix in cols.start..<max(cols.start, cols.end) {
                                let index = (plane * height + iy) * width + ix
                                if x[index] > best { best = x[index]; bestIndex = index }
                            }
                        }
                        if bestIndex >= 0 { dx[bestIndex] += g }
                        continue
                    }
                    var share = g
                    if kind == .avg {
                        let cells =
                            countIncludesPad && !isGlobal
                            ? rows.paddedCount * cols.paddedCount
                            : (rows.end - rows.start) * (cols.end - cols.start)
                        share /= T(max(cells, 1))
                    }
                    for iy in rows.start..<max(rows.start, rows.end) {
                        for ix in cols.start..<max(cols.start, cols.end) {
                            dx[(plane * height + iy) * width + ix] += share
                        }
                    }
                }
            }
        }
        return [dx]
    }
}

/// oneDNN pooling (v2): training, inference and backward primitives; max pooling keeps
/// oneDNN's workspace (the argmax) from forward to backward in a kernel-owned buffer.
func makePoolingKernel(_ definition: Pooling, shapes: NodeShapes, context: KernelContext) throws -> WorkspaceKernel {
    let data = shapes.arguments[0], output = shapes.outputs[0]
    let w = definition.window(height: data[2], width: data[3])
    let overhang = definition.overhangs(shapes)
    let algorithm: PoolingAlgorithm =
        switch definition.kind {
        case .max: .max
        // Where windows overhang, MXNet's divisor equals oneDNN's "exclude padding" count
        // (the mismatching case was sent to the reference kernel).
        case .avg:
            definition.countIncludesPad && !overhang && !definition.isGlobal
                ? .averageIncludingPadding : .averageExcludingPadding
        case .sum: fatalError("sum pooling is handled by the reference kernel")
        }
    let src = try shapes.descriptor(ofArgument: 0)
    let dst = try shapes.descriptor(ofOutput: 0)
    // MXNet's `full` rounding reaches past the padded edge: pad the right by what the last
    // window needs.
    let padRight = (0..<2).map { axis in
        max(w.pad[axis], (output[2 + axis] - 1) * w.stride[axis] + w.kernel[axis] - data[2 + axis] - w.pad[axis])
    }
    let attributes = try PrimitiveAttributes()
    func forwardDescriptor(_ kind: PropagationKind) throws -> PrimitiveDescriptor {
        try PrimitiveDescriptor(
            .poolingForward(
                kind, algorithm, source: src, destination: dst, strides: w.stride,
                kernel: w.kernel, paddingLeft: w.pad, paddingRight: padRight),
            attributes: attributes, what: "pooling forward \(data)")
    }
    let training = try forwardDescriptor(.forwardTraining)
    let backward = try PrimitiveDescriptor(
        .poolingBackward(
            algorithm, diffSource: src, diffDestination: dst, strides: w.stride, kernel: w.kernel,
            paddingLeft: w.pad, paddingRight: padRight),
        attributes: attributes, hint: training, what: "pooling backward")
    return try WorkspaceKernel(
        training: training, inference: forwardDescriptor(.forwardInference), backward: backward,
        backwardReadsSource: false, hiddenOutput: nil, context: context)
}
