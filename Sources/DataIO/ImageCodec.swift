import CJPEG
import CPNG

#if canImport(Glibc)
import Glibc
#endif

/// An 8-bit RGB image, rows packed: pixel (x, y) channel c is at `(y * width + x) * 3 + c`.
public struct RGBImage: Sendable, Equatable {
    public var width: Int
    public var height: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(pixels.count == width * height * 3, "RGBImage needs width × height × 3 bytes")
        self.width = width
        self.height = height
        self.pixels = pixels
    }
}

/// Encoded image formats, recognised by their magic bytes (never by file name).
public enum ImageFormat: String, Sendable {
    case jpeg, png

    /// JPEG starts `FF D8 FF`; PNG starts `89 50 4E 47 0D 0A 1A 0A`.
    public init?(sniffing bytes: UnsafeRawBufferPointer) {
        if bytes.count >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF {
            self = .jpeg
        } else if bytes.count >= 8 && Array(bytes[0..<8]) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] {
            self = .png
        } else {
            return nil
        }
    }
}

/// Why an image could not be decoded or encoded.
public struct ImageCodecError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable {
        /// Not a JPEG or PNG, or damaged.
        case malformed
        /// The header or a resize claims more pixels than `ImageCodec.pixelLimit`.
        case overPixelLimit
    }
    public let message: String
    public let kind: Kind
    public init(_ message: String, kind: Kind = .malformed) {
        self.message = message
        self.kind = kind
    }
    public var description: String { message }
}

/// A rectangle of pixels.
public struct PixelRegion: Sendable, Equatable {
    public var x: Int, y: Int, width: Int, height: Int
    public init(x: Int, y: Int, width: Int, height: Int) {
        (self.x, self.y, self.width, self.height) = (x, y, width, height)
    }
}

/// JPEG (libjpeg-turbo) and PNG (libpng) decoding to RGB and encoding from it.
public enum ImageCodec {
    /// The default of `pixelLimit`: 2^28 pixels (a 16384 × 16384 photograph; 768 MiB decoded).
    public static let defaultPixelLimit = 1 << 28

    /// The most pixels (width × height) an image may claim, or a resize may make, before
    /// anything is allocated for it: a 3 KB file can claim 65000 × 65000 (12 GB decoded).
    /// Set once at start-up (`--max-pixels`), before any decoding thread runs.
    nonisolated(unsafe) public static var pixelLimit = defaultPixelLimit

    /// Throws unless a `width × height` image is within `pixelLimit`; `what` says whose
    /// size it is ("the header", "the resize to 224").
    public static func checkPixelCount(width: Int, height: Int, _ what: String) throws(ImageCodecError) {
        let (pixels, overflow) = width.multipliedReportingOverflow(by: height)
        guard width >= 0, height >= 0, !overflow, pixels <= pixelLimit else {
            throw ImageCodecError(
                "\(what) makes the image \(width)x\(height), over the limit of \(pixelLimit) pixels "
                    + "(--max-pixels raises it)", kind: .overPixelLimit)
        }
    }

    /// Format and size from the header alone; a size over `pixelLimit` is an error.
    public static func info(_ bytes: UnsafeRawBufferPointer) throws(ImageCodecError) -> (
        format: ImageFormat, width: Int, height: Int
    ) {
        let (format, width, height) = try headerInfo(bytes)
        try checkPixelCount(width: width, height: height, "the \(format == .jpeg ? "JPEG" : "PNG") header")
        return (format, width, height)
    }

    private static func headerInfo(_ bytes: UnsafeRawBufferPointer) throws(ImageCodecError) -> (
        format: ImageFormat, width: Int, height: Int
    ) {
        guard let format = ImageFormat(sniffing: bytes) else {
            let head = bytes.prefix(4).map { String($0, radix: 16, uppercase: true) }.joined(separator: " ")
            throw ImageCodecError("not a JPEG or PNG (first bytes: \(head.isEmpty ? "none" : head))")
        }
        switch format {
        case .jpeg:
            var info = gannet_jpeg_info()
            let (status, message) = reporting { gannet_jpeg_read_header(bytes.baseAddress, bytes.count, &info, $0, $1) }
            guard status == 0 else { throw ImageCodecError("JPEG header: \(message)") }
            return (format, Int(info.width), Int(info.height))
        case .png:
            var width: Int32 = 0, height: Int32 = 0
            let (status, message) = reporting {
                gannet_png_read_header(bytes.baseAddress, bytes.count, &width, &height, $0, $1)
            }
            guard status == 0 else { throw ImageCodecError("PNG header: \(message)") }
            return (format, Int(width), Int(height))
        }
    }

