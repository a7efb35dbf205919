import DataIO
import Foundation
import TensorCore
import Testing

@Suite struct ImageRecordIteratorTests {
    /// Ten images of different sizes, labels 0…9.
    func makeSet(_ folder: TemporaryFolder, count: Int = 10) throws -> (prefix: String, images: [RGBImage]) {
        let images = (0..<count).map { testImage(width: 40 + $0 * 3, height: 36 + ($0 % 4) * 5, seed: $0) }
        let prefix = folder.file("set")
        try packImages(images, labels: images.indices.map(Float.init), prefix: prefix)
        return (prefix, images)
    }

    func allBatches(_ iterator: ImageRecordIterator, epoch: Int) throws -> [(
        data: [Float], label: [Float], pad: Int, ids: [UInt64]
    )] {
        iterator.reset(epoch: epoch)
        var batches: [(data: [Float], label: [Float], pad: Int, ids: [UInt64])] = []
        while let batch = try iterator.next() {
            batches.append((batch.data.toArray(), batch.label.toArray(), batch.pad, batch.ids))
        }
        return batches
    }

    /// Centre crop, per-channel mean, std and scale, against a direct computation from the
    /// full decode.
    @Test func centreCropEqualsDirectComputation() throws {
        let folder = try TemporaryFolder()
        let (prefix, _) = try makeSet(folder)
        var options = ImageIteratorOptions(dataShape: [3, 32, 30], batchSize: 4)
        options.mean = .rgb(100, 110, 120)
        options.standardDeviation = [2, 4, 8]
        options.scale = 0.5
        let iterator = try ImageRecordIterator(path: prefix + ".rec", options: options)
        let batches = try allBatches(iterator, epoch: 0)
        #expect(batches.count == 3)
        let reader = try RecordReader(paths: [prefix + ".rec"])
        var payload: [UInt8] = []
        for (record, offset) in iterator.recordOffsets.enumerated() {
            try reader.readRecord(at: offset, into: &payload)
            let full = try payload.withUnsafeBytes {
                try ImageCodec.decode(UnsafeRawBufferPointer(rebasing: $0[24...]))
            }
            let x0 = (full.width - 30) / 2, y0 = (full.height - 32) / 2
            var expected: [Float] = []
            for c in 0..<3 {
                for y in 0..<32 {
                    for x in 0..<30 {
                        let value = Float(full.pixels[((y0 + y) * full.width + x0 + x) * 3 + c])
                        expected.append((value - [100, 110, 120][c]) * 0.5 / [2, 4, 8][c])
                    }
                }
            }
            let batch = batches[record / 4], row = record % 4
            let actual = Array(batch.data[(row * 2880)..<((row + 1) * 2880)])
            let mismatches = zip(actual, expected).filter { $0 != $1 }.count
            #expect(mismatches == 0, "record \(record): \(mismatches) of 2880 values differ")
            #expect(batch.label[row] == Float(record))
        }
    }

    /// Shorter-side resize of large images (decoded at 1/4 in the DCT, then resized) stays
    /// close to a full decode resized directly.
    @Test func resizeThroughTheDCTIsCloseToAFullResize() throws {
        let folder = try TemporaryFolder()
        let images = (0..<3).map { testImage(width: 200 + $0 * 10, height: 150, seed: $0) }
        try packImages(images, labels: [0, 1, 2], prefix: folder.file("big"))
        var options = ImageIteratorOptions(dataShape: [3, 32, 32], batchSize: 3)
        options.resize = 36
        let batch = try ImageRecordIterator(path: folder.file("big.rec"), options: options).next()!
        let resizer = ImageResizer()
        let reader = try RecordReader(paths: [folder.file("big.rec")])
        var payload: [UInt8] = []
        for (row, offset) in try ImageRecordIterator(path: folder.file("big.rec"), options: options).recordOffsets
            .enumerated()
        {
            try reader.readRecord(at: offset, into: &payload)
            let full = try payload.withUnsafeBytes {
                try ImageCodec.decode(UnsafeRawBufferPointer(rebasing: $0[24...]))
            }
            let (w, h) = ImageResizer.shorterSide(to: 36, width: full.width, height: full.height)
            let small = resizer.resize(full, width: w, height: h)
            let x0 = (w - 32) / 2, y0 = (h - 32) / 2
            // The red and green channels are smooth gradients (blue is a texture that every
            // filter aliases differently).
            var difference: Float = 0
            for c in 0..<2 {
                for y in 0..<32 {
                    for x in 0..<32 {
                        let expected = Float(small.pixels[((y0 + y) * w + x0 + x) * 3 + c])
                        difference += abs(batch.data.floats[row * 3072 + c * 1024 + y * 32 + x] - expected)
                    }
                }
            }
            #expect(difference / 2048 < 1.5, "record \(row): mean difference \(difference / 2048)")
        }
    }

