#if canImport(Glibc)
import Glibc
#endif

/// A file MXNet's NDArray list format cannot be read from, with the file and byte offset.
public struct NDArrayFileError: Error, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// MXNet's NDArray list files (`.params`, `mean.bin`, `.nd`): read in the current (V2, V1)
/// and the 2015 legacy array format, written in V2 (what MXNet 1.x writes).
///
/// Layout: u64 magic `0x112`, u64 0, u64 count, the arrays, u64 name count (0 or count),
/// then each name as u64 length + UTF-8. All little-endian.
public enum NDArrayFile {
    static let listMagic: UInt64 = 0x112
    static let v1Magic: UInt32 = 0xF993_FAC8
    static let v2Magic: UInt32 = 0xF993_FAC9
    static let v3Magic: UInt32 = 0xF993_FACA

    /// One named array; the name is empty in a list saved without names.
    public struct Entry {
        public var name: String
        public var tensor: Tensor
        public init(name: String, tensor: Tensor) {
            self.name = name
            self.tensor = tensor
        }
    }

    // MARK: Reading

    public static func read(path: String) throws -> [Entry] {
        try decode(readFile(path), file: path)
    }

    /// Parses the bytes of an NDArray list file; every array comes back as float32 (float64,
    /// float16 and bfloat16 are converted).
    public static func decode(_ bytes: [UInt8], file: String = "NDArray file") throws -> [Entry] {
        var reader = ByteReader(bytes: bytes, file: file)
        let magic = try reader.u64()
        guard magic == listMagic else {
            throw NDArrayFileError(
                "\(file): not an MXNet NDArray file (magic 0x\(String(magic, radix: 16)) at offset 0, expected 0x112)")
        }
        _ = try reader.u64()
        let claimed = try reader.u64()
        guard claimed < 1 << 24 else { throw NDArrayFileError("\(file): implausible array count \(claimed)") }
        let count = Int(claimed)
        var tensors: [Tensor] = []
        for index in 0..<count {
            tensors.append(try readArray(&reader, index: index))
        }
        let claimedNames = try reader.u64()
        guard claimedNames == 0 || claimedNames == count else {
            throw NDArrayFileError("\(file): \(claimedNames) names for \(count) arrays at offset \(reader.offset - 8)")
        }
        let nameCount = Int(claimedNames)
        var names = [String](repeating: "", count: count)
        for index in 0..<nameCount {
            let length = try reader.u64()
            guard length < 1 << 20 else {
                throw NDArrayFileError("\(file): name \(index) claims \(length) bytes at offset \(reader.offset - 8)")
            }
            names[index] = String(decoding: try reader.bytes(Int(length)), as: UTF8.self)
        }
        return zip(names, tensors).map { Entry(name: $0, tensor: $1) }
    }

    private static func readArray(_ reader: inout ByteReader, index: Int) throws -> Tensor {
        let start = reader.offset
        let first = try reader.u32()
        var dimensions: [Int] = []
        switch first {
        case v2Magic, v3Magic:
            let storage = try reader.i32()
            guard storage == 0 else {
                throw NDArrayFileError(
                    "\(reader.file): array \(index) at offset \(start) is sparse (storage type \(storage))")
            }
            let rank = Int(try reader.i32())
            if rank <= 0 && first == v2Magic { return Tensor(shape: [0]) }  // a "none" array
            for _ in 0..<max(rank, 0) { dimensions.append(Int(try reader.i64())) }
        case v1Magic:
            let rank = Int(try reader.u32())
            for _ in 0..<rank { dimensions.append(Int(try reader.i64())) }
        default:
            // 2015 legacy: the first word is the rank, dimensions are 32-bit.
            let rank = Int(first)
            guard rank <= 8 else {
                throw NDArrayFileError(
                    "\(reader.file): array \(index) at offset \(start) has an unknown header 0x\(String(first, radix: 16))"
                )
            }
            for _ in 0..<rank { dimensions.append(Int(try reader.u32())) }
        }
        guard dimensions.allSatisfy({ $0 >= 0 }) else {
            throw NDArrayFileError(
                "\(reader.file): array \(index) at offset \(start) has negative extents \(dimensions)")
        }
        _ = try reader.i32()  // device type: arrays load on the CPU whatever they were saved from
        _ = try reader.i32()  // device id
        let typeFlag = try reader.i32()
        let elementBytes: Int
        switch typeFlag {
        case 0: elementBytes = 4
        case 1: elementBytes = 8
        case 2, 12: elementBytes = 2
        default:
            throw NDArrayFileError(
                "\(reader.file): array \(index) at offset \(start) has data type \(typeFlag), "
                    + "not one of float32, float64, float16, bfloat16")
        }
        // The extents are a claim: their product is checked against the bytes the file has
        // before anything is allocated for it.
        var count = 1, overflow = false
        for extent in dimensions + [elementBytes] where !overflow {
            (count, overflow) = count.multipliedReportingOverflow(by: extent)
        }
        let left = reader.bytes.count - reader.offset
        guard !overflow, count <= left else {
            throw NDArrayFileError(
                "\(reader.file): \(overflow ? "" : "truncated at offset \(reader.offset): ")array \(index) at offset "
                    + "\(start) claims extents \(dimensions)"
                    + (overflow ? " (more elements than can be counted)" : " (\(count) bytes)")
                    + " but the file has \(left) bytes left")
        }
        count /= elementBytes
        let shape = Shape(dimensions)
        let tensor = Tensor(shape: shape)
        let destination = tensor.floats
        switch typeFlag {
        case 0:
            let raw = try reader.bytes(count * 4)
            raw.withUnsafeBytes { source in
                UnsafeMutableRawPointer(destination).copyMemory(from: source.baseAddress!, byteCount: count * 4)
            }
        case 1:
            let raw = try reader.bytes(count * 8)
            raw.withUnsafeBytes { source in
                for i in 0..<count {
                    destination[i] = Float(source.loadUnaligned(fromByteOffset: i * 8, as: Double.self))
                }
            }
        case 2:
            let raw = try reader.bytes(count * 2)
            raw.withUnsafeBytes { source in
                for i in 0..<count {
                    destination[i] = Float(
                        Float16(bitPattern: source.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)))
                }
            }
        case 12:
            let raw = try reader.bytes(count * 2)
            raw.withUnsafeBytes { source in
                for i in 0..<count {
                    destination[i] = BFloat16.float(
                        fromBits: source.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self))
                }
            }
        default:
            preconditionFailure("data type \(typeFlag) was checked above")
        }
        return tensor
    }

    // MARK: Writing

    /// The V2 encoding of named arrays (float32 or bfloat16 tensors).
    public static func encode(_ entries: [Entry]) -> [UInt8] {
        var bytes: [UInt8] = []
        func append<T: FixedWidthInteger>(_ value: T) {
            withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
        }
        append(listMagic)
        append(UInt64(0))
        append(UInt64(entries.count))
        for entry in entries {
            let tensor = entry.tensor
            append(v2Magic)
            append(Int32(0))
            append(Int32(tensor.shape.rank))
            for extent in tensor.shape.dimensions { append(Int64(extent)) }
            append(Int32(1))  // cpu
            append(Int32(0))
            append(Int32(tensor.dataType == .bfloat16 ? 12 : 0))
            bytes.append(contentsOf: UnsafeRawBufferPointer(start: tensor.rawPointer, count: tensor.byteCount))
        }
        let named = entries.contains { !$0.name.isEmpty }
        append(UInt64(named ? entries.count : 0))
        if named {
            for entry in entries {
                let utf8 = Array(entry.name.utf8)
                append(UInt64(utf8.count))
                bytes.append(contentsOf: utf8)
            }
        }
        return bytes
    }

    /// Writes to a temporary file in the same folder and renames it, so a crash never leaves
    /// a partial file under the final name.
    public static func write(_ entries: [Entry], to path: String) throws {
        try writeFileAtomically(encode(entries), to: path)
    }
}

