import Distributed
import Foundation
import Graph
import TensorCore

/// Runs the gradient pass of a data-parallel step and sums the parameter gradients over the
/// processes while it runs, in buckets, as Horovod and PyTorch DDP do: the executor lays the
/// gradients out back to back in the order backward completes them (last layer first), so a
/// bucket is a contiguous range; as soon as backward has finished every gradient of a
/// bucket its nonblocking allreduce starts, and the pending ones are moved on after every
/// kernel call. Only the buckets still in flight when backward ends are waited for.
///
/// One process: `backward()` is the executor's gradient pass, nothing else.
public final class GradientExchange {
    /// One contiguous range of gradients summed by one allreduce.
    public struct Bucket: Sendable {
        /// Offset and length in floats from the first gradient's start.
        public let offset: Int
        public let count: Int
        /// The gradient-pass call after which every gradient of the bucket is final.
        public let readyAfterCall: Int
        /// The parameters whose gradients it holds, in order.
        public let names: [String]
    }

    /// When each bucket of the last step became ready, started and finished, in seconds
    /// from the start of the gradient pass; `backwardSeconds` is when the pass ended.
    public struct Timeline: Sendable {
        public var started: [Double]
        public var finished: [Double]
        public var backwardSeconds: Double
        public var stepEnd: Double
    }

    /// Totals since `resetStatistics()`.
    public struct Statistics: Sendable {
        public var steps = 0
        /// Seconds inside the gradient pass (kernels and the progress calls between them).
        public var backwardSeconds = 0.0
        /// Seconds waiting for the allreduce after the gradient pass ended.
        public var waitSeconds = 0.0
        /// Bytes summed, and the part whose allreduce had finished before the pass ended.
        public var bytes = 0
        public var overlappedBytes = 0
    }

    /// 4 MiB: on one machine's shared memory an allreduce reaches most of its bandwidth from
    /// about 1 MiB (`docs/scaling.md`), and small buckets start early in the gradient pass.
    public static let defaultBucketBytes = 4 << 20

    public let communicator: any Communicator
    public let buckets: [Bucket]
    /// Bytes the buckets hold together.
    public let bytesPerStep: Int
    public private(set) var statistics = Statistics()
    public private(set) var timeline: Timeline
    private let executor: Executor
    /// The first gradient's start (nil without gradients).
    private let base: UnsafeMutablePointer<Float>?
    /// Buckets that become ready after each gradient-pass call.
    private let readyByCall: [[Int]]
    private var handles: [Int]
    private var isPending: [Bool]

    /// `bucketBytes`: a bucket closes once it holds at least this many bytes (a larger
    /// gradient is a bucket of its own); 0 gives one bucket per gradient.
    public init(executor: Executor, communicator: any Communicator, bucketBytes: Int) {
        self.executor = executor
        self.communicator = communicator
        let gradients = executor.parameterGradientsInCompletionOrder
        let base = gradients.first?.tensor.floats
        self.base = base
        var buckets: [Bucket] = []
        var start = 0
        while start < gradients.count {
            var end = start
            var bytes = gradients[start].tensor.byteCount
            while bytes < bucketBytes, end + 1 < gradients.count {
                end += 1
                bytes += gradients[end].tensor.byteCount
            }
            let offset = base!.distance(to: gradients[start].tensor.floats)
            let last = gradients[end].tensor
            let count = base!.distance(to: last.floats) + last.elementCount - offset
            buckets.append(
                Bucket(
                    offset: offset, count: count, readyAfterCall: gradients[end].completedAfterCall,
                    names: gradients[start...end].map(\.name)))
            start = end + 1
        }
        self.buckets = buckets
        bytesPerStep = buckets.reduce(0) { $0 + $1.count * 4 }
        var readyByCall = [[Int]](repeating: [], count: max(executor.gradientPassCallCount, 1))
        for (index, bucket) in buckets.enumerated() { readyByCall[bucket.readyAfterCall].append(index) }
        self.readyByCall = readyByCall
        handles = [Int](repeating: 0, count: buckets.count)
        isPending = [Bool](repeating: false, count: buckets.count)
        timeline = Timeline(
            started: [Double](repeating: 0, count: buckets.count),
            finished: [Double](repeating: 0, count: buckets.count), backwardSeconds: 0, stepEnd: 0)
    }

    public func resetStatistics() { statistics = Statistics() }

    /// The gradient pass with the gradients summed over the processes when it returns.
    public func backward() {
        guard communicator.size > 1, let base else {
            executor.backward()
            return
        }
        let start = monotonicSeconds()
        executor.backward { call in
            for index in readyByCall[call] {
                let bucket = buckets[index]
                handles[index] = communicator.startAllReduceSum(base + bucket.offset, count: bucket.count)
                isPending[index] = true
                timeline.started[index] = monotonicSeconds() - start
            }
            progress(since: start)
        }
        let backwardEnd = monotonicSeconds() - start
        progress(since: start)
        var overlapped = 0
        for index in buckets.indices {
            if isPending[index] {
                communicator.wait(handles[index])
                isPending[index] = false
                timeline.finished[index] = monotonicSeconds() - start
            } else {
                overlapped += buckets[index].count * 4
            }
        }
        let end = monotonicSeconds() - start
        timeline.backwardSeconds = backwardEnd
        timeline.stepEnd = end
        statistics.steps += 1
        statistics.backwardSeconds += backwardEnd
        statistics.waitSeconds += end - backwardEnd
        statistics.bytes += bytesPerStep
        statistics.overlappedBytes += overlapped
    }

    /// Moves every pending allreduce on and records the ones that finished.
    private func progress(since start: Double) {
        for index in buckets.indices where isPending[index] && communicator.isFinished(handles[index]) {
            isPending[index] = false
            timeline.finished[index] = monotonicSeconds() - start
        }
    }
}
