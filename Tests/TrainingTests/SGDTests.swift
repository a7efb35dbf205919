import Graph
import Operators
import TensorCore
import Testing
import Training

@Suite struct SGDTests {
    /// MXNet's rule: m = μ·m − lr·(clip(rescale·g) + wd·w), w += m; decay on *_weight and
    /// *_gamma only.
    @Test func followsMXNetUpdateRule() throws {
        let b = SymbolBuilder()
        let fc = try b.fullyConnected(b.variable("data"), name: "fc", hiddenCount: 3)
        let symbol = try b.softmaxOutput(fc, name: "softmax")
        let executor = try Executor(symbol, inputShapes: ["data": [4, 5]], isTraining: true)
        var generator = SeededGenerator(seed: 9)
        for name in ["data", "fc_weight", "fc_bias"] { executor.argument(name)!.fillUniform(-1...1, using: &generator) }
        executor.argument("softmax_label")!.copy(from: [0, 1, 2, 1])
        let sgd = SGD(
            executor: executor, learningRate: 0.1, momentum: 0.9, weightDecay: 0.01, rescale: 0.25, clip: 0.05)
        var weights = [
            "fc_weight": executor.argument("fc_weight")!.toArray(), "fc_bias": executor.argument("fc_bias")!.toArray(),
        ]
        var velocity = weights.mapValues { [Float](repeating: 0, count: $0.count) }
        for _ in 0..<3 {
            executor.forward(isTraining: true)
            executor.backward()
            let gradients = [
                "fc_weight": executor.gradient("fc_weight")!.toArray(),
                "fc_bias": executor.gradient("fc_bias")!.toArray(),
            ]
            sgd.update()
            for name in ["fc_weight", "fc_bias"] {
                let decay: Float = name == "fc_weight" ? 0.01 : 0
                for i in weights[name]!.indices {
                    let g = min(max(0.25 * gradients[name]![i], -0.05), 0.05)
                    velocity[name]![i] = 0.9 * velocity[name]![i] - 0.1 * (g + decay * weights[name]![i])
                    weights[name]![i] += velocity[name]![i]
                }
                #expect(executor.argument(name)!.toArray() == weights[name]!, "\(name)")
            }
        }
        #expect(Set(sgd.parameterNames) == ["fc_weight", "fc_bias"])
    }
}

@Suite struct InitializerTests {
    /// f.3: weights from the scheme, biases and betas 0, gammas 1, moving mean 0, moving var 1;
    /// checkpoint keys `arg:`/`aux:` without the inputs.
    @Test func dispatchesByRoleAndNamesCheckpointEntries() throws {
        let b = SymbolBuilder()
        let conv = try b.convolution(b.variable("data"), name: "conv", kernel: [3, 3], filterCount: 8)
        let symbol = try b.softmaxOutput(
            b.fullyConnected(
                b.flatten(b.batchNorm(conv, name: "bn", fixGamma: false)),
                name: "fc", hiddenCount: 4), name: "softmax")
        let executor = try Executor(symbol, inputShapes: ["data": [2, 3, 6, 6]], isTraining: false)
        Initializer.xavier.initialise(executor, seed: 1)
        let weight = executor.argument("conv_weight")!.toArray()
        let limit = Float((3.0 / ((27.0 + 72.0) / 2)).squareRoot())
        #expect(weight.allSatisfy { abs($0) <= limit } && weight.contains { $0 != 0 })
        #expect(executor.argument("conv_bias")!.toArray().allSatisfy { $0 == 0 })
        #expect(executor.argument("bn_gamma")!.toArray().allSatisfy { $0 == 1 })
        #expect(executor.argument("bn_beta")!.toArray().allSatisfy { $0 == 0 })
        #expect(executor.auxiliary("bn_moving_var")!.toArray().allSatisfy { $0 == 1 })
        let names = checkpointEntries(executor).map(\.name)
        #expect(
            names == [
                "arg:conv_weight", "arg:conv_bias", "arg:bn_gamma", "arg:bn_beta", "arg:fc_weight", "arg:fc_bias",
                "aux:bn_moving_mean", "aux:bn_moving_var",
            ])
        // Same seed, same weights.
        let again = try Executor(symbol, inputShapes: ["data": [2, 3, 6, 6]], isTraining: false)
        Initializer.xavier.initialise(again, seed: 1)
        #expect(again.argument("conv_weight")!.toArray() == weight)
    }
}
