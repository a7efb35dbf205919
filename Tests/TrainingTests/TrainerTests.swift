import Foundation
import Graph
import Models
import TensorCore
import Testing
import Training

@Suite struct TrainerPartsTests {
    @Test func scheduleStepsAndWarmsUp() {
        let steps = LearningRateSchedule(base: 0.1, factor: 0.1, stepEpochs: [60, 30])
        #expect(steps.rate(epoch: 0) == 0.1 && steps.rate(epoch: 29) == 0.1)
        #expect(abs(steps.rate(epoch: 30) - 0.01) < 1e-9 && abs(steps.rate(epoch: 75) - 0.001) < 1e-9)
        let warm = LearningRateSchedule(base: 0.4, warmupEpochs: 3)
        #expect(abs(warm.rate(epoch: 0) - 0.1) < 1e-7 && abs(warm.rate(epoch: 2, progress: 0.5) - 0.35) < 1e-6)
        #expect(warm.rate(epoch: 3) == 0.4)
    }

    @Test func metricsCountAccuracyTopKAndCrossEntropy() {
        // Three rows of four classes: right; second best; worst.
        let probabilities = Tensor(
            shape: [3, 4],
            values: [
                0.7, 0.1, 0.1, 0.1,
                0.2, 0.5, 0.2, 0.1,
                0.4, 0.3, 0.2, 0.1,
            ])
        let labels: [Float] = [0, 0, 3]
        var metrics = ClassificationMetrics(topK: 2)
        labels.withUnsafeBufferPointer { metrics.add(probabilities: probabilities, labels: $0.baseAddress!, rows: 3) }
        #expect(metrics.count == 3)
        #expect(abs(metrics.accuracy - 1.0 / 3) < 1e-12)
        // Row 2's label ties with class 2 for second place: a tie counts for the label.
        #expect(abs(metrics.topKAccuracy - 2.0 / 3) < 1e-12)
        #expect(abs(metrics.crossEntropy - (-(log(0.7) + log(0.2) + log(0.1)) / 3)) < 1e-6)
    }

    /// Parameters, auxiliary states, momentum and the state survive a save and a load; a
    /// parameter of another shape is named with both shapes.
    @Test func checkpointRoundTrip() throws {
        let folder = NSTemporaryDirectory() + "gannet-checkpoint-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let symbol = try inceptionBNSmall(classCount: 4)
        let shapes: [String: Shape] = ["data": [2, 3, 28, 28]]
        let executor = try Executor(symbol, inputShapes: shapes, isTraining: true)
        Initializer.xavier.initialise(executor, seed: 5)
        for name in executor.graph.auxiliaryNames { executor.auxiliary(name)!.fill(0.25) }
        let sgd = SGD(executor: executor, learningRate: 0.1, rescale: 0.5)
        for (index, buffer) in sgd.momentumBuffers.enumerated() { buffer.tensor.fill(Float(index)) }
        let state = TrainingState(
            epoch: 3, updateCount: 42, learningRate: 0.1, seed: 9, batchSize: 2, classCount: 4,
            preprocessing: .init(dataShape: [3, 28, 28], resize: 32, meanRGB: [1, 2, 3], meanImage: nil, scale: 0.5))
        let prefix = folder + "/model"
        try Checkpoint.save(prefix: prefix, epoch: 3, symbol: symbol, executor: executor, optimizer: sgd, state: state)

        let again = try Executor(symbol, inputShapes: shapes, isTraining: true)
        let sgdAgain = SGD(executor: again, learningRate: 0.1, rescale: 0.5)
        #expect(try Checkpoint.loadParameters(Checkpoint.parametersPath(prefix, epoch: 3), into: again).isEmpty)
        #expect(try Checkpoint.loadState(Checkpoint.statePath(prefix, epoch: 3), into: sgdAgain) == state)
        for name in executor.graph.parameterNames {
            #expect(executor.argument(name)!.toArray() == again.argument(name)!.toArray(), "\(name)")
        }
        for name in executor.graph.auxiliaryNames {
            #expect(again.auxiliary(name)!.toArray().allSatisfy { $0 == 0.25 })
        }
        for (a, b) in zip(sgd.momentumBuffers, sgdAgain.momentumBuffers) {
            #expect(a.tensor.toArray() == b.tensor.toArray())
        }
        // The symbol carries the preprocessing too, for a model shipped without its .state,
        // and still decodes to the same network.
        let json = String(
            decoding: try Data(contentsOf: URL(fileURLWithPath: Checkpoint.symbolPath(prefix))), as: UTF8.self)
        let attributes = SymbolJSON.variableAttributes(json, name: "data")
        #expect(attributes["__gannet_data_shape__"] == "(3, 28, 28)")
        #expect(TrainingState.Preprocessing(symbolAttributes: attributes) == state.preprocessing)
        #expect(try Graph(SymbolJSON.decode(json).0).argumentNames == executor.graph.argumentNames)

        let other = try Executor(try inceptionBNSmall(classCount: 7), inputShapes: shapes, isTraining: true)
        #expect {
            try Checkpoint.loadParameters(Checkpoint.parametersPath(prefix, epoch: 3), into: other)
        } throws: { error in
            "\(error)".contains("fc1_weight") && "\(error)".contains("[4, 1024]") || "\(error)".contains("fc1")
        }
    }
}

