import Graph
import Operators

/// Inception with BatchNorm as in MXNet's 2015 `example/imagenet/inception.py` (Ioffe &
/// Szegedy 2015): Conv→BatchNorm→ReLU factories named `conv_<name>`, `bn_<name>`,
/// `relu_<name>`; BatchNorm with MXNet's defaults; a 7×7 global average pool and `fc1`.
///
/// Input `(N, 3, 224, 224)`: 112 → 56 → 28 → 14 → 7 with `full` pooling.
public func inceptionBN(classCount: Int = 1000, pooling: PoolingRounding = .full) throws -> Symbol {
    try InceptionBuilder(pooling: pooling).network(classCount: classCount, widths: .imageNet1k)
}

/// The wider Inception-BN of MXNet's `inception-full.py`, used for the 21841 classes of the
/// full ImageNet (layer widths as in MXNet's pretrained 21k model: conv1 96, conv2 128/288,
/// 3a–3c widened by half, 4d's double 3×3 at 96).
public func inceptionBNFull(classCount: Int = 21841, pooling: PoolingRounding = .full) throws -> Symbol {
    try InceptionBuilder(pooling: pooling).network(classCount: classCount, widths: .imageNet21k)
}

struct InceptionWidths {
    struct A { var c1x1, c3x3Reduce, c3x3, d3x3Reduce, d3x3: Int; var pool: Pooling.Kind; var projection: Int }
    struct B { var c3x3Reduce, c3x3, d3x3Reduce, d3x3: Int }
    var conv1, conv2Reduce, conv2: Int
    var a3a, a3b: A
    var b3c: B
    var a4a, a4b, a4c, a4d: A
    var b4e: B
    var a5a, a5b: A

    static let imageNet1k = InceptionWidths(
        conv1: 64, conv2Reduce: 64, conv2: 192,
        a3a: A(c1x1: 64, c3x3Reduce: 64, c3x3: 64, d3x3Reduce: 64, d3x3: 96, pool: .avg, projection: 32),
        a3b: A(c1x1: 64, c3x3Reduce: 64, c3x3: 96, d3x3Reduce: 64, d3x3: 96, pool: .avg, projection: 64),
        b3c: B(c3x3Reduce: 128, c3x3: 160, d3x3Reduce: 64, d3x3: 96),
        a4a: A(c1x1: 224, c3x3Reduce: 64, c3x3: 96, d3x3Reduce: 96, d3x3: 128, pool: .avg, projection: 128),
        a4b: A(c1x1: 192, c3x3Reduce: 96, c3x3: 128, d3x3Reduce: 96, d3x3: 128, pool: .avg, projection: 128),
        a4c: A(c1x1: 160, c3x3Reduce: 128, c3x3: 160, d3x3Reduce: 128, d3x3: 160, pool: .avg, projection: 128),
        a4d: A(c1x1: 96, c3x3Reduce: 128, c3x3: 192, d3x3Reduce: 160, d3x3: 192, pool: .avg, projection: 128),
        b4e: B(c3x3Reduce: 128, c3x3: 192, d3x3Reduce: 192, d3x3: 256),
        a5a: A(c1x1: 352, c3x3Reduce: 192, c3x3: 320, d3x3Reduce: 160, d3x3: 224, pool: .avg, projection: 128),
        a5b: A(c1x1: 352, c3x3Reduce: 192, c3x3: 320, d3x3Reduce: 192, d3x3: 224, pool: .max, projection: 128))

    static let imageNet21k: InceptionWidths = {
        var widths = imageNet1k
        widths.conv1 = 96
        widths.conv2Reduce = 128
        widths.conv2 = 288
        widths.a3a = A(c1x1: 96, c3x3Reduce: 96, c3x3: 96, d3x3Reduce: 96, d3x3: 144, pool: .avg, projection: 48)
        widths.a3b = A(c1x1: 96, c3x3Reduce: 96, c3x3: 144, d3x3Reduce: 96, d3x3: 144, pool: .avg, projection: 96)
        widths.b3c = B(c3x3Reduce: 192, c3x3: 240, d3x3Reduce: 96, d3x3: 144)
        widths.a4d = A(c1x1: 96, c3x3Reduce: 128, c3x3: 192, d3x3Reduce: 160, d3x3: 96, pool: .avg, projection: 128)
        return widths
    }()
}

/// The factories of `inception.py`, sharing one builder (and so one naming scope).
struct InceptionBuilder {
    let b = SymbolBuilder()
    let pooling: PoolingRounding

