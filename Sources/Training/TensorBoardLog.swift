import Interchange

/// A training run's scalars as TensorBoard events (`gannet train --tensorboard DIR`), every
/// one at the step of the updates done so far, so that curves of a resumed run continue
/// those of the run before it. Per log interval (MXNet's Speedometer lines): `train/accuracy`,
/// `train/top-k-accuracy`, `train/cross-entropy`, `train/samples-per-second`,
/// `learning-rate`. Per epoch: `epoch/train-accuracy`, `epoch/train-top-k-accuracy`,
/// `epoch/train-cross-entropy`, `epoch/samples-per-second`, `epoch/epoch` (epochs completed)
/// and, with validation, `validation/accuracy`, `validation/top-k-accuracy`,
/// `validation/cross-entropy`. A write that fails is reported once and logging stops; the
/// training goes on.
final class TensorBoardLog {
    private var writer: EventFileWriter?
    private let log: @Sendable (String) -> Void

    init(directory: String, topK: Int, log: @escaping @Sendable (String) -> Void) throws {
        do {
            writer = try EventFileWriter(directory: directory)
        } catch {
            throw TrainingError("--tensorboard: \(error)")
        }
        self.log = log
        log("TensorBoard events: \(writer!.path)")
    }

    func batches(_ progress: BatchProgress, step: Int) {
        write(
            [
                ("train/accuracy", progress.interval.accuracy),
                ("train/top-k-accuracy", progress.interval.topKAccuracy),
                ("train/cross-entropy", progress.interval.crossEntropy),
                ("train/samples-per-second", progress.samplesPerSecond),
                ("learning-rate", Double(progress.learningRate)),
            ], step: step)
    }

    func epoch(_ report: EpochReport, learningRate: Double, step: Int) {
        var values: [(String, Double)] = [
            ("epoch/train-accuracy", report.trainAccuracy), ("epoch/train-top-k-accuracy", report.trainTopK),
            ("epoch/train-cross-entropy", report.trainCrossEntropy),
            ("epoch/samples-per-second", report.samplesPerSecond), ("epoch/epoch", Double(report.epoch + 1)),
            ("learning-rate", learningRate),
        ]
        if let accuracy = report.validationAccuracy { values.append(("validation/accuracy", accuracy)) }
        if let topK = report.validationTopK { values.append(("validation/top-k-accuracy", topK)) }
        if let crossEntropy = report.validationCrossEntropy {
            values.append(("validation/cross-entropy", crossEntropy))
        }
        write(values, step: step)
    }

    private func write(_ values: [(String, Double)], step: Int) {
        guard let writer else { return }
        do {
            try writer.scalars(values.map { (tag: $0.0, value: $0.1) }, step: step)
        } catch {
            log("warning: \(error); TensorBoard logging stops, training goes on")
            self.writer = nil
        }
    }
}
