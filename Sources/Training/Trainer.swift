import DataIO
import Distributed
import Foundation
import Graph
import TensorCore

/// A training failure that names what is at fault (record, label, epoch, batch).
public struct TrainingError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Where one batch of an epoch stands, for logs and progress bars.
public struct BatchProgress: Sendable {
    public var epoch: Int
    /// Batches done in this epoch, and in all.
    public var batch: Int
    public var batchCount: Int
    /// Metrics since the previous report (MXNet's Speedometer resets them after each line).
    public var interval: ClassificationMetrics
    public var samplesPerSecond: Double
    public var learningRate: Float
}

/// Symbol + executor + SGD: trains epochs from an image iterator and evaluates.
///
/// One batch: copy data and labels in, forward, backward, sum the gradients over the
/// processes of a data-parallel job, update (learning rate from the schedule), accumulate
/// metrics from the probabilities. Nothing is allocated per batch. With several
/// processes, each trains on its share of every global batch; BatchNorm statistics are
/// per process during an epoch (as MXNet's devices) and averaged at its end.
public final class Trainer {
    public let executor: Executor
    public let optimizer: SGD
    public let schedule: LearningRateSchedule
    public let topK: Int
    /// Updates done since training began (restored on resume).
    public private(set) var updateCount: Int
    private let data: Tensor
    private let label: Tensor
    private let classCount: Int
    public let communicator: any Communicator
    /// The gradient pass with the gradients summed over the processes in overlapped buckets.
    public let gradientExchange: GradientExchange

    /// `executor` must be bound for training with a `data` input and a `*label` input; the
    /// optimizer's `rescale` must be 1 / the global batch. `bucketBytes` sizes the gradient
    /// buckets summed over the processes while backward runs (`GradientExchange`).
    public init(
        executor: Executor, optimizer: SGD, schedule: LearningRateSchedule, topK: Int = 5, updateCount: Int = 0,
        communicator: any Communicator = SingleProcess(),
        bucketBytes: Int = GradientExchange.defaultBucketBytes
    ) throws {
        let data: Tensor, label: Tensor
        do {
            data = executor.argument(try executor.graph.dataInput())!
            label = executor.argument(try executor.graph.labelInput())!
        } catch {
            throw TrainingError("\(error)")
        }
        self.executor = executor
        self.optimizer = optimizer
        self.schedule = schedule
        self.topK = topK
        self.updateCount = updateCount
        self.data = data
        self.label = label
        self.communicator = communicator
        gradientExchange = GradientExchange(executor: executor, communicator: communicator, bucketBytes: bucketBytes)
        classCount = executor.outputs[0].shape.dimensions.last ?? 0
    }

    /// Copies every parameter and auxiliary state of process `root` to all processes.
    public func broadcastParameters(root: Int = 0) {
        guard communicator.size > 1 else { return }
        for name in executor.graph.parameterNames {
            let tensor = executor.argument(name)!
            communicator.broadcast(tensor.floats, count: tensor.elementCount, root: root)
        }
        for name in executor.graph.auxiliaryNames {
            let tensor = executor.auxiliary(name)!
            communicator.broadcast(tensor.floats, count: tensor.elementCount, root: root)
        }
    }

    /// Averages the auxiliary states (BatchNorm moving statistics) over the processes, as
    /// MXNet averages its devices' copies before saving.
    public func averageAuxiliaryStates() {
        guard communicator.size > 1 else { return }
        let scale = 1 / Float(communicator.size)
        for name in executor.graph.auxiliaryNames {
            let tensor = executor.auxiliary(name)!
            communicator.allReduceSum(tensor.floats, count: tensor.elementCount)
            for i in 0..<tensor.elementCount { tensor.floats[i] *= scale }
        }
    }

    /// Copies `batch` into the executor's inputs, checking the labels.
    private func load(_ batch: ImageBatch) throws {
        guard batch.data.shape == data.shape else {
            throw TrainingError("batches are \(batch.data.shape) but the network was bound for \(data.shape)")
        }
        data.floats.update(from: batch.data.floats, count: data.elementCount)
        let rows = batch.data.shape[0]
        let labels = batch.label.floats
        for row in 0..<rows {
            let value = labels[row * batch.label.shape[1]]
            guard value >= 0, value < Float(classCount), value == value.rounded() else {
                throw TrainingError(
                    "record \(batch.id(row: row)) has label \(value), but the network has \(classCount) classes (labels 0…\(classCount - 1))"
                )
            }
            label.floats[row] = value
        }
    }