    /// Whether `bytes` is a JPEG with a single (grey) component.
    public static func isGreyJPEG(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var info = gannet_jpeg_info()
        return reporting { gannet_jpeg_read_header(bytes.baseAddress, bytes.count, &info, $0, $1) }.status == 0
            && info.components == 1
    }

    /// Decodes the whole image. `strict` turns libjpeg's corrupt-data warnings into errors.
    public static func decode(_ bytes: UnsafeRawBufferPointer, strict: Bool = false) throws(ImageCodecError) -> RGBImage
    {
        let (_, width, height) = try info(bytes)
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        var scratch: [UInt8] = []
        try pixels.withUnsafeMutableBufferPointer { (target) throws(ImageCodecError) in
            _ = try decode(
                bytes, scaleDenominator: 1, region: PixelRegion(x: 0, y: 0, width: width, height: height),
                into: target.baseAddress!, scratch: &scratch, strict: strict)
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    /// How to decode `window` of a `width × height` image so that it comes out at least
    /// `minimumWidth × minimumHeight`: the largest DCT reduction (1/2, 1/4, 1/8; JPEG only)
    /// that keeps it so, and the window in the reduced image's pixels.
    public static func reducedWindow(
        _ window: PixelRegion, width: Int, height: Int, format: ImageFormat,
        minimumWidth: Int, minimumHeight: Int
    ) -> (denominator: Int, window: PixelRegion) {
        var denominator = 1
        if format == .jpeg {
            for candidate in [8, 4, 2]
            where window.width / candidate >= minimumWidth && window.height / candidate >= minimumHeight {
                denominator = candidate
                break
            }
        }
        let x0 = window.x / denominator, y0 = window.y / denominator
        let x1 = min(scaled(window.x + window.width, by: denominator), scaled(width, by: denominator))
        let y1 = min(scaled(window.y + window.height, by: denominator), scaled(height, by: denominator))
        return (denominator, PixelRegion(x: x0, y: y0, width: x1 - x0, height: y1 - y0))
    }

    /// The scaled size libjpeg produces for denominator `d`: ceil(size / d).
    public static func scaled(_ size: Int, by denominator: Int) -> Int { (size + denominator - 1) / denominator }

    /// Decodes `region` (in pixels of the image scaled by 1/`scaleDenominator`; PNG allows
    /// only 1) into `target` (`region.width × region.height × 3` bytes). JPEG skips the rows
    /// above the region and stops after it. `scratch` holds a full PNG and is reused.
    /// Returns whether the data was corrupt but decodable (an error when `strict`).
    @discardableResult
    public static func decode(
        _ bytes: UnsafeRawBufferPointer, scaleDenominator: Int, region: PixelRegion,
        into target: UnsafeMutablePointer<UInt8>, scratch: inout [UInt8],
        strict: Bool = false
    ) throws(ImageCodecError) -> Bool {
        guard let format = ImageFormat(sniffing: bytes) else { _ = try info(bytes); return false }
        switch format {
        case .jpeg:
            let (result, message) = reporting {
                gannet_jpeg_decode_rgb(
                    bytes.baseAddress, bytes.count, Int32(scaleDenominator), Int32(region.x), Int32(region.y),
                    Int32(region.width), Int32(region.height), target, $0, $1)
            }
            if result < 0 || (result > 0 && strict) { throw ImageCodecError("JPEG: \(message)") }
            return result > 0
        case .png:
            precondition(scaleDenominator == 1, "PNG decodes at full size only")
            let (_, width, height) = try info(bytes)
            guard region.x >= 0, region.y >= 0, region.x + region.width <= width, region.y + region.height <= height
            else {
                throw ImageCodecError("region outside the \(width)x\(height) PNG")
            }
            let full = region == PixelRegion(x: 0, y: 0, width: width, height: height)
            if !full && scratch.count < width * height * 3 {
                scratch = [UInt8](repeating: 0, count: width * height * 3)
            }
            let (status, message) = scratch.withUnsafeMutableBufferPointer { buffer in
                reporting {
                    gannet_png_decode_rgb(bytes.baseAddress, bytes.count, full ? target : buffer.baseAddress, $0, $1)
                }
            }
            guard status == 0 else { throw ImageCodecError("PNG: \(message)") }
            if !full {
                scratch.withUnsafeBufferPointer { source in
                    for row in 0..<region.height {
                        (target + row * region.width * 3).update(
                            from: source.baseAddress! + ((region.y + row) * width + region.x) * 3,
                            count: region.width * 3)
                    }
                }
            }
            return false
        }
    }

    /// Runs a C call with a message buffer on the stack (no allocation per image); the
    /// message is read only when the call reports something.
    static func reporting(_ call: (UnsafeMutablePointer<CChar>, Int) -> Int32) -> (status: Int32, message: String) {
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: 256) { buffer in
            buffer[0] = 0
            let status = call(buffer.baseAddress!, buffer.count)
            return (status, status == 0 ? "" : String(cString: buffer.baseAddress!))
        }
    }

    /// Baseline JPEG, 4:2:0, `quality` 1–100; `grey` writes one channel (BT.601 luma).
    public static func encodeJPEG(_ image: RGBImage, quality: Int, grey: Bool = false) throws(ImageCodecError)
        -> [UInt8]
    {
        try encode(image, grey: grey, "JPEG") { pixels, components, output, size, message in
            var length: UInt = 0
            let status = gannet_jpeg_encode(
                pixels, Int32(image.width), Int32(image.height), components, Int32(quality),
                output, &length, message, 256)
            size = Int(length)
            return status
        }
    }

    /// PNG, 8-bit, zlib `compression` 0–9; `grey` writes one channel.
    public static func encodePNG(_ image: RGBImage, compression: Int, grey: Bool = false) throws(ImageCodecError)
        -> [UInt8]
    {
        try encode(image, grey: grey, "PNG") { pixels, components, output, size, message in
            gannet_png_encode(
                pixels, Int32(image.width), Int32(image.height), components, Int32(compression), output, &size,
                message, 256)
        }
    }

    private static func encode(
        _ image: RGBImage, grey: Bool, _ name: String,
        _ body: (
            UnsafePointer<UInt8>, Int32, UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>, inout Int,
            UnsafeMutablePointer<CChar>
        ) -> Int32
    ) throws(ImageCodecError) -> [UInt8] {
        let pixels = grey ? greyPixels(image) : image.pixels
        var output: UnsafeMutablePointer<UInt8>?
        var size = 0
        var message = [CChar](repeating: 0, count: 256)
        let status = pixels.withUnsafeBufferPointer { source in
            message.withUnsafeMutableBufferPointer {
                body(source.baseAddress!, grey ? 1 : 3, &output, &size, $0.baseAddress!)
            }
        }
        guard status == 0, let output else { throw ImageCodecError("\(name) encode: \(cText(message))") }
        defer { free(output) }
        return Array(UnsafeBufferPointer(start: output, count: size))
    }

    /// BT.601 luma (OpenCV's `COLOR_RGB2GRAY` weights), one byte per pixel.
    public static func greyPixels(_ image: RGBImage) -> [UInt8] {
        let p = image.pixels
        return (0..<(image.width * image.height)).map { i in
            let red: Int = 299 * Int(p[3 * i]), green: Int = 587 * Int(p[3 * i + 1]),
                blue: Int = 114 * Int(p[3 * i + 2])
            return UInt8((red + green + blue + 500) / 1000)
        }
    }
}

/// A NUL-terminated C message buffer as a String.
func cText(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