    @Test func lastBatchIsPaddedOrDiscarded() throws {
        let folder = try TemporaryFolder()
        let (prefix, _) = try makeSet(folder)
        var options = ImageIteratorOptions(dataShape: [3, 24, 24], batchSize: 4)
        let padded = try allBatches(try ImageRecordIterator(path: prefix + ".rec", options: options), epoch: 0)
        #expect(padded.map(\.pad) == [0, 0, 2])
        #expect(padded[2].ids == [8, 9, 0, 1], "the pad repeats the start of the epoch")
        options.lastBatch = .discard
        #expect(try allBatches(try ImageRecordIterator(path: prefix + ".rec", options: options), epoch: 0).count == 2)
    }

    @Test func seededRunsAreIdenticalWhateverTheThreads() throws {
        let folder = try TemporaryFolder()
        let (prefix, _) = try makeSet(folder, count: 23)
        var options = ImageIteratorOptions(dataShape: [3, 24, 24], batchSize: 5)
        options.randomCrop = true
        options.randomMirror = true
        options.shuffle = true
        options.brightness = 0.2
        options.contrast = 0.2
        options.saturation = 0.2
        options.seed = 42
        options.threadCount = 1
        let one = try ImageRecordIterator(path: prefix + ".rec", options: options)
        options.threadCount = 3
        options.prefetchCount = 2
        let three = try ImageRecordIterator(path: prefix + ".rec", options: options)
        let a = try allBatches(one, epoch: 1), b = try allBatches(three, epoch: 1)
        #expect(a.map(\.data) == b.map(\.data) && a.map(\.ids) == b.map(\.ids))
        // Another epoch is another order and other crops; the same epoch again is the same.
        let c = try allBatches(three, epoch: 2)
        #expect(c.map(\.ids) != b.map(\.ids))
        #expect(try allBatches(one, epoch: 1).map(\.data) == a.map(\.data))
        // A reset while the previous epoch's images are still being decoded (a fresh iterator
        // prefetches epoch 0) must not let them land in the new epoch's batches.
        for _ in 0..<5 {
            let fresh = try ImageRecordIterator(path: prefix + ".rec", options: options)
            #expect(try allBatches(fresh, epoch: 1).map(\.data) == a.map(\.data))
        }
        // Every record once per epoch (plus the pad).
        #expect(Set(b.flatMap(\.ids)) == Set(0..<23))
    }

    @Test func partitionsCoverEveryRecordOnce() throws {
        let folder = try TemporaryFolder()
        let (prefix, _) = try makeSet(folder, count: 17)
        let noIndex = folder.file("copy.rec")
        try FileManager.default.copyItem(atPath: prefix + ".rec", toPath: noIndex)
        for parts in 1...7 {
            // Without an index: byte ranges, as dmlc's InputSplit.
            var offsets: [Int] = []
            // With an index: shares of every global batch; the rows that are not padding.
            var ids: [UInt64] = []
            for part in 0..<parts {
                var options = ImageIteratorOptions(dataShape: [3, 8, 8], batchSize: 2)
                options.partCount = parts
                options.partIndex = part
                options.threadCount = 1
                options.shuffle = true
                offsets += try ImageRecordIterator(path: noIndex, options: options).recordOffsets
                for batch in try allBatches(try ImageRecordIterator(path: prefix + ".rec", options: options), epoch: 3)
                {
                    ids += batch.ids.prefix(2 - batch.pad)
                }
            }
            #expect(offsets.count == 17 && Set(offsets).count == 17, "\(parts) byte parts")
            #expect(ids.sorted() == (0..<17).map(UInt64.init), "\(parts) indexed parts")
        }
    }

