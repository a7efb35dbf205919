import Foundation
import TensorCore

/// One batch: `data` `[B, C, H, W]` and `label` `[B, labelWidth]`; the last `pad` rows
/// repeat records from the start of the epoch and must be left out of metrics.
public final class ImageBatch: @unchecked Sendable {
    public let data: Tensor
    public let label: Tensor
    /// Rows at the end that are padding.
    public internal(set) var pad = 0
    /// Position of the batch in its epoch.
    public internal(set) var index = 0
    /// One id per row, written by the decode threads at distinct rows: plain memory, not a
    /// Swift array (whose copy-on-write is not safe under concurrent writers).
    private let idStorage: UnsafeMutablePointer<UInt64>
    private let rowCount: Int

    init(options: ImageIteratorOptions) {
        data = Tensor(shape: Shape([options.batchSize] + options.dataShape))
        label = Tensor(shape: [options.batchSize, options.labelWidth])
        rowCount = options.batchSize
        idStorage = .allocate(capacity: options.batchSize)
        idStorage.initialize(repeating: 0, count: options.batchSize)
    }

    deinit { idStorage.deallocate() }

    /// Record ids (`IRHeader.id`) of the rows.
    public var ids: [UInt64] { Array(UnsafeBufferPointer(start: idStorage, count: rowCount)) }

    /// The id of one row.
    public func id(row: Int) -> UInt64 { idStorage[row] }

    func setID(_ id: UInt64, row: Int) { idStorage[row] = id }
}

/// A record that failed to decode or had the wrong labels.
public struct BadRecord: Error, CustomStringConvertible, Sendable {
    public let path: String
    /// Stream offset of the record.
    public let offset: Int
    /// `IRHeader.id`, when the header could be read.
    public let id: UInt64?
    public let message: String

    public var description: String {
        "\(path): record \(id.map(String.init) ?? "?") at byte \(offset): \(message)"
    }
}

/// Reads image records (`.rec`, optionally with its `.idx`) and yields batches decoded and
/// augmented on `threadCount` threads, `prefetchCount` batches ahead of the consumer.
///
/// ```swift
/// var options = ImageIteratorOptions(dataShape: [3, 224, 224], batchSize: 128)
/// options.randomCrop = true; options.randomMirror = true; options.shuffle = true
/// let iterator = try ImageRecordIterator(path: "data/train.rec", options: options)
/// for epoch in 0..<10 {
///     iterator.reset(epoch: epoch)
///     while let batch = try iterator.next() { train(batch.data, batch.label) }
/// }
/// ```
///
/// Every sample draws its augmentation from a generator seeded by (seed, part, epoch,
/// position in the epoch), so the same seed gives the same batches whatever the thread
/// timing. A batch returned by `next()` stays valid until the following call.
public final class ImageRecordIterator: @unchecked Sendable {
    private let pipeline: RecordPipeline

    public init(
        path: String, index: String? = nil, labels: String? = nil, options: ImageIteratorOptions,
        warn: @escaping @Sendable (String) -> Void = { _ in }
    ) throws {
        pipeline = try RecordPipeline(path: path, index: index, labels: labels, options: options, warn: warn)
    }

    /// Stops the decode threads; they finish the image in hand and exit.
    deinit { pipeline.stop() }

    public var options: ImageIteratorOptions { pipeline.options }
    public var reader: RecordReader { pipeline.reader }
    /// Stream offsets of this part's records, in file order.
    public var recordOffsets: [Int] { pipeline.recordOffsets }
    /// Whether the records came from an `.idx` (global shuffling is possible).
    public var isIndexed: Bool { pipeline.isIndexed }
    /// Batches in the current epoch.
    public var batchesPerEpoch: Int { pipeline.batchesPerEpoch }
    /// Records of this part.
    public var recordCount: Int { pipeline.recordOffsets.count }
    /// Records skipped in the current epoch (`badRecords: .skip`).
    public var skippedRecords: [BadRecord] { pipeline.skippedRecords }

    public func reset(epoch: Int) { pipeline.reset(epoch: epoch) }

