import ArgumentParser
import DataIO
import Foundation
import TensorCore

/// `gannet pack`: PREFIX.lst → PREFIX.rec + PREFIX.idx, byte-compatible with im2rec.
struct Pack: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Pack the images of PREFIX.lst into PREFIX.rec and PREFIX.idx (MXNet RecordIO, as im2rec).",
        discussion: """
            Records follow the list order; each holds MXNet's 24-byte IRHeader (id = the list
            index) and the image re-encoded (or the file bytes with --pass-through). The files
            are written under temporary names and renamed at the end, so an interrupted pack
            leaves nothing half-written under PREFIX.rec. Images that cannot be read are
            reported by path and left out.

            --resize uses an antialiased bilinear filter (im2rec's OpenCV INTER_LINEAR aliases
            when shrinking by more than 2); JPEGs much larger than the target are first reduced
            by 1/2, 1/4 or 1/8 inside the decoder.

            Example:
              gannet pack data/train images/train --resize 256 --quality 95
            """)

    @Argument(help: "Prefix of the list: reads PREFIX.lst, writes PREFIX.rec and PREFIX.idx.")
    var prefix: String

    @Argument(help: "Folder the list's paths are relative to.")
    var root: String

    @Option(help: "Resize the shorter side to this many pixels (the other side: size × long / short).")
    var resize: Int?

    @Flag(help: "Cut the central square before resizing.")
    var centerCrop = false

    @Option(help: "JPEG quality 1–100, or PNG compression 0–9 with --encoding .png.")
    var quality = 95

    @Option(help: ".jpg or .png.")
    var encoding = ".jpg"

    @Flag(help: "Store the file bytes unchanged (no decode, resize or re-encode).")
    var passThrough = false

    @Option(help: "Encoding threads (default: all cores).")
    var threads = ProcessInfo.processInfo.activeProcessorCount

    @Flag(help: "Store every label column of the list (flag = count); otherwise only the first.")
    var packLabel = false

    @Option(help: "1: colour (RGB); 0: grey; -1: unchanged (grey JPEGs stay grey, everything else colour).")
    var color = 1

    mutating func validate() throws {
        if let resize, resize < 1 { throw ValidationError("--resize must be at least 1") }
        guard [".jpg", ".jpeg", ".png"].contains(encoding.lowercased()) else { throw ValidationError("--encoding must be .jpg or .png") }
        if encoding.lowercased() == ".png" ? !(0...9).contains(quality) : !(1...100).contains(quality) {
            throw ValidationError("--quality must be 1–100 for JPEG, 0–9 for PNG")
        }
        guard [1, 0, -1].contains(color) else { throw ValidationError("--color must be 1, 0 or -1") }
        if threads < 1 { throw ValidationError("--threads must be at least 1") }
    }

    func run() throws {
        let list = prefix + ".lst"
        let entries: [ImageListEntry]
        do { entries = try ImageList.read(path: list) } catch { throw RuntimeFailure("\(error)") }
        guard !entries.isEmpty else { throw RuntimeFailure("\(list): the list is empty") }
        let recordPath = prefix + ".rec", indexPath = prefix + ".idx"
        let temporaryRecord = recordPath + ".tmp-\(getpid())", temporaryIndex = indexPath + ".tmp-\(getpid())"
        let writer: RecordWriter
        do { writer = try RecordWriter(path: temporaryRecord) } catch { throw RuntimeFailure("\(error)") }
        let progress = ProgressBar(total: entries.count, label: "pack")
        let start = monotonicSeconds()
        var failures: [String] = []
        let blockSize = 64 * threads
        let results = ResultSlots(count: blockSize)
        var done = 0
        var blockStart = 0
        let packer = RecordPacker(root: root, resize: resize, centerCrop: centerCrop, quality: quality,
                                  isPNG: encoding.lowercased() == ".png", passThrough: passThrough, packLabel: packLabel, color: color)
        while blockStart < entries.count {
            let block = Array(entries[blockStart..<min(entries.count, blockStart + blockSize)])
            let threadCount = threads
            DispatchQueue.concurrentPerform(iterations: min(threadCount, block.count)) { thread in
                let resizer = ImageResizer()
                for index in stride(from: thread, to: block.count, by: threadCount) {
                    results[index] = packer.payload(for: block[index], resizer: resizer)
                }
            }
            for index in block.indices {
                switch results[index]! {
                case .success(let payload):
                    do { try writer.write(payload, key: block[index].index) } catch { throw RuntimeFailure("\(error)") }
                case .failure(let message):
                    failures.append(message)
                    log("skipped \(root)/\(block[index].path): \(message)")
                }
                results[index] = nil
            }
            done += block.count
            progress.update(done)
            blockStart += blockSize
        }
        progress.finish()
        do {
            try writer.finish()
            try Data(writer.indexLines).write(to: URL(fileURLWithPath: temporaryIndex))
        } catch { throw RuntimeFailure("\(error)") }
        guard rename(temporaryRecord, recordPath) == 0, rename(temporaryIndex, indexPath) == 0 else {
            throw RuntimeFailure("\(recordPath): cannot rename the temporary file: \(String(cString: strerror(errno)))")
        }
        let seconds = monotonicSeconds() - start
        let packed = entries.count - failures.count
        log(String(format: "%@: %d images in %.1f s, %.0f images/s, %.1f MB written%@", recordPath, packed, seconds,
                   Double(packed) / seconds, Double(writer.offset) / 1e6,
                   failures.isEmpty ? "" : ", \(failures.count) unreadable images skipped (listed above)"))
    }
}

