import TensorCore

/// Turns one encoded image into one normalised `[C, H, W]` float sample, as
/// `ImageRecordIter` does: shorter-side resize, crop (centre, random, or Inception-style),
/// mirror, colour jitter, mean subtraction, scale. One per decode thread: it keeps its
/// scratch buffers between images, so steady state does not allocate.
///
/// When no resize is needed the JPEG is decoded only inside the crop window (rows above
/// skipped, rows below never decoded), and when the window is much larger than the output
/// (Inception crops, big originals) libjpeg scales by 1/2, 1/4 or 1/8 in the DCT first.
public final class ImageSampleDecoder {
    public let options: ImageIteratorOptions
    private let resizer = ImageResizer()
    private var stage: [UInt8] = []
    private var region: [UInt8] = []
    private var patch: [UInt8] = []
    private var pngScratch: [UInt8] = []
    private let channelMean: [Float]
    private let multiplier: [Float]

    public init(options: ImageIteratorOptions) {
        self.options = options
        if case .rgb(let r, let g, let b) = options.mean { channelMean = [r, g, b] } else { channelMean = [0, 0, 0] }
        multiplier = (0..<3).map {
            options.scale / options.standardDeviation[min($0, options.standardDeviation.count - 1)]
        }
    }

    private var outputWidth: Int { options.dataShape[2] }
    private var outputHeight: Int { options.dataShape[1] }

    /// Decodes `image` into `target` (`C·H·W` floats). Returns whether the image data was
    /// corrupt but decodable.
    @discardableResult
    public func decode(
        _ image: UnsafeRawBufferPointer, into target: UnsafeMutablePointer<Float>,
        generator: inout SeededGenerator
    ) throws(ImageCodecError) -> Bool {
        let (format, width, height) = try ImageCodec.info(image)
        guard width > 0 && height > 0 else { throw ImageCodecError("empty \(width)x\(height) image") }
        // Size after the shorter-side resize, then enlarged if smaller than the output.
        var (stageWidth, stageHeight) =
            options.resize.map {
                ImageResizer.shorterSide(to: $0, width: width, height: height)
            } ?? (width, height)
        if stageWidth < outputWidth || stageHeight < outputHeight {
            let factor = max(Double(outputWidth) / Double(stageWidth), Double(outputHeight) / Double(stageHeight))
            stageWidth = max(outputWidth, Int((Double(stageWidth) * factor).rounded(.up)))
            stageHeight = max(outputHeight, Int((Double(stageHeight) * factor).rounded(.up)))
        }
        try ImageCodec.checkPixelCount(width: stageWidth, height: stageHeight, "the resize to the crop size")
        let window = cropWindow(width: stageWidth, height: stageHeight, generator: &generator)
        let isMirrored = options.mirror || (options.randomMirror && generator.next() & 1 == 1)
        let jitter = drawJitter(&generator)

        var corrupt = false
        let patchCount = outputWidth * outputHeight * 3
        if patch.count < patchCount { patch = [UInt8](repeating: 0, count: patchCount) }
        if stageWidth == width && stageHeight == height {
            // Decode only the window, scaled in the DCT when it is at least twice the output.
            let (denominator, scaledWindow) = ImageCodec.reducedWindow(
                window, width: width, height: height, format: format, minimumWidth: outputWidth,
                minimumHeight: outputHeight)
            if scaledWindow.width == outputWidth && scaledWindow.height == outputHeight {
                corrupt = try decode(image, denominator, scaledWindow, into: &patch)
            } else {
                if region.count < scaledWindow.width * scaledWindow.height * 3 {
                    region = [UInt8](repeating: 0, count: scaledWindow.width * scaledWindow.height * 3)
                }
                corrupt = try decode(image, denominator, scaledWindow, into: &region)
                resizeRegion(width: scaledWindow.width, height: scaledWindow.height)
            }
        } else {
            // Resize the whole image first (after a DCT reduction that keeps it at least the
            // stage size), then cut the window.
            let (denominator, whole) = ImageCodec.reducedWindow(
                PixelRegion(x: 0, y: 0, width: width, height: height), width: width, height: height, format: format,
                minimumWidth: stageWidth, minimumHeight: stageHeight)
            let decodedWidth = whole.width, decodedHeight = whole.height
            if region.count < decodedWidth * decodedHeight * 3 {
                region = [UInt8](repeating: 0, count: decodedWidth * decodedHeight * 3)
            }
            corrupt = try decode(image, denominator, whole, into: &region)
            if stage.count < stageWidth * stageHeight * 3 {
                stage = [UInt8](repeating: 0, count: stageWidth * stageHeight * 3)
            }
            region.withUnsafeBufferPointer { source in
                stage.withUnsafeMutableBufferPointer { target in
                    resizer.resize(
                        source.baseAddress!, width: decodedWidth, height: decodedHeight, into: target.baseAddress!,
                        width: stageWidth, height: stageHeight)
                }
            }
            // Cut the window out of the stage image into `region`, then to the output size.
            if region.count < window.width * window.height * 3 {
                region = [UInt8](repeating: 0, count: window.width * window.height * 3)
            }
            stage.withUnsafeBufferPointer { source in
                region.withUnsafeMutableBufferPointer { target in
                    for row in 0..<window.height {
                        (target.baseAddress! + row * window.width * 3).update(
                            from: source.baseAddress! + ((window.y + row) * stageWidth + window.x) * 3,
                            count: window.width * 3)
                    }
                }
            }
            resizeRegion(width: window.width, height: window.height)
        }
        normalise(into: target, mirrored: isMirrored, jitter: jitter)
        return corrupt
    }

