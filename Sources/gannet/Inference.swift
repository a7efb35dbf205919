import ArgumentParser
import DataIO
import Foundation
import Graph
import TensorCore
import Training

/// The preprocessing options shared by `score` and `predict`; what is not given comes
/// from the training run's `.state`, then from MXNet's defaults.
struct PreprocessingOptions: ParsableArguments {
    @Option(help: "Input shape C,H,W (default: the training run's, else 3,224,224).")
    var dataShape: DataShape?

    @Option(help: "Resize the shorter side to this before the centre crop (default: the training run's, else the crop size).")
    var resize: Int?

    @Option(help: "Per-channel RGB mean (default: the training run's).")
    var meanRgb: String?

    @Option(help: "Mean image file (default: the training run's).")
    var meanImg: String?

    @Option(help: "Multiply after subtracting the mean (default: the training run's, else 1).")
    var scale: Float?

    mutating func validate() throws {
        if meanRgb != nil && meanImg != nil { throw ValidationError("give --mean-rgb or --mean-img, not both") }
        if let meanRgb, parseFloats(meanRgb, count: 3) == nil { throw ValidationError("--mean-rgb must be three numbers R,G,B") }
        if let resize, resize < 1 { throw ValidationError("--resize must be at least 1") }
    }

    /// What these options override of the training run's preprocessing.
    var overrides: PreprocessingOverrides {
        PreprocessingOverrides(dataShape: dataShape?.dimensions, resize: resize,
                               meanRGB: meanRgb.flatMap { parseFloats($0, count: 3) }, meanImage: meanImg, scale: scale)
    }
}

extension InferenceModel {
    /// The checkpoint `PREFIX-NNNN` for inference at `batchSize`, notes on standard error.
    static func load(prefix: String, epoch: Int, batchSize: Int, options: PreprocessingOptions) throws -> InferenceModel {
        try runtime { try InferenceModel(prefix: prefix, epoch: epoch, batchSize: batchSize, overrides: options.overrides,
                                         log: { log($0) }) }
    }
}

/// `gannet score`: accuracy of a checkpoint over a record file.
struct Score: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Top-1 and top-k accuracy of a checkpoint over every record of a .rec, exactly once.",
        discussion: """
            Example:
              gannet score --model model/small --epoch 8 --data data/val.rec --json
            """)

    @Option(help: "Checkpoint prefix (PREFIX-symbol.json, PREFIX-NNNN.params).")
    var model: String

    @Option(help: "Checkpoint epoch N (PREFIX-NNNN.params).")
    var epoch: Int

    @Option(help: "Records to score.")
    var data: String

    @Option(help: "Batch size.")
    var batchSize = 32

    @Option(help: "k of the top-k accuracy.")
    var topK = 5

    @OptionGroup var preprocessing: PreprocessingOptions

    @Flag(help: "Print one JSON object on standard output.")
    var json = false

    func run() throws {
        let loaded = try InferenceModel.load(prefix: model, epoch: epoch, batchSize: batchSize, options: preprocessing)
        let iterator: ImageRecordIterator
        do {
            var options = try loaded.iteratorOptions(batchSize: batchSize)
            options.threadCount = ProcessInfo.processInfo.activeProcessorCount
            iterator = try ImageRecordIterator(path: data, options: options, warn: { log($0) })
        } catch let error as RuntimeFailure { throw error } catch { throw RuntimeFailure("\(error)") }
        let start = monotonicSeconds()
        let metrics: ClassificationMetrics
        do { metrics = try Trainer.evaluate(executor: loaded.executor, iterator: iterator, topK: topK) } catch {
            throw RuntimeFailure("\(error)")
        }
        let speed = Double(metrics.count) / (monotonicSeconds() - start)
        if json {
            printJSON(["images": metrics.count, "top-1": metrics.accuracy, "top-k": metrics.topKAccuracy, "k": topK,
                       "samples-per-second": speed])
        } else {
            print(String(format: "%@: %d images, top-1 %.4f, top-%d %.4f, %.1f images/s", data, metrics.count,
                         metrics.accuracy, topK, metrics.topKAccuracy, speed))
        }
    }
}