    /// Trains one epoch (0-based); reports every `reportInterval` batches and at the end.
    /// Returns the metrics over the whole epoch, images per second and seconds.
    /// With `maximumBatches` the epoch stops there (processes reading byte ranges of
    /// different sizes agree on the smallest count). Metrics and speed are over all processes.
    public func trainEpoch(
        _ iterator: ImageRecordIterator, epoch: Int, reportInterval: Int = 20, maximumBatches: Int? = nil,
        report: (BatchProgress) -> Void = { _ in }
    ) throws -> (metrics: ClassificationMetrics, samplesPerSecond: Double, seconds: Double) {
        iterator.reset(epoch: epoch)
        var total = ClassificationMetrics(topK: topK)
        var interval = ClassificationMetrics(topK: topK)
        let start = Date()
        var intervalStart = start
        var batchIndex = 0
        let batchCount = min(iterator.batchesPerEpoch, maximumBatches ?? .max)
        while batchIndex < batchCount, let batch = try iterator.next() {
            try load(batch)
            optimizer.learningRate = schedule.rate(
                epoch: epoch, progress: Double(batchIndex) / Double(max(batchCount, 1)))
            executor.context.step = UInt64(updateCount)
            executor.forward(isTraining: true)
            gradientExchange.backward()
            optimizer.update()
            updateCount += 1
            batchIndex += 1
            // MXNet counts every row of a training batch, the wrapped pad included.
            total.add(probabilities: executor.outputs[0], labels: label.floats, rows: batch.data.shape[0])
            interval.add(probabilities: executor.outputs[0], labels: label.floats, rows: batch.data.shape[0])
            guard total.crossEntropy.isFinite else {
                throw TrainingError(
                    "the loss is not finite at epoch \(epoch) batch \(batchIndex): lower the learning rate (--lr)")
            }
            if batchIndex % reportInterval == 0 || batchIndex == batchCount {
                let now = Date()
                // Processes advance in lockstep (the gradient sum waits for all).
                let speed = Double(interval.count * communicator.size) / max(now.timeIntervalSince(intervalStart), 1e-9)
                report(
                    BatchProgress(
                        epoch: epoch, batch: batchIndex, batchCount: batchCount, interval: interval,
                        samplesPerSecond: speed, learningRate: optimizer.learningRate))
                interval.reset()
                intervalStart = now
            }
        }
        let seconds = Date().timeIntervalSince(start)
        var sums = total.sums
        communicator.allReduceSum(&sums)
        let all = ClassificationMetrics(topK: topK, sums: sums)
        return (all, Double(all.count) / max(seconds, 1e-9), seconds)
    }

    /// Inference over every record of `iterator` once (pad rows left out), summed over the
    /// processes (each scores its share).
    public func evaluate(_ iterator: ImageRecordIterator, epoch: Int = 0) throws -> ClassificationMetrics {
        var sums = try Self.evaluate(executor: executor, iterator: iterator, topK: topK, epoch: epoch).sums
        communicator.allReduceSum(&sums)
        return ClassificationMetrics(topK: topK, sums: sums)
    }

    /// Inference of `executor` (bound for the iterator's batch) over every record once.
    /// Throws when a row of the network's output holds NaN or infinity (such a row would
    /// otherwise rank as anything, even as correct), naming the row's input.
    static func checkFinite(_ output: Tensor, rows: Int, name: (Int) -> String) throws {
        let width = output.elementCount / max(output.shape[0], 1)
        for row in 0..<rows
        where !UnsafeBufferPointer(start: output.floats + row * width, count: width).allSatisfy(\.isFinite) {
            throw TrainingError(
                "\(name(row)): the network's output is not finite (NaN or infinity): are the parameters finite?")
        }
    }

    /// With `failOnNonFinite` a row of output holding NaN or infinity is an error; otherwise
    /// it counts as wrong.
    public static func evaluate(
        executor: Executor, iterator: ImageRecordIterator, topK: Int, epoch: Int = 0, failOnNonFinite: Bool = false
    ) throws
        -> ClassificationMetrics
    {
        let data: Tensor
        do { data = executor.argument(try executor.graph.dataInput())! } catch { throw TrainingError("\(error)") }
        let classCount = executor.outputs[0].shape.dimensions.last ?? 0
        var metrics = ClassificationMetrics(topK: topK)
        iterator.reset(epoch: epoch)
        while let batch = try iterator.next() {
            guard batch.data.shape == data.shape else {
                throw TrainingError("batches are \(batch.data.shape) but the network was bound for \(data.shape)")
            }
            data.floats.update(from: batch.data.floats, count: data.elementCount)
            let rows = batch.data.shape[0] - batch.pad
            for row in 0..<rows {
                let value = batch.label.floats[row * batch.label.shape[1]]
                guard value >= 0, value < Float(classCount), value == value.rounded() else {
                    throw TrainingError(
                        "record \(batch.id(row: row)) has label \(value), but the network has \(classCount) classes")
                }
            }
            executor.forward(isTraining: false)
            if failOnNonFinite {
                try checkFinite(executor.outputs[0], rows: rows) { "record \(batch.id(row: $0))" }
            }
            // The first label of each row, gathered in place when rows hold several.
            let width = batch.label.shape[1]
            if width > 1 { for row in 0..<rows { batch.label.floats[row] = batch.label.floats[row * width] } }
            metrics.add(probabilities: executor.outputs[0], labels: batch.label.floats, rows: rows)
        }
        return metrics
    }
}
