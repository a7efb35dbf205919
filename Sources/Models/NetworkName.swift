import Graph

/// The networks known by name on the command line.
public enum NetworkName: String, CaseIterable, Sendable {
    case alexnet
    case inceptionBN = "inception-bn"
    case inceptionBNFull = "inception-bn-full"
    case inceptionBNSmall = "inception-bn-small"

    /// The default input shape `(C, H, W)`.
    public var dataShape: [Int] { self == .inceptionBNSmall ? [3, 28, 28] : [3, 224, 224] }
    public var defaultClassCount: Int {
        switch self {
        case .inceptionBNFull: 21841
        case .inceptionBNSmall: 10
        default: 1000
        }
    }

    public func symbol(classCount: Int? = nil, pooling: PoolingRounding = .full) throws -> Symbol {
        let classes = classCount ?? defaultClassCount
        switch self {
        case .alexnet: return try Models.alexNet(classCount: classes, pooling: pooling)
        case .inceptionBN: return try Models.inceptionBN(classCount: classes, pooling: pooling)
        case .inceptionBNFull: return try Models.inceptionBNFull(classCount: classes, pooling: pooling)
        case .inceptionBNSmall: return try Models.inceptionBNSmall(classCount: classes, pooling: pooling)
        }
    }
}