/// `gannet predict`: the top classes of images.
struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Classify images (JPEG or PNG) with a checkpoint: the top-k classes and their probabilities.",
        discussion: """
            Each image: decoded, shorter side resized to --resize (default: the crop size),
            centre-cropped to the data shape, mean subtracted, scaled — as in training unless
            overridden. Loads MXNet checkpoints of both dialects (MXNet 1.x and 2015).

            Example:
              gannet predict --model model/small --epoch 8 --synset data/train.synset.txt cat.jpg dog.png
            """)

    @Option(help: "Checkpoint prefix (PREFIX-symbol.json, PREFIX-NNNN.params).")
    var model: String

    @Option(help: "Checkpoint epoch N (PREFIX-NNNN.params).")
    var epoch: Int

    @Option(help: "Class names, one per line in label order (e.g. PREFIX.synset.txt from `gannet list`).")
    var synset: String?

    @Option(help: "How many classes to show per image.")
    var topK = 5

    @OptionGroup var preprocessing: PreprocessingOptions

    @Flag(help: "Print one JSON object on standard output.")
    var json = false

    @Argument(help: "Image files.")
    var images: [String]

    mutating func validate() throws {
        if images.isEmpty { throw ValidationError("give at least one image") }
        if topK < 1 { throw ValidationError("--top-k must be at least 1") }
    }

    func run() throws {
        let batchSize = min(images.count, 32)
        let loaded = try InferenceModel.load(prefix: model, epoch: epoch, batchSize: batchSize, options: preprocessing)
        var options = try loaded.iteratorOptions(batchSize: batchSize)
        if options.resize == nil { options.resize = min(options.dataShape[1], options.dataShape[2]) }
        let names: [String]? = try synset.map { path in
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw RuntimeFailure("\(path): cannot read") }
            return text.split(whereSeparator: \.isNewline).map(String.init)
        }
        if let names, names.count != loaded.classCount {
            log("warning: \(synset!) has \(names.count) names for \(loaded.classCount) classes")
        }
        let decoder = ImageSampleDecoder(options: options)
        let data = loaded.data
        let sampleSize = options.dataShape.reduce(1, *)
        var predictions: [[String: Any]] = []
        var generator = SeededGenerator(seed: 0)
        for start in stride(from: 0, to: images.count, by: batchSize) {
            let chunk = Array(images[start..<min(images.count, start + batchSize)])
            for (row, path) in chunk.enumerated() {
                guard let bytes = FileManager.default.contents(atPath: path) else { throw RuntimeFailure("\(path): cannot read") }
                do {
                    _ = try bytes.withUnsafeBytes { try decoder.decode($0, into: data.floats + row * sampleSize, generator: &generator) }
                } catch {
                    throw RuntimeFailure("\(path): \(error)")
                }
            }
            loaded.executor.forward(isTraining: false)
            let probabilities = loaded.executor.outputs[0]
            for (row, path) in chunk.enumerated() {
                let p = probabilities.floats + row * loaded.classCount
                let all = (0..<loaded.classCount).map { Double(p[$0]) }
                let top = all.indices.sorted { all[$0] > all[$1] }.prefix(topK)
                func name(_ index: Int) -> String? { names.flatMap { $0.indices.contains(index) ? $0[index] : nil } }
                predictions.append([
                    "image": path,
                    "top": top.map { ["class": $0, "name": name($0).map { $0 as Any } ?? NSNull(), "probability": all[$0]] },
                    "probabilities": all,
                ])
                if !json {
                    print(path)
                    for index in top { print(String(format: "  %6.4f  %d  %@", all[index], index, name(index) ?? "class \(index)")) }
                }
            }
        }
        if json { printJSON(["predictions": predictions]) }
    }
}
