import Distributed
import Graph
import Models
import TensorCore
import Testing
import Training

/// A two-process job played by one process: both "ranks" hold the same gradients, so a
/// finished sum doubles the buffer. Records the order and timing of what was started.
final class MirroredPair: Communicator {
    var rank: Int { 0 }
    var size: Int { 2 }
    /// Each started operation's buffer, and its contents when it was started.
    var started: [(buffer: UnsafeMutablePointer<Float>, contents: [Float])] = []
    var pending: [Int: (UnsafeMutablePointer<Float>, Int)] = [:]

    func allReduceSum(_ buffer: UnsafeMutablePointer<Float>, count: Int) { for i in 0..<count { buffer[i] *= 2 } }
    func allReduceSum(_ values: inout [Double]) { values = values.map { $0 * 2 } }
    func allReduceMinimum(_ value: Int) -> Int { value }
    func broadcast(_ buffer: UnsafeMutablePointer<Float>, count: Int, root: Int) {}
    func barrier() {}
    func startAllReduceSum(_ buffer: UnsafeMutablePointer<Float>, count: Int) -> Int {
        started.append((buffer, Array(UnsafeBufferPointer(start: buffer, count: count))))
        pending[started.count - 1] = (buffer, count)
        return started.count - 1
    }
    /// Finishes an operation the second time it is asked about, so some stay in flight.
    var asked: Set<Int> = []
    func isFinished(_ handle: Int) -> Bool {
        guard asked.insert(handle).inserted else { wait(handle); return true }
        return pending[handle] == nil
    }
    func wait(_ handle: Int) {
        guard let (buffer, count) = pending.removeValue(forKey: handle) else { return }
        allReduceSum(buffer, count: count)
    }
}

@Suite struct GradientExchangeTests {
    /// The gradients lie back to back in completion order; buckets cover every gradient
    /// once, each starts only after backward has completed it, and the summed gradients are
    /// exactly the blocking allreduce's.
    @Test(arguments: [0, 64 << 10, 1 << 30])
    func bucketsSumEveryGradientOnceAfterItIsComplete(bucketBytes: Int) throws {
        let symbol = try inceptionBNSmall(classCount: 10)
        let shapes: [String: Shape] = ["data": [4, 3, 28, 28]]
        let executor = try Executor(symbol, inputShapes: shapes, isTraining: true)
        let reference = try Executor(symbol, inputShapes: shapes, isTraining: true)
        for bound in [executor, reference] {
            var generator = SeededGenerator(seed: 5)
            Initializer.xavier.initialise(bound, seed: 1)
            bound.argument("data")!.fillNormal(using: &generator)
            bound.argument("softmax_label")!.copy(from: [1, 2, 3, 4])
            bound.forward(isTraining: true)
        }
        let ordered = executor.parameterGradientsInCompletionOrder
        #expect(ordered.count == executor.graph.argumentNames.count - 2)
        #expect(zip(ordered, ordered.dropFirst()).allSatisfy { $0.completedAfterCall <= $1.completedAfterCall })
        #expect(zip(ordered, ordered.dropFirst()).allSatisfy { $0.tensor.floats < $1.tensor.floats })
        #expect(ordered.first?.name == "fc1_weight" || ordered.first?.name == "fc1_bias")

        let pair = MirroredPair()
        let exchange = GradientExchange(executor: executor, communicator: pair, bucketBytes: bucketBytes)
        #expect(exchange.buckets.flatMap(\.names) == ordered.map(\.name))
        if bucketBytes == 0 { #expect(exchange.buckets.count == ordered.count) }
        if bucketBytes == 1 << 30 { #expect(exchange.buckets.count == 1) }
        reference.backward()
        exchange.backward()
        for gradient in ordered {
            let summed = reference.gradient(gradient.name)!.toArray().map { $0 * 2 }
            #expect(executor.gradient(gradient.name)!.toArray() == summed, "\(gradient.name)")
        }
        #expect(pair.started.count == exchange.buckets.count)
        // What was sent was already final: backward did not touch a bucket after its start.
        for (bucket, started) in zip(exchange.buckets, pair.started) {
            #expect(started.contents.count == bucket.count)
            let now = Array(UnsafeBufferPointer(start: started.buffer, count: bucket.count))
            #expect(now == started.contents.map { $0 * 2 }, "bucket \(bucket.names)")
        }
        #expect(exchange.statistics.steps == 1)
        #expect(exchange.statistics.bytes == exchange.buckets.reduce(0) { $0 + $1.count * 4 })
        if bucketBytes == 0 { #expect(exchange.statistics.overlappedBytes > 0) }
    }
}
