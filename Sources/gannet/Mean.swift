import ArgumentParser
import DataIO
import Foundation
import TensorCore

/// `gannet mean`: the mean image of a record file, as ImageRecordIter computes it.
struct Mean: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compute the mean image of a .rec and save it as MXNet's mean.bin (key mean_img).",
        discussion: """
            Every record is decoded and cropped as the iterator would (centre crop unless
            --rand-crop) and the RGB float images are averaged before any normalisation, as
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

    @Option(help: "Resize the shorter side to this first.")
    var resize: Int?

    @Flag(help: "Random crops (as a training iterator with rand_crop would average).")
    var randCrop = false

    @Flag(help: "Random flips.")
    var randMirror = false

    @Option(help: "Decode threads (default: all cores).")
    var threads = ProcessInfo.processInfo.activeProcessorCount

    func run() throws {
        var options = ImageIteratorOptions(dataShape: dataShape.dimensions, batchSize: 64)
        options.resize = resize
        options.randomCrop = randCrop
        options.randomMirror = randMirror
        options.threadCount = threads
        let iterator: ImageRecordIterator
        do { iterator = try ImageRecordIterator(path: file, options: options, warn: { _ in }) } catch { throw RuntimeFailure("\(error)") }
        let size = dataShape.dimensions.reduce(1, *)
        var sum = [Double](repeating: 0, count: size)
        var count = 0
        let progress = ProgressBar(total: iterator.recordCount, label: "mean")
        do {
            while let batch = try iterator.next() {
                let rows = batch.data.shape[0] - batch.pad
                let values = batch.data.floats
                for row in 0..<rows {
                    for index in 0..<size { sum[index] += Double(values[row * size + index]) }
                }
                count += rows
                progress.update(count)
            }
        } catch {
            throw RuntimeFailure("\(error)")
        }
        progress.finish()
        guard count > 0 else { throw RuntimeFailure("\(file): no records") }
        let mean = Tensor(shape: Shape(dataShape.dimensions), values: sum.map { Float($0 / Double(count)) })
        do {
            try NDArrayFile.write([NDArrayFile.Entry(name: "mean_img", tensor: mean)], to: output)
        } catch {
            throw RuntimeFailure("\(output): \(error)")
        }
        let channels = (0..<dataShape.dimensions[0]).map { c in
            String(format: "%.2f", sum[(c * size / dataShape.dimensions[0])..<((c + 1) * size / dataShape.dimensions[0])].reduce(0, +) / Double(count * size / dataShape.dimensions[0]))
        }
        log("\(output): mean of \(count) images, channel means \(channels.joined(separator: ", "))")
    }
}
