/// MXNet's image-record payload header (`IRHeader`, 24 bytes), followed by `flag` float32
/// labels when `flag > 0`, then the encoded image.
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 4 | `flag` (u32): 0 = one label in `label`; k > 0 = k float labels follow |
/// | 4 | 4 | `label` (f32) |
/// | 8 | 8 | `id` (u64) |
/// | 16 | 8 | `id2` (u64) |
public struct ImageRecordHeader: Sendable, Equatable {
    public static let byteCount = 24

    /// The labels: one from `label` when `flag == 0`, else the `flag` packed floats.
    public var labels: [Float]
    public var id: UInt64
    public var id2: UInt64
    /// Whether the labels are packed after the header (`flag > 0`) rather than in `label`.
    public var isPacked: Bool

    public init(labels: [Float], id: UInt64, id2: UInt64 = 0, isPacked: Bool? = nil) {
        self.labels = labels
        self.id = id
        self.id2 = id2
        self.isPacked = isPacked ?? (labels.count != 1)
    }

    /// `flag` as stored.
    public var flag: UInt32 { isPacked ? UInt32(labels.count) : 0 }

    /// Header, labels and image bytes: a record payload.
    public func payload(image: [UInt8]) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Self.byteCount + labels.count * 4 + image.count)
        RecordIO.appendWord(flag, to: &bytes)
        RecordIO.appendWord(isPacked ? 0 : (labels.first ?? 0).bitPattern, to: &bytes)
        withUnsafeBytes(of: id.littleEndian) { bytes.append(contentsOf: $0) }
        withUnsafeBytes(of: id2.littleEndian) { bytes.append(contentsOf: $0) }
        if isPacked { for label in labels { RecordIO.appendWord(label.bitPattern, to: &bytes) } }
        bytes.append(contentsOf: image)
        return bytes
    }

    /// Parses the header of `payload`; returns it and where the image starts, or nil when the
    /// payload is too short for the header and its labels.
    public static func parse(_ payload: UnsafeRawBufferPointer) -> (header: ImageRecordHeader, imageOffset: Int)? {
        guard payload.count >= byteCount else { return nil }
        let flag = UInt32(littleEndian: payload.loadUnaligned(fromByteOffset: 0, as: UInt32.self))
        let label = Float(bitPattern: UInt32(littleEndian: payload.loadUnaligned(fromByteOffset: 4, as: UInt32.self)))
        let id = UInt64(littleEndian: payload.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        let id2 = UInt64(littleEndian: payload.loadUnaligned(fromByteOffset: 16, as: UInt64.self))
        guard flag > 0 else {
            return (ImageRecordHeader(labels: [label], id: id, id2: id2, isPacked: false), byteCount)
        }
        let end = byteCount + Int(flag) * 4
        guard payload.count >= end else { return nil }
        let labels = (0..<Int(flag)).map {
            Float(
                bitPattern: UInt32(
                    littleEndian: payload.loadUnaligned(fromByteOffset: byteCount + 4 * $0, as: UInt32.self)))
        }
        return (ImageRecordHeader(labels: labels, id: id, id2: id2, isPacked: true), end)
    }
}
