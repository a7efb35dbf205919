import CDNNL

/// What a primitive reads or writes at execution (oneDNN's `DNNL_ARG_*`).
public enum ArgumentKind: Sendable, CaseIterable {
    case source, destination, weights, bias
    case diffSource, diffDestination, diffWeights, diffBias
    case scale, shift, diffScale, diffShift, mean, variance
    case workspace, scratchpad

    @usableFromInline var raw: Int32 {
        switch self {
        case .source: DNNL_ARG_SRC
        case .destination: DNNL_ARG_DST
        case .weights: DNNL_ARG_WEIGHTS
        case .bias: DNNL_ARG_BIAS
        case .diffSource: DNNL_ARG_DIFF_SRC
        case .diffDestination: DNNL_ARG_DIFF_DST
        case .diffWeights: DNNL_ARG_DIFF_WEIGHTS
        case .diffBias: DNNL_ARG_DIFF_BIAS
        case .scale: DNNL_ARG_SCALE
        case .shift: DNNL_ARG_SHIFT
        case .diffScale: DNNL_ARG_DIFF_SCALE
        case .diffShift: DNNL_ARG_DIFF_SHIFT
        case .mean: DNNL_ARG_MEAN
        case .variance: DNNL_ARG_VARIANCE
        case .workspace: DNNL_ARG_WORKSPACE
        case .scratchpad: DNNL_ARG_SCRATCHPAD
        }
    }

    /// oneDNN's verbose spelling (`src`, `diff_wei`, …).
    public var shortName: String {
        switch self {
        case .source: "src"
        case .destination: "dst"
        case .weights: "wei"
        case .bias: "bia"
        case .diffSource: "diff_src"
        case .diffDestination: "diff_dst"
        case .diffWeights: "diff_wei"
        case .diffBias: "diff_bia"
        case .scale: "scale"
        case .shift: "shift"
        case .diffScale: "diff_scale"
        case .diffShift: "diff_shift"
        case .mean: "mean"
        case .variance: "var"
        case .workspace: "ws"
        case .scratchpad: "scratchpad"
        }
    }
}

/// The memory descriptors a primitive descriptor answers for (`dnnl_query_*_md`).
public enum MemoryQuery: Sendable {
    case source, destination, weights, diffSource, diffDestination, diffWeights, workspace, scratchpad

    var raw: dnnl_query_t {
        switch self {
        case .source: dnnl_query_src_md
        case .destination: dnnl_query_dst_md
        case .weights: dnnl_query_weights_md
        case .diffSource: dnnl_query_diff_src_md
        case .diffDestination: dnnl_query_diff_dst_md
        case .diffWeights: dnnl_query_diff_weights_md
        case .workspace: dnnl_query_workspace_md
        case .scratchpad: dnnl_query_scratchpad_md
        }
    }
}

/// Which pass a forward primitive serves: training keeps what backward needs.
public enum PropagationKind: Sendable {
    case forwardTraining, forwardInference

    var raw: dnnl_prop_kind_t { self == .forwardTraining ? dnnl_forward_training : dnnl_forward_inference }
}

/// Element-wise functions. The `…UsingOutput` forms compute backward from the forward output
/// (so the input need not be kept).
public enum EltwiseAlgorithm: Sendable {
    case relu, logistic, tanh, softRelu
    case reluUsingOutput, logisticUsingOutput, tanhUsingOutput

    var raw: dnnl_alg_kind_t {
        switch self {
        case .relu: dnnl_eltwise_relu
        case .logistic: dnnl_eltwise_logistic
        case .tanh: dnnl_eltwise_tanh
        case .softRelu: dnnl_eltwise_soft_relu
        case .reluUsingOutput: dnnl_eltwise_relu_use_dst_for_bwd
        case .logisticUsingOutput: dnnl_eltwise_logistic_use_dst_for_bwd
        case .tanhUsingOutput: dnnl_eltwise_tanh_use_dst_for_bwd
        }
    }

