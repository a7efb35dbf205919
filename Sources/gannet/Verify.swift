import ArgumentParser
import DataIO
import Foundation
import TensorCore

/// `gannet verify`: decodes every record once and reports what fails.
struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Decode every record of a .rec once: count, failures (id and byte offset), labels seen.",
        discussion: """
            Records are found by walking the file from header to header (the .idx is not \
            needed). Corrupt-but-decodable JPEGs (libjpeg warnings such as a premature end of \
            data) count as failures. A damaged or truncated tail is reported with its offset. \
            Exit status 1 if anything failed.

            Example:
              gannet verify data/train.rec
              gannet verify data/val.rec --json
            """)

    @Argument(help: "The .rec file.")
    var file: String

    @OptionGroup var threadOptions: ThreadOptions

    @OptionGroup var report: JSONOutput

    @OptionGroup var imageLimit: ImageLimitOptions

    func run() throws {
        imageLimit.apply()
        let start = monotonicSeconds()
        let reader = try runtime { try RecordReader(paths: [file]) }
        let (offsets, damages) = reader.scanRecordOffsets()
        let threadCount = max(1, min(threadOptions.threads, offsets.count))
        let results = VerifyResults(threads: threadCount)
        let progress = ProgressBar(total: offsets.count, label: "verify")
        let counter = ProgressCounter()
        DispatchQueue.concurrentPerform(iterations: threadCount) { thread in
            var payload: [UInt8] = []
            var scratch: [UInt8] = []
            var pixels: [UInt8] = []
            var local = VerifyResults.Part()
            for index in stride(from: thread, to: offsets.count, by: threadCount) {
                let offset = offsets[index]
                do {
                    try reader.readRecord(at: offset, into: &payload)
                    try payload.withUnsafeBytes { bytes in
                        guard let (header, imageOffset) = ImageRecordHeader.parse(bytes) else {
                            throw ImageCodecError("the record is too short for an image record header")
                        }
                        local.labels(header.labels)
                        local.lastID = header.id
                        let image = UnsafeRawBufferPointer(rebasing: bytes[imageOffset...])
                        let (_, width, height) = try ImageCodec.info(image)
                        if pixels.count < width * height * 3 {
                            pixels = [UInt8](repeating: 0, count: width * height * 3)
                        }
                        try pixels.withUnsafeMutableBufferPointer { target in
                            _ = try ImageCodec.decode(
                                image, scaleDenominator: 1,
                                region: PixelRegion(x: 0, y: 0, width: width, height: height),
                                into: target.baseAddress!, scratch: &scratch, strict: true)
                        }
                    }
                    local.decoded += 1
                } catch {
                    let id: UInt64? = payload.withUnsafeBytes { ImageRecordHeader.parse($0)?.header.id }
                    local.failed.append((id, offset, "\(error)"))
                }
                if thread == 0 { progress.update(counter.add(threadCount)) }
            }
            results.store(local, thread: thread)
        }
        progress.finish()
        var total = VerifyResults.Part()
        for part in results.parts { total.merge(part) }
        var failed = total.failed
        failed += damages.map { (nil, $0.offset, $0.message) }
        failed.sort { $0.offset < $1.offset }
        let seconds = monotonicSeconds() - start
        if report.json {
            try printReport(
                Report(
                    records: offsets.count, decoded: total.decoded,
                    failed: failed.map { Report.Failure(id: $0.id, offset: $0.offset, error: $0.error) },
                    labels: total.minimum.map { Report.Labels(min: $0, max: total.maximum ?? $0) }, seconds: seconds))
        } else {
            for failure in failed {
                print(
                    "\(file): record \(failure.id.map(String.init) ?? "?") at byte \(failure.offset): \(failure.error)")
            }
            let labels = total.minimum.map { String(format: ", labels %g…%g", $0, total.maximum!) } ?? ""
            print(
                String(
                    format: "%@: %d records, %d decoded, %d failed%@ (%.1f s)", file, offsets.count, total.decoded,
                    failed.count, labels, seconds))
        }
        if !failed.isEmpty { throw ExitCode(1) }
    }
}

extension Verify {
    /// `--json`.
    struct Report: Encodable {
        struct Failure: Encodable {
            /// The record's id, null when its header could not be read.
            @Nullable var id: UInt64?
            var offset: Int
            var error: String
        }
        struct Labels: Encodable {
            var min: Float
            var max: Float
        }
        var records: Int
        var decoded: Int
        var failed: [Failure]
        /// The smallest and largest first label, null when nothing decoded.
        @Nullable var labels: Labels?
        var seconds: Double
    }
}

/// Per-thread results of `verify`, merged at the end.
final class VerifyResults: @unchecked Sendable {
    struct Part {
        var decoded = 0
        var failed: [(id: UInt64?, offset: Int, error: String)] = []
        var minimum: Float?
        var maximum: Float?
        var lastID: UInt64 = 0

        mutating func labels(_ values: [Float]) {
            for value in values {
                minimum = Swift.min(minimum ?? value, value)
                maximum = Swift.max(maximum ?? value, value)
            }
        }

        mutating func merge(_ other: Part) {
            decoded += other.decoded
            failed += other.failed
            if let low = other.minimum { minimum = Swift.min(minimum ?? low, low) }
            if let high = other.maximum { maximum = Swift.max(maximum ?? high, high) }
        }
    }

    private let lock = NSLock()
    private(set) var parts: [Part]
    init(threads: Int) { parts = Array(repeating: Part(), count: threads) }
    func store(_ part: Part, thread: Int) {
        lock.lock()
        parts[thread] = part
        lock.unlock()
    }
}

/// A shared count of finished items, for progress bars fed by several threads.
final class ProgressCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func add(_ count: Int) -> Int {
        lock.lock()
        defer { lock.unlock() }
        value += count
        return value
    }
}