    private func decode(
        _ image: UnsafeRawBufferPointer, _ denominator: Int, _ window: PixelRegion,
        into buffer: inout [UInt8]
    ) throws(ImageCodecError) -> Bool {
        // Swapped, not copied: a copy would make the buffer shared and every PNG reallocate it.
        var scratch: [UInt8] = []
        swap(&scratch, &pngScratch)
        defer { swap(&scratch, &pngScratch) }
        return try buffer.withUnsafeMutableBufferPointer { (target) throws(ImageCodecError) -> Bool in
            try ImageCodec.decode(
                image, scaleDenominator: denominator, region: window, into: target.baseAddress!,
                scratch: &scratch)
        }
    }

    /// `region` (`width × height`) resized into `patch` (the output size).
    private func resizeRegion(width: Int, height: Int) {
        region.withUnsafeBufferPointer { source in
            patch.withUnsafeMutableBufferPointer { target in
                resizer.resize(
                    source.baseAddress!, width: width, height: height, into: target.baseAddress!,
                    width: outputWidth, height: outputHeight)
            }
        }
    }

    /// The crop window in the stage image: Inception-style, random, or centred (`(W − w) / 2`).
    private func cropWindow(width: Int, height: Int, generator: inout SeededGenerator) -> PixelRegion {
        if let crop = options.randomResizedCrop {
            let area = Double(width * height)
            for _ in 0..<10 {
                let fraction =
                    crop.minimumArea + (crop.maximumArea - crop.minimumArea) * Double(generator.nextUnitFloat())
                let logLow = log(crop.minimumAspectRatio), logHigh = log(crop.maximumAspectRatio)
                let ratio = exp(logLow + (logHigh - logLow) * Double(generator.nextUnitFloat()))
                let w = Int((area * fraction * ratio).squareRoot().rounded())
                let h = Int((area * fraction / ratio).squareRoot().rounded())
                if w >= 1 && h >= 1 && w <= width && h <= height {
                    let x = Int(generator.next() % UInt64(width - w + 1))
                    let y = Int(generator.next() % UInt64(height - h + 1))
                    return PixelRegion(x: x, y: y, width: w, height: h)
                }
            }
            // No try fitted: fall back to the centre crop below, as MXNet does.
        }
        let w = outputWidth, h = outputHeight
        if options.randomCrop {
            let x = Int(generator.next() % UInt64(width - w + 1))
            let y = Int(generator.next() % UInt64(height - h + 1))
            return PixelRegion(x: x, y: y, width: w, height: h)
        }
        return PixelRegion(x: (width - w) / 2, y: (height - h) / 2, width: w, height: h)
    }

