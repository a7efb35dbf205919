import ArgumentParser
import Distributed
import Foundation
import TensorCore

/// `gannet bench allreduce`: the bandwidth of summing float buffers over the ranks of an
/// MPI job, per bucket size.
struct BenchAllreduce: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "allreduce",
        abstract: "All-reduce bandwidth per bucket size over the ranks of an MPI job (run it under mpirun).",
        discussion: """
            Each size is timed for about --seconds after a warm-up; rank 0 reports. Algorithm \
            bandwidth is bytes / time; bus bandwidth is that times 2(n−1)/n, what a ring \
            all-reduce moves per link (comparable across rank counts).

            Example:
              mpirun -np 2 gannet bench allreduce --json
            """)

    @Option(parsing: .unconditional, help: "Smallest bucket in bytes.")
    var minBytes = 1024

    @Option(help: "Largest bucket in bytes.")
    var maxBytes = 64 << 20

    @Option(parsing: .unconditional, help: "Seconds per size.")
    var seconds = 0.3

    @OptionGroup var report: JSONOutput

    mutating func validate() throws {
        if minBytes < 4 || maxBytes < minBytes { throw ValidationError("need 4 <= --min-bytes <= --max-bytes") }
    }

    func run() throws {
        let communicator = try jobCommunicator()
        let ranks = communicator.size
        if ranks == 1 { log("note: one process; run under `mpirun -np N` to measure communication") }
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: maxBytes / 4)
        defer { buffer.deallocate() }
        buffer.initialize(repeating: 1, count: maxBytes / 4)
        var rows: [Row] = []
        var bytes = minBytes
        while bytes <= maxBytes {
            let count = bytes / 4
            communicator.allReduceSum(buffer, count: count)  // warm-up
            // Every rank runs the same number of repetitions: rank 0's estimate, shared.
            communicator.barrier()
            let probeStart = monotonicSeconds()
            communicator.allReduceSum(buffer, count: count)
            var estimate = [max(monotonicSeconds() - probeStart, 1e-7)]
            communicator.allReduceSum(&estimate)
            let repetitions = max(3, min(100_000, Int(seconds / (estimate[0] / Double(ranks)))))
            communicator.barrier()
            let start = monotonicSeconds()
            for _ in 0..<repetitions { communicator.allReduceSum(buffer, count: count) }
            let perCall = (monotonicSeconds() - start) / Double(repetitions)
            let algorithm = Double(bytes) / perCall / 1e9
            let bus = algorithm * 2 * Double(ranks - 1) / Double(max(ranks, 1))
            rows.append(Row(bytes: bytes, seconds: perCall, algorithmGBps: algorithm, busGBps: bus))
            if communicator.rank == 0 && !report.json {
                print(
                    String(
                        format: "%10d bytes  %9.1f us  %7.2f GB/s algorithm  %7.2f GB/s bus", bytes, perCall * 1e6,
                        algorithm, bus))
            }
            bytes *= 4
        }
        if communicator.rank == 0 && report.json { try printReport(Report(ranks: ranks, buckets: rows)) }
    }

    /// `--json`: one row per bucket size.
    struct Report: Encodable {
        var ranks: Int
        var buckets: [Row]
    }

    struct Row: Encodable {
        var bytes: Int
        var seconds: Double
        var algorithmGBps: Double
        var busGBps: Double
        enum CodingKeys: String, CodingKey {
            case bytes, seconds, algorithmGBps = "algorithm-gbps", busGBps = "bus-gbps"
        }
    }
}
