import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// dmlc-core RecordIO, the container of MXNet's `.rec` files.
///
/// A file is a sequence of parts, each `magic (u32) | lrec (u32) | payload | zero padding to
/// 4 bytes`, where `lrec = cflag << 29 | length`. A logical record that contains the magic at
/// a 4-byte-aligned offset is cut there into parts with cflag 1 (first), 2 (middle), 3 (last);
/// the reader puts the magic back between parts. Because aligned magics never survive inside
/// a payload, an aligned magic followed by cflag 0 or 1 always starts a record: readers can
/// resynchronise from any offset.
public enum RecordIO {
    public static let magic: UInt32 = 0xCED7_230A
    /// Payloads must be shorter than 2^29 bytes.
    public static let maximumLength = (1 << 29) - 1

    /// Appends the parts of one logical record to `output`.
    public static func appendRecord(_ payload: UnsafeRawBufferPointer, to output: inout [UInt8]) {
        let count = payload.count
        var start = 0
        var hasCut = false
        var position = 0
        while position + 4 <= count {
            if payload.loadUnaligned(fromByteOffset: position, as: UInt32.self) == magic {
                appendPart(payload, start..<position, cflag: hasCut ? 2 : 1, to: &output)
                hasCut = true
                start = position + 4
            }
            position += 4
        }
        appendPart(payload, start..<count, cflag: hasCut ? 3 : 0, to: &output)
    }

    private static func appendPart(
        _ payload: UnsafeRawBufferPointer, _ range: Range<Int>, cflag: UInt32,
        to output: inout [UInt8]
    ) {
        appendWord(magic, to: &output)
        appendWord(cflag << 29 | UInt32(range.count), to: &output)
        output.append(contentsOf: payload[range])
        output.append(contentsOf: repeatElement(0, count: (4 - range.count % 4) % 4))
    }

    static func appendWord(_ word: UInt32, to output: inout [UInt8]) {
        withUnsafeBytes(of: word.littleEndian) { output.append(contentsOf: $0) }
    }
}

/// A RecordIO or index file problem, naming the file and the byte offset.
public struct RecordIOError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let offset: Int
    public let message: String

    public init(path: String, offset: Int, _ message: String) {
        self.path = path
        self.offset = offset
        self.message = message
    }

    public var description: String { "\(path): at byte \(offset): \(message)" }
}

/// Writes a `.rec` (and its `.idx` lines) through a buffer. Byte-identical to MXNet's
/// `MXIndexedRecordIO` for the same records and keys.
public final class RecordWriter {
    public let path: String
    private let descriptor: Int32
    private var buffer: [UInt8] = []
    /// Offset of the next record in the file.
    public private(set) var offset = 0
    /// `key \t offset` lines for the `.idx`, in write order.
    public private(set) var indexLines: [UInt8] = []

    /// Creates (truncates) `path`.
    public init(path: String) throws {
        self.path = path
        descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw RecordIOError(path: path, offset: 0, "cannot create: \(systemError())") }
        buffer.reserveCapacity(1 << 20)
    }

    deinit { close(descriptor) }

    /// Appends one record and its index line; returns the record's offset.
    @discardableResult
    public func write(_ payload: [UInt8], key: UInt64) throws -> Int {
        guard payload.count <= RecordIO.maximumLength else {
            throw RecordIOError(
                path: path, offset: offset, "a record of \(payload.count) bytes exceeds RecordIO's 2^29 - 1")
        }
        let start = offset
        let before = buffer.count
        payload.withUnsafeBytes { RecordIO.appendRecord($0, to: &buffer) }
        offset += buffer.count - before
        indexLines.append(contentsOf: Array("\(key)\t\(start)\n".utf8))
        if buffer.count >= 1 << 20 { try flush() }
        return start
    }

    /// Writes buffered bytes and syncs the file to disk.
    public func finish() throws {
        try flush()
        guard fsync(descriptor) == 0 else { throw RecordIOError(path: path, offset: offset, "fsync: \(systemError())") }
    }

    private func flush() throws {
        try buffer.withUnsafeBytes { bytes in
            var written = 0
            while written < bytes.count {
                let result = Glibc.write(descriptor, bytes.baseAddress! + written, bytes.count - written)
                guard result > 0 else { throw RecordIOError(path: path, offset: offset, "write: \(systemError())") }
                written += result
            }
        }
        buffer.removeAll(keepingCapacity: true)
    }
}

func systemError() -> String { String(cString: strerror(errno)) }

/// Random access to the records of one or more `.rec` files read as one stream (offsets
/// count from the start of the first file). Reads use `pread`, so threads may share it.
public final class RecordReader: @unchecked Sendable {
    public let paths: [String]
    private let descriptors: [Int32]
    /// Start of each file in the stream, and the stream's end.
    private let bases: [Int]
    public var totalBytes: Int { bases.last! }

