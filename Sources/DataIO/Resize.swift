/// Image resizing with an antialiased bilinear (triangle) filter: when shrinking, the
/// filter widens to cover every input pixel that falls under an output pixel (like PIL's
/// `BILINEAR` and close to OpenCV's `INTER_AREA`); when enlarging it is plain bilinear with
/// pixel centres aligned (OpenCV's `INTER_LINEAR`). im2rec's `INTER_LINEAR` instead samples
/// 2×2 pixels whatever the scale, which aliases when shrinking by more than 2.
///
/// Separable: the vertical pass runs first over whole rows (vectorised), the horizontal
/// pass over the already-reduced rows. Scratch space is kept between calls.
public final class ImageResizer {
    private var rowWeights = ResampleAxis()
    private var columnWeights = ResampleAxis()
    private var rowBuffer: [Float] = []

    public init() {}

    /// Resizes `source` (`width × height` RGB8, rows packed) into `target`
    /// (`outputWidth × outputHeight` RGB8).
    public func resize(_ source: UnsafePointer<UInt8>, width: Int, height: Int,
                       into target: UnsafeMutablePointer<UInt8>, width outputWidth: Int, height outputHeight: Int) {
        if width == outputWidth && height == outputHeight {
            target.update(from: source, count: width * height * 3)
            return
        }
        rowWeights.compute(input: height, output: outputHeight)
        columnWeights.compute(input: width, output: outputWidth)
        let rowLength = width * 3
        if rowBuffer.count < rowLength { rowBuffer = [Float](repeating: 0, count: rowLength) }
        rowBuffer.withUnsafeMutableBufferPointer { accumulator in
            let row = accumulator.baseAddress!
            for y in 0..<outputHeight {
                // Vertical: a weighted sum of input rows.
                let start = rowWeights.starts[y], taps = rowWeights.counts[y]
                let weightBase = y * rowWeights.stride
                do {
                    let weight = rowWeights.weights[weightBase]
                    let input = source + start * rowLength
                    for i in 0..<rowLength { row[i] = weight * Float(input[i]) }
                }
                for tap in 1..<max(taps, 1) {
                    let weight = rowWeights.weights[weightBase + tap]
                    let input = source + (start + tap) * rowLength
                    for i in 0..<rowLength { row[i] += weight * Float(input[i]) }
                }
                // Horizontal: a weighted sum of neighbouring pixels of the summed row.
                let output = target + y * outputWidth * 3
                for x in 0..<outputWidth {
                    let first = columnWeights.starts[x], count = columnWeights.counts[x]
                    let base = x * columnWeights.stride
                    var red: Float = 0, green: Float = 0, blue: Float = 0
                    for tap in 0..<count {
                        let weight = columnWeights.weights[base + tap]
                        let pixel = row + (first + tap) * 3
                        red += weight * pixel[0]
                        green += weight * pixel[1]
                        blue += weight * pixel[2]
                    }
                    output[x * 3] = clampToByte(red)
                    output[x * 3 + 1] = clampToByte(green)
                    output[x * 3 + 2] = clampToByte(blue)
                }
            }
        }
    }

    /// Resizes a whole image.
    public func resize(_ image: RGBImage, width: Int, height: Int) -> RGBImage {
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        image.pixels.withUnsafeBufferPointer { source in
            pixels.withUnsafeMutableBufferPointer { target in
                resize(source.baseAddress!, width: image.width, height: image.height, into: target.baseAddress!,
                       width: width, height: height)
            }
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    /// MXNet's shorter-edge resize: the shorter side becomes `size`, the other
    /// `size · long / short` (integer division).
    public static func shorterSide(to size: Int, width: Int, height: Int) -> (width: Int, height: Int) {
        width <= height ? (size, max(1, size * height / width)) : (max(1, size * width / height), size)
    }
}

@inline(__always) private func clampToByte(_ value: Float) -> UInt8 {
    UInt8(min(max(value + 0.5, 0), 255))
}

/// Filter taps of one axis: for output index `i`, input indices `starts[i] ..< starts[i] + counts[i]`
/// with `weights[i * stride ..< i * stride + counts[i]]` (summing to 1).
struct ResampleAxis {
    var starts: [Int] = []
    var counts: [Int] = []
    var weights: [Float] = []
    var stride = 0
    private var key = (0, 0)

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
    }
}
