import Foundation
import TensorCore

#if canImport(Glibc)
import Glibc
#endif

/// How `RecordPacking.pack` turns images into records (im2rec's options).
public struct PackOptions: Sendable {
    /// Shorter side to this many pixels (antialiased); nil keeps the size.
    public var resize: Int?
    /// Cut the central square before resizing.
    public var centerCrop = false
    /// JPEG quality 1–100, or PNG compression 0–9.
    public var quality = 95
    public var isPNG = false
    /// Store the file bytes unchanged.
    public var passThrough = false
    /// Store every label column of the list (flag = count); otherwise only the first.
    public var packLabel = false
    /// 1 colour, 0 grey, -1 unchanged (grey JPEGs stay grey).
    public var color = 1
    public var threadCount = 1
    /// Pack images libjpeg decodes with a warning (truncated, corrupt data); by default
    /// they are damage and skipped.
    public var keepDamaged = false

    public init() {}
}

/// What a pack wrote.
public struct PackSummary: Sendable {
    public var recordPath: String
    public var indexPath: String
    public var packed: Int
    /// Images left out: (path, why).
    public var skipped: [(path: String, message: String)]
    public var bytesWritten: Int
    public var seconds: Double
}

/// `PREFIX.lst` → `PREFIX.rec` + `PREFIX.idx`, byte-compatible with im2rec.
public enum RecordPacking {
    /// Packs every image of `PREFIX.lst` (paths relative to `root`) in list order, encoding
    /// blocks of images on `threadCount` threads. Both files are written under temporary
    /// names and renamed at the end, so an interrupted pack leaves nothing half-written
    /// under the final names. Images that cannot be read are reported to `skipped` and left
    /// out; `progress` gets (images done, total).
    public static func pack(
        prefix: String, root: String, options: PackOptions,
        progress: (Int, Int) -> Void = { _, _ in },
        skipped: (String, String) -> Void = { _, _ in }
    ) throws -> PackSummary {
        let list = prefix + ".lst"
        let entries = try ImageList.read(path: list)
        guard !entries.isEmpty else { throw ImageListError(path: list, line: 0, "the list is empty") }
        let recordPath = prefix + ".rec", indexPath = prefix + ".idx"
        let temporaryRecord = recordPath + ".tmp-\(getpid())", temporaryIndex = indexPath + ".tmp-\(getpid())"
        // On any failure or interrupt the temporary files go too: nothing is left behind but
        // the old files.
        TemporaryFiles.register(temporaryRecord)
        TemporaryFiles.register(temporaryIndex)
        var committed = false
        defer {
            if !committed {
                unlink(temporaryRecord)
                unlink(temporaryIndex)
            }
            TemporaryFiles.unregister(temporaryRecord)
            TemporaryFiles.unregister(temporaryIndex)
        }
        let writer = try RecordWriter(path: temporaryRecord)
        let start = monotonicSeconds()
        var failures: [(path: String, message: String)] = []
        let threads = max(options.threadCount, 1)
        let blockSize = 64 * threads
        let results = ResultSlots(count: blockSize)
        let packer = RecordPacker(root: root, options: options)
        for blockStart in stride(from: 0, to: entries.count, by: blockSize) {
            let block = Array(entries[blockStart..<min(entries.count, blockStart + blockSize)])
            DispatchQueue.concurrentPerform(iterations: min(threads, block.count)) { thread in
                let resizer = ImageResizer()
                for index in stride(from: thread, to: block.count, by: threads) {
                    results[index] = packer.payload(for: block[index], resizer: resizer)
                }
            }
            for index in block.indices {
                switch results[index]! {
                case .success(let payload):
                    try writer.write(payload, key: block[index].index)
                case .failure(let message):
                    failures.append((packer.path(of: block[index]), message))
                    skipped(packer.path(of: block[index]), message)
                }
                results[index] = nil
            }
            progress(blockStart + block.count, entries.count)
        }
        try writer.finish()
        guard failures.count < entries.count else {
            throw PackError(
                description: "\(list): nothing packed: none of its \(entries.count) images could be read (see above)")
        }
        try writeFileAtomically(writer.indexLines, to: temporaryIndex)
        guard rename(temporaryRecord, recordPath) == 0, rename(temporaryIndex, indexPath) == 0 else {
            throw PackError(
                description: "\(recordPath): cannot rename the temporary file: \(String(cString: strerror(errno)))")
        }
        committed = true
        return PackSummary(
            recordPath: recordPath, indexPath: indexPath, packed: entries.count - failures.count,
            skipped: failures, bytesWritten: writer.offset, seconds: monotonicSeconds() - start)
    }
}

struct PackError: Error, CustomStringConvertible {
    let description: String
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
    let options: PackOptions
    var resize: Int? { options.resize }
    var centerCrop: Bool { options.centerCrop }
    var keepDamaged: Bool { options.keepDamaged }
    var quality: Int { options.quality }
    var isPNG: Bool { options.isPNG }
    var passThrough: Bool { options.passThrough }
    var packLabel: Bool { options.packLabel }
    var color: Int { options.color }

    func path(of entry: ImageListEntry) -> String {
        root.hasSuffix("/") ? root + entry.path : root + "/" + entry.path
    }

    func payload(for entry: ImageListEntry, resizer: ImageResizer) -> PackResult {
        let path = path(of: entry)
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
                return isPNG
                    ? try ImageCodec.encodePNG(image, compression: quality, grey: grey)
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
        let target =
            resize.map { ImageResizer.shorterSide(to: $0, width: crop.width, height: crop.height) }
            ?? (crop.width, crop.height)
        try ImageCodec.checkPixelCount(width: target.0, height: target.1, "the resize to \(resize ?? 0)")
        let (denominator, region) = ImageCodec.reducedWindow(
            crop, width: width, height: height, format: format,
            minimumWidth: target.0, minimumHeight: target.1)
        var pixels = [UInt8](repeating: 0, count: region.width * region.height * 3)
        var scratch: [UInt8] = []
        let damaged = try pixels.withUnsafeMutableBufferPointer { target in
            try ImageCodec.decode(
                bytes, scaleDenominator: denominator, region: region, into: target.baseAddress!, scratch: &scratch)
        }
        if damaged && !keepDamaged {
            throw ImageCodecError(
                "libjpeg reports truncated or corrupt data (decodable, but damaged; --keep-damaged packs it)")
        }
        let decoded = RGBImage(width: region.width, height: region.height, pixels: pixels)
        if decoded.width == target.0 && decoded.height == target.1 { return decoded }
        return resizer.resize(decoded, width: target.0, height: target.1)
    }
}
