import ArgumentParser
import DataIO
import Foundation
import TensorCore

/// `gannet pack`: PREFIX.lst → PREFIX.rec + PREFIX.idx, byte-compatible with im2rec.
struct Pack: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Pack the images of PREFIX.lst into PREFIX.rec and PREFIX.idx (MXNet RecordIO, as im2rec).",
        discussion: """
            Records follow the list order; each holds MXNet's 24-byte IRHeader (id = the list \
            index) and the image re-encoded (or the file bytes with --pass-through). The files \
            are written under temporary names and renamed at the end, so an interrupted pack \
            leaves nothing half-written under PREFIX.rec. Images that cannot be read are \
            reported by path and left out.

            --resize uses an antialiased bilinear filter (im2rec's OpenCV INTER_LINEAR aliases \
            when shrinking by more than 2); JPEGs much larger than the target are first reduced \
            by 1/2, 1/4 or 1/8 inside the decoder.

            Example:
              gannet pack data/train images/train --resize 256 --quality 95
            """)

    @Argument(help: "Prefix of the list: reads PREFIX.lst, writes PREFIX.rec and PREFIX.idx.")
    var prefix: String

    @Argument(help: "Folder the list's paths are relative to.")
    var root: String

    @Option(
        parsing: .unconditional,
        help: "Resize the shorter side to this many pixels (the other side: size × long / short).")
    var resize: Int?

    @Flag(help: "Cut the central square before resizing.")
    var centerCrop = false

    @Option(parsing: .unconditional, help: "JPEG quality 1–100, or PNG compression 0–9 with --encoding .png.")
    var quality = 95

    @Option(help: ".jpg or .png.")
    var encoding = ".jpg"

    @Flag(help: "Store the file bytes unchanged (no decode, resize or re-encode).")
    var passThrough = false

    @Flag(
        help:
            "Pack JPEGs that libjpeg decodes with a warning (truncated or corrupt data); by default they are skipped as damaged."
    )
    var keepDamaged = false

    @Option(help: "Encoding threads (default: all cores).")
    var threads = ProcessInfo.processInfo.activeProcessorCount

    @Flag(help: "Store every label column of the list (flag = count); otherwise only the first.")
    var packLabel = false

    @Option(
        parsing: .unconditional,
        help: "1: colour (RGB); 0: grey; -1: unchanged (grey JPEGs stay grey, everything else colour).")
    var color = 1

    mutating func validate() throws {
        if let resize, !(1...65535).contains(resize) { throw ValidationError("--resize must be 1–65535") }
        guard [".jpg", ".jpeg", ".png"].contains(encoding.lowercased()) else {
            throw ValidationError("--encoding must be .jpg or .png")
        }
        if encoding.lowercased() == ".png" ? !(0...9).contains(quality) : !(1...100).contains(quality) {
            throw ValidationError("--quality must be 1–100 for JPEG, 0–9 for PNG")
        }
        guard [1, 0, -1].contains(color) else { throw ValidationError("--color must be 1, 0 or -1") }
        if threads < 1 { throw ValidationError("--threads must be at least 1") }
    }

    @OptionGroup var imageLimit: ImageLimitOptions

    func run() throws {
        imageLimit.apply()
        var options = PackOptions()
        options.resize = resize
        options.centerCrop = centerCrop
        options.quality = quality
        options.isPNG = encoding.lowercased() == ".png"
        options.passThrough = passThrough
        options.keepDamaged = keepDamaged
        options.packLabel = packLabel
        options.color = color
        options.threadCount = threads
        var progress: ProgressBar?
        let summary = try runtime {
            try RecordPacking.pack(prefix: prefix, root: root, options: options) { done, total in
                if progress == nil { progress = ProgressBar(total: total, label: "pack") }
                progress?.update(done)
            } skipped: { path, message in
                progress?.interrupt()
                log("skipped \(path): \(message)")
            }
        }
        progress?.finish()
        log(
            String(
                format: "%@: %d images in %.1f s, %.0f images/s, %.1f MB written%@", summary.recordPath, summary.packed,
                summary.seconds, Double(summary.packed) / max(summary.seconds, 1e-9),
                Double(summary.bytesWritten) / 1e6,
                summary.skipped.isEmpty ? "" : ", \(summary.skipped.count) unreadable images skipped (listed above)"))
    }
}
