import TensorCore

/// The mean image of a record file as MXNet's `ImageRecordIter` computes it: every record
/// once, prepared by `options` (its mean and scale are not applied), averaged per element.
public enum MeanImage {
    /// The mean `(C, H, W)` and the number of images; `progress` gets (images done, records).
    public static func compute(
        path: String, options: ImageIteratorOptions,
        progress: (Int, Int) -> Void = { _, _ in }
    ) throws -> (mean: Tensor, count: Int) {
        var options = options
        options.mean = .none
        options.scale = 1
        let iterator = try ImageRecordIterator(path: path, options: options, warn: { _ in })
        let size = options.dataShape.reduce(1, *)
        var sum = [Double](repeating: 0, count: size)
        var count = 0
        while let batch = try iterator.next() {
            let rows = batch.data.shape[0] - batch.pad
            let values = batch.data.floats
            for row in 0..<rows {
                for index in 0..<size { sum[index] += Double(values[row * size + index]) }
            }
            count += rows
            progress(count, iterator.recordCount)
        }
        guard count > 0 else { throw RecordIOError(path: path, offset: 0, "no records") }
        return (Tensor(shape: Shape(options.dataShape), values: sum.map { Float($0 / Double(count)) }), count)
    }
}
