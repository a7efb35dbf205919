import ArgumentParser
import DataIO
import Foundation
import TensorCore

/// `gannet synth`: a small, deterministic, learnable image folder for demos and tests.
struct Synth: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a deterministic, learnable, photo-like image folder OUTDIR/<class>/*.jpg.",
        discussion: """
            Each class has its own colour palette and texture (stripe angle and frequency); every
            image varies them with a random shift, scale, lighting, a few occluding blobs and
            sensor noise, then is saved as a JPEG of varying size around --size. The same seed
            writes the same bytes.

            Example:
              gannet synth data/synth --classes 10 --images-per-class 60 --size 40
            """)

    @Argument(help: "Output folder (created).")
    var outdir: String

    @Option(help: "Number of classes (folders class_000, …).")
    var classes: Int

    @Option(help: "Images per class.")
    var imagesPerClass: Int

    @Option(help: "Approximate shorter side in pixels.")
    var size = 64

    @Option(help: "Random seed.")
    var seed: UInt64 = 1

    mutating func validate() throws {
        if classes < 1 || imagesPerClass < 1 { throw ValidationError("--classes and --images-per-class must be at least 1") }
        if size < 8 { throw ValidationError("--size must be at least 8") }
    }

    func run() throws {
        let total = classes * imagesPerClass
        let progress = ProgressBar(total: total, label: "synth")
        for label in 0..<classes {
            let folder = outdir + "/" + String(format: "class_%03d", label)
            do {
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            } catch {
                throw RuntimeFailure("\(folder): \(error.localizedDescription)")
            }
            var style = SeededGenerator(seed: seed, stream: UInt64(label) &+ 1_000_003)
            let palette = (0..<2).map { _ in (0..<3).map { _ in Float(40 + style.next() % 176) } }
            let angle = Float(label) * Float.pi / Float(classes) + style.nextUnitFloat() * 0.2
            let frequency = 0.15 + 0.25 * style.nextUnitFloat()
            for index in 0..<imagesPerClass {
                var generator = SeededGenerator(seed: seed, stream: UInt64(label * imagesPerClass + index))
                let image = render(palette: palette, angle: angle, frequency: frequency, generator: &generator)
                let path = folder + String(format: "/img_%05d.jpg", index)
                do {
                    try Data(try ImageCodec.encodeJPEG(image, quality: 90)).write(to: URL(fileURLWithPath: path))
                } catch {
                    throw RuntimeFailure("\(path): \(error)")
                }
                progress.update(label * imagesPerClass + index + 1)
            }
        }
        progress.finish()
        log("\(outdir): \(total) images in \(classes) classes")
    }

    private func render(palette: [[Float]], angle: Float, frequency: Float, generator: inout SeededGenerator) -> RGBImage {
        let short = size + Int(generator.next() % UInt64(max(size / 4, 1)))
        let long = short + Int(generator.next() % UInt64(max(size / 2, 1)))
        let (width, height) = generator.next() & 1 == 0 ? (long, short) : (short, long)
        let jitter = angle + (generator.nextUnitFloat() - 0.5) * 0.3
        let scale = frequency * (0.8 + 0.4 * generator.nextUnitFloat())
        let phase = generator.nextUnitFloat() * 6.28
        let light = 0.75 + 0.5 * generator.nextUnitFloat()
        let (cosA, sinA) = (cos(jitter), sin(jitter))
        let blobs = (0..<3).map { _ in
            (x: Float(generator.next() % UInt64(width)), y: Float(generator.next() % UInt64(height)),
             r: Float(size) * (0.08 + 0.12 * generator.nextUnitFloat()), shade: Float(generator.next() % 256))
        }
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                let t = (Float(x) * cosA + Float(y) * sinA) * scale + phase
                let mix = 0.5 + 0.5 * sin(t)
                for c in 0..<3 {
                    var value = (palette[0][c] * mix + palette[1][c] * (1 - mix)) * light
                    for blob in blobs where (Float(x) - blob.x) * (Float(x) - blob.x) + (Float(y) - blob.y) * (Float(y) - blob.y) < blob.r * blob.r {
                        value = blob.shade
                    }
                    value += (generator.nextUnitFloat() - 0.5) * 24
                    pixels[(y * width + x) * 3 + c] = UInt8(max(0, min(255, value)))
                }
            }
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }
}
