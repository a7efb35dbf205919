import Graph
import Operators

/// Pooling rounding of the seed networks: `full` is what MXNet computed in 2015 (the
/// scripts' shapes and the pretrained files); `valid` is the same script under MXNet ≥ 0.9
/// defaults (AlexNet then flattens 256×5×5 = 6400; Inception-BN needs `validPadded`).
public enum PoolingRounding: String, Sendable, CaseIterable {
    case full
    case valid
    /// Floor rounding with pad 1 on the stride-2 max pools of the downsampling blocks: the
    /// later fix in MXNet's `example/image-classification` (Inception-BN and the small net).
    case validPadded = "valid-padded"

    var convention: Pooling.Convention { self == .full ? .full : .valid }
}

/// AlexNet as in MXNet's 2015 `example/imagenet/alexnet.py`: conv 96/256/384/384/256 with
/// LRN (nsize 5, alpha 1e-4, beta 0.75, knorm 1) after the first two pools, two 4096-wide
/// fully-connected layers with dropout 0.5. Operators are unnamed, so checkpoint keys are
/// MXNet's automatic names (`convolution0_weight` … `fullyconnected2_bias`).
///
/// Input `(N, 3, 224, 224)`; with `full` pooling the flattened features are 256·6·6 = 9216.
public func alexNet(classCount: Int = 1000, pooling: PoolingRounding = .full) throws -> Symbol {
    let b = SymbolBuilder()
    let convention = pooling.convention
    func pool(_ x: Symbol) throws -> Symbol {
        try b.pooling(x, kind: .max, kernel: [3, 3], stride: [2, 2], convention: convention)
    }
    func lrn(_ x: Symbol) throws -> Symbol { try b.lrn(x, size: 5, alpha: 0.0001, beta: 0.75, knorm: 1) }
    func conv(_ x: Symbol, _ filters: Int, _ kernel: Int, stride: Int? = nil, pad: Int? = nil) throws -> Symbol {
        try b.activation(
            b.convolution(
                x, kernel: [kernel, kernel], filterCount: filters,
                stride: stride.map { [$0, $0] }, pad: pad.map { [$0, $0] }), kind: .relu)
    }
    let data = b.variable("data")
    let stage1 = try lrn(pool(conv(data, 96, 11, stride: 4)))
    let stage2 = try lrn(pool(conv(stage1, 256, 5, pad: 2)))
    let stage3 = try pool(conv(conv(conv(stage2, 384, 3, pad: 1), 384, 3, pad: 1), 256, 3, pad: 1))
    var x = try b.flatten(stage3)
    for _ in 0..<2 {
        x = try b.dropout(b.activation(b.fullyConnected(x, hiddenCount: 4096), kind: .relu), probability: 0.5)
    }
    return try b.softmaxOutput(b.fullyConnected(x, hiddenCount: classCount), name: "softmax")
}
