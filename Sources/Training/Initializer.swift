import Graph
import TensorCore

/// Initial values chosen by argument role, as MXNet's initialisers dispatch on name
/// suffixes (f.3): `*_weight` from the scheme, `*_bias` and `*_beta` 0, `*_gamma` 1,
/// `*_moving_mean` 0, `*_moving_var` 1 (the 2015 code set it to 0, a bug).
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
        for name in executor.graph.argumentNames where name != "data" && !name.hasSuffix("label") {
            fill(executor.argument(name)!, name: name, generator: &generator)
        }
        for name in executor.graph.auxiliaryNames { executor.auxiliary(name)!.fill(name.hasSuffix("moving_var") ? 1 : 0) }
    }

    func fill(_ tensor: Tensor, name: String, generator: inout SeededGenerator) {
        guard name.hasSuffix("weight") else {
            tensor.fill(name.hasSuffix("gamma") ? 1 : 0)
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
    let arguments = executor.graph.argumentNames.filter { $0 != "data" && !$0.hasSuffix("label") }.map {
        NDArrayFile.Entry(name: "arg:\($0)", tensor: executor.argument($0)!)
    }
    let auxiliary = executor.graph.auxiliaryNames.map {
        NDArrayFile.Entry(name: "aux:\($0)", tensor: executor.auxiliary($0)!)
    }
    return arguments + auxiliary
}