/// One slot per image of a block, written by the encoding threads at distinct indices.
final class ResultSlots: @unchecked Sendable {
    private let storage: UnsafeMutablePointer<PackResult?>
    let count: Int
    init(count: Int) {
        self.count = count
        storage = .allocate(capacity: count)
        storage.initialize(repeating: nil, count: count)
    }
    deinit {
        storage.deinitialize(count: count)
        storage.deallocate()
    }
    subscript(index: Int) -> PackResult? {
        get { storage[index] }
        set { storage[index] = newValue }
    }
}

enum PackResult {
    case success([UInt8])
    case failure(String)
}

/// Turns one list entry into a record payload.
struct RecordPacker: Sendable {
    let root: String
    let resize: Int?
    let centerCrop: Bool
    let quality: Int
    let isPNG: Bool
    let passThrough: Bool
    let packLabel: Bool
    let color: Int

    func payload(for entry: ImageListEntry, resizer: ImageResizer) -> PackResult {
        let path = root.hasSuffix("/") ? root + entry.path : root + "/" + entry.path
        guard let data = FileManager.default.contents(atPath: path) else { return .failure("cannot read the file") }
        let labels = packLabel ? entry.labels : Array(entry.labels.prefix(1))
        let header = ImageRecordHeader(labels: labels, id: entry.index, isPacked: packLabel && entry.labels.count > 1)
        if passThrough { return .success(header.payload(image: [UInt8](data))) }
        do {
            let encoded: [UInt8] = try data.withUnsafeBytes { (bytes) throws -> [UInt8] in
                let image = try decode(bytes, resizer: resizer)
                let (format, _, _) = try ImageCodec.info(bytes)
                var grey = color == 0
                if color == -1 && format == .jpeg { grey = ImageCodec.isGreyJPEG(bytes) }
                return isPNG ? try ImageCodec.encodePNG(image, compression: quality, grey: grey)
                    : try ImageCodec.encodeJPEG(image, quality: quality, grey: grey)
            }
            return .success(header.payload(image: encoded))
        } catch {
            return .failure("\(error)")
        }
    }

    /// Decodes (cropped to the central square with `centerCrop`), reduced in the DCT when
    /// that keeps it at least the target size, then resized.
    private func decode(_ bytes: UnsafeRawBufferPointer, resizer: ImageResizer) throws -> RGBImage {
        let (format, width, height) = try ImageCodec.info(bytes)
        var crop = PixelRegion(x: 0, y: 0, width: width, height: height)
        if centerCrop {
            let side = min(width, height)
            crop = PixelRegion(x: (width - side) / 2, y: (height - side) / 2, width: side, height: side)
        }
        let target = resize.map { ImageResizer.shorterSide(to: $0, width: crop.width, height: crop.height) }
            ?? (crop.width, crop.height)
        let (denominator, region) = ImageCodec.reducedWindow(crop, width: width, height: height, format: format,
                                                             minimumWidth: target.0, minimumHeight: target.1)
        var pixels = [UInt8](repeating: 0, count: region.width * region.height * 3)
        var scratch: [UInt8] = []
        try pixels.withUnsafeMutableBufferPointer { target in
            _ = try ImageCodec.decode(bytes, scaleDenominator: denominator, region: region, into: target.baseAddress!, scratch: &scratch)
        }
        let decoded = RGBImage(width: region.width, height: region.height, pixels: pixels)
        if decoded.width == target.0 && decoded.height == target.1 { return decoded }
        return resizer.resize(decoded, width: target.0, height: target.1)
    }
}
