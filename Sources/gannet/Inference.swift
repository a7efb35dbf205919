import ArgumentParser
import DNNL
import DataIO
import Foundation
import Graph
import TensorCore
import Training

extension InferenceModel {
    /// The checkpoint `PREFIX-NNNN` for inference at `batchSize`, notes on standard error.
    static func load(
        prefix: String, epoch: Int, batchSize: Int, dataShape: DataShape?,
        options: PreprocessingOptions, precision: PrecisionOptions
    ) throws -> InferenceModel {
        log("oneDNN \(Library.version), ISA \(Library.instructionSet), \(precision.dtype.rawValue)")
        return try runtime {
            try InferenceModel(
                prefix: prefix, epoch: epoch, batchSize: batchSize,
                overrides: options.overrides(dataShape: dataShape?.dimensions), dataType: precision.dtype,
                log: { log($0) })
        }
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

    @Option(parsing: .unconditional, help: "Checkpoint epoch N (PREFIX-NNNN.params).")
    var epoch: Int

    @Option(help: "Records to score.")
    var data: String

    @Option(parsing: .unconditional, help: "Batch size.")
    var batchSize = 32

    @Option(parsing: .unconditional, help: "k of the top-k accuracy.")
    var topK = 5

    @Option(help: "Input shape C,H,W (default: the training run's, else 3,224,224).")
    var dataShape: DataShape?

    @OptionGroup var preprocessing: PreprocessingOptions

    @OptionGroup var precision: PrecisionOptions

    @OptionGroup var threadOptions: ThreadOptions

    @OptionGroup var report: JSONOutput

    @OptionGroup var imageLimit: ImageLimitOptions

    func validate() throws {
        if batchSize < 1 { throw ValidationError("--batch-size must be at least 1") }
        if epoch < 0 { throw ValidationError("--epoch must not be negative") }
    }

    func run() throws {
        imageLimit.apply()
        let loaded = try InferenceModel.load(
            prefix: model, epoch: epoch, batchSize: batchSize, dataShape: dataShape,
            options: preprocessing, precision: precision)
        let (metrics, speed) = try runtime {
            try loaded.score(data, topK: topK, threadCount: threadOptions.threads, warn: { log($0) })
        }
        if report.json {
            try printReport(
                Report(
                    images: metrics.count, top1: metrics.accuracy, topK: metrics.topKAccuracy, k: topK,
                    samplesPerSecond: speed, dtype: precision.dtype.rawValue, isa: Library.instructionSet))
        } else {
            print(
                String(
                    format: "%@: %d images, top-1 %.4f, top-%d %.4f, %.1f images/s", data, metrics.count,
                    metrics.accuracy, topK, metrics.topKAccuracy, speed))
        }
    }

    /// `--json`.
    struct Report: Encodable {
        var images: Int
        var top1: Double
        var topK: Double
        var k: Int
        var samplesPerSecond: Double
        var dtype: String
        var isa: String
        enum CodingKeys: String, CodingKey {
            case images, k, dtype, isa, top1 = "top-1", topK = "top-k", samplesPerSecond = "samples-per-second"
        }
    }
}

/// `gannet predict`: the top classes of images.
struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Classify images (JPEG or PNG) with a checkpoint: the top-k classes and their probabilities.",
        discussion: """
            Each image: decoded, shorter side resized to --resize (default: the crop size), \
            centre-cropped to the data shape, mean subtracted, scaled — as in training unless \
            overridden. Loads MXNet checkpoints of both dialects (MXNet 1.x and 2015).

            Example:
              gannet predict --model model/small --epoch 8 \\
                --synset data/train.synset.txt cat.jpg dog.png
            """)

    @Option(help: "Checkpoint prefix (PREFIX-symbol.json, PREFIX-NNNN.params).")
    var model: String

    @Option(parsing: .unconditional, help: "Checkpoint epoch N (PREFIX-NNNN.params).")
    var epoch: Int

    @OptionGroup var classification: ClassificationOptions

    @OptionGroup var preprocessing: PreprocessingOptions

    @OptionGroup var precision: PrecisionOptions

    @OptionGroup var report: JSONOutput

    @Argument(help: "Image files.")
    var images: [String]

    mutating func validate() throws {
        if images.isEmpty { throw ValidationError("give at least one image") }
    }

    @OptionGroup var imageLimit: ImageLimitOptions

    func run() throws {
        imageLimit.apply()
        let batchSize = min(images.count, 32)
        let loaded = try InferenceModel.load(
            prefix: model, epoch: epoch, batchSize: batchSize, dataShape: classification.dataShape,
            options: preprocessing, precision: precision)
        let names = try classification.names()
        classification.check(names, classCount: loaded.classCount)
        let bytes = try images.map { path in
            guard let data = FileManager.default.contents(atPath: path) else {
                throw RuntimeFailure("\(path): cannot read")
            }
            return [UInt8](data)
        }
        let predictions = try runtime {
            try loaded.predict(bytes, labels: images, names: names, topK: classification.topK, warn: log)
        }
        if report.json {
            return try printReport(
                Report(
                    predictions: zip(images, predictions).map { Report.Entry(image: $0, prediction: $1) },
                    dtype: precision.dtype.rawValue, isa: Library.instructionSet))
        }
        for (path, prediction) in zip(images, predictions) {
            print(path)
            for entry in prediction.top {
                print(
                    String(
                        format: "  %6.4f  %d  %@", entry.probability, entry.index, entry.name ?? "class \(entry.index)")
                )
            }
        }
    }

    /// `--json`: each image's prediction with its path.
    struct Report: Encodable {
        struct Entry: Encodable {
            var image: String
            var prediction: Prediction
            enum CodingKeys: String, CodingKey { case image, top, probabilities }
            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: CodingKeys.self)
                try container.encode(image, forKey: .image)
                try container.encode(prediction.top, forKey: .top)
                try container.encode(prediction.probabilities, forKey: .probabilities)
            }
        }
        var predictions: [Entry]
        var dtype: String
        var isa: String
    }
}
