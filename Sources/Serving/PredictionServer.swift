import DataIO
import Foundation
import Hummingbird
import Logging
import Prometheus
import Training

/// The HTTP interface of a `PredictionBatcher` (`gannet serve`):
///
/// - `POST /predict`, body a JPEG or PNG (or `multipart/form-data` whose first part is one):
///   200 with `{"top": [{"class": i, "name": …, "probability": p}, …], "probabilities": […]}`,
///   as one entry of `gannet predict --json`;
/// - `GET /health`: 200 `{"status": "ok"}`;
/// - `GET /metrics`: Prometheus text: `gannet_requests_total{path,status}`,
///   `gannet_request_duration_seconds` (histogram), `gannet_batch_size` (histogram).
///
/// A bad request gets a 4xx and `{"error": "…"}`: 400 not an image or a damaged one, 404,
/// 405 a wrong method, 413 a body over `maxBodyBytes` or an image over the pixel limit
/// (checked from the header before anything is decoded), 415 neither JPEG nor PNG.
public final class PredictionServer: Sendable {
    public let batcher: PredictionBatcher
    public let registry: PrometheusCollectorRegistry
    public let maxBodyBytes: Int
    private let latency: DurationHistogram

    public init(batcher: PredictionBatcher, registry: PrometheusCollectorRegistry, maxBodyBytes: Int = 64 << 20) {
        self.batcher = batcher
        self.registry = registry
        self.maxBodyBytes = maxBodyBytes
        latency = registry.makeDurationHistogram(
            descriptor: MetricNameDescriptor(
                namespace: "gannet", metricName: "request_duration", unitName: "seconds",
                helpText: "Time from a request's arrival to its response, in seconds."),
            buckets: [1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000].map {
                Duration.microseconds(Int64($0 * 1000))
            })
    }

