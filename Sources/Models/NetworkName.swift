import Graph

/// The networks known by name on the command line.
public enum NetworkName: String, CaseIterable, Sendable {
    case alexnet
    case inceptionBN = "inception-bn"
    case inceptionBNFull = "inception-bn-full"
    case inceptionBNSmall = "inception-bn-small"
    case resnet18 = "resnet-18"
    case resnet34 = "resnet-34"
    case resnet50 = "resnet-50"
    case resnet101 = "resnet-101"
    case resnet152 = "resnet-152"
    case resnet20 = "resnet-20"
    case resnet56 = "resnet-56"
    case resnet110 = "resnet-110"

    /// The ResNet depth, and whether it is MXNet's small-image (CIFAR) variant.
    var resNet: (depth: Int, smallImages: Bool)? {
        switch self {
        case .resnet18: (18, false)
        case .resnet34: (34, false)
        case .resnet50: (50, false)
        case .resnet101: (101, false)
        case .resnet152: (152, false)
        case .resnet20: (20, true)
        case .resnet56: (56, true)
        case .resnet110: (110, true)
        default: nil
        }
    }

    /// The default input shape `(C, H, W)`.
    public var dataShape: [Int] {
        self == .inceptionBNSmall || resNet?.smallImages == true ? [3, 28, 28] : [3, 224, 224]
    }
    public var defaultClassCount: Int {
        switch self {
        case .inceptionBNFull: 21841
        case .inceptionBNSmall, .resnet20, .resnet56, .resnet110: 10
        default: 1000
        }
    }

    public func symbol(classCount: Int? = nil, pooling: PoolingRounding = .full) throws -> Symbol {
        let classes = classCount ?? defaultClassCount
        if let (depth, smallImages) = resNet {
            return try Models.resNet(depth: depth, classCount: classes, smallImages: smallImages)
        }
        switch self {
        case .alexnet: return try Models.alexNet(classCount: classes, pooling: pooling)
        case .inceptionBN: return try Models.inceptionBN(classCount: classes, pooling: pooling)
        case .inceptionBNFull: return try Models.inceptionBNFull(classCount: classes, pooling: pooling)
        case .inceptionBNSmall: return try Models.inceptionBNSmall(classCount: classes, pooling: pooling)
        case .resnet18, .resnet34, .resnet50, .resnet101, .resnet152, .resnet20, .resnet56, .resnet110:
            preconditionFailure("ResNets are built above")
        }
    }
}
