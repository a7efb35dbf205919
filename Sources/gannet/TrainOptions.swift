import ArgumentParser
import Training

/// `train`'s optimiser: MXNet's SGD with momentum and weight decay, its schedule and the
/// initialiser of fresh weights.
struct OptimizerOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: "Learning rate.")
    var lr: Float = 0.01

    @Option(parsing: .unconditional, help: "Momentum.")
    var momentum: Float = 0.9

    @Option(parsing: .unconditional, help: "Weight decay (on weights and BatchNorm gammas, as MXNet 1.x).")
    var wd: Float = 0.0001

    @Option(parsing: .unconditional, help: "Multiply the learning rate by this at each of --lr-step-epochs.")
    var lrFactor: Float = 0.1

    @Option(help: "Epochs at which the learning rate steps, e.g. 30,60.")
    var lrStepEpochs: String?

    @Option(parsing: .unconditional, help: "Linear learning-rate warm-up over this many epochs.")
    var warmupEpochs = 0

    @Option(parsing: .unconditional, help: "Clip each gradient value to ±this (after rescaling by 1/batch).")
    var clipGradient: Float?

    @Option(
        help:
            "Weight initialisation: xavier (MXNet's Xavier default: uniform, avg, magnitude 3), xavier-gaussian-in (N(0, √(2/fan_in)), MXNet's image-classification examples), uniform (U(±0.01), MXNet's Module default) or normal (N(0, 0.01))."
    )
    var initializer: InitializerName = .xavier

    enum InitializerName: String, ExpressibleByArgument {
        case xavier, uniform, normal
        case xavierGaussianIn = "xavier-gaussian-in"

        var scheme: Initializer {
            switch self {
            case .xavier: .xavier
            case .uniform: .uniform(scale: 0.01)
            case .normal: .normal(standardDeviation: 0.01)
            case .xavierGaussianIn: .xavierGaussianIn
            }
        }
    }

    func validate() throws {
        if !(lr > 0 && lr.isFinite) { throw ValidationError("--lr must be a finite positive number") }
        if !(0...1).contains(momentum) { throw ValidationError("--momentum must be in 0…1") }
        if !(wd >= 0 && wd.isFinite) { throw ValidationError("--wd must be a finite non-negative number") }
        if !(lrFactor > 0 && lrFactor.isFinite) {
            throw ValidationError("--lr-factor must be a finite positive number")
        }
        if let clipGradient, !(clipGradient > 0 && clipGradient.isFinite) {
            throw ValidationError("--clip-gradient must be a finite positive number")
        }
        if let lrStepEpochs, parseIntegers(lrStepEpochs) == nil {
            throw ValidationError("--lr-step-epochs must be integers, e.g. 30,60")
        }
        if warmupEpochs < 0 { throw ValidationError("--warmup-epochs must not be negative") }
    }

    func apply(to options: inout FitOptions) {
        options.learningRate = lr
        options.momentum = momentum
        options.weightDecay = wd
        options.learningRateFactor = lrFactor
        options.learningRateStepEpochs = lrStepEpochs.flatMap(parseIntegers) ?? []
        options.warmupEpochs = warmupEpochs
        options.clipGradient = clipGradient
        options.initializer = initializer.scheme
    }
}

/// One progress bar per epoch on standard error, cleared for each log line.
final class TrainingProgress {
    private var bar: ProgressBar?
    private let isShown: Bool

    init(isShown: Bool) { self.isShown = isShown }

    func handle(_ event: FitEvent) {
        switch event {
        case .epochStarted(let epoch, let batchCount):
            bar = ProgressBar(total: batchCount, label: "epoch \(epoch)", isShown: isShown)
        case .batchDone(let progress):
            bar?.update(progress.batch, unit: "batches")
            bar?.interrupt()
        case .epochFinished:
            bar?.finish()
            bar = nil
        }
    }
}

/// `--json`: the run's epochs and last checkpoint, with the compute type and the ISA.
struct TrainReport: Encodable {
    var result: FitResult
    var dtype: String
    var isa: String

    enum CodingKeys: String, CodingKey { case dtype, isa }

    func encode(to encoder: any Encoder) throws {
        try result.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(dtype, forKey: .dtype)
        try container.encode(isa, forKey: .isa)
    }
}