    /// Two parts with batch b deliver, row for row, the halves of one part's batch 2b: the
    /// same global order and the same augmentation per position.
    @Test func indexedPartsShareEachGlobalBatch() throws {
        let folder = try TemporaryFolder()
        let (prefix, _) = try makeSet(folder, count: 13)
        var options = ImageIteratorOptions(dataShape: [3, 16, 16], batchSize: 6)
        options.shuffle = true
        options.randomCrop = true
        options.randomMirror = true
        options.seed = 5
        let whole = try allBatches(try ImageRecordIterator(path: prefix + ".rec", options: options), epoch: 2)
        options.batchSize = 3
        options.partCount = 2
        var halves: [[(data: [Float], label: [Float], pad: Int, ids: [UInt64])]] = []
        for part in 0..<2 {
            options.partIndex = part
            halves.append(try allBatches(try ImageRecordIterator(path: prefix + ".rec", options: options), epoch: 2))
        }
        #expect(whole.count == 3 && halves[0].count == 3 && halves[1].count == 3)
        for (k, batch) in whole.enumerated() {
            #expect(batch.ids == halves[0][k].ids + halves[1][k].ids)
            #expect(batch.data == halves[0][k].data + halves[1][k].data)
            #expect(batch.pad == halves[0][k].pad + halves[1][k].pad)
        }
    }

    @Test func badRecordsFailOrAreSkipped() throws {
        let folder = try TemporaryFolder()
        let images = (0..<6).map { testImage(width: 30, height: 30, seed: $0) }
        let writer = try RecordWriter(path: folder.file("bad.rec"))
        for (index, image) in images.enumerated() {
            var encoded = try ImageCodec.encodeJPEG(image, quality: 90)
            if index == 3 { encoded = Array("this is not an image".utf8) }
            try writer.write(
                ImageRecordHeader(labels: [Float(index)], id: UInt64(100 + index)).payload(image: encoded),
                key: UInt64(index))
        }
        try writer.finish()
        var options = ImageIteratorOptions(dataShape: [3, 24, 24], batchSize: 3)
        let failing = try ImageRecordIterator(path: folder.file("bad.rec"), options: options)
        #expect(try failing.next() != nil)
        #expect { _ = try failing.next() } throws: { error in
            let bad = error as? BadRecord
            return bad?.id == 103 && bad?.offset == failing.recordOffsets[3] && "\(error)".contains("not a JPEG or PNG")
        }
        options.badRecords = .skip
        let skipping = try ImageRecordIterator(path: folder.file("bad.rec"), options: options)
        let batches = try allBatches(skipping, epoch: 0)
        #expect(batches.count == 2)
        #expect(skipping.skippedRecords.map(\.id) == [103])
        #expect(!batches[1].ids.contains(103))
    }

    @Test func sortedLabelsRaiseTheWarning() throws {
        let folder = try TemporaryFolder()
        let images = (0..<80).map { _ in testImage(width: 8, height: 8, seed: 0) }
        try packImages(images, labels: (0..<80).map { Float($0 / 40) }, prefix: folder.file("sorted"))
        let warnings = WarningLog()
        _ = try ImageRecordIterator(
            path: folder.file("sorted.rec"), options: ImageIteratorOptions(dataShape: [3, 8, 8], batchSize: 8),
            warn: { warnings.append($0) })
        #expect(warnings.lines.contains { $0.contains("sorted by label") && $0.contains("0.001") })
    }

    @Test func meanImageAndGreyOutput() throws {
        let folder = try TemporaryFolder()
        let (prefix, _) = try makeSet(folder, count: 4)
        var options = ImageIteratorOptions(dataShape: [1, 16, 16], batchSize: 4)
        options.mean = .image([Float](repeating: 10, count: 256))
        let batch = try ImageRecordIterator(path: prefix + ".rec", options: options).next()!
        #expect(batch.data.shape == [4, 1, 16, 16])
        #expect(batch.data.toArray().allSatisfy { $0 >= -10 && $0 <= 245 })
        options.mean = .image([1, 2, 3])
        #expect(throws: (any Error).self) { try ImageRecordIterator(path: prefix + ".rec", options: options) }
    }
}

final class WarningLog: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [String] = []
    func append(_ line: String) { lock.lock(); stored.append(line); lock.unlock() }
    var lines: [String] { lock.lock(); defer { lock.unlock() }; return stored }
}
