import Graph
import Operators

/// MXNet's `inception-bn-28-small` (the CIFAR-10 network of `symbol_inception-bn-28-small.py`)
/// for 28–32 px inputs: Conv→BatchNorm→ReLU factories, "simple" blocks of a 1×1 and a 3×3
/// branch, "downsample" blocks of a stride-2 3×3 conv beside a 3×3/2 max pool, a 7×7
/// average pool and one fully-connected layer. Operators are unnamed except the head, so
/// arguments carry MXNet's automatic names (`convolution0_weight`, `batchnorm0_gamma` …).
///
/// Input `(N, 3, 28, 28)`: 28 → 14 → 7, where the average pool is global.
public func inceptionBNSmall(classCount: Int = 10, pooling: PoolingRounding = .full) throws -> Symbol {
    let b = SymbolBuilder()
    let convention = pooling.convention
    func convFactory(_ x: Symbol, _ filters: Int, _ kernel: Int, stride: Int = 1, pad: Int = 0) throws -> Symbol {
        let conv = try b.convolution(
            x, kernel: [kernel, kernel], filterCount: filters, stride: [stride, stride],
            pad: [pad, pad])
        return try b.activation(b.batchNorm(conv), kind: .relu)
    }
    func downsample(_ x: Symbol, _ filters: Int) throws -> Symbol {
        let conv = try convFactory(x, filters, 3, stride: 2, pad: 1)
        let pad = pooling == .validPadded ? 1 : 0
        let pool = try b.pooling(
            x, kind: .max, kernel: [3, 3], stride: [2, 2], pad: [pad, pad], convention: convention)
        return try b.concat([conv, pool])
    }
    func simple(_ x: Symbol, _ c1x1: Int, _ c3x3: Int) throws -> Symbol {
        try b.concat([convFactory(x, c1x1, 1), convFactory(x, c3x3, 3, pad: 1)])
    }
    var x = try convFactory(b.variable("data"), 96, 3, pad: 1)
    x = try simple(x, 32, 32)
    x = try simple(x, 32, 48)
    x = try downsample(x, 80)
    x = try simple(x, 112, 48)
    x = try simple(x, 96, 64)
    x = try simple(x, 80, 80)
    x = try simple(x, 48, 96)
    x = try downsample(x, 96)
    x = try simple(x, 176, 160)
    x = try simple(x, 176, 160)
    let pool = try b.pooling(x, name: "global_pool", kind: .avg, kernel: [7, 7], convention: convention)
    let fc = try b.fullyConnected(b.flatten(pool, name: "flatten1"), name: "fc1", hiddenCount: classCount)
    return try b.softmaxOutput(fc, name: "softmax")
}
