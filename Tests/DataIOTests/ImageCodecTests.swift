import DataIO
import Foundation
import Testing

@Suite struct ImageCodecTests {
    /// The colour of the pixel at the centre of each 8×8 quadrant (top-left, top-right,
    /// bottom-left, bottom-right).
    func quadrants(_ image: RGBImage) -> [[Int]] {
        [(4, 4), (12, 4), (4, 12), (12, 12)].map { x, y in
            (0..<3).map { Int(image.pixels[(y * image.width + x) * 3 + $0]) }
        }
    }

    func decodeFixture(_ name: String) throws -> RGBImage {
        let data = try Data(contentsOf: URL(fileURLWithPath: fixtures + "/" + name))
        return try data.withUnsafeBytes { try ImageCodec.decode($0) }
    }

    func expectNear(_ actual: [[Int]], _ expected: [[Int]], tolerance: Int, _ comment: Comment) {
        for (a, e) in zip(actual, expected) {
            #expect(zip(a, e).allSatisfy { abs($0 - $1) <= tolerance }, "\(comment): \(actual) vs \(expected)")
        }
    }

    let colours = [[255, 255, 255], [0, 0, 0], [0, 255, 255], [255, 255, 0]]

    @Test func cmykJPEGComesOutRGB() throws {
        let image = try decodeFixture("cmyk.jpg")
        #expect(image.width == 16 && image.height == 16)
        expectNear(quadrants(image), colours, tolerance: 8, "Adobe CMYK")
    }

    @Test func greyJPEGExpandsToRGB() throws {
        expectNear(
            quadrants(try decodeFixture("grey.jpg")), [[255, 255, 255], [0, 0, 0], [128, 128, 128], [64, 64, 64]],
            tolerance: 3, "grey")
    }

    @Test func progressiveJPEGDecodes() throws {
        expectNear(quadrants(try decodeFixture("progressive.jpg")), colours, tolerance: 8, "progressive")
    }

    @Test func pngAlphaPaletteAndSixteenBit() throws {
        expectNear(quadrants(try decodeFixture("alpha.png")), colours, tolerance: 0, "alpha dropped, not blended")
        expectNear(quadrants(try decodeFixture("palette.png")), colours, tolerance: 0, "palette")
        // 16-bit grey 0xFFFF, 0, 0x3434, 0xFFFF: the high byte, expanded to RGB.
        expectNear(
            quadrants(try decodeFixture("grey16.png")),
            [[255, 255, 255], [0, 0, 0], [52, 52, 52], [255, 255, 255]],
            tolerance: 0, "16-bit")
    }

