import Foundation
import Interchange
import Protos
import Testing

@Suite struct CRC32CTests {
    /// The check value of the CRC catalogue and the vectors of RFC 3720, B.4.
    @Test func knownValues() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
        #expect(CRC32C.checksum((0..<32).map { UInt8($0) }) == 0x46DD_794E)
        #expect(CRC32C.checksum((0..<32).map { UInt8(31 - $0) }) == 0x113F_DB5C)
        #expect(CRC32C.checksum([UInt8]()) == 0)
    }

    @Test func maskRotatesAndAddsTheConstant() {
        let crc = CRC32C.checksum(Array("123456789".utf8))
        #expect(CRC32C.masked(Array("123456789".utf8)) == ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8)
    }
}

/// The records of a TFRecord file, each checked against its two CRCs.
func readRecords(_ bytes: [UInt8]) throws -> [[UInt8]] {
    struct Damaged: Error {}
    func word<T: FixedWidthInteger>(_ offset: Int, _: T.Type) -> T {
        bytes[offset..<offset + MemoryLayout<T>.size].reversed().reduce(T(0)) { $0 << 8 | T($1) }
    }
    var records: [[UInt8]] = []
    var offset = 0
    while offset < bytes.count {
        guard offset + 12 <= bytes.count else { throw Damaged() }
        let length = Int(word(offset, UInt64.self))
        guard word(offset + 8, UInt32.self) == CRC32C.masked(bytes[offset..<offset + 8]),
            offset + 16 + length <= bytes.count
        else { throw Damaged() }
        let payload = Array(bytes[offset + 12..<offset + 12 + length])
        guard word(offset + 12 + length, UInt32.self) == CRC32C.masked(payload) else { throw Damaged() }
        records.append(payload)
        offset += 16 + length
    }
    return records
}

@Suite struct EventFileTests {
    @Test func versionThenScalarsInCheckedRecords() throws {
        let folder = NSTemporaryDirectory() + "gannet-events-\(UUID().uuidString)/run"
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let writer = try EventFileWriter(directory: folder, wallTime: 1_700_000_000.5)
        #expect(writer.path.hasPrefix(folder + "/events.out.tfevents.1700000000."))
        try writer.scalars([(tag: "train/accuracy", value: 0.25), (tag: "learning-rate", value: 0.05)], step: 20)
        try writer.scalars([(tag: "validation/accuracy", value: 0.5)], step: 40, wallTime: 1_700_000_001)
        let records = try readRecords([UInt8](try Data(contentsOf: URL(fileURLWithPath: writer.path))))
        let events = try records.map { try Tensorboard_Event(serializedBytes: $0) }
        #expect(events.count == 3)
        #expect(events[0].fileVersion == "brain.Event:2" && events[0].wallTime == 1_700_000_000.5)
        #expect(events[1].step == 20 && events[1].summary.value.map(\.tag) == ["train/accuracy", "learning-rate"])
        #expect(events[1].summary.value.map(\.simpleValue) == [0.25, 0.05])
        #expect(events[2].step == 40 && events[2].summary.value[0].simpleValue == 0.5)
        // A second writer in the same second gets a file of its own.
        let second = try EventFileWriter(directory: folder, wallTime: 1_700_000_000.5)
        #expect(second.path != writer.path)
    }

    @Test func unwritableFolderIsAnErrorNamingIt() {
        let error = #expect(throws: EventFileError.self) { try EventFileWriter(directory: "/proc/gannet-events") }
        #expect(error?.description.contains("/proc/gannet-events") == true)
    }
}
