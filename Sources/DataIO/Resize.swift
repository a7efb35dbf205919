/// Image resizing with an antialiased bilinear (triangle) filter: when shrinking, the
/// filter widens to cover every input pixel that falls under an output pixel (like PIL's
/// `BILINEAR` and close to OpenCV's `INTER_AREA`); when enlarging it is plain bilinear with
/// pixel centres aligned (OpenCV's `INTER_LINEAR`). im2rec's `INTER_LINEAR` instead samples
/// 2×2 pixels whatever the scale, which aliases when shrinking by more than 2.
///
/// Separable: the vertical pass runs first over whole rows (vectorised), then the
/// horizontal pass over the already-reduced rows, one RGB pixel per SIMD operation.
/// Scratch space is kept between calls.
public final class ImageResizer {
    private var rowWeights = ResampleAxis()
    private var columnWeights = ResampleAxis()
    private var rowBuffer: [Float] = []

    public init() {}

    /// Resizes `source` (`width × height` RGB8, rows packed) into `target`
    /// (`outputWidth × outputHeight` RGB8).
    public func resize(
        _ source: UnsafePointer<UInt8>, width: Int, height: Int,
        into target: UnsafeMutablePointer<UInt8>, width outputWidth: Int, height outputHeight: Int
    ) {
        if width == outputWidth && height == outputHeight {
            target.update(from: source, count: width * height * 3)
            return
        }
        rowWeights.compute(input: height, output: outputHeight)
        columnWeights.compute(input: width, output: outputWidth)
        let rowLength = width * 3
        let taps = columnWeights.maximumCount
        // Spare floats: the horizontal pass reads `taps` whole pixels and 4 floats per pixel.
        let rowCapacity = rowLength + 3 * taps + 4
        if rowBuffer.count < rowCapacity + outputWidth * 3 + 4 {
            rowBuffer = [Float](repeating: 0, count: rowCapacity + outputWidth * 3 + 4)
        }
        rowBuffer.withUnsafeMutableBufferPointer { buffer in
            rowWeights.withPointers { rowStarts, rowCounts, rowTaps, rowStride in
                columnWeights.withPointers { columnStarts, _, columnTaps, columnStride in
                    let row = buffer.baseAddress!
                    let sums = UnsafeMutableRawPointer(row + rowCapacity)
                    for y in 0..<outputHeight {
                        sumRows(
                            source, rowLength: rowLength, into: row, outputRow: y,
                            starts: rowStarts, counts: rowCounts, weights: rowTaps, stride: rowStride)
                        // Every pixel takes `taps` taps (zero weights past its own), so the loop is uniform.
                        for x in 0..<outputWidth {
                            let pixels = UnsafeRawPointer(row + columnStarts[x] * 3)
                            let weights = columnTaps + x * columnStride
                            var sum = weights[0] * pixels.loadUnaligned(as: SIMD4<Float>.self)
                            for tap in 1..<taps {
                                sum +=
                                    weights[tap] * pixels.loadUnaligned(fromByteOffset: tap * 12, as: SIMD4<Float>.self)
                            }
                            sums.storeBytes(of: sum, toByteOffset: x * 12, as: SIMD4<Float>.self)
                        }
                        let values = sums.assumingMemoryBound(to: Float.self)
                        let output = target + y * outputWidth * 3
                        for i in 0..<(outputWidth * 3) {
                            let value = values[i]
                            let clamped = value < 0 ? 0 : (value > 255 ? 255 : value)
                            // Adding 2^23 puts the rounded integer in the low mantissa bits.
                            output[i] = UInt8(truncatingIfNeeded: (clamped + 8_388_608).bitPattern)
                        }
                    }
                }
            }
        }
    }