    @Test func formatComesFromMagicBytesNotNames() throws {
        let image = testImage(width: 20, height: 12, seed: 1)
        let png = try ImageCodec.encodePNG(image, compression: 6)
        #expect(try png.withUnsafeBytes { try ImageCodec.decode($0) } == image, "PNG is lossless")
        let jpeg = try ImageCodec.encodeJPEG(image, quality: 90)
        #expect(jpeg.withUnsafeBytes { ImageFormat(sniffing: $0) } == .jpeg)
        #expect(png.withUnsafeBytes { ImageFormat(sniffing: $0) } == .png)
        #expect { try [1, 2, 3, 4].withUnsafeBytes { try ImageCodec.decode($0) } } throws: {
            "\($0)".contains("not a JPEG or PNG")
        }
    }

    @Test func corruptJPEGIsReported() throws {
        let jpeg = try ImageCodec.encodeJPEG(testImage(width: 64, height: 64, seed: 2), quality: 90)
        // Cut in the middle of the entropy-coded data: decodable with a warning, an error when strict.
        let cut = Array(jpeg.prefix(jpeg.count / 2))
        #expect(throws: ImageCodecError.self) { try cut.withUnsafeBytes { try ImageCodec.decode($0, strict: true) } }
        #expect(throws: ImageCodecError.self) {
            try Array(jpeg.prefix(20)).withUnsafeBytes { try ImageCodec.decode($0) }
        }
    }

    /// Decoding a region equals cropping the full decode, and DCT scaling gives the size
    /// libjpeg promises.
    @Test func regionAndScaledDecode() throws {
        let jpeg = try ImageCodec.encodeJPEG(testImage(width: 101, height: 77, seed: 3), quality: 95)
        let full = try jpeg.withUnsafeBytes { try ImageCodec.decode($0) }
        let region = PixelRegion(x: 13, y: 21, width: 50, height: 40)
        var cropped = [UInt8](repeating: 0, count: 50 * 40 * 3)
        var scratch: [UInt8] = []
        try jpeg.withUnsafeBytes { bytes in
            try cropped.withUnsafeMutableBufferPointer {
                _ = try ImageCodec.decode(
                    bytes, scaleDenominator: 1, region: region, into: $0.baseAddress!, scratch: &scratch)
            }
        }
        var expected: [UInt8] = []
        for y in 21..<61 { expected += full.pixels[((y * 101 + 13) * 3)..<((y * 101 + 63) * 3)] }
        #expect(cropped == expected)
        #expect(ImageCodec.scaled(101, by: 4) == 26 && ImageCodec.scaled(77, by: 4) == 20)
        var quarter = [UInt8](repeating: 0, count: 26 * 20 * 3)
        try jpeg.withUnsafeBytes { bytes in
            try quarter.withUnsafeMutableBufferPointer {
                _ = try ImageCodec.decode(
                    bytes, scaleDenominator: 4, region: PixelRegion(x: 0, y: 0, width: 26, height: 20),
                    into: $0.baseAddress!, scratch: &scratch)
            }
        }
        // A 1/4 decode is close to a 4×4 box average of the full decode.
        let x = 10, y = 8
        var sum = 0
        for dy in 0..<4 { for dx in 0..<4 { sum += Int(full.pixels[((y * 4 + dy) * 101 + x * 4 + dx) * 3]) } }
        #expect(abs(Int(quarter[(y * 26 + x) * 3]) - sum / 16) <= 6)
    }

    @Test func greyEncodingWritesOneChannel() throws {
        let image = testImage(width: 16, height: 16, seed: 4)
        let grey = try ImageCodec.encodeJPEG(image, quality: 95, grey: true)
        #expect(grey.withUnsafeBytes { ImageCodec.isGreyJPEG($0) })
        let decoded = try grey.withUnsafeBytes { try ImageCodec.decode($0) }
        #expect(
            stride(from: 0, to: decoded.pixels.count, by: 3).allSatisfy { decoded.pixels[$0] == decoded.pixels[$0 + 2] }
        )
    }
}

@Suite struct ResizeTests {
    @Test func shorterSideFollowsMXNet() {
        #expect(ImageResizer.shorterSide(to: 256, width: 500, height: 375) == (341, 256))
        #expect(ImageResizer.shorterSide(to: 32, width: 40, height: 60) == (32, 48))
    }

    @Test func flatImagesStayFlatAndShrinkingAverages() {
        let resizer = ImageResizer()
        let flat = RGBImage(
            width: 37, height: 23,
            pixels: [UInt8](repeating: 0, count: 37 * 23 * 3).enumerated().map { [200, 90, 7][$0.offset % 3] })
        for (w, h) in [(10, 7), (80, 50), (37, 11)] {
            let out = resizer.resize(flat, width: w, height: h)
            #expect(out.pixels.enumerated().allSatisfy { $0.element == [200, 90, 7][$0.offset % 3] }, "\(w)x\(h)")
        }
        // Halving a 1-pixel checkerboard: the antialiasing filter averages to mid-grey
        // (point sampling would keep black or white).
        let board = RGBImage(
            width: 64, height: 64,
            pixels: (0..<(64 * 64 * 3)).map { (($0 / 3) % 64 + ($0 / 3) / 64) % 2 == 0 ? 255 : 0 })
        let half = resizer.resize(board, width: 32, height: 32)
        #expect(half.pixels[32 * 16 * 3 + 48].distance(to: 128) < 40)
    }
}
