import DataIO
import Foundation
import Graph
import TensorCore

/// A checkpoint (`PREFIX-symbol.json` + `PREFIX-NNNN.params`, MXNet 1.x or 2015 dialect)
/// bound for inference at one batch size, with the preprocessing it was trained with.
///
/// The preprocessing is the first that gives it of: `overrides`, the run's `.state`, the
/// `__gannet_*__` attributes of the symbol's data input, MXNet's defaults. The `.params` is
/// read once: its shapes choose a 2015 file's Pooling rounding, then its values are loaded.
public final class InferenceModel {
    public let executor: Executor
    public let preprocessing: TrainingState.Preprocessing
    public let classCount: Int
    /// The data input, `(batch, C, H, W)`.
    public let data: Tensor
    /// The network as the checkpoint gives it (before inference fusion; variables, and so
    /// the executor's parameter names, are shared with it).
    public let symbol: Symbol

    /// Notes (dialect upgrades, unused entries, assumed shapes) go to `log`. `dataType`
    /// `.bfloat16` computes the activations in bfloat16 (the parameters stay float32).
    public init(
        prefix: String, epoch: Int, batchSize: Int, overrides: PreprocessingOverrides = .init(),
        dataType: DataType = .float32, log: (String) -> Void = { _ in }
    ) throws {
        let symbolPath = Checkpoint.symbolPath(prefix)
        guard FileManager.default.fileExists(atPath: symbolPath) else {
            throw TrainingError("\(symbolPath): no such file")
        }
        let text = String(decoding: try readFile(symbolPath), as: UTF8.self)
        let parametersPath = Checkpoint.parametersPath(prefix, epoch: epoch)
        let entries = try NDArrayFile.read(path: parametersPath)
        let statePath = Checkpoint.statePath(prefix, epoch: epoch)
        let stored = try Self.storedPreprocessing(symbolText: text, symbolPath: symbolPath, statePath: statePath)
        preprocessing = overrides.resolved(over: stored)
        if stored == nil && overrides.dataShape == nil {
            log(
                "note: neither \(statePath) nor \(symbolPath) gives the preprocessing; assuming data shape "
                    + "\(preprocessing.dataShape) (see --data-shape)")
        }
        let dataShape = Shape([batchSize] + preprocessing.dataShape)
        let symbol = try Self.decode(text, file: symbolPath, dataShape: dataShape, parameters: entries, log: log)
        self.symbol = symbol
        do {
            let inputShapes = try Graph(symbol).inputShapes(data: dataShape)
            // Checked against the memory available before anything is allocated.
            try MemoryBudget.check(
                Executor.memoryPlan(symbol, inputShapes: inputShapes, isTraining: false, dataType: dataType),
                batch: batchSize, mirror: true)
            executor = try Executor(symbol, inputShapes: inputShapes, isTraining: false, dataType: dataType)
        } catch let error as TrainingError {
            throw error
        } catch {
            throw TrainingError("\(symbolPath): \(error)")
        }
        let unused = try Checkpoint.loadParameters(entries, file: parametersPath, into: executor)
        let nonFinite = Checkpoint.nonFiniteParameters(of: executor)
        if !nonFinite.isEmpty {
            log("warning: \(parametersPath): NaN or infinity in \(nonFinite.joined(separator: ", "))")
        }
        executor.freezeParameters()
        if !unused.isEmpty {
            log("note: the parameters file has entries the network does not use: \(unused.joined(separator: ", "))")
        }
        classCount = executor.outputs[0].shape.dimensions.last ?? 0
        data = executor.argument(try executor.graph.dataInput())!
    }

    /// The training run's preprocessing: from the `.state`, else from the symbol's data attributes.
    static func storedPreprocessing(
        symbolText: String, symbolPath: String,
        statePath: String
    ) throws -> TrainingState.Preprocessing? {
        if FileManager.default.fileExists(atPath: statePath),
            let state = try? Checkpoint.loadState(statePath, into: nil)
        {
            return state.preprocessing
        }
        let dataName = try Graph(SymbolJSON.decode(symbolText, file: symbolPath).0).dataInput()
        return TrainingState.Preprocessing(symbolAttributes: SymbolJSON.variableAttributes(symbolText, name: dataName))
    }

