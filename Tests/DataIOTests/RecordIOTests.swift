import DataIO
import Foundation
import Testing

@Suite struct RecordIOTests {
    static let magic: [UInt8] = [0x0A, 0x23, 0xD7, 0xCE]

    /// The records and bytes MXNet 1.9.1's `MXIndexedRecordIO` wrote (mxnet-formats a.2).
    static let records: [(payload: [UInt8], encoded: String)] = [
        (Array("abcde".utf8), "0a23d7ce 05000000 6162636465 000000"),
        (Array("ABCD".utf8) + magic + Array("xyz".utf8), "0a23d7ce 04000020 41424344 0a23d7ce 03000060 78797a 00"),
        (magic + Array("12".utf8), "0a23d7ce 00000020 0a23d7ce 02000060 3132 0000"),
        (Array("Q".utf8) + magic + Array("R".utf8), "0a23d7ce 06000000 510a23d7ce52 0000"),
        ([], "0a23d7ce 00000000"),
        (Array("ABCD".utf8) + magic, "0a23d7ce 04000020 41424344 0a23d7ce 00000060"),
    ]

    @Test func writerMatchesMXNetBytesAndIndex() throws {
        let folder = try TemporaryFolder()
        let writer = try RecordWriter(path: folder.file("t.rec"))
        for (key, record) in Self.records.enumerated() { try writer.write(record.payload, key: UInt64(key)) }
        try writer.finish()
        #expect(readBytes(folder.file("t.rec")) == bytes(Self.records.map(\.encoded).joined()))
        let offsets = Self.records.reduce(into: [0]) { $0.append($0.last! + bytes($1.encoded).count) }.dropLast()
        let expectedIndex = zip(offsets.indices, offsets).map { "\($0)\t\($1)\n" }.joined()
        #expect(String(decoding: writer.indexLines, as: UTF8.self) == expectedIndex)
        #expect(expectedIndex.hasPrefix("0\t0\n1\t16\n2\t40\n"))
    }

    @Test func readerReassemblesEveryRecord() throws {
        let folder = try TemporaryFolder()
        let path = folder.file("t.rec")
        try Data(bytes(Self.records.map(\.encoded).joined())).write(to: URL(fileURLWithPath: path))
        let reader = try RecordReader(paths: [path])
        let (offsets, damages) = reader.scanRecordOffsets()
        #expect(damages.isEmpty)
        #expect(offsets.count == Self.records.count)
        var payload: [UInt8] = []
        var next = 0
        for (index, record) in Self.records.enumerated() {
            #expect(offsets[index] == next)
            next = try reader.readRecord(at: offsets[index], into: &payload)
            #expect(payload == record.payload, "record \(index)")
        }
        #expect(next == reader.totalBytes)
        // Resynchronising from inside a record finds the next record start.
        #expect(reader.nextRecordStart(from: offsets[1] + 4) == offsets[2])
        #expect(reader.nextRecordStart(from: offsets[3] + 1) == offsets[4])
    }

