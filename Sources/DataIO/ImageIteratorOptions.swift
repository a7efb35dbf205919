/// What `ImageRecordIterator` produces and how (MXNet's `ImageRecordIter` parameters in
/// Swift names: `data_shape` → `dataShape`, `rand_crop` → `randomCrop`, …).
public struct ImageIteratorOptions: Sendable {
    /// Output image `[channels, height, width]`; channels 3 (RGB) or 1 (grey).
    public var dataShape: [Int]
    public var batchSize: Int
    /// Shorter side resized to this before cropping (`resize`; nil: off).
    public var resize: Int?
    /// Random crop position (`rand_crop`); otherwise the centre.
    public var randomCrop = false
    /// Inception-style crop: a random area fraction and aspect ratio, resized to the output.
    public var randomResizedCrop: RandomResizedCrop?
    /// Flip horizontally with probability 0.5 (`rand_mirror`), or always (`mirror`).
    public var randomMirror = false
    public var mirror = false
    /// Subtracted before scaling: per channel (RGB) or a mean image `[C, H, W]`.
    public var mean: Mean = .none
    /// Divides after mean subtraction, per channel (`std_r/g/b`).
    public var standardDeviation: [Float] = [1, 1, 1]
    /// Multiplies after mean subtraction (`scale`).
    public var scale: Float = 1
    /// Labels per image (`label_width`).
    public var labelWidth = 1
    /// What the last, incomplete batch of an epoch does.
    public var lastBatch: LastBatch = .pad
    /// Read only part `partIndex` of `partCount` (`num_parts`, `part_index`).
    public var partCount = 1
    public var partIndex = 0
    /// A new permutation of the records every epoch (global with an `.idx`, else within
    /// windows of consecutive records).
    public var shuffle = false
    public var seed: UInt64 = 0
    /// Decode threads (`preprocess_threads`) and batches prepared ahead (`prefetch_buffer`).
    public var threadCount = 2
    public var prefetchCount = 4
    public var badRecords: BadRecordPolicy = .fail
    /// Colour jitter factors drawn from 1 ± value (`brightness`, `contrast`, `saturation`).
    public var brightness: Float = 0
    public var contrast: Float = 0
    public var saturation: Float = 0

    public init(dataShape: [Int], batchSize: Int) {
        self.dataShape = dataShape
        self.batchSize = batchSize
    }

    public enum Mean: Sendable, Equatable {
        case none
        case rgb(Float, Float, Float)
        /// `[C, H, W]` values, the output's shape.
        case image([Float])
    }

    /// `pad`: the last batch is completed with records from the start of the epoch's order
    /// and `ImageBatch.pad` counts them (MXNet's `round_batch`, with the count right).
    /// `discard`: the incomplete batch is dropped.
    public enum LastBatch: String, Sendable { case pad, discard }

    /// `fail`: a record that does not decode stops the epoch with an error naming it.
    /// `skip`: its place in the batch is taken by a good image of the same batch, and it
    /// is counted and reported.
    public enum BadRecordPolicy: String, Sendable { case fail, skip }

    public struct RandomResizedCrop: Sendable, Equatable {
        public var minimumArea: Double = 0.08
        public var maximumArea: Double = 1
        public var minimumAspectRatio: Double = 3.0 / 4
        public var maximumAspectRatio: Double = 4.0 / 3
        public init() {}
    }
}
