import DNNL
import Operators
import TensorCore
import Testing

enum DNNLInfo {
    static var isAVX512: Bool { Library.instructionSet.hasPrefix("avx512") }
}

/// Each operator's bfloat16 path against its reference on the same rounded values.
@Suite struct BFloat16OperatorTests {
    @Test func convolution() throws {
        try Harness(Convolution(kernel: [3, 3], filterCount: 16, stride: [2, 2], pad: [1, 1]), data: [2, 16, 9, 9])
            .checkBFloat16()
        try Harness(Convolution(kernel: [1, 1], filterCount: 32, hasBias: false), data: [2, 16, 7, 7]).checkBFloat16()
    }

    @Test func fullyConnected() throws {
        try Harness(FullyConnected(hiddenCount: 10), data: [4, 64]).checkBFloat16()
    }

    @Test func poolingAndLRN() throws {
        try Harness(Pooling(.max, kernel: [3, 3], stride: [2, 2], convention: .full), data: [2, 16, 9, 9])
            .checkBFloat16()
        try Harness(Pooling(.avg, kernel: [3, 3], stride: [1, 1], pad: [1, 1]), data: [2, 16, 6, 6]).checkBFloat16()
        try Harness(LRN(size: 5, alpha: 1e-4, beta: 0.75, knorm: 2), data: [2, 16, 5, 5]).checkBFloat16()
    }

    @Test func batchNormAndActivation() throws {
        try Harness(BatchNorm(fixGamma: false), data: [4, 16, 5, 5]).checkBFloat16()
        try Harness(BatchNorm(fixGamma: false), data: [4, 16, 5, 5]).checkBFloat16(
            isTraining: false, checkBackward: false)
        for kind in [Activation.Kind.relu, .sigmoid, .tanh, .softrelu] {
            try Harness(Activation(kind), data: [2, 16, 4, 4]).checkBFloat16()
        }
    }

    /// One rounding of a float32 sum.
    @Test func elementwiseAdd() throws {
        try Harness(ElementwiseAdd(), data: [2, 16, 3, 3], otherShapes: [[2, 16, 3, 3]]).checkBFloat16()
    }

    /// Copies are exact in any type.
    @Test func copies() throws {
        try Harness(Concat(inputCount: 2), data: [2, 16, 3, 3], otherShapes: [[2, 32, 3, 3]]).checkBFloat16(
            tolerance: 0)
        try Harness(Flatten(), data: [2, 16, 3, 3]).checkBFloat16(tolerance: 0)
        try Harness(Dropout(probability: 0.5), data: [2, 16, 3, 3]).checkBFloat16(isTraining: false, tolerance: 0)
        try Harness(Cast(to: .float32), data: [2, 16, 3, 3]).checkBFloat16(tolerance: 0)
    }
}