    @Test func randomPayloadsRoundTrip() throws {
        let folder = try TemporaryFolder()
        var generator = SystemRandomNumberGenerator()
        var payloads: [[UInt8]] = []
        for index in 0..<200 {
            var payload = (0..<(index * 7 % 97)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            // Magic at aligned and unaligned places, at the end and the start.
            if index % 3 == 0 && payload.count >= 8 { payload.replaceSubrange(4..<8, with: Self.magic) }
            if index % 5 == 0 && payload.count >= 10 { payload.replaceSubrange(5..<9, with: Self.magic) }
            if index % 7 == 0 { payload += Self.magic }
            if index % 11 == 0 { payload = Self.magic + payload }
            payloads.append(payload)
        }
        let writer = try RecordWriter(path: folder.file("r.rec"))
        for (key, payload) in payloads.enumerated() { try writer.write(payload, key: UInt64(key)) }
        try writer.finish()
        let reader = try RecordReader(paths: [folder.file("r.rec")])
        let (offsets, damages) = reader.scanRecordOffsets()
        #expect(damages.isEmpty && offsets.count == payloads.count)
        var payload: [UInt8] = []
        for (index, offset) in offsets.enumerated() {
            try reader.readRecord(at: offset, into: &payload)
            #expect(payload == payloads[index])
        }
    }

    @Test func severalFilesReadAsOneStream() throws {
        let folder = try TemporaryFolder()
        for (name, range) in [("a.rec", 0..<3), ("b.rec", 3..<5)] {
            let writer = try RecordWriter(path: folder.file(name))
            for index in range { try writer.write(Self.records[index].payload, key: UInt64(index)) }
            try writer.finish()
        }
        let reader = try RecordReader(paths: [folder.file("a.rec"), folder.file("b.rec")])
        let (offsets, _) = reader.scanRecordOffsets()
        #expect(offsets.count == 5)
        var payload: [UInt8] = []
        for (index, offset) in offsets.enumerated() {
            try reader.readRecord(at: offset, into: &payload)
            #expect(payload == Self.records[index].payload)
        }
    }

    @Test func indexWithUnsortedKeysSortsByOffset() throws {
        let folder = try TemporaryFolder()
        try "7\t40\n3 0\r\n9\t16\n\n".write(toFile: folder.file("t.idx"), atomically: true, encoding: .utf8)
        let entries = try RecordIndex.read(path: folder.file("t.idx"))
        #expect(entries.map(\.key) == [3, 9, 7])
        #expect(entries.map(\.offset) == [0, 16, 40])
        try "1\tx\n".write(toFile: folder.file("bad.idx"), atomically: true, encoding: .utf8)
        #expect(throws: RecordIOError.self) { try RecordIndex.read(path: folder.file("bad.idx")) }
    }

    @Test func truncatedAndCorruptFilesNameTheOffset() throws {
        let folder = try TemporaryFolder()
        let whole = bytes(Self.records.map(\.encoded).joined())
        // A writer killed inside the last record: the records before it stay readable.
        let truncated = folder.file("truncated.rec")
        try Data(whole.dropLast(3)).write(to: URL(fileURLWithPath: truncated))
        let reader = try RecordReader(paths: [truncated])
        let (offsets, damages) = reader.scanRecordOffsets()
        #expect(offsets.count == Self.records.count - 1)
        #expect(damages.count == 1 && damages[0].message.contains("truncated"))
        var payload: [UInt8] = []
        try reader.readRecord(at: offsets[0], into: &payload)
        #expect(payload == Self.records[0].payload)
        // A wrong magic in the middle.
        var corrupt = whole
        corrupt[16] = 0xFF
        let corruptPath = folder.file("corrupt.rec")
        try Data(corrupt).write(to: URL(fileURLWithPath: corruptPath))
        let corruptReader = try RecordReader(paths: [corruptPath])
        // The scan resynchronises at the next record start: every other record is found.
        let scan = corruptReader.scanRecordOffsets()
        let wholePath = folder.file("whole.rec")
        try Data(whole).write(to: URL(fileURLWithPath: wholePath))
        let intact = try RecordReader(paths: [wholePath]).scanRecordOffsets().offsets
        #expect(scan.offsets == intact.filter { $0 != 16 })
        #expect(
            scan.damages.count == 1 && scan.damages[0].offset == 16 && scan.damages[0].message.contains("bad magic"))
        #expect {
            try corruptReader.readRecord(at: 16, into: &payload)
        } throws: { error in
            (error as? RecordIOError)?.offset == 16 && "\(error)".contains("corrupt.rec")
        }
    }

    /// IRHeader bytes as MXNet 1.9.1 packs them (mxnet-formats b.1).
    @Test func imageRecordHeaderMatchesMXNet() throws {
        let single = ImageRecordHeader(labels: [3], id: 7).payload(image: [0xFF, 0xD8, 0x4A, 0x50, 0x45, 0x47])
        #expect(single == bytes("00000000 00004040 0700000000000000 0000000000000000 ffd84a504547"))
        let packed = ImageRecordHeader(labels: [1, 2.5], id: 8).payload(image: [0xFF, 0xD8])
        #expect(packed == bytes("02000000 00000000 0800000000000000 0000000000000000 0000803f 00002040 ffd8"))
        let parsed = packed.withUnsafeBytes { ImageRecordHeader.parse($0) }
        #expect(parsed?.header.labels == [1, 2.5] && parsed?.header.id == 8 && parsed?.imageOffset == 32)
        #expect(Array(repeating: UInt8(0), count: 10).withUnsafeBytes { ImageRecordHeader.parse($0) } == nil)
    }

    @Test func imageListReadsEveryDialect() throws {
        let folder = try TemporaryFolder()
        let text = "0\t3.000000\ta/x.jpg\r\n5 \t 1 \t b/with space.png\n\n9\t1.5\t2\tc/multi.jpg\n"
        try text.write(toFile: folder.file("t.lst"), atomically: true, encoding: .utf8)
        let entries = try ImageList.read(path: folder.file("t.lst"))
        #expect(
            entries == [
                ImageListEntry(index: 0, labels: [3], path: "a/x.jpg"),
                ImageListEntry(index: 5, labels: [1], path: "b/with space.png"),
                ImageListEntry(index: 9, labels: [1.5, 2], path: "c/multi.jpg"),
            ])
        #expect(ImageList.text(Array(entries.prefix(1))) == "0\t3.000000\ta/x.jpg\n")
        try "0\tnot-a-number\tx.jpg\n".write(toFile: folder.file("bad.lst"), atomically: true, encoding: .utf8)
        #expect { try ImageList.read(path: folder.file("bad.lst")) } throws: { "\($0)".contains("bad.lst:1") }
    }
}
