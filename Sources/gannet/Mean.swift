import ArgumentParser
import DataIO
import Foundation
import TensorCore

/// `gannet mean`: the mean image of a record file, as ImageRecordIter computes it.
struct Mean: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compute the mean image of a .rec and save it as MXNet's mean.bin (key mean_img).",
        discussion: """
            Every record is decoded and cropped as the iterator would (centre crop unless \
            --rand-crop) and the RGB float images are averaged before any normalisation, as \
            ImageRecordIter does when its mean_img file does not exist yet.

            Example:
              gannet mean data/train.rec --data-shape 3,224,224 --output data/mean.bin
            """)

    @Argument(help: "The .rec file.")
    var file: String

    @Option(help: "Image shape C,H,W.")
    var dataShape: DataShape

    @Option(help: "Where to write the mean image.")
    var output: String

    @Option(parsing: .unconditional, help: "Resize the shorter side to this first.")
    var resize: Int?

    @Flag(help: "Random crops (as a training iterator with rand_crop would average).")
    var randCrop = false

    @Flag(help: "Random flips.")
    var randMirror = false

    @OptionGroup var threadOptions: ThreadOptions

    @OptionGroup var imageLimit: ImageLimitOptions

    func validate() throws {
        if let resize, !(1...65535).contains(resize) { throw ValidationError("--resize must be 1–65535") }
    }

    func run() throws {
        imageLimit.apply()
        var options = ImageIteratorOptions(dataShape: dataShape.dimensions, batchSize: 64)
        options.resize = resize
        options.randomCrop = randCrop
        options.randomMirror = randMirror
        options.threadCount = threadOptions.threads
        var progress: ProgressBar?
        let (mean, count) = try runtime {
            try MeanImage.compute(path: file, options: options) { done, total in
                if progress == nil { progress = ProgressBar(total: total, label: "mean") }
                progress?.update(done)
            }
        }
        progress?.finish()
        try runtime(output) { try NDArrayFile.write([NDArrayFile.Entry(name: "mean_img", tensor: mean)], to: output) }
        let channels = dataShape.dimensions[0], perChannel = mean.elementCount / channels
        let means = (0..<channels).map { c in
            String(
                format: "%.2f",
                (0..<perChannel).reduce(0.0) { $0 + Double(mean.floats[c * perChannel + $1]) } / Double(perChannel))
        }
        log("\(output): mean of \(count) images, channel means \(means.joined(separator: ", "))")
    }
}
