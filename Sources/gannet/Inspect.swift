import ArgumentParser
import DataIO
import Foundation
import TensorCore

/// `gannet inspect`: the header, labels and image of records.
struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the records of a .rec: key, id, labels, offset, sizes, payload digest, image format and size.",
        discussion: """
            --record N selects the record whose .idx key is N (its position in the file when \
            there is no .idx beside it). Without --record every record is listed, one line each \
            (JSON lines with --json). --save-image writes the decoded image (PNG, or JPEG when \
            the name ends in .jpg).

            Example:
              gannet inspect data/train.rec --record 42 --json
              gannet inspect data/train.rec --record 42 --save-image record42.png
            """)

    @Argument(help: "The .rec file.")
    var file: String

    @Option(parsing: .unconditional, help: "The record's .idx key (its position in the file without an .idx).")
    var record: UInt64?

    @Option(help: "Write the decoded image of --record here (.png or .jpg).")
    var saveImage: String?

    @OptionGroup var report: JSONOutput

    mutating func validate() throws {
        if saveImage != nil && record == nil { throw ValidationError("--save-image needs --record") }
    }

    @OptionGroup var imageLimit: ImageLimitOptions

    func run() throws {
        imageLimit.apply()
        let reader = try runtime { try RecordReader(paths: [file]) }
        // (key, offset) of every record, in file order.
        var entries: [(key: UInt64, offset: Int)]
        let indexPath = file.hasSuffix(".rec") ? String(file.dropLast(4)) + ".idx" : file + ".idx"
        if FileManager.default.fileExists(atPath: indexPath) {
            entries = try runtime { try RecordIndex.read(path: indexPath) }
        } else {
            let (offsets, damages) = reader.scanRecordOffsets()
            for damage in damages { log("warning: \(damage)") }
            entries = offsets.enumerated().map { (UInt64($0.offset), $0.element) }
        }
        let ends = entries.dropFirst().map(\.offset) + [reader.totalBytes]
        if let record {
            guard let position = entries.firstIndex(where: { $0.key == record }) else {
                throw RuntimeFailure("\(file): no record with key \(record) (\(entries.count) records)")
            }
            let description = try describe(reader, entries[position], end: ends[position], save: saveImage)
            if report.json { try printReport(description) } else { print(description.text) }
            return
        }
        for (position, entry) in entries.enumerated() {
            let description = try describe(reader, entry, end: ends[position], save: nil)
            if report.json { try printReport(description) } else { print(description.text) }
        }
    }

    private func describe(_ reader: RecordReader, _ entry: (key: UInt64, offset: Int), end: Int, save: String?) throws
        -> Record
    {
        var payload: [UInt8] = []
        try runtime { try reader.readRecord(at: entry.offset, into: &payload) }
        return try payload.withUnsafeBytes { bytes -> Record in
            guard let (header, imageOffset) = ImageRecordHeader.parse(bytes) else {
                throw RuntimeFailure("\(file): record at byte \(entry.offset) is too short for an image record header")
            }
            let image = UnsafeRawBufferPointer(rebasing: bytes[imageOffset...])
            var record = Record(
                key: entry.key, id: header.id, id2: header.id2, label: header.labels, flag: header.flag,
                offset: entry.offset, recordBytes: end - entry.offset, payloadBytes: image.count,
                payloadSHA256: sha256Hex(image), format: "raw")
            guard let (format, width, height) = try? ImageCodec.info(image) else {
                if save != nil { throw RuntimeFailure("\(file): record \(header.id) holds no JPEG or PNG image") }
                return record
            }
            (record.format, record.width, record.height, record.channels) = (format.rawValue, width, height, 3)
            if let save {
                try runtime("\(file): record \(header.id) at byte \(entry.offset)") {
                    let decoded = try ImageCodec.decode(image)
                    let lower = save.lowercased()
                    let encoded =
                        lower.hasSuffix(".jpg") || lower.hasSuffix(".jpeg")
                        ? try ImageCodec.encodeJPEG(decoded, quality: 95)
                        : try ImageCodec.encodePNG(decoded, compression: 6)
                    try writeFileAtomically(encoded, to: save)
                }
                log("wrote \(save) (\(width)x\(height))")
            }
            return record
        }
    }

    /// One record, as `--json` reports it (width, height and channels as decoded to RGB;
    /// null for a payload that is not an image).
    struct Record: Encodable {
        var key: UInt64
        var id: UInt64
        var id2: UInt64
        var label: [Float]
        var flag: UInt32
        var offset: Int
        var recordBytes: Int
        var payloadBytes: Int
        var payloadSHA256: String
        var format: String
        @Nullable var width: Int?
        @Nullable var height: Int?
        @Nullable var channels: Int?

        enum CodingKeys: String, CodingKey {
            case key, id, id2, label, flag, offset, format, width, height, channels
            case recordBytes = "record-bytes", payloadBytes = "payload-bytes", payloadSHA256 = "payload-sha256"
        }

        var text: String {
            "key \(key)\tid \(id)\tlabel \(label)\toffset \(offset)\t\(payloadBytes) bytes\t\(format) "
                + (width.map { "\($0)x\(height ?? 0)" } ?? "-")
        }
    }
}
