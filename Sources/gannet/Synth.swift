import ArgumentParser
import DataIO
import Foundation
import TensorCore

/// `gannet synth`: a small, deterministic, learnable image folder for demos and tests.
struct Synth: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a deterministic, learnable, photo-like image folder OUTDIR/<class>/*.jpg.",
        discussion: """
            Each class is an object of its own silhouette (disk, ring, triangle, square, star, \
            cross, bar, half disk) and fill (solid, stripes, checks, dots: class k has silhouette \
            k mod 8 and fill k/8 mod 4), drawn at a random place, size and angle, in a hue that \
            only scatters around the class's, over a random background with clutter and a \
            lighting gradient, partly occluded, with sensor noise; saved as a JPEG of varying \
            size around --size. Colour alone tells the classes apart poorly: a linear model on \
            the pixels stays far below a small CNN. The same seed writes the same bytes.

            Example:
              gannet synth data/synth --classes 10 --images-per-class 60 --size 40
            """)

    @Argument(help: "Output folder (created).")
    var outdir: String

    @Option(parsing: .unconditional, help: "Number of classes (folders class_000, …).")
    var classes: Int

    @Option(parsing: .unconditional, help: "Images per class.")
    var imagesPerClass: Int

    @Option(parsing: .unconditional, help: "Approximate shorter side in pixels.")
    var size = 64

    @Option(parsing: .unconditional, help: "Random seed.")
    var seed: UInt64 = 1

    mutating func validate() throws {
        if classes < 1 || imagesPerClass < 1 {
            throw ValidationError("--classes and --images-per-class must be at least 1")
        }
        if size < 8 { throw ValidationError("--size must be at least 8") }
    }

    func run() throws {
        let total = classes * imagesPerClass
        let progress = ProgressBar(total: total, label: "synth")
        for label in 0..<classes {
            let folder = outdir + "/" + String(format: "class_%03d", label)
            try runtime(folder) {
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            }
            for index in 0..<imagesPerClass {
                let image = SyntheticImages.image(
                    label: label, classCount: classes, index: index,
                    imagesPerClass: imagesPerClass, size: size, seed: seed)
                let path = folder + String(format: "/img_%05d.jpg", index)
                try runtime(path) {
                    try Data(try ImageCodec.encodeJPEG(image, quality: 90)).write(to: URL(fileURLWithPath: path))
                }
                progress.update(label * imagesPerClass + index + 1)
            }
        }
        progress.finish()
        log("\(outdir): \(total) images in \(classes) classes")
    }
}