    /// Resizes a whole image.
    public func resize(_ image: RGBImage, width: Int, height: Int) -> RGBImage {
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        image.pixels.withUnsafeBufferPointer { source in
            pixels.withUnsafeMutableBufferPointer { target in
                resize(
                    source.baseAddress!, width: image.width, height: image.height, into: target.baseAddress!,
                    width: width, height: height)
            }
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    /// MXNet's shorter-edge resize: the shorter side becomes `size`, the other
    /// `size · long / short` (integer division).
    public static func shorterSide(to size: Int, width: Int, height: Int) -> (width: Int, height: Int) {
        // In floating point and clamped: the caller checks the result against the pixel limit.
        func longer(_ long: Int, _ short: Int) -> Int {
            max(1, Int(min(Double(size) * Double(long) / Double(max(short, 1)), Double(Int32.max))))
        }
        return width <= height ? (size, longer(height, width)) : (longer(width, height), size)
    }
}

/// Output row `outputRow` of the vertical pass: `Σ weights[r, t] · input row (starts[r] + t)`.
@inline(__always)
private func sumRows(
    _ input: UnsafePointer<UInt8>, rowLength: Int, into row: UnsafeMutablePointer<Float>, outputRow r: Int,
    starts: UnsafePointer<Int>, counts: UnsafePointer<Int>, weights: UnsafePointer<Float>, stride: Int
) {
    let taps = weights + r * stride
    var source = input + starts[r] * rowLength
    let weight = taps[0]
    for i in 0..<rowLength { row[i] = weight * Float(source[i]) }
    for tap in 1..<max(counts[r], 1) {
        source += rowLength
        let weight = taps[tap]
        for i in 0..<rowLength { row[i] += weight * Float(source[i]) }
    }
}

/// Filter taps of one axis: for output index `i`, input indices `starts[i] ..< starts[i] + counts[i]`
/// with `weights[i * stride ..< i * stride + counts[i]]` (summing to 1).
struct ResampleAxis {
    var starts: [Int] = []
    var counts: [Int] = []
    var weights: [Float] = []
    var stride = 0
    /// The most taps of any output (weights past an output's own count are zero).
    var maximumCount = 1
    private var key = (0, 0)

    /// The tables as pointers, for loops without bounds checks.
    func withPointers(_ body: (UnsafePointer<Int>, UnsafePointer<Int>, UnsafePointer<Float>, Int) -> Void) {
        starts.withUnsafeBufferPointer { starts in
            counts.withUnsafeBufferPointer { counts in
                weights.withUnsafeBufferPointer { weights in
                    body(starts.baseAddress!, counts.baseAddress!, weights.baseAddress!, stride)
                }
            }
        }
    }

    mutating func compute(input: Int, output: Int) {
        guard key != (input, output) else { return }
        key = (input, output)
        let scale = Double(input) / Double(output)
        let support = max(scale, 1)  // half-width of the triangle, in input pixels
        stride = Int((2 * support).rounded(.up)) + 2
        starts = [Int](repeating: 0, count: output)
        counts = [Int](repeating: 0, count: output)
        weights = [Float](repeating: 0, count: output * stride)
        for index in 0..<output {
            let center = (Double(index) + 0.5) * scale
            var low = max(0, Int((center - support).rounded(.down)))
            var high = min(input, Int((center + support).rounded(.up)))
            var taps: [Double] = (low..<high).map { max(0, 1 - abs((Double($0) + 0.5 - center) / support)) }
            // Trim zero taps so the loops stay short.
            while taps.count > 1 && taps.first == 0 { taps.removeFirst(); low += 1 }
            while taps.count > 1 && taps.last == 0 { taps.removeLast(); high -= 1 }
            let total = taps.reduce(0, +)
            if total == 0 {  // centre outside every pixel: take the nearest
                let nearest = min(max(Int(center), 0), input - 1)
                starts[index] = nearest
                counts[index] = 1
                weights[index * stride] = 1
                continue
            }
            starts[index] = low
            counts[index] = taps.count
            for (tap, weight) in taps.enumerated() { weights[index * stride + tap] = Float(weight / total) }
        }
        maximumCount = counts.max() ?? 1
    }
}
