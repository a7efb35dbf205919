import DataIO
import Foundation
import TensorCore
import Training

/// Why one request got no prediction: an HTTP status and a message for `{"error": …}`.
public struct RequestFailure: Error, Sendable, Equatable {
    public var status: Int
    public var message: String

    public init(_ status: Int, _ message: String) {
        self.status = status
        self.message = message
    }
}

/// Classifies images that arrive one per request in batches: the first image waits at most
/// `window` seconds for others (or until `maxBatch` have arrived), then one thread decodes
/// them into the data input and runs one forward pass. The checkpoint is bound once per
/// batch size in 1, 2, 4, … and `maxBatch` (all at start-up); a batch of n runs on the
/// smallest binding of at least n rows, the rows past n unused.
///
/// ```swift
/// let batcher = try PredictionBatcher(prefix: "model/small", epoch: 8, maxBatch: 8)
/// let result = await batcher.predict(jpegBytes)   // Result<Prediction, RequestFailure>
/// ```
public final class PredictionBatcher: @unchecked Sendable {
    public struct Options: Sendable {
        public var maxBatch = 8
        /// How long the first image of a batch waits for more, in seconds.
        public var window = 0.002
        public var topK = 5
        /// Class names in label order.
        public var names: [String]?
        public var overrides = PreprocessingOverrides()
        public var dataType: DataType = .float32

        public init() {}
    }

    public let options: Options
    /// The binding of each batch size, smallest first.
    private let bindings: [(size: Int, model: InferenceModel)]
    private let decoder: ImageSampleDecoder
    private let sampleSize: Int
    /// Called on the worker with the size of every batch run (for metrics).
    private let onBatch: @Sendable (Int) -> Void

    /// Guards `queue` and `isStopped`; the worker waits on it.
    private let condition = NSCondition()
    private var queue: [Pending] = []
    private var isStopped = false

    private struct Pending {
        var image: [UInt8]
        var arrival: Double
        var continuation: CheckedContinuation<Result<Prediction, RequestFailure>, Never>
    }

    /// Loads and binds the checkpoint (errors name the file) and starts the worker thread.
    public init(
        prefix: String, epoch: Int, options: Options = Options(), log: (String) -> Void = { _ in },
        onBatch: @escaping @Sendable (Int) -> Void = { _ in }
    ) throws {
        precondition(options.maxBatch >= 1)
        var bindings: [(size: Int, model: InferenceModel)] = []
        for size in Self.batchSizes(maxBatch: options.maxBatch) {
            let model = try InferenceModel(
                prefix: prefix, epoch: epoch, batchSize: size, overrides: options.overrides, dataType: options.dataType,
                log: size == 1 ? log : { _ in })
            bindings.append((size, model))
        }
        self.bindings = bindings
        let first = bindings[0].model
        var iteratorOptions = try first.iteratorOptions(batchSize: 1)
        if iteratorOptions.resize == nil {
            iteratorOptions.resize = min(iteratorOptions.dataShape[1], iteratorOptions.dataShape[2])
        }
        decoder = ImageSampleDecoder(options: iteratorOptions)
        sampleSize = iteratorOptions.dataShape.reduce(1, *)
        self.options = options
        self.onBatch = onBatch
        let worker = Thread { [unowned self] in self.work() }
        worker.name = "gannet-predict"
        worker.start()
    }

    /// The batch sizes bound for `maxBatch`: 1, 2, 4, … below it, and `maxBatch`.
    public static func batchSizes(maxBatch: Int) -> [Int] {
        var sizes = [1]
        while sizes.last! * 2 < maxBatch { sizes.append(sizes.last! * 2) }
        if sizes.last! != maxBatch { sizes.append(maxBatch) }
        return sizes
    }

    /// The model bound for one image (its preprocessing and class count).
    public var model: InferenceModel { bindings[0].model }

    /// The batch sizes bound.
    public var batchSizes: [Int] { bindings.map(\.size) }

    /// The prediction for one encoded image (JPEG or PNG), or why there is none.
    public func predict(_ image: [UInt8]) async -> Result<Prediction, RequestFailure> {
        await withCheckedContinuation { continuation in
            condition.lock()
            if isStopped {
                condition.unlock()
                continuation.resume(returning: .failure(RequestFailure(503, "the server is stopping")))
                return
            }
            queue.append(Pending(image: image, arrival: monotonicSeconds(), continuation: continuation))
            condition.signal()
            condition.unlock()
        }
    }

    /// Stops the worker after the batch it is running; images still waiting get 503.
    public func stop() {
        condition.lock()
        isStopped = true
        let waiting = queue
        queue = []
        condition.signal()
        condition.unlock()
        for pending in waiting {
            pending.continuation.resume(returning: .failure(RequestFailure(503, "the server is stopping")))
        }
    }

    private func work() {
        while let batch = nextBatch() { run(batch) }
    }

    /// Waits for the first image, then for the window or a full batch.
    private func nextBatch() -> [Pending]? {
        condition.lock()
        defer { condition.unlock() }
        while queue.isEmpty && !isStopped { condition.wait() }
        if isStopped { return nil }
        let deadline = queue[0].arrival + options.window
        while queue.count < options.maxBatch && !isStopped {
            let left = deadline - monotonicSeconds()
            if left <= 0 { break }
            _ = condition.wait(until: Date(timeIntervalSinceNow: left))
        }
        let count = min(queue.count, options.maxBatch)
        let batch = Array(queue.prefix(count))
        queue.removeFirst(count)
        return batch
    }

    /// Decodes every image into its row (an image that fails is answered at once), runs the
    /// forward pass and answers the rest.
    private func run(_ batch: [Pending]) {
        let model = bindings.first { $0.size >= batch.count }!.model
        var generator = SeededGenerator(seed: 0)
        var decoded: [Pending] = []
        for pending in batch {
            do {
                let row = model.data.floats + decoded.count * sampleSize
                try pending.image.withUnsafeBytes { bytes in
                    _ = try decoder.decode(bytes, into: row, generator: &generator)
                }
                decoded.append(pending)
            } catch let error as ImageCodecError {
                let status = error.kind == .overPixelLimit ? 413 : 400
                pending.continuation.resume(returning: .failure(RequestFailure(status, error.message)))
            } catch {
                pending.continuation.resume(returning: .failure(RequestFailure(400, "\(error)")))
            }
        }
        guard !decoded.isEmpty else { return }
        onBatch(decoded.count)
        model.executor.forward(isTraining: false)
        let width = model.classCount
        for (row, pending) in decoded.enumerated() {
            let output = UnsafeBufferPointer(start: model.executor.outputs[0].floats + row * width, count: width)
            guard output.allSatisfy(\.isFinite) else {
                pending.continuation.resume(
                    returning: .failure(RequestFailure(500, "the network's output is not finite (NaN or infinity)")))
                continue
            }
            pending.continuation.resume(
                returning: .success(model.prediction(row: row, topK: options.topK, names: options.names)))
        }
    }
}