    private struct Jitter { var brightness: Float = 1, contrast: Float = 1, saturation: Float = 1 }

    private func drawJitter(_ generator: inout SeededGenerator) -> Jitter? {
        guard options.brightness > 0 || options.contrast > 0 || options.saturation > 0 else { return nil }
        func factor(_ amount: Float) -> Float { 1 + amount * (2 * generator.nextUnitFloat() - 1) }
        return Jitter(
            brightness: factor(options.brightness), contrast: factor(options.contrast),
            saturation: factor(options.saturation))
    }

    /// `patch` (RGB8, output size) → `[C, H, W]`: mirror, jitter, `(x − mean) · scale / std`.
    private func normalise(into target: UnsafeMutablePointer<Float>, mirrored: Bool, jitter: Jitter?) {
        let width = outputWidth, height = outputHeight, plane = width * height
        let channels = options.dataShape[0]
        // Contrast blends with the image's mean grey, so it needs one pass first.
        var meanGrey: Float = 0
        if let jitter, jitter.contrast != 1 {
            patch.withUnsafeBufferPointer { pixels in
                var sum: Float = 0
                for i in 0..<plane {
                    sum +=
                        0.299 * Float(pixels[3 * i]) + 0.587 * Float(pixels[3 * i + 1]) + 0.114
                        * Float(pixels[3 * i + 2])
                }
                meanGrey = sum / Float(plane)
            }
        }
        let meanImage: [Float]
        if case .image(let values) = options.mean { meanImage = values } else { meanImage = [] }
        patch.withUnsafeBufferPointer { pixels in
            meanImage.withUnsafeBufferPointer { meanValues in
                let (m0, m1, m2) = (multiplier[0], multiplier[1], multiplier[2])
                let (c0, c1, c2) = (channelMean[0], channelMean[1], channelMean[2])
                for y in 0..<height {
                    let row = pixels.baseAddress! + y * width * 3
                    for x in 0..<width {
                        let source = row + (mirrored ? width - 1 - x : x) * 3
                        var r = Float(source[0]), g = Float(source[1]), b = Float(source[2])
                        if let jitter {
                            r *= jitter.brightness; g *= jitter.brightness; b *= jitter.brightness
                            let grey = 0.299 * r + 0.587 * g + 0.114 * b
                            r = grey + (r - grey) * jitter.saturation
                            g = grey + (g - grey) * jitter.saturation
                            b = grey + (b - grey) * jitter.saturation
                            let greyMean = meanGrey * jitter.brightness
                            r = greyMean + (r - greyMean) * jitter.contrast
                            g = greyMean + (g - greyMean) * jitter.contrast
                            b = greyMean + (b - greyMean) * jitter.contrast
                            r = min(max(r, 0), 255); g = min(max(g, 0), 255); b = min(max(b, 0), 255)
                        }
                        let index = y * width + x
                        if channels == 1 {
                            let grey = 0.299 * r + 0.587 * g + 0.114 * b
                            let mean = meanValues.isEmpty ? c0 : meanValues[index]
                            target[index] = (grey - mean) * m0
                        } else if meanValues.isEmpty {
                            target[index] = (r - c0) * m0
                            target[plane + index] = (g - c1) * m1
                            target[2 * plane + index] = (b - c2) * m2
                        } else {
                            target[index] = (r - meanValues[index]) * m0
                            target[plane + index] = (g - meanValues[plane + index]) * m1
                            target[2 * plane + index] = (b - meanValues[2 * plane + index]) * m2
                        }
                    }
                }
            }
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
