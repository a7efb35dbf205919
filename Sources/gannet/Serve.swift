import ArgumentParser
import DNNL
import Dispatch
import Foundation
import Prometheus
import Serving
import Training

/// `gannet serve`: an HTTP prediction server over a checkpoint.
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve predictions over HTTP: POST an image, get its classes as JSON.",
        discussion: """
            POST /predict with a JPEG or PNG body (or a multipart/form-data form whose first \
            part is one) answers the object `predict --json` gives per image: {"top": \
            [{"class", "name", "probability"}, …], "probabilities": […]}. GET /health answers \
            200; GET /metrics answers Prometheus text (requests by path and status, latency \
            histogram, batch sizes). Requests arriving together are classified in one batch of \
            up to --max-batch, the first waiting at most --batch-window-ms for the others; the \
            checkpoint is bound once per batch size 1, 2, 4, … --max-batch at start-up. Bad \
            requests get 4xx and {"error": "…"}: 400 a damaged image, 404, 405, 413 a body \
            over --max-body-mib or an image over --max-pixels, 415 neither JPEG nor PNG. \
            SIGINT or SIGTERM stops it.

            Example:
              gannet serve --model model/small --epoch 8 --synset data/train.synset.txt \\
                --port 8080 --max-batch 8
              curl --data-binary @cat.jpg http://127.0.0.1:8080/predict
            """)

    @Option(help: "Checkpoint prefix (PREFIX-symbol.json, PREFIX-NNNN.params).")
    var model: String

    @Option(parsing: .unconditional, help: "Checkpoint epoch N (PREFIX-NNNN.params).")
    var epoch: Int

    @Option(help: "Address to listen on (127.0.0.1: this machine only; 0.0.0.0: every interface).")
    var host = "127.0.0.1"

    @Option(parsing: .unconditional, help: "TCP port (0: any free port, printed at start).")
    var port = 8080

    @Option(parsing: .unconditional, help: "Most images classified in one forward pass.")
    var maxBatch = 8

    @Option(
        parsing: .unconditional,
        help: "How long the first request of a batch waits for others, in milliseconds.")
    var batchWindowMs = 2.0

    @Option(parsing: .unconditional, help: "Largest request body, in MiB.")
    var maxBodyMib = 64

    @OptionGroup var classification: ClassificationOptions

    @OptionGroup var preprocessing: PreprocessingOptions

    @OptionGroup var precision: PrecisionOptions

    @OptionGroup var imageLimit: ImageLimitOptions

    mutating func validate() throws {
        if epoch < 0 { throw ValidationError("--epoch must be at least 0") }
        if !(0...65535).contains(port) { throw ValidationError("--port must be 0 … 65535") }
        if !(1...1024).contains(maxBatch) { throw ValidationError("--max-batch must be 1 … 1024") }
        if !(batchWindowMs.isFinite && batchWindowMs >= 0 && batchWindowMs <= 10_000) {
            throw ValidationError("--batch-window-ms must be 0 … 10000")
        }
        if !(1...4096).contains(maxBodyMib) { throw ValidationError("--max-body-mib must be 1 … 4096") }
    }

    func run() throws {
        imageLimit.apply()
        log("oneDNN \(Library.version), ISA \(Library.instructionSet), \(precision.dtype.rawValue)")
        var options = PredictionBatcher.Options()
        options.maxBatch = maxBatch
        options.window = batchWindowMs / 1000
        options.topK = classification.topK
        options.overrides = preprocessing.overrides(dataShape: classification.dataShape?.dimensions)
        options.dataType = precision.dtype
        options.names = try classification.names()
        let registry = PrometheusCollectorRegistry()
        let batchSizes = registry.makeValueHistogram(
            descriptor: MetricNameDescriptor(
                namespace: "gannet", metricName: "batch", unitName: "size", helpText: "Images per forward pass."),
            buckets: PredictionBatcher.batchSizes(maxBatch: maxBatch).map(Double.init))
        let batcher = try runtime {
            try PredictionBatcher(
                prefix: model, epoch: epoch, options: options, log: { log($0) },
                onBatch: { batchSizes.record(Double($0)) })
        }
        classification.check(options.names, classCount: batcher.model.classCount)
        let server = PredictionServer(batcher: batcher, registry: registry, maxBodyBytes: maxBodyMib << 20)
        let (host, port, sizes) = (host, port, batcher.batchSizes)
        let finished = DispatchSemaphore(value: 0)
        let failure = LockedBox<(any Error)?>(nil)
        Task {
            do {
                try await server.run(host: host, port: port) { bound in
                    log(
                        "serving \(model)-\(String(format: "%04d", epoch)) on http://\(host):\(bound) (batch sizes \(sizes))"
                    )
                }
            } catch {
                failure.value = error
            }
            finished.signal()
        }
        finished.wait()
        if let error = failure.value { throw RuntimeFailure("serve: \(error)") }
    }
}

/// A value shared with a task, behind a lock.
final class LockedBox<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value
    init(_ value: Value) { stored = value }
    var value: Value {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}
