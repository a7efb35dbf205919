import DataIO
import Foundation
import Testing

/// A fresh temporary folder, removed when the returned object is released.
final class TemporaryFolder {
    let path: String
    init() throws {
        path = NSTemporaryDirectory() + "gannet-dataio-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    func file(_ name: String) -> String { path + "/" + name }
}

func bytes(_ hex: String) -> [UInt8] {
    let digits = hex.filter { !$0.isWhitespace && $0 != "/" }
    return stride(from: 0, to: digits.count, by: 2).map {
        let start = digits.index(digits.startIndex, offsetBy: $0)
        return UInt8(digits[start..<digits.index(start, offsetBy: 2)], radix: 16)!
    }
}

func readBytes(_ path: String) -> [UInt8] { [UInt8](FileManager.default.contents(atPath: path)!) }

let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").path

/// A `width × height` image with smooth gradients and some texture, deterministic in `seed`.
func testImage(width: Int, height: Int, seed: Int) -> RGBImage {
    var pixels = [UInt8](repeating: 0, count: width * height * 3)
    for y in 0..<height {
        for x in 0..<width {
            let base = (y * width + x) * 3
            pixels[base] = UInt8((x * 255) / max(width - 1, 1))
            pixels[base + 1] = UInt8((y * 255) / max(height - 1, 1))
            pixels[base + 2] = UInt8(truncatingIfNeeded: (x / 4 + y / 4 + seed * 37) * 29)
        }
    }
    return RGBImage(width: width, height: height, pixels: pixels)
}

/// Packs `images` (JPEG at quality 95) with labels into `prefix.rec` + `.idx`; returns the payloads' offsets.
@discardableResult
func packImages(_ images: [RGBImage], labels: [Float], prefix: String, keys: [UInt64]? = nil) throws -> [Int] {
    let writer = try RecordWriter(path: prefix + ".rec")
    var offsets: [Int] = []
    for (index, image) in images.enumerated() {
        let key = keys?[index] ?? UInt64(index)
        let header = ImageRecordHeader(labels: [labels[index]], id: key)
        offsets.append(try writer.write(header.payload(image: try ImageCodec.encodeJPEG(image, quality: 95)), key: key))
    }
    try writer.finish()
    try Data(writer.indexLines).write(to: URL(fileURLWithPath: prefix + ".idx"))
    return offsets
}