/// Reads a whole file; errors name it.
public func readFile(_ path: String) throws -> [UInt8] {
    guard let file = fopen(path, "rb") else {
        throw NDArrayFileError("\(path): cannot open (\(String(cString: strerror(errno))))")
    }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 20)
    while true {
        let count = fread(&chunk, 1, chunk.count, file)
        if count > 0 { bytes.append(contentsOf: chunk[0..<count]) }
        if count < chunk.count { break }
    }
    if ferror(file) != 0 { throw NDArrayFileError("\(path): read error") }
    return bytes
}

/// Writes `bytes` to `path` through a temporary file and a rename, so that `path` holds
/// either its old contents or all of the new ones, whatever happens (a kill, a full disk).
public func writeFileAtomically(_ bytes: [UInt8], to path: String) throws {
    try writeFilesAtomically([(path, bytes)])
}

/// Writes `text` as UTF-8 to `path` through a temporary file and a rename.
public func writeFileAtomically(_ text: String, to path: String) throws {
    try writeFileAtomically(Array(text.utf8), to: path)
}

/// Writes several files that belong together (a list and its synset): every one to a
/// temporary file first, and only when all are written and synced are they renamed. A
/// failure (a full disk) or an interrupt removes the temporary files and renames nothing.
public func writeFilesAtomically(_ files: [(path: String, bytes: [UInt8])]) throws {
    let temporaries = files.map { "\($0.path).tmp-\(getpid())" }
    temporaries.forEach(TemporaryFiles.register)
    defer {
        for temporary in temporaries {
            unlink(temporary)
            TemporaryFiles.unregister(temporary)
        }
    }
    for ((path, bytes), temporary) in zip(files, temporaries) {
        guard let file = fopen(temporary, "wb") else {
            throw NDArrayFileError("\(path): cannot write (\(String(cString: strerror(errno))))")
        }
        let written = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, bytes.count, file) }
        let flushed = fflush(file) == 0 && fsync(fileno(file)) == 0
        let closed = fclose(file) == 0
        guard written == bytes.count, flushed, closed else {
            throw NDArrayFileError("\(path): write failed (\(String(cString: strerror(errno))))")
        }
    }
    for ((path, _), temporary) in zip(files, temporaries) where rename(temporary, path) != 0 {
        throw NDArrayFileError("\(path): cannot rename the temporary file (\(String(cString: strerror(errno))))")
    }
}

/// Little-endian reads with bounds checks that name the file and offset.
struct ByteReader {
    let bytes: [UInt8]
    let file: String
    var offset = 0

    mutating func bytes(_ count: Int) throws -> ArraySlice<UInt8> {
        guard count >= 0, count <= bytes.count - offset else {
            throw NDArrayFileError(
                "\(file): truncated at offset \(offset) (needs \(count) more bytes, \(bytes.count - offset) left)")
        }
        defer { offset += count }
        return bytes[offset..<(offset + count)]
    }

    mutating func load<T: FixedWidthInteger>(_ type: T.Type) throws -> T {
        let slice = try bytes(MemoryLayout<T>.size)
        return slice.withUnsafeBytes { T(littleEndian: $0.loadUnaligned(as: T.self)) }
    }

    mutating func u64() throws -> UInt64 { try load(UInt64.self) }
    mutating func i64() throws -> Int64 { try load(Int64.self) }
    mutating func u32() throws -> UInt32 { try load(UInt32.self) }
    mutating func i32() throws -> Int32 { try load(Int32.self) }
}