    public func next() throws -> ImageBatch? { try pipeline.next() }
}

/// The iterator's state, shared with its decode threads (which keep it alive until they
/// have seen `stop()`).
final class RecordPipeline: @unchecked Sendable {
    let options: ImageIteratorOptions
    let reader: RecordReader
    let recordOffsets: [Int]
    let isIndexed: Bool
    private let labelOverrides: [UInt64: [Float]]?

    private let condition = NSCondition()
    private var jobs: [Job] = []
    private var jobHead = 0
    private var slots: [Slot]
    private var order: [Int] = []
    private var epoch = 0
    private var batchCount = 0
    private var nextToSchedule = 0
    private var nextToDeliver = 0
    private var deliveredSlot: Int?
    private var generation = 0
    private var isStopping = false
    /// Jobs taken by workers and not yet reported: a reset waits for them, so that no stale
    /// image lands in a batch of the new epoch.
    private var inFlight = 0
    private var skipped: [BadRecord] = []

    private struct Job { var slot: Int; var row: Int; var position: Int; var generation: Int }

    private final class Slot {
        let batch: ImageBatch
        var sequence = -1
        var remaining = 0
        var failedRows: [Int] = []
        var error: BadRecord?
        init(batch: ImageBatch) { self.batch = batch }
    }

    init(
        path: String, index: String? = nil, labels: String? = nil, options: ImageIteratorOptions,
        warn: @escaping @Sendable (String) -> Void = { _ in }
    ) throws {
        precondition(
            options.batchSize > 0 && options.partCount > 0 && (0..<options.partCount).contains(options.partIndex))
        guard options.dataShape.count == 3, [1, 3].contains(options.dataShape[0]), options.dataShape[1] > 0,
            options.dataShape[2] > 0
        else {
            throw ImageCodecError("data shape must be C,H,W with C 1 or 3, got \(options.dataShape)")
        }
        if case .image(let values) = options.mean, values.count != options.dataShape.reduce(1, *) {
            throw ImageCodecError(
                "the mean image has \(values.count) values, the data shape \(options.dataShape) needs \(options.dataShape.reduce(1, *))"
            )
        }
        self.options = options
        let paths = path.split(separator: ";").map(String.init)
        reader = try RecordReader(paths: paths)
        var indexPath = index
        if indexPath == nil, paths.count == 1, paths[0].hasSuffix(".rec") {
            let candidate = String(paths[0].dropLast(4)) + ".idx"
            if FileManager.default.fileExists(atPath: candidate) { indexPath = candidate }
        }
        if let indexPath {
            // Every part sees the whole index and takes its share of each global batch.
            let entries = try RecordIndex.read(path: indexPath)
            // The same offset twice would read one record as two images.
            var seen = Set<Int>()
            let offsets = entries.map(\.offset).filter { seen.insert($0).inserted }
            if offsets.count < entries.count {
                warn("warning: \(indexPath): \(entries.count - offsets.count) duplicate offsets ignored")
            }
            try Self.checkIndex(offsets, indexPath: indexPath, reader: reader)
            recordOffsets = offsets
            isIndexed = true
        } else {
            // By bytes, as dmlc's InputSplit partitions: a record belongs to the part its
            // header starts in.
            let (all, damages) = reader.scanRecordOffsets()
            if let first = damages.first {
                guard options.badRecords == .skip else {
                    throw RecordIOError(
                        path: first.path, offset: first.offset,
                        "\(first.message) (\(damages.count) damaged place\(damages.count == 1 ? "" : "s") in all; "
                            + "--bad-records skip reads the \(all.count) intact records)")
                }
                for damage in damages { warn("warning: \(damage): skipped") }
                warn("warning: \(path): \(damages.count) damaged place(s) skipped, \(all.count) intact records read")
            }
            guard !all.isEmpty else { throw RecordIOError(path: path, offset: 0, "no records") }
            let step = ((reader.totalBytes + options.partCount - 1) / options.partCount + 3) / 4 * 4
            recordOffsets = all.filter { min($0 / max(step, 1), options.partCount - 1) == options.partIndex }
            isIndexed = false
            if options.shuffle {
                warn(
                    "warning: \(path) has no .idx: shuffling only within windows of \(Self.shuffleWindow) consecutive records; "
                        + "write an index with `gannet pack` for a global shuffle every epoch")
            }
        }
        guard !recordOffsets.isEmpty || !isIndexed else {
            throw RecordIOError(path: indexPath ?? path, offset: 0, "the index lists no records")
        }
        if let labels {
            var table: [UInt64: [Float]] = [:]
            for entry in try ImageList.read(path: labels) { table[entry.index] = entry.labels }
            labelOverrides = table
        } else {
            labelOverrides = nil
        }
        slots = (0..<max(options.prefetchCount, 1)).map { _ in Slot(batch: ImageBatch(options: options)) }
        if let warning = sortedLabelWarning() { warn(warning) }
        reset(epoch: 0)
        for thread in 0..<max(options.threadCount, 1) {
            let worker = Thread { self.work() }
            worker.name = "gannet-decode-\(thread)"
            worker.stackSize = 1 << 20
            worker.start()
        }
    }