    static var requests: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "gannet", metricName: "requests", unitName: "total",
            helpText: "Requests answered, by path and status.")
    }

    /// What one request gets: status, content type and body.
    public struct Reply: Sendable, Equatable {
        public var status: Int
        public var contentType: String
        public var body: [UInt8]

        static func json(_ status: Int, _ value: some Encodable) -> Reply {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            encoder.nonConformingFloatEncodingStrategy = .convertToString(
                positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
            let bytes = (try? encoder.encode(value)).map { [UInt8]($0) } ?? Array(#"{"error":"encoding"}"#.utf8)
            return Reply(status: status, contentType: "application/json", body: bytes)
        }

        static func error(_ failure: RequestFailure) -> Reply { json(failure.status, ["error": failure.message]) }
    }

    /// Answers one request; never throws, whatever the input.
    public func handle(method: String, path: String, contentType: String?, body: [UInt8]) async -> Reply {
        let started = ContinuousClock.now
        let reply = await route(method: method, path: path, contentType: contentType, body: body)
        latency.record(ContinuousClock.now - started)
        let known = ["/predict", "/health", "/metrics"].contains(path) ? path : "other"
        registry.makeCounter(
            descriptor: Self.requests, labels: [("path", known), ("status", String(reply.status))]
        ).increment()
        return reply
    }

    private func route(method: String, path: String, contentType: String?, body: [UInt8]) async -> Reply {
        switch (path, method) {
        case ("/predict", "POST"):
            switch Self.image(contentType: contentType, body: body) {
            case .failure(let failure): return .error(failure)
            case .success(let image):
                if let failure = Self.checkHeader(image) { return .error(failure) }
                switch await batcher.predict(image) {
                case .success(let prediction): return .json(200, prediction)
                case .failure(let failure): return .error(failure)
                }
            }
        case ("/health", "GET"):
            return .json(200, ["status": "ok"])
        case ("/metrics", "GET"):
            return Reply(
                status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8", body: registry.emitToBuffer())
        case ("/predict", _), ("/health", _), ("/metrics", _):
            let allowed = path == "/predict" ? "POST" : "GET"
            return .error(RequestFailure(405, "\(method) \(path): only \(allowed) is allowed"))
        default:
            return .error(RequestFailure(404, "no such path: \(path) (POST /predict, GET /health, GET /metrics)"))
        }
    }

    /// The image of a request body: the body itself, or the first part of a multipart form.
    static func image(contentType: String?, body: [UInt8]) -> Result<[UInt8], RequestFailure> {
        if body.isEmpty { return .failure(RequestFailure(400, "the request has no body: send a JPEG or PNG")) }
        guard let contentType, contentType.lowercased().hasPrefix("multipart/form-data") else { return .success(body) }
        guard let part = Multipart.firstPart(contentType: contentType, body: body) else {
            return .failure(RequestFailure(400, "a multipart/form-data body without a readable part"))
        }
        return .success(part)
    }

    /// The header check before an image is queued: 415 neither JPEG nor PNG, 413 over the
    /// pixel limit, 400 a damaged header.
    static func checkHeader(_ image: [UInt8]) -> RequestFailure? {
        do {
            try image.withUnsafeBytes { bytes in _ = try ImageCodec.info(bytes) }
            return nil
        } catch let error as ImageCodecError {
            if error.kind == .overPixelLimit { return RequestFailure(413, error.message) }
            let isImage = image.starts(with: [0xFF, 0xD8]) || image.starts(with: [0x89, 0x50, 0x4E, 0x47])
            return RequestFailure(isImage ? 400 : 415, error.message)
        } catch {
            return RequestFailure(400, "\(error)")
        }
    }

    /// Serves on `host:port` until SIGINT or SIGTERM; `onRunning` is called once it listens.
    public func run(host: String, port: Int, onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws
    {
        let maxBodyBytes = maxBodyBytes
        let responder = CallbackResponder { [self] (request: Request, _: BasicRequestContext) in
            let reply: Reply
            do {
                let buffer = try await request.body.collect(upTo: maxBodyBytes)
                reply = await handle(
                    method: request.method.rawValue, path: request.uri.path,
                    contentType: request.headers[.contentType], body: Array(buffer.readableBytesView))
            } catch {
                reply = .error(RequestFailure(413, "the body is over \(maxBodyBytes) bytes (or was cut short)"))
            }
            var headers = HTTPFields()
            headers[.contentType] = reply.contentType
            return Response(
                status: .init(code: reply.status), headers: headers,
                body: .init(byteBuffer: ByteBuffer(bytes: reply.body)))
        }
        let application = Application(
            responder: responder,
            configuration: .init(address: .hostname(host, port: port), serverName: "gannet"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) },
            logger: Logger(label: "gannet") { StreamLogHandler.standardError(label: $0) })
        try await application.runService()
        batcher.stop()
    }
}

/// The first part of a `multipart/form-data` body (RFC 7578): what lies between the first
/// boundary's header block and the next boundary.
enum Multipart {
    static func firstPart(contentType: String, body: [UInt8]) -> [UInt8]? {
        guard
            let boundaryParameter = contentType.split(separator: ";").lazy.map({
                $0.trimmingCharacters(in: .whitespaces)
            }).first(where: { $0.lowercased().hasPrefix("boundary=") })
        else { return nil }
        var boundary = String(boundaryParameter.dropFirst("boundary=".count))
        if boundary.hasPrefix("\"") && boundary.hasSuffix("\"") && boundary.count >= 2 {
            boundary = String(boundary.dropFirst().dropLast())
        }
        guard !boundary.isEmpty, boundary.utf8.count <= 200 else { return nil }
        let delimiter = Array("--\(boundary)".utf8)
        guard let first = find(delimiter, in: body, from: 0),
            let headersEnd = find(Array("\r\n\r\n".utf8), in: body, from: first + delimiter.count)
        else { return nil }
        let start = headersEnd + 4
        guard let end = find(Array("\r\n--\(boundary)".utf8), in: body, from: start) else { return nil }
        return Array(body[start..<end])
    }

    static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        guard !needle.isEmpty, haystack.count >= needle.count, start <= haystack.count - needle.count else {
            return nil
        }
        var position = start
        while position <= haystack.count - needle.count {
            if haystack[position] == needle[0] && haystack[position..<position + needle.count].elementsEqual(needle) {
                return position
            }
            position += 1
        }
        return nil
    }
}
