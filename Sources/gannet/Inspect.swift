import ArgumentParser
import DataIO
import Foundation

/// `gannet inspect`: the header, labels and image of records.
struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the records of a .rec: key, id, labels, offset, sizes, payload digest, image format and size.",
        discussion: """
            --record N selects the record whose .idx key is N (its position in the file when
            there is no .idx beside it). Without --record every record is listed, one line each
            (JSON lines with --json). --save-image writes the decoded image (PNG, or JPEG when
            the name ends in .jpg).

            Example:
              gannet inspect data/train.rec --record 42 --json
              gannet inspect data/train.rec --record 42 --save-image record42.png
            """)

    @Argument(help: "The .rec file.")
    var file: String

    @Option(help: "The record's .idx key (its position in the file without an .idx).")
    var record: UInt64?

    @Option(help: "Write the decoded image of --record here (.png or .jpg).")
    var saveImage: String?

    @Flag(help: "JSON output (one object with --record, else one per line).")
    var json = false

    mutating func validate() throws {
        if saveImage != nil && record == nil { throw ValidationError("--save-image needs --record") }
    }

    func run() throws {
        let reader: RecordReader
        do { reader = try RecordReader(paths: [file]) } catch { throw RuntimeFailure("\(error)") }
        // (key, offset) of every record, in file order.
        var entries: [(key: UInt64, offset: Int)]
        let indexPath = file.hasSuffix(".rec") ? String(file.dropLast(4)) + ".idx" : file + ".idx"
        if FileManager.default.fileExists(atPath: indexPath) {
            do { entries = try RecordIndex.read(path: indexPath) } catch { throw RuntimeFailure("\(error)") }
        } else {
            let (offsets, damage) = reader.scanRecordOffsets()
            if let damage { log("warning: \(damage)") }
            entries = offsets.enumerated().map { (UInt64($0.offset), $0.element) }
        }
        let ends = entries.dropFirst().map(\.offset) + [reader.totalBytes]
        if let record {
            guard let position = entries.firstIndex(where: { $0.key == record }) else {
                throw RuntimeFailure("\(file): no record with key \(record) (\(entries.count) records)")
            }
            let description = try describe(reader, entries[position], end: ends[position], save: saveImage)
            if json { printJSON(description) } else { print(text(description)) }
            return
        }
        for (position, entry) in entries.enumerated() {
            let description = try describe(reader, entry, end: ends[position], save: nil)
            if json { printJSON(description) } else { print(text(description)) }
        }
    }

    private func describe(_ reader: RecordReader, _ entry: (key: UInt64, offset: Int), end: Int, save: String?) throws -> [String: Any] {
        var payload: [UInt8] = []
        do { try reader.readRecord(at: entry.offset, into: &payload) } catch { throw RuntimeFailure("\(error)") }
        return try payload.withUnsafeBytes { bytes -> [String: Any] in
            guard let (header, imageOffset) = ImageRecordHeader.parse(bytes) else {
                throw RuntimeFailure("\(file): record at byte \(entry.offset) is too short for an image record header")
            }
            let image = UnsafeRawBufferPointer(rebasing: bytes[imageOffset...])
            var object: [String: Any] = [
                "key": entry.key, "id": header.id, "id2": header.id2, "label": header.labels, "flag": header.flag,
                "offset": entry.offset, "record-bytes": end - entry.offset, "payload-bytes": image.count,
                "payload-sha256": sha256Hex(image),
            ]
            if let (format, width, height) = try? ImageCodec.info(image) {
                object["format"] = format.rawValue
                object["width"] = width
                object["height"] = height
                object["channels"] = 3
                if let save {
                    do {
                        let decoded = try ImageCodec.decode(image)
                        let lower = save.lowercased()
                        let encoded = lower.hasSuffix(".jpg") || lower.hasSuffix(".jpeg")
                            ? try ImageCodec.encodeJPEG(decoded, quality: 95) : try ImageCodec.encodePNG(decoded, compression: 6)
                        try Data(encoded).write(to: URL(fileURLWithPath: save))
                        log("wrote \(save) (\(width)x\(height))")
                    } catch {
                        throw RuntimeFailure("\(file): record \(header.id) at byte \(entry.offset): \(error)")
                    }
                }
            } else {
                if save != nil { throw RuntimeFailure("\(file): record \(header.id) holds no JPEG or PNG image") }
                object["format"] = "raw"
                object["width"] = NSNull()
                object["height"] = NSNull()
                object["channels"] = NSNull()
            }
            return object
        }
    }

    private func text(_ object: [String: Any]) -> String {
        let size = (object["width"] as? Int).map { "\($0)x\(object["height"]!)" } ?? "-"
        return "key \(object["key"]!)\tid \(object["id"]!)\tlabel \(object["label"]!)\toffset \(object["offset"]!)\t"
            + "\(object["payload-bytes"]!) bytes\t\(object["format"]!) \(size)"
    }
}
