import DataIO
import TensorCore

extension TrainingState.Preprocessing {
    /// The iterator's mean: the RGB means, the mean image file (MXNet's `mean.bin`: one
    /// array of the data shape), or none.
    public func iteratorMean() throws -> ImageIteratorOptions.Mean {
        if let meanRGB, meanRGB.count == 3 { return .rgb(meanRGB[0], meanRGB[1], meanRGB[2]) }
        guard let meanImage else { return .none }
        let entries: [NDArrayFile.Entry]
        do { entries = try NDArrayFile.read(path: meanImage) } catch { throw TrainingError("\(error)") }
        guard entries.count == 1, let tensor = entries.first?.tensor else {
            throw TrainingError("\(meanImage): a mean image file holds one array, this one has \(entries.count)")
        }
        guard tensor.shape.dimensions == dataShape else {
            throw TrainingError("\(meanImage): the mean image is \(tensor.shape) but the data shape is \(dataShape)")
        }
        return .image(tensor.toArray())
    }

    /// Iterator options of this preprocessing at `batchSize` (centre crop, file order: as
    /// validation, `score` and `predict` read).
    public func iteratorOptions(batchSize: Int) throws -> ImageIteratorOptions {
        var options = ImageIteratorOptions(dataShape: dataShape, batchSize: batchSize)
        options.resize = resize
        options.scale = scale
        options.mean = try iteratorMean()
        return options
    }
}

/// Preprocessing given by the user, each part optional; what is not given comes from the
/// training run (`resolved(over:)`).
public struct PreprocessingOverrides: Sendable, Equatable {
    /// `[C, H, W]`.
    public var dataShape: [Int]?
    public var resize: Int?
    public var meanRGB: [Float]?
    public var meanImage: String?
    public var scale: Float?

    public init(
        dataShape: [Int]? = nil, resize: Int? = nil, meanRGB: [Float]? = nil, meanImage: String? = nil,
        scale: Float? = nil
    ) {
        self.dataShape = dataShape
        self.resize = resize
        self.meanRGB = meanRGB
        self.meanImage = meanImage
        self.scale = scale
    }

    /// These over `stored`, then MXNet's defaults (3×224×224, no resize, no mean, scale 1).
    /// A mean given here replaces the stored one of either kind.
    public func resolved(over stored: TrainingState.Preprocessing?) -> TrainingState.Preprocessing {
        let meanGiven = meanRGB != nil || meanImage != nil
        return TrainingState.Preprocessing(
            dataShape: dataShape ?? stored?.dataShape ?? [3, 224, 224], resize: resize ?? stored?.resize,
            meanRGB: meanGiven ? meanRGB : stored?.meanRGB, meanImage: meanGiven ? meanImage : stored?.meanImage,
            scale: scale ?? stored?.scale ?? 1)
    }
}