    public init(paths: [String]) throws {
        precondition(!paths.isEmpty)
        var descriptors: [Int32] = []
        var bases = [0]
        for path in paths {
            let descriptor = open(path, O_RDONLY | O_CLOEXEC)
            guard descriptor >= 0 else {
                descriptors.forEach { close($0) }
                throw RecordIOError(path: path, offset: 0, "cannot open: \(systemError())")
            }
            var info = stat()
            guard fstat(descriptor, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
                close(descriptor)
                descriptors.forEach { close($0) }
                throw RecordIOError(path: path, offset: 0, "not a regular file (a directory?)")
            }
            descriptors.append(descriptor)
            bases.append(bases.last! + Int(info.st_size))
        }
        self.paths = paths
        self.descriptors = descriptors
        self.bases = bases
    }

    deinit { descriptors.forEach { close($0) } }

    /// The file holding stream offset `offset`, and the offset inside it.
    public func locate(_ offset: Int) -> (file: Int, offset: Int) {
        var file = 0
        while file + 1 < descriptors.count && bases[file + 1] <= offset { file += 1 }
        return (file, offset - bases[file])
    }

    /// Reads up to `count` bytes of file `file` at `offset`; returns how many were read.
    private func read(file: Int, offset: Int, count: Int, into target: UnsafeMutableRawPointer) -> Int {
        var done = 0
        while done < count {
            let result = pread(descriptors[file], target + done, count - done, off_t(offset + done))
            if result <= 0 { break }
            done += result
        }
        return done
    }

    /// Reads the logical record starting at stream offset `offset` into `payload` (replacing
    /// its contents); returns the offset just after the record.
    @discardableResult
    public func readRecord(at offset: Int, into payload: inout [UInt8]) throws -> Int {
        let (file, start) = locate(offset)
        let path = paths[file]
        let fileEnd = bases[file + 1] - bases[file]
        payload.removeAll(keepingCapacity: true)
        var position = start
        var header = (UInt32(0), UInt32(0))
        var isFirst = true
        while true {
            let got = withUnsafeMutableBytes(of: &header) {
                read(file: file, offset: position, count: 8, into: $0.baseAddress!)
            }
            if got == 0 && position == fileEnd && !isFirst {
                throw RecordIOError(
                    path: path, offset: offset, "truncated record: the file ends inside a multi-part record")
            }
            guard got == 8 else {
                throw RecordIOError(
                    path: path, offset: position,
                    position >= fileEnd
                        ? "no record here (end of file)" : "truncated record header (the file ends after \(got) bytes)")
            }
            let (magic, lrec) = (UInt32(littleEndian: header.0), UInt32(littleEndian: header.1))
            guard magic == RecordIO.magic else {
                throw RecordIOError(
                    path: path, offset: position,
                    String(
                        format: "bad magic 0x%08X (expected 0xCED7230A): not a record boundary or a corrupt file", magic
                    ))
            }
            let cflag = lrec >> 29, length = Int(lrec & 0x1FFF_FFFF)
            guard isFirst ? (cflag == 0 || cflag == 1) : (cflag == 2 || cflag == 3) else {
                throw RecordIOError(path: path, offset: position, "unexpected continuation flag \(cflag)")
            }
            // The claim is checked against the bytes the file has before anything is sized by it.
            let remaining = fileEnd - position - 8
            guard length <= remaining else {
                throw RecordIOError(
                    path: path, offset: offset,
                    "truncated record: \(length) payload bytes announced, \(max(0, remaining)) present "
                        + "(the writer was interrupted?)")
            }
            if !isFirst { RecordIO.appendWord(RecordIO.magic, to: &payload) }
            let before = payload.count
            payload.append(contentsOf: repeatElement(0, count: length))
            let got2 = payload.withUnsafeMutableBytes {
                read(file: file, offset: position + 8, count: length, into: $0.baseAddress! + before)
            }
            guard got2 == length else {
                throw RecordIOError(
                    path: path, offset: offset,
                    "truncated record: \(length) payload bytes announced, \(got2) present (the writer was interrupted?)"
                )
            }
            position += 8 + length + (4 - length % 4) % 4
            isFirst = false
            if cflag == 0 || cflag == 3 { return bases[file] + min(position, fileEnd) }
        }
    }