    /// Every indexed offset must be a record start inside the file. A `.rec` rewritten without
    /// its `.idx` (a pack killed between the two renames) fails here; offsets are spot-checked
    /// (about a thousand, the first and the last) so that opening stays fast at ImageNet scale.
    static func checkIndex(_ offsets: [Int], indexPath: String, reader: RecordReader) throws {
        if let beyond = offsets.first(where: { $0 < 0 || $0 >= reader.totalBytes }) {
            throw RecordIOError(
                path: indexPath, offset: beyond,
                "the index points outside \(reader.paths.joined(separator: ";")) (\(reader.totalBytes) bytes)")
        }
        let step = max(1, offsets.count / 1000)
        for position in Array(stride(from: 0, to: offsets.count, by: step)) + [offsets.count - 1]
        where position >= 0 && !reader.isRecordStart(offsets[position]) {
            throw RecordIOError(
                path: indexPath, offset: offsets[position],
                "the index does not match \(reader.paths.joined(separator: ";")): no record starts at this offset "
                    + "(was the .rec rewritten without its .idx? `gannet pack` writes both)")
        }
    }

    func stop() {
        condition.lock()
        isStopping = true
        condition.broadcast()
        condition.unlock()
    }

    /// Parts that share each global batch (indexed reading), and this part's share.
    private var shareCount: Int { isIndexed ? options.partCount : 1 }
    private var shareIndex: Int { isIndexed ? options.partIndex : 0 }

    /// Records in one window of the chunk-local shuffle (no `.idx`).
    static let shuffleWindow = 4096

    var batchesPerEpoch: Int { batchCount }

    var skippedRecords: [BadRecord] {
        condition.lock()
        defer { condition.unlock() }
        return skipped
    }

    func reset(epoch: Int) {
        condition.lock()
        defer { condition.unlock() }
        generation += 1
        self.epoch = epoch
        jobs.removeAll(keepingCapacity: true)
        jobHead = 0
        while inFlight > 0 { condition.wait() }
        for slot in slots { slot.sequence = -1 }
        deliveredSlot = nil
        skipped.removeAll()
        let n = recordOffsets.count
        order = Array(0..<n)
        if options.shuffle {
            // Indexed parts share one global order, so they draw it from the same stream.
            var generator = SeededGenerator(
                seed: options.seed &+ 111, stream: UInt64(options.partIndex - shareIndex) << 32 | UInt64(epoch))
            if isIndexed {
                order.shuffle(using: &generator)
            } else {
                var start = 0
                while start < n {
                    order[start..<min(n, start + Self.shuffleWindow)].shuffle(using: &generator)
                    start += Self.shuffleWindow
                }
            }
        }
        let b = options.batchSize * shareCount  // the global batch
        batchCount = options.lastBatch == .pad ? (n + b - 1) / b : n / b
        if n == 0 { batchCount = 0 }
        nextToSchedule = 0
        nextToDeliver = 0
        for index in slots.indices { schedule(into: index) }
    }

