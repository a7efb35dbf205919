import Graph
import Operators

/// The pre-activation ResNet family as MXNet's `example/image-classification/symbols/resnet.py`
/// builds it, with its names, so that checkpoints trained with MXNet's scripts load here and
/// ours load there:
///
/// - `bn_data` (BatchNorm on the input, `fix_gamma=True`), then the ImageNet stem `conv0`
///   7×7/2 → `bn0` → `relu0` → 3×3/2 max pool, or for 28–32 px inputs a 3×3/1 `conv0` alone;
/// - stages of units `stageS_unitU`: `bn1 → relu1 → conv1 …` (pre-activation), basic blocks
///   (two 3×3) below depth 50 and bottlenecks (1×1, 3×3, 1×1 at a quarter of the width) from
///   50; the shortcut is a 1×1 convolution `_sc` of the unit's activated input only where the
///   shape changes (the first unit of a stage), the input itself elsewhere; the unit's output
///   is `conv + shortcut` (`elemwise_add`);
/// - `bn1 → relu1 →` global average pool `pool1` → `fc1` → `softmax`.
///
/// Every BatchNorm has `eps=2e-5`, `momentum=0.9`; convolutions have no bias. MXNet's
/// `workspace` and `memonger` attributes are not written (they change nothing here).
public func resNet(depth: Int, classCount: Int = 1000, smallImages: Bool = false) throws -> Symbol {
    let (units, filters, isBottleneck) = try resNetShape(depth: depth, smallImages: smallImages)
    let b = SymbolBuilder()
    func batchNorm(_ x: Symbol, _ name: String, fixGamma: Bool = false) throws -> Symbol {
        try b.batchNorm(x, name: name, epsilon: 2e-5, momentum: 0.9, fixGamma: fixGamma)
    }
    func conv(_ x: Symbol, _ name: String, _ filterCount: Int, kernel: Int, stride: Int = 1, pad: Int = 0) throws
        -> Symbol
    {
        try b.convolution(
            x, name: name, kernel: [kernel, kernel], filterCount: filterCount, stride: [stride, stride],
            pad: [pad, pad], noBias: true)
    }
    func unit(_ x: Symbol, _ name: String, _ filterCount: Int, stride: Int, matchesShape: Bool) throws -> Symbol {
        let act1 = try b.activation(batchNorm(x, name + "_bn1"), name: name + "_relu1", kind: .relu)
        var out: Symbol
        if isBottleneck {
            let middle = filterCount / 4
            out = try conv(act1, name + "_conv1", middle, kernel: 1)
            out = try b.activation(batchNorm(out, name + "_bn2"), name: name + "_relu2", kind: .relu)
            out = try conv(out, name + "_conv2", middle, kernel: 3, stride: stride, pad: 1)
            out = try b.activation(batchNorm(out, name + "_bn3"), name: name + "_relu3", kind: .relu)
            out = try conv(out, name + "_conv3", filterCount, kernel: 1)
        } else {
            out = try conv(act1, name + "_conv1", filterCount, kernel: 3, stride: stride, pad: 1)
            out = try b.activation(batchNorm(out, name + "_bn2"), name: name + "_relu2", kind: .relu)
            out = try conv(out, name + "_conv2", filterCount, kernel: 3, pad: 1)
        }
        let shortcut = matchesShape ? x : try conv(act1, name + "_sc", filterCount, kernel: 1, stride: stride)
        return try b.elementwiseAdd(out, shortcut)
    }
    var x = try batchNorm(b.variable("data"), "bn_data", fixGamma: true)
    if smallImages {
        x = try conv(x, "conv0", filters[0], kernel: 3, pad: 1)
    } else {
        x = try conv(x, "conv0", filters[0], kernel: 7, stride: 2, pad: 3)
        x = try b.activation(batchNorm(x, "bn0"), name: "relu0", kind: .relu)
        x = try b.pooling(x, kind: .max, kernel: [3, 3], stride: [2, 2], pad: [1, 1])
    }
    for (stage, count) in units.enumerated() {
        for index in 0..<count {
            let stride = index == 0 && stage > 0 ? 2 : 1
            x = try unit(
                x, "stage\(stage + 1)_unit\(index + 1)", filters[stage + 1], stride: stride, matchesShape: index > 0)
        }
    }
    x = try b.activation(batchNorm(x, "bn1"), name: "relu1", kind: .relu)
    x = try b.pooling(x, name: "pool1", kind: .avg, kernel: [7, 7], isGlobal: true)
    let fc = try b.fullyConnected(b.flatten(x), name: "fc1", hiddenCount: classCount)
    return try b.softmaxOutput(fc, name: "softmax")
}

/// Units per stage, widths (stem, then each stage) and block kind of a depth, as MXNet's
/// `get_symbol` chooses them: ImageNet depths 18, 34, 50, 101, 152; for small images
/// (3 stages) depths 6n+2 below 164 with basic blocks (20, 56, 110 …) and 9n+2 from 164 with
/// bottlenecks.
func resNetShape(depth: Int, smallImages: Bool) throws(OperatorError) -> (
    units: [Int], filters: [Int], isBottleneck: Bool
) {
    if smallImages {
        if depth >= 164 && (depth - 2) % 9 == 0 {
            return (Array(repeating: (depth - 2) / 9, count: 3), [16, 64, 128, 256], true)
        }
        if depth < 164 && depth >= 8 && (depth - 2) % 6 == 0 {
            return (Array(repeating: (depth - 2) / 6, count: 3), [16, 16, 32, 64], false)
        }
        throw OperatorError(node: "resnet-\(depth)", "a small-image ResNet has depth 6n+2 (20, 56, 110) or 9n+2 ≥ 164")
    }
    let units: [Int: [Int]] = [
        18: [2, 2, 2, 2], 34: [3, 4, 6, 3], 50: [3, 4, 6, 3], 101: [3, 4, 23, 3], 152: [3, 8, 36, 3],
        200: [3, 24, 36, 3], 269: [3, 30, 48, 8],
    ]
    guard let stages = units[depth] else {
        throw OperatorError(node: "resnet-\(depth)", "an ImageNet ResNet has depth 18, 34, 50, 101, 152, 200 or 269")
    }
    return depth >= 50 ? (stages, [64, 256, 512, 1024, 2048], true) : (stages, [64, 64, 128, 256, 512], false)
}
