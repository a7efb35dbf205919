import DataIO
import Foundation
import Graph
import Models
import Prometheus
import TensorCore
import Testing
import Training

@testable import Serving

/// A freshly initialised resnet-20 (10 classes, 3×28×28) checkpoint in a temporary folder.
func writeCheckpoint() throws -> String {
    let folder = NSTemporaryDirectory() + "gannet-serve-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    let prefix = folder + "/resnet20"
    let symbol = try Models.resNet(depth: 20, classCount: 10, smallImages: true)
    let executor = try Executor(
        symbol, inputShapes: Graph(symbol).inputShapes(data: Shape([1, 3, 28, 28])), isTraining: false)
    Initializer.xavier.initialise(executor, seed: 3)
    try SymbolJSON.encode(symbol).write(toFile: prefix + "-symbol.json", atomically: true, encoding: .utf8)
    try NDArrayFile.write(checkpointEntries(executor), to: prefix + "-0000.params")
    return prefix
}

func image(seed: UInt8, width: Int = 32, height: Int = 32, png: Bool = false) throws -> [UInt8] {
    let pixels = (0..<width * height * 3).map { UInt8(truncatingIfNeeded: $0 &* Int(seed) &+ $0 / 97) }
    let picture = RGBImage(width: width, height: height, pixels: pixels)
    return png ? try ImageCodec.encodePNG(picture, compression: 1) : try ImageCodec.encodeJPEG(picture, quality: 90)
}

func send(_ server: PredictionServer, _ method: String, _ path: String, _ body: [UInt8]) async
    -> PredictionServer.Reply
{
    await server.handle(method: method, path: path, contentType: nil, body: body)
}

func decode(_ reply: PredictionServer.Reply) throws -> [String: Any] {
    try #require(JSONSerialization.jsonObject(with: Data(reply.body)) as? [String: Any])
}

@Suite(.serialized) struct PredictionServerTests {
    @Test func predictionsEqualThoseOfPredictAndBadRequestsGetErrors() async throws {
        let prefix = try writeCheckpoint()
        defer { try? FileManager.default.removeItem(atPath: (prefix as NSString).deletingLastPathComponent) }
        var options = PredictionBatcher.Options()
        options.maxBatch = 4
        options.window = 0.05
        let batches = LockedSizes()
        let batcher = try PredictionBatcher(prefix: prefix, epoch: 0, options: options, onBatch: { batches.append($0) })
        #expect(batcher.batchSizes == [1, 2, 4])
        let server = PredictionServer(batcher: batcher, registry: PrometheusCollectorRegistry(), maxBodyBytes: 1 << 20)
        let images = try (1...3).map { try image(seed: UInt8($0)) } + [try image(seed: 9, png: true)]

        // The same images through the predict path, one batch of 4.
        let reference = try InferenceModel(prefix: prefix, epoch: 0, batchSize: 4).predict(
            images, labels: images.indices.map { "image \($0)" }, names: nil, topK: 5)

        // Four requests at once: answered in one batch, each with its own prediction.
        let replies = await withTaskGroup(of: (Int, PredictionServer.Reply).self) { group in
            for (index, bytes) in images.enumerated() {
                group.addTask {
                    (
                        index,
                        await server.handle(method: "POST", path: "/predict", contentType: "image/jpeg", body: bytes)
                    )
                }
            }
            var replies: [Int: PredictionServer.Reply] = [:]
            for await (index, reply) in group { replies[index] = reply }
            return replies
        }
        for (index, expected) in reference.enumerated() {
            let reply = try #require(replies[index])
            #expect(reply.status == 200)
            let body = try decode(reply)
            let probabilities = try #require(body["probabilities"] as? [Double])
            #expect(zip(probabilities, expected.probabilities).allSatisfy { abs($0 - $1) < 1e-6 })
            let top = try #require(body["top"] as? [[String: Any]])
            #expect(top.map { $0["class"] as? Int } == expected.top.map(\.index))
        }
        #expect(batches.values.reduce(0, +) == 4 && batches.values.max()! >= 2)

        // Bad requests, then a good one: the server keeps answering.
        let text = Array("hello".utf8)
        #expect(await send(server, "POST", "/predict", text).status == 415)
        #expect(await send(server, "POST", "/predict", []).status == 400)
        let truncated = Array(images[0].prefix(200))
        #expect(await send(server, "POST", "/predict", truncated).status == 400)
        #expect(await send(server, "GET", "/predict", []).status == 405)
        #expect(await send(server, "GET", "/nothing", []).status == 404)
        let oversized = ImageCodec.pixelLimit
        ImageCodec.pixelLimit = 500
        let large = await send(server, "POST", "/predict", images[0])
        ImageCodec.pixelLimit = oversized
        #expect(large.status == 413)
        #expect((try decode(large)["error"] as? String)?.contains("limit") == true)
        let again = await send(server, "POST", "/predict", images[1])
        #expect(again.status == 200)

        // A multipart form gives the same answer as the bare body.
        let boundary = "gannet-boundary-1"
        let form =
            Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.jpg\"\r\n\r\n".utf8)
            + images[1] + Array("\r\n--\(boundary)--\r\n".utf8)
        let multipart = await server.handle(
            method: "POST", path: "/predict", contentType: "multipart/form-data; boundary=\(boundary)", body: form)
        #expect(multipart == again)

        #expect(await send(server, "GET", "/health", []).status == 200)
        let metrics = String(
            decoding: await send(server, "GET", "/metrics", []).body,
            as: UTF8.self)
        #expect(metrics.contains(#"gannet_requests_total{path="/predict",status="200"} 6"#))
        #expect(metrics.contains(#"gannet_requests_total{path="/predict",status="415"} 1"#))
        #expect(metrics.contains("gannet_request_duration_seconds_bucket"))
        batcher.stop()
        #expect(await send(server, "POST", "/predict", images[1]).status == 503)
    }

    @Test func multipartParsing() {
        let body = Array("preamble\r\n--b\r\nContent-Type: image/png\r\n\r\nDATA\r\n--b--\r\n".utf8)
        #expect(Multipart.firstPart(contentType: "multipart/form-data; boundary=b", body: body) == Array("DATA".utf8))
        #expect(
            Multipart.firstPart(contentType: "multipart/form-data; boundary=\"b\"", body: body) == Array("DATA".utf8))
        #expect(Multipart.firstPart(contentType: "multipart/form-data", body: body) == nil)
        #expect(Multipart.firstPart(contentType: "multipart/form-data; boundary=c", body: body) == nil)
        #expect(Multipart.firstPart(contentType: "multipart/form-data; boundary=b", body: Array("--b\r\n".utf8)) == nil)
    }
}

final class LockedSizes: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [Int] = []
    func append(_ value: Int) { lock.withLock { stored.append(value) } }
    var values: [Int] { lock.withLock { stored } }
}
