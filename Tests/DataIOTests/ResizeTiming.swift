import DataIO
import Testing
import Foundation

@Test func resizeTiming() throws {
    guard ProcessInfo.processInfo.environment["GANNET_TIMING"] != nil else { return }
    let w = 467, h = 397
    let image = RGBImage(width: w, height: h, pixels: (0..<(w * h * 3)).map { UInt8(truncatingIfNeeded: $0 * 7) })
    let resizer = ImageResizer()
    var out = [UInt8](repeating: 0, count: 301 * 256 * 3)
    let start = Date()
    for _ in 0..<300 {
        image.pixels.withUnsafeBufferPointer { s in out.withUnsafeMutableBufferPointer { t in
            resizer.resize(s.baseAddress!, width: w, height: h, into: t.baseAddress!, width: 301, height: 256) } }
    }
    print("resize ms:", Date().timeIntervalSince(start) / 300 * 1000)
}
