/// The learning rate of an epoch: `base · factor^(steps passed)`, with the steps at the
/// given epochs (MXNet's `MultiFactorScheduler` as `fit.py` sets it up from
/// `--lr-step-epochs`), after an optional linear warm-up from `base / warmupEpochs`.
public struct LearningRateSchedule: Sendable, Equatable {
    public var base: Float
    public var factor: Float
    public var stepEpochs: [Int]
    public var warmupEpochs: Int

    public init(base: Float, factor: Float = 1, stepEpochs: [Int] = [], warmupEpochs: Int = 0) {
        self.base = base
        self.factor = factor
        self.stepEpochs = stepEpochs.sorted()
        self.warmupEpochs = warmupEpochs
    }

    /// The rate during `epoch` (0-based) at fraction `progress` ∈ [0, 1) of it.
    public func rate(epoch: Int, progress: Double = 0) -> Float {
        if epoch < warmupEpochs {
            return base * Float((Double(epoch) + progress + 1) / Double(warmupEpochs + 1))
        }
        let passed = stepEpochs.filter { $0 <= epoch }.count
        var rate = base
        for _ in 0..<passed { rate *= factor }
        return rate
    }
}