    /// The symbol, with a 2015 file's Pooling rounding chosen by the parameter shapes.
    static func decode(
        _ text: String, file: String, dataShape: Shape, parameters: [NDArrayFile.Entry],
        log: (String) -> Void
    ) throws -> Symbol {
        var shapes: [String: Shape] = [:]
        for entry in parameters {
            let name =
                entry.name.hasPrefix("arg:") || entry.name.hasPrefix("aux:")
                ? String(entry.name.dropFirst(4)) : entry.name
            shapes[name] = entry.tensor.shape
        }
        let (symbol, notes, convention) = try SymbolJSON.decodeLegacy(
            text, file: file, dataShape: dataShape,
            parameterShapes: shapes)
        if let convention {
            log(
                "note: \(file) predates MXNet 0.9; Pooling without pooling_convention read as '\(convention.rawValue)', "
                    + "the rounding its parameters fit: \(notes.legacyPooling.joined(separator: ", "))")
        }
        if !notes.addedAuxiliary.isEmpty {
            log("note: BatchNorm auxiliary states added to \(notes.addedAuxiliary.joined(separator: ", ")) (2015 file)")
        }
        return symbol
    }

    /// Iterator options that prepare records as this model expects.
    public func iteratorOptions(batchSize: Int) throws -> ImageIteratorOptions {
        try preprocessing.iteratorOptions(batchSize: batchSize)
    }
}

/// The classes of one image, best first, as `predict --json` and a prediction server report them.
public struct Prediction: Encodable, Sendable, Equatable {
    public struct Class: Encodable, Sendable, Equatable {
        public var index: Int
        /// From the synset; null without one.
        public var name: String?
        public var probability: Double

        enum CodingKeys: String, CodingKey { case index = "class", name, probability }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(index, forKey: .index)
            try container.encode(name, forKey: .name)
            try container.encode(probability, forKey: .probability)
        }
    }

    /// The `topK` most probable classes.
    public var top: [Class]
    /// Every class's probability, in label order.
    public var probabilities: [Double]
}

extension InferenceModel {
    /// Classifies encoded images (JPEG or PNG bytes), `data`'s batch at a time, with this
    /// model's preprocessing (shorter side to the crop size unless a resize is set, centre
    /// crop). `names` label the classes; errors name the image by `labels`. A damaged but
    /// decodable image (libjpeg warned) is predicted and reported to `warn`.
    public func predict(
        _ images: [[UInt8]], labels: [String], names: [String]?, topK: Int, warn: (String) -> Void = { _ in }
    ) throws -> [Prediction] {
        var options = try iteratorOptions(batchSize: data.shape[0])
        if options.resize == nil { options.resize = min(options.dataShape[1], options.dataShape[2]) }
        let decoder = ImageSampleDecoder(options: options)
        let sampleSize = options.dataShape.reduce(1, *)
        var generator = SeededGenerator(seed: 0)
        var predictions: [Prediction] = []
        for start in stride(from: 0, to: images.count, by: data.shape[0]) {
            let chunk = start..<min(images.count, start + data.shape[0])
            for index in chunk {
                let row = index - start
                let damaged: Bool
                do {
                    damaged = try images[index].withUnsafeBytes {
                        try decoder.decode($0, into: data.floats + row * sampleSize, generator: &generator)
                    }
                } catch {
                    throw TrainingError("\(labels[index]): \(error)")
                }
                if damaged { warn("warning: \(labels[index]): libjpeg reports truncated or corrupt data") }
            }
            executor.forward(isTraining: false)
            try Trainer.checkFinite(executor.outputs[0], rows: chunk.count) { labels[start + $0] }
            for row in 0..<chunk.count { predictions.append(prediction(row: row, topK: topK, names: names)) }
        }
        return predictions
    }

    /// The classes of row `row` of the last forward pass, best first.
    public func prediction(row: Int, topK: Int, names: [String]?) -> Prediction {
        let p = executor.outputs[0].floats + row * classCount
        let all = (0..<classCount).map { Double(p[$0]) }
        let top = all.indices.sorted { all[$0] > all[$1] }.prefix(topK).map { index in
            Prediction.Class(
                index: index, name: names.flatMap { $0.indices.contains(index) ? $0[index] : nil },
                probability: all[index])
        }
        return Prediction(top: top, probabilities: all)
    }

    /// Top-1 and top-k accuracy over every record of `path` exactly once, and the images per second.
    public func score(
        _ path: String, topK: Int, threadCount: Int,
        warn: @escaping @Sendable (String) -> Void
    ) throws -> (metrics: ClassificationMetrics, samplesPerSecond: Double) {
        var options = try iteratorOptions(batchSize: data.shape[0])
        options.threadCount = threadCount
        let iterator = try ImageRecordIterator(path: path, options: options, warn: warn)
        let start = monotonicSeconds()
        let metrics = try Trainer.evaluate(executor: executor, iterator: iterator, topK: topK, failOnNonFinite: true)
        return (metrics, Double(metrics.count) / max(monotonicSeconds() - start, 1e-9))
    }
}