    func next() throws -> ImageBatch? {
        condition.lock()
        defer { condition.unlock() }
        if let previous = deliveredSlot {
            deliveredSlot = nil
            schedule(into: previous)
        }
        guard nextToDeliver < batchCount else { return nil }
        guard let index = slots.firstIndex(where: { $0.sequence == nextToDeliver }) else {
            preconditionFailure("batch \(nextToDeliver) was never scheduled")
        }
        let slot = slots[index]
        while slot.remaining > 0 { condition.wait() }
        nextToDeliver += 1
        deliveredSlot = index
        if let error = slot.error { throw error }
        return slot.batch
    }

    /// Queues the next batch of the epoch into a free slot (lock held).
    private func schedule(into index: Int) {
        let slot = slots[index]
        guard nextToSchedule < batchCount else { slot.sequence = -1; return }
        slot.sequence = nextToSchedule
        slot.remaining = options.batchSize
        slot.failedRows.removeAll(keepingCapacity: true)
        slot.error = nil
        let n = recordOffsets.count
        slot.batch.index = nextToSchedule
        let firstPosition = (nextToSchedule * shareCount + shareIndex) * options.batchSize
        slot.batch.pad = min(options.batchSize, max(0, firstPosition + options.batchSize - n))
        if jobHead > 4096 && jobHead * 2 > jobs.count {
            jobs.removeFirst(jobHead)
            jobHead = 0
        }
        for row in 0..<options.batchSize {
            jobs.append(Job(slot: index, row: row, position: firstPosition + row, generation: generation))
        }
        nextToSchedule += 1
        condition.broadcast()
    }

    /// A decode thread: take a job, decode outside the lock, report.
    private func work() {
        let decoder = ImageSampleDecoder(options: options)
        var payload: [UInt8] = []
        let sampleSize = options.dataShape.reduce(1, *)
        while true {
            condition.lock()
            while jobHead == jobs.count && !isStopping { condition.wait() }
            if isStopping {
                condition.unlock()
                return
            }
            let job = jobs[jobHead]
            jobHead += 1
            inFlight += 1
            let slot = slots[job.slot]
            let n = recordOffsets.count
            let record = order[job.position % n]
            let epoch = self.epoch
            condition.unlock()

            // Positions are global when parts share batches, so a sample's draws do not depend
            // on how many parts there are.
            var generator = SeededGenerator(
                seed: options.seed ^ (UInt64(options.partIndex - shareIndex) << 40) ^ (UInt64(epoch) << 20),
                stream: UInt64(job.position) &+ 1)
            let failure = decodeSample(
                record, row: job.row, batch: slot.batch, payload: &payload, decoder: decoder,
                generator: &generator, sampleSize: sampleSize)

            condition.lock()
            inFlight -= 1
            if inFlight == 0 { condition.broadcast() }
            if job.generation == generation && slot.sequence >= 0 {
                if let failure {
                    if options.badRecords == .skip {
                        skipped.append(failure)
                        slot.failedRows.append(job.row)
                    } else if slot.error == nil || failure.offset < slot.error!.offset {
                        slot.error = failure
                    }
                }
                slot.remaining -= 1
                if slot.remaining == 0 {
                    if !slot.failedRows.isEmpty && slot.error == nil { fillFailedRows(slot) }
                    condition.broadcast()
                }
            }
            condition.unlock()
        }
    }