@Suite struct RoleDrivenTrainingTests {
    /// Initialisation, weight decay and checkpoint entries follow declared roles, whatever
    /// the names: `image` is an input, `k` a weight, `g` a gamma.
    @Test func initialisationAndCheckpointFollowRoles() throws {
        let b = SymbolBuilder()
        let conv = try b.apply(
            "Convolution", name: "c", inputs: ["data": b.variable("image"), "weight": b.variable("k")],
            attributes: ["kernel": "(1, 1)", "num_filter": "4", "no_bias": "True"])
        let norm = try b.apply(
            "BatchNorm", name: "n", inputs: ["data": conv, "gamma": b.variable("g"), "beta": b.variable("o")],
            attributes: ["fix_gamma": "False"])
        let symbol = try b.softmaxOutput(b.flatten(norm), name: "out")
        let executor = try Executor(
            symbol, inputShapes: Graph(symbol).inputShapes(data: [2, 3, 4, 4]), isTraining: true)
        Initializer.xavier.initialise(executor, seed: 1)
        #expect(executor.argument("g")!.toArray().allSatisfy { $0 == 1 })
        #expect(executor.argument("o")!.toArray().allSatisfy { $0 == 0 })
        #expect(executor.argument("k")!.toArray().contains { $0 != 0 })
        #expect(executor.auxiliary("n_moving_var")!.toArray().allSatisfy { $0 == 1 })
        #expect(
            checkpointEntries(executor).map(\.name) == [
                "arg:k", "arg:g", "arg:o", "aux:n_moving_mean", "aux:n_moving_var",
            ])
        // Decay reaches k and g (weight, gamma) but not o (beta): with a zero gradient only
        // the decay term moves a value.
        let sgd = SGD(executor: executor, learningRate: 1, momentum: 0, weightDecay: 0.5, rescale: 1)
        for name in executor.graph.parameterNames { executor.gradient(name)!.fill(0) }
        executor.argument("o")!.fill(1)
        let k = executor.argument("k")!.toArray()
        sgd.update()
        #expect(executor.argument("g")!.toArray().allSatisfy { $0 == 0.5 })
        #expect(executor.argument("o")!.toArray().allSatisfy { $0 == 1 })
        #expect(executor.argument("k")!.toArray() == k.map { $0 * 0.5 })
    }
}

@Suite struct MetricsTableTests {
    /// A resumed run reads the rows of the epochs before it back from the CSV.
    @Test func rowsSurviveTheCSV() throws {
        let folder = NSTemporaryDirectory() + "gannet-metrics-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let rows = [
            MetricsTable.Row(
                EpochReport(
                    epoch: 0, trainAccuracy: 0.5, trainTopK: 0.75, trainCrossEntropy: 1.25, samplesPerSecond: 10),
                seconds: 2.5, learningRate: 0.125),
            MetricsTable.Row(
                EpochReport(
                    epoch: 1, trainAccuracy: 0.625, trainTopK: 1, trainCrossEntropy: 0.5, validationAccuracy: 0.5,
                    validationTopK: 1, validationCrossEntropy: 0.75, samplesPerSecond: 12),
                seconds: 2, learningRate: 0.0625),
        ]
        try MetricsTable.write(rows, prefix: folder + "/m")
        #expect(MetricsTable.read(prefix: folder + "/m", before: 2) == rows)
        #expect(MetricsTable.read(prefix: folder + "/m", before: 1) == Array(rows.prefix(1)))
        try MetricsTable.plot(rows, prefix: folder + "/m")
        #expect(try String(contentsOfFile: folder + "/m-curves.svg", encoding: .utf8).contains("<polyline"))
    }
}
