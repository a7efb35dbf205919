import Graph
import Models
import Operators
import TensorCore
import Testing
import Training

@Test(arguments: ["bn", "pool", "full", "small"])
func inferenceBetweenTrainingStepsChangesNothing(_ kind: String) throws {
    let b = SymbolBuilder()
    let data = b.variable("data")
    var x = try b.convolution(data, name: "c1", kernel: [3, 3], filterCount: 8, pad: [1, 1])
    if kind == "bn" || kind == "full" { x = try b.batchNorm(x, name: "bn1", fixGamma: false) }
    x = try b.activation(x, name: "r1", kind: .relu)
    if kind == "pool" || kind == "full" {
        x = try b.pooling(x, name: "p1", kind: .max, kernel: [2, 2], stride: [2, 2])
    }
    let symbol =
        kind == "small"
        ? try inceptionBNSmall(classCount: 3)
        : try b.softmaxOutput(b.fullyConnected(b.flatten(x, name: "f"), name: "fc", hiddenCount: 3), name: "softmax")
    let shape: Shape = kind == "small" ? [4, 3, 28, 28] : [4, 3, 8, 8]
    func run(_ interleave: Bool) throws -> [Float] {
        let executor = try Executor(symbol, inputShapes: ["data": shape], isTraining: true)
        Initializer.xavier.initialise(executor, seed: 1)
        let sgd = SGD(executor: executor, learningRate: 0.1, rescale: 0.25)
        var generator = SeededGenerator(seed: 2)
        executor.argument("softmax_label")!.copy(from: [0, 1, 2, 1])
        for step in 0..<3 {
            executor.argument("data")!.fillUniform(-1...1, using: &generator)
            executor.forward(isTraining: true)
            executor.backward()
            sgd.update()
            if interleave && step == 1 {
                let saved = executor.argument("data")!.toArray()
                executor.argument("data")!.fill(0.5)
                executor.forward(isTraining: false)
                executor.argument("data")!.copy(from: saved)
            }
        }
        return executor.graph.argumentNames.flatMap { executor.argument($0)!.toArray() }
    }
    #expect(try run(false) == run(true))
}