    /// Reads, labels and decodes record `record` into row `row`; returns what went wrong.
    private func decodeSample(
        _ record: Int, row: Int, batch: ImageBatch, payload: inout [UInt8],
        decoder: ImageSampleDecoder, generator: inout SeededGenerator, sampleSize: Int
    ) -> BadRecord? {
        let offset = recordOffsets[record]
        let path = reader.paths[reader.locate(offset).file]
        do {
            try reader.readRecord(at: offset, into: &payload)
        } catch let error as RecordIOError {
            return BadRecord(path: error.path, offset: error.offset, id: nil, message: "\(error)")
        } catch {
            return BadRecord(path: path, offset: offset, id: nil, message: "\(error)")
        }
        return payload.withUnsafeBytes { bytes -> BadRecord? in
            guard let (header, imageOffset) = ImageRecordHeader.parse(bytes) else {
                return BadRecord(
                    path: path, offset: offset, id: nil, message: "the record is too short for an image record header")
            }
            let labels = labelOverrides?[header.id] ?? header.labels
            if labelOverrides != nil && labelOverrides![header.id] == nil {
                return BadRecord(
                    path: path, offset: offset, id: header.id, message: "no line with this id in the label list")
            }
            guard labels.count == options.labelWidth else {
                return BadRecord(
                    path: path, offset: offset, id: header.id,
                    message: "has \(labels.count) labels but the label width is \(options.labelWidth)")
            }
            batch.setID(header.id, row: row)
            let labelTarget = batch.label.floats + row * options.labelWidth
            for (index, label) in labels.enumerated() { labelTarget[index] = label }
            do {
                let damaged = try decoder.decode(
                    UnsafeRawBufferPointer(rebasing: bytes[imageOffset...]),
                    into: batch.data.floats + row * sampleSize, generator: &generator)
                // Decodable but damaged (libjpeg warned): the bad-record policy decides.
                if damaged {
                    return BadRecord(
                        path: path, offset: offset, id: header.id,
                        message: "libjpeg reports truncated or corrupt data")
                }
            } catch {
                return BadRecord(path: path, offset: offset, id: header.id, message: "\(error)")
            }
            return nil
        }
    }

    /// Gives each failed row a copy of a good row of the same batch (lock held).
    private func fillFailedRows(_ slot: Slot) {
        let failed = Set(slot.failedRows)
        guard let good = (0..<options.batchSize).first(where: { !failed.contains($0) }) else {
            slot.error = skipped.last.map {
                BadRecord(
                    path: $0.path, offset: $0.offset, id: $0.id,
                    message: "every record of batch \(slot.batch.index) failed; last: \($0.message)")
            }
            return
        }
        let sampleSize = options.dataShape.reduce(1, *)
        for row in failed {
            (slot.batch.data.floats + row * sampleSize).update(
                from: slot.batch.data.floats + good * sampleSize, count: sampleSize)
            (slot.batch.label.floats + row * options.labelWidth).update(
                from: slot.batch.label.floats + good * options.labelWidth, count: options.labelWidth)
            slot.batch.setID(slot.batch.id(row: good), row: row)
        }
    }

    /// A warning when the first records come in long runs of one label: an unshuffled list
    /// feeds batches of a single class, and SGD then sits at chance accuracy (the seed's
    /// "accuracy keeps 0.001").
    private func sortedLabelWarning() -> String? {
        let sample = recordOffsets.prefix(512)
        guard sample.count >= 64 else { return nil }
        var payload: [UInt8] = []
        var labels: [Float] = []
        for offset in sample {
            guard (try? reader.readRecord(at: offset, into: &payload)) != nil else { break }
            guard let label = payload.withUnsafeBytes({ ImageRecordHeader.parse($0)?.header.labels.first }) else {
                break
            }
            labels.append(label)
        }
        var longest = 1, run = 1
        for index in labels.indices.dropFirst() {
            run = labels[index] == labels[index - 1] ? run + 1 : 1
            longest = max(longest, run)
        }
        let distinct = Set(labels).count
        // In a shuffled list a run of 32 equal labels is vanishingly rare even with 2 classes.
        guard longest >= 32 else { return nil }
        return """
            WARNING: \(reader.paths.joined(separator: ";")) looks sorted by label: the first \(labels.count) records hold \
            runs of up to \(longest) identical labels (\(distinct) distinct). Read in this order, whole batches hold one \
            class and training stays at chance accuracy (MXNet's "accuracy keeps 0.001"). Make the list with \
            `gannet list` (shuffled by default) and pack again, or pass an .idx and shuffle.
            """
    }
}