    func convFactory(
        _ data: Symbol, _ filters: Int, _ kernel: Int, stride: Int = 1, pad: Int = 0, name: String,
        suffix: String = ""
    ) throws -> Symbol {
        let conv = try b.convolution(
            data, name: "conv_\(name)\(suffix)", kernel: [kernel, kernel], filterCount: filters,
            stride: [stride, stride], pad: [pad, pad])
        let bn = try b.batchNorm(conv, name: "bn_\(name)\(suffix)")
        return try b.activation(bn, name: "relu_\(name)\(suffix)", kind: .relu)
    }

    func factoryA(_ data: Symbol, _ w: InceptionWidths.A, name: String) throws -> Symbol {
        let c1x1 = try convFactory(data, w.c1x1, 1, name: "\(name)_1x1")
        let c3x3r = try convFactory(data, w.c3x3Reduce, 1, name: "\(name)_3x3", suffix: "_reduce")
        let c3x3 = try convFactory(c3x3r, w.c3x3, 3, pad: 1, name: "\(name)_3x3")
        let cd3x3r = try convFactory(data, w.d3x3Reduce, 1, name: "\(name)_double_3x3", suffix: "_reduce")
        let cd3x3a = try convFactory(cd3x3r, w.d3x3, 3, pad: 1, name: "\(name)_double_3x3_0")
        let cd3x3 = try convFactory(cd3x3a, w.d3x3, 3, pad: 1, name: "\(name)_double_3x3_1")
        let pool = try b.pooling(
            data, name: "\(w.pool.rawValue)_pool_\(name)_pool", kind: w.pool, kernel: [3, 3],
            stride: [1, 1], pad: [1, 1], convention: pooling.convention)
        let projection = try convFactory(pool, w.projection, 1, name: "\(name)_proj")
        return try b.concat([c1x1, c3x3, cd3x3, projection], name: "ch_concat_\(name)_chconcat")
    }

    func factoryB(_ data: Symbol, _ w: InceptionWidths.B, name: String) throws -> Symbol {
        let c3x3r = try convFactory(data, w.c3x3Reduce, 1, name: "\(name)_3x3", suffix: "_reduce")
        let c3x3 = try convFactory(c3x3r, w.c3x3, 3, stride: 2, pad: 1, name: "\(name)_3x3")
        let cd3x3r = try convFactory(data, w.d3x3Reduce, 1, name: "\(name)_double_3x3", suffix: "_reduce")
        let cd3x3a = try convFactory(cd3x3r, w.d3x3, 3, pad: 1, name: "\(name)_double_3x3_0")
        let cd3x3 = try convFactory(cd3x3a, w.d3x3, 3, stride: 2, pad: 1, name: "\(name)_double_3x3_1")
        let pad = pooling == .validPadded ? 1 : 0
        let pool = try b.pooling(
            data, name: "max_pool_\(name)_pool", kind: .max, kernel: [3, 3], stride: [2, 2],
            pad: [pad, pad], convention: pooling.convention)
        return try b.concat([c3x3, cd3x3, pool], name: "ch_concat_\(name)_chconcat")
    }

    func network(classCount: Int, widths w: InceptionWidths) throws -> Symbol {
        let data = b.variable("data")
        let conv1 = try convFactory(data, w.conv1, 7, stride: 2, pad: 3, name: "conv1")
        let pool1 = try b.pooling(
            conv1, name: "pool1", kind: .max, kernel: [3, 3], stride: [2, 2],
            convention: pooling.convention)
        let conv2red = try convFactory(pool1, w.conv2Reduce, 1, name: "conv2red")
        let conv2 = try convFactory(conv2red, w.conv2, 3, pad: 1, name: "conv2")
        let pool2 = try b.pooling(
            conv2, name: "pool2", kind: .max, kernel: [3, 3], stride: [2, 2],
            convention: pooling.convention)
        var x = try factoryA(pool2, w.a3a, name: "3a")
        x = try factoryA(x, w.a3b, name: "3b")
        x = try factoryB(x, w.b3c, name: "3c")
        x = try factoryA(x, w.a4a, name: "4a")
        x = try factoryA(x, w.a4b, name: "4b")
        x = try factoryA(x, w.a4c, name: "4c")
        x = try factoryA(x, w.a4d, name: "4d")
        x = try factoryB(x, w.b4e, name: "4e")
        x = try factoryA(x, w.a5a, name: "5a")
        x = try factoryA(x, w.a5b, name: "5b")
        let average = try b.pooling(
            x, name: "global_pool", kind: .avg, kernel: [7, 7], stride: [1, 1],
            convention: pooling.convention)
        let flatten = try b.flatten(average, name: "flatten")
        let fc1 = try b.fullyConnected(flatten, name: "fc1", hiddenCount: classCount)
        return try b.softmaxOutput(fc1, name: "softmax")
    }
}