    /// oneDNN's α: soft ReLU is `log(1 + exp(αx)) / α` in oneDNN 3 (2.x ignores α); the
    /// others here take none.
    var alpha: Float { self == .softRelu ? 1 : 0 }
}

public enum PoolingAlgorithm: Sendable {
    case max, averageIncludingPadding, averageExcludingPadding

    var raw: dnnl_alg_kind_t {
        switch self {
        case .max: dnnl_pooling_max
        case .averageIncludingPadding: dnnl_pooling_avg_include_padding
        case .averageExcludingPadding: dnnl_pooling_avg_exclude_padding
        }
    }
}

/// Batch normalization options (`dnnl_normalization_flags_t`).
public struct BatchNormalizationFlags: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// γ: a learned per-channel scale.
    public static let scale = BatchNormalizationFlags(rawValue: dnnl_use_scale.rawValue)
    /// β: a learned per-channel shift.
    public static let shift = BatchNormalizationFlags(rawValue: dnnl_use_shift.rawValue)
    /// Use the given mean and variance instead of the batch's.
    public static let globalStatistics = BatchNormalizationFlags(rawValue: dnnl_use_global_stats.rawValue)
    /// Apply ReLU to the result (training keeps a workspace for backward).
    public static let fusedReLU = BatchNormalizationFlags(rawValue: dnnl_fuse_norm_relu.rawValue)
}

/// Physical layouts a descriptor can be created with (oneDNN format tags).
public enum FormatTag: Sendable, Equatable {
    /// Let the primitive choose.
    case any
    /// Row-major: MXNet's logical layout (`abcd` is NCHW, `abcde` grouped weights GOIHW).
    case plain
    /// Channels last (`acdb`: NHWC).
    case channelsLast
    /// Channels in groups of 8 or 16 innermost (`aBcd8b`, `aBcd16b`: nChw8c, nChw16c).
    case channelBlocked(Int)

    func raw(rank: Int) throws(DNNLError) -> dnnl_format_tag_t {
        switch self {
        case .any: return dnnl_format_tag_any
        case .plain:
            switch rank {
            case 1: return dnnl_a
            case 2: return dnnl_ab
            case 3: return dnnl_abc
            case 4: return dnnl_abcd
            case 5: return dnnl_abcde
            default: throw DNNLError(status: dnnl_invalid_arguments, operation: "plain layout of rank \(rank)")
            }
        case .channelsLast:
            guard rank == 4 else { throw DNNLError(status: dnnl_invalid_arguments, operation: "NHWC of rank \(rank)") }
            return dnnl_acdb
        case .channelBlocked(let block):
            guard rank == 4, block == 8 || block == 16 else {
                throw DNNLError(status: dnnl_invalid_arguments, operation: "blocked layout \(block) of rank \(rank)")
            }
            return block == 16 ? dnnl_aBcd16b : dnnl_aBcd8b
        }
    }
}

/// The arguments of one primitive execution, built once and reused for every call.
public struct PrimitiveArguments {
    @usableFromInline var raw: [dnnl_exec_arg_t] = []

    public init() {}

    public init(_ pairs: KeyValuePairs<ArgumentKind, Memory>) {
        for (kind, memory) in pairs { append(kind, memory) }
    }

    public mutating func append(_ kind: ArgumentKind, _ memory: Memory) {
        raw.append(dnnl_exec_arg_t(arg: kind.raw, memory: memory.handle))
    }

    public static func + (lhs: PrimitiveArguments, rhs: PrimitiveArguments) -> PrimitiveArguments {
        var result = lhs
        result.raw += rhs.raw
        return result
    }
}

/// C = A·B for n×n row-major float matrices, through oneDNN's sgemm (the roof `bench ops`
/// measures operators against).
public func sgemm(size n: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>) {
    let dimension = dnnl_dim_t(n)
    mustSucceed(
        dnnl_sgemm(
            CChar(UInt8(ascii: "N")), CChar(UInt8(ascii: "N")), dimension, dimension, dimension, 1, a,
            dimension, b, dimension, 0, c, dimension), "sgemm")
}
