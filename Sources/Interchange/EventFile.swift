import Foundation
import Protos
import SwiftProtobuf

#if canImport(Glibc)
import Glibc
#endif

/// A TensorBoard event file: `DIR/events.out.tfevents.<seconds>.<host>`, TFRecord framing
/// (per record: length as UInt64 little-endian, masked CRC-32C of those 8 bytes, the
/// serialized `Event`, masked CRC-32C of it), starting with the `brain.Event:2` version
/// event. Every record is written through to the file at once, so a run that dies leaves
/// every scalar logged before; TensorBoard reads a file that is still growing. A new file per
/// run (a resumed run adds its own beside the first; TensorBoard merges a folder's files).
public final class EventFileWriter {
    public let path: String
    private let descriptor: Int32

    /// Creates DIR (and its parents) if needed and the file in it.
    public init(directory: String, wallTime: Double = Date().timeIntervalSince1970) throws {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw EventFileError("\(directory): cannot create the folder (\(error.localizedDescription))")
        }
        var host = [CChar](repeating: 0, count: 256)
        let hostName =
            gethostname(&host, host.count - 1) == 0
            ? String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : "localhost"
        // Two runs started in the same second get different files.
        var candidate = "\(directory)/events.out.tfevents.\(Int(wallTime)).\(hostName)"
        var suffix = 1
        while FileManager.default.fileExists(atPath: candidate) {
            candidate = "\(directory)/events.out.tfevents.\(Int(wallTime)).\(hostName).\(suffix)"
            suffix += 1
        }
        path = candidate
        descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw EventFileError("\(path): cannot create (\(String(cString: strerror(errno))))")
        }
        var version = Tensorboard_Event()
        version.wallTime = wallTime
        version.fileVersion = "brain.Event:2"
        try write(version)
    }

    deinit { close(descriptor) }

    /// Scalars at one step: `[("train/accuracy", 0.53), …]` in one event.
    public func scalars(
        _ values: [(tag: String, value: Double)], step: Int, wallTime: Double = Date().timeIntervalSince1970
    ) throws {
        var event = Tensorboard_Event()
        event.wallTime = wallTime
        event.step = Int64(step)
        event.summary.value = values.map { tag, value in
            var entry = Tensorboard_Summary.Value()
            entry.tag = tag
            entry.simpleValue = Float(value)
            return entry
        }
        try write(event)
    }

    /// One framed record.
    public func write(_ event: Tensorboard_Event) throws {
        try append(Self.record(try event.serializedBytes()))
    }

    /// The TFRecord framing of `payload`.
    public static func record(_ payload: [UInt8]) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(payload.count + 16)
        let length = withUnsafeBytes(of: UInt64(payload.count).littleEndian, Array.init)
        bytes += length
        bytes += withUnsafeBytes(of: CRC32C.masked(length).littleEndian, Array.init)
        bytes += payload
        bytes += withUnsafeBytes(of: CRC32C.masked(payload).littleEndian, Array.init)
        return bytes
    }

    private func append(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes {
                Glibc.write(descriptor, $0.baseAddress! + offset, bytes.count - offset)
            }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else {
                throw EventFileError("\(path): cannot write (\(String(cString: strerror(errno))))")
            }
            offset += written
        }
    }
}

/// A failure to create or write an event file, naming it.
public struct EventFileError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