    /// Stream offsets of every record start, found by hopping from header to header (no
    /// index needed). After damage (a bad magic, a truncated or unterminated record) the scan
    /// resynchronises at the next aligned magic followed by a first-part flag, as dmlc-core's
    /// reader does, so every intact record after it is still found; each damage is returned.
    public func scanRecordOffsets() -> (offsets: [Int], damages: [RecordIOError]) {
        var offsets: [Int] = []
        var damages: [RecordIOError] = []
        for file in descriptors.indices {
            let end = bases[file + 1] - bases[file]
            var position = 0
            var header = (UInt32(0), UInt32(0))
            var pendingStart: Int?
            /// Records the damage at `offset` and continues at the next record start in this file.
            func resynchronise(at offset: Int, _ message: String) {
                damages.append(RecordIOError(path: paths[file], offset: offset, message))
                pendingStart = nil
                let next = nextRecordStart(from: bases[file] + position + 4).map { $0 - bases[file] } ?? end
                position = min(next, end)
            }
            while position < end {
                let got = withUnsafeMutableBytes(of: &header) {
                    read(file: file, offset: position, count: 8, into: $0.baseAddress!)
                }
                guard got == 8 else {
                    resynchronise(at: pendingStart ?? position, "truncated record (the file ends inside its header)")
                    continue
                }
                guard UInt32(littleEndian: header.0) == RecordIO.magic else {
                    resynchronise(at: position, String(format: "bad magic 0x%08X", UInt32(littleEndian: header.0)))
                    continue
                }
                let lrec = UInt32(littleEndian: header.1)
                let cflag = lrec >> 29, length = Int(lrec & 0x1FFF_FFFF)
                if length > end - position - 8 {
                    resynchronise(
                        at: pendingStart ?? position,
                        "truncated record: \(length) payload bytes announced, \(end - position - 8) present")
                    continue
                }
                if let start = pendingStart, cflag == 0 || cflag == 1 {
                    // The new record is intact: only the interrupted one is lost.
                    damages.append(
                        RecordIOError(
                            path: paths[file], offset: start, "a multi-part record interrupted by a new record"))
                    pendingStart = nil
                }
                guard pendingStart != nil || cflag == 0 || cflag == 1 else {
                    resynchronise(at: position, "a continuation part (flag \(cflag)) without a first part")
                    continue
                }
                // A record counts once its last part is complete.
                switch cflag {
                case 0: offsets.append(bases[file] + position)
                case 1: pendingStart = position
                case 3: offsets.append(bases[file] + pendingStart!); pendingStart = nil
                default: break
                }
                position += 8 + length + (4 - length % 4) % 4
            }
            if let pendingStart {
                damages.append(
                    RecordIOError(
                        path: paths[file], offset: pendingStart,
                        "unterminated multi-part record (the file ends before its last part)"))
            }
        }
        return (offsets, damages)
    }

    /// Whether a record (its first part) starts at stream offset `offset`.
    public func isRecordStart(_ offset: Int) -> Bool {
        let (file, local) = locate(offset)
        var header = (UInt32(0), UInt32(0))
        let got = withUnsafeMutableBytes(of: &header) {
            read(file: file, offset: local, count: 8, into: $0.baseAddress!)
        }
        let cflag = UInt32(littleEndian: header.1) >> 29
        return got == 8 && UInt32(littleEndian: header.0) == RecordIO.magic && (cflag == 0 || cflag == 1)
    }

    /// The first record start at or after `offset` (scanning aligned words for the magic
    /// followed by cflag 0 or 1, as dmlc-core resynchronises), or nil at the end.
    public func nextRecordStart(from offset: Int) -> Int? {
        var position = (offset + 3) / 4 * 4
        var words = [UInt32](repeating: 0, count: 16384)
        while position < totalBytes {
            let (file, local) = locate(position)
            let fileEnd = bases[file + 1] - bases[file]
            let count =
                words.withUnsafeMutableBytes {
                    read(file: file, offset: local, count: min($0.count, fileEnd - local), into: $0.baseAddress!)
                } / 4
            if count < 2 { position = bases[file + 1]; continue }
            for index in 0..<(count - 1) where UInt32(littleEndian: words[index]) == RecordIO.magic {
                let cflag = UInt32(littleEndian: words[index + 1]) >> 29
                if cflag == 0 || cflag == 1 { return position + index * 4 }
            }
            position += (count - 1) * 4
        }
        return nil
    }
}

/// The `.idx` index: `key \t offset` per line, keys in any order.
public enum RecordIndex {
    /// Parses an index (tabs or spaces), returning entries sorted by offset.
    public static func read(path: String) throws -> [(key: UInt64, offset: Int)] {
        guard let text = readTextFile(path) else {
            throw RecordIOError(path: path, offset: 0, "cannot read the index: \(systemError())")
        }
        var entries: [(key: UInt64, offset: Int)] = []
        var lineNumber = 0
        for line in text.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            lineNumber += 1
            let fields = line.split(whereSeparator: { $0 == "\t" || $0 == " " || $0 == "\r" })
            if fields.isEmpty { continue }
            guard fields.count >= 2, let key = UInt64(fields[0]), let offset = Int(fields[1]), offset >= 0 else {
                throw RecordIOError(
                    path: path, offset: 0, "line \(lineNumber): expected 'key<TAB>offset', got '\(line)'")
            }
            entries.append((key, offset))
        }
        entries.sort { $0.offset < $1.offset }
        return entries
    }
}

/// The whole file as UTF-8 text, or nil when it cannot be read.
func readTextFile(_ path: String) -> String? {
    guard let file = fopen(path, "rb") else { return nil }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let count = fread(&chunk, 1, chunk.count, file)
        if count <= 0 { break }
        bytes.append(contentsOf: chunk[0..<count])
    }
    return String(decoding: bytes, as: UTF8.self)
}
