import Graph
import Operators
import TensorCore

/// Initial values chosen by argument role (MXNet's initialisers dispatch on name suffixes,
/// f.3; Gannet asks the role each operator declares, so names do not matter): weights from
/// the scheme, biases and betas 0, gammas 1, moving means 0, moving variances 1 (the 2015
/// code set them to 0, a bug).
public enum Initializer: Sendable {
    /// U(−scale, scale).
    case uniform(scale: Float)
    /// MXNet 1.x `Xavier(rnd_type='uniform', factor_type='avg', magnitude=3)` (its default).
    case xavier
    /// N(0, σ), e.g. σ = 0.01 for AlexNet, which does not learn from Xavier's scale.
    case normal(standardDeviation: Float)
    /// MXNet `Xavier(rnd_type='gaussian', factor_type='in', magnitude=2)`: N(0, √(2 / fan_in)),
    /// the default of MXNet's image-classification examples (He initialisation).
    case xavierGaussianIn

    /// Fills every learnable argument and auxiliary state of `executor`.
    public func initialise(_ executor: Executor, seed: UInt64) {
        var generator = SeededGenerator(seed: seed)
        let graph = executor.graph
        for name in graph.parameterNames {
            fill(executor.argument(name)!, role: graph.role(of: name)!, generator: &generator)
        }
        for name in graph.auxiliaryNames {
            fill(executor.auxiliary(name)!, role: graph.role(of: name)!, generator: &generator)
        }
    }

    func fill(_ tensor: Tensor, role: ArgumentRole, generator: inout SeededGenerator) {
        guard role == .weight else {
            tensor.fill(role == .gamma || role == .movingVariance ? 1 : 0)
            return
        }
        switch self {
        case .uniform(let scale):
            tensor.fillUniform(-scale...scale, using: &generator)
        case .normal(let deviation):
            tensor.fillNormal(standardDeviation: deviation, using: &generator)
        case .xavierGaussianIn:
            let shape = tensor.shape
            let receptive = shape.dimensions.dropFirst(2).reduce(1, *)
            let fanIn = Double(shape.rank > 1 ? shape[1] * receptive : shape[0])
            tensor.fillNormal(standardDeviation: Float((2 / fanIn).squareRoot()), using: &generator)
        case .xavier:
            let shape = tensor.shape
            let receptive = shape.dimensions.dropFirst(2).reduce(1, *)
            let fanIn = Double(shape.rank > 1 ? shape[1] * receptive : shape[0])
            let fanOut = Double(shape[0] * receptive)
            let scale = Float((3 / ((fanIn + fanOut) / 2)).squareRoot())
            tensor.fillUniform(-scale...scale, using: &generator)
        }
    }
}

/// MXNet checkpoint entries (`arg:<name>`, `aux:<name>`) of an executor's parameters and
/// auxiliary states; inputs (data, labels) are not saved, as in `save_checkpoint`.
public func checkpointEntries(_ executor: Executor) -> [NDArrayFile.Entry] {
    let arguments = executor.graph.parameterNames.map {
        NDArrayFile.Entry(name: "arg:\($0)", tensor: executor.argument($0)!)
    }
    let auxiliary = executor.graph.auxiliaryNames.map {
        NDArrayFile.Entry(name: "aux:\($0)", tensor: executor.auxiliary($0)!)
    }
    return arguments + auxiliary
}
