import CMPI
import Foundation

/// Collective operations among the processes of a data-parallel job. Nothing above this
/// module sees MPI types.
public protocol Communicator: AnyObject {
    /// This process's index, 0 ..< `size`.
    var rank: Int { get }
    var size: Int { get }
    /// Sums `count` floats over all processes, in place.
    func allReduceSum(_ buffer: UnsafeMutablePointer<Float>, count: Int)
    /// Starts summing `count` floats (at most `Int32.max`) over all processes, in place,
    /// and returns at once with a handle for `isFinished` and `wait`. Every process must
    /// start its operations in the same order; the buffer is not touched until finished.
    func startAllReduceSum(_ buffer: UnsafeMutablePointer<Float>, count: Int) -> Int
    /// Whether a started operation has finished; each call also moves the transfers on.
    func isFinished(_ handle: Int) -> Bool
    /// Waits until a started operation has finished.
    func wait(_ handle: Int)
    /// Sums doubles over all processes, in place (metrics, counters).
    func allReduceSum(_ values: inout [Double])
    /// The smallest of every process's `value`.
    func allReduceMinimum(_ value: Int) -> Int
    /// Copies `count` floats from `root` to every process.
    func broadcast(_ buffer: UnsafeMutablePointer<Float>, count: Int, root: Int)
    func barrier()
}

/// The communicator of a job with one process: every collective is the identity.
public final class SingleProcess: Communicator {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public func allReduceSum(_ buffer: UnsafeMutablePointer<Float>, count: Int) {}
    public func allReduceSum(_ values: inout [Double]) {}
    public func startAllReduceSum(_ buffer: UnsafeMutablePointer<Float>, count: Int) -> Int { 0 }
    public func isFinished(_ handle: Int) -> Bool { true }
    public func wait(_ handle: Int) {}
    public func allReduceMinimum(_ value: Int) -> Int { value }
    public func broadcast(_ buffer: UnsafeMutablePointer<Float>, count: Int, root: Int) {}
    public func barrier() {}
}

/// A failed MPI call: the job cannot continue.
public struct CommunicatorError: Error, CustomStringConvertible, Sendable {
    public let description: String
}

/// Open MPI's `MPI_COMM_WORLD`. Created once per process (MPI can be initialised once);
/// `MPI_Finalize` runs at exit. Errors return instead of aborting inside MPI, and are then
/// fatal with a message naming the call and the rank.
public final class MPICommunicator: Communicator {
    public let rank: Int
    public let size: Int

    /// Whether this process was started by an MPI launcher (`mpirun`, `srun`).
    public static var isLaunchedByMPI: Bool {
        let environment = ProcessInfo.processInfo.environment
        return ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE"].contains { environment[$0] != nil }
    }

    /// Whether this build has MPI (Open MPI's headers were found when it was compiled).
    public static var isBuilt: Bool { gannet_mpi_is_built() != 0 }

    /// Initialises MPI (funneled: only the training thread calls it).
    public init() throws {
        guard Self.isBuilt else {
            throw CommunicatorError(
                description: "this process was started by an MPI launcher, but Gannet was built "
                    + "without MPI support (install libopenmpi-dev and rebuild); run it without mpirun")
        }
        var rank: Int32 = 0, size: Int32 = 0
        let status = gannet_mpi_init(&rank, &size)
        guard status == 0 else {
            throw CommunicatorError(description: "MPI_Init_thread failed: \(Self.message(status))")
        }
        self.rank = Int(rank)
        self.size = Int(size)
        atexit { gannet_mpi_finalize() }
    }

    private static func message(_ status: Int32) -> String {
        var text = [CChar](repeating: 0, count: 512)
        gannet_mpi_error_string(status, &text, Int32(text.count))
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private func check(_ status: Int32, _ call: String) {
        guard status != 0 else { return }
        FileHandle.standardError.write(
            Data("rank \(rank): \(call) failed: \(Self.message(status)); another rank probably died\n".utf8))
        exit(1)
    }

    public func allReduceSum(_ buffer: UnsafeMutablePointer<Float>, count: Int) {
        var offset = 0
        while offset < count {  // MPI counts are Int32
            let chunk = min(count - offset, Int(Int32.max))
            check(gannet_mpi_allreduce_sum_float(buffer + offset, Int32(chunk)), "MPI_Allreduce")
            offset += chunk
        }
    }

    /// In-flight nonblocking operations; a handle indexes this list, and finished slots are
    /// reused, so a steady training loop does not allocate.
    private var requests: [gannet_mpi_request?] = []

    public func startAllReduceSum(_ buffer: UnsafeMutablePointer<Float>, count: Int) -> Int {
        precondition(count <= Int(Int32.max), "a nonblocking allreduce of \(count) floats is over MPI's Int32 count")
        var request: gannet_mpi_request = 0
        check(gannet_mpi_iallreduce_sum_float(buffer, Int32(count), &request), "MPI_Iallreduce")
        if let free = requests.firstIndex(where: { $0 == nil }) {
            requests[free] = request
            return free
        }
        requests.append(request)
        return requests.count - 1
    }

    public func isFinished(_ handle: Int) -> Bool {
        guard var request = requests[handle] else { return true }
        var done: Int32 = 0
        check(gannet_mpi_test(&request, &done), "MPI_Test")
        requests[handle] = done != 0 ? nil : request
        return done != 0
    }

    public func wait(_ handle: Int) {
        guard var request = requests[handle] else { return }
        check(gannet_mpi_wait(&request), "MPI_Wait")
        requests[handle] = nil
    }

    public func allReduceSum(_ values: inout [Double]) {
        let count = Int32(values.count)
        values.withUnsafeMutableBufferPointer { buffer in
            check(gannet_mpi_allreduce_sum_double(buffer.baseAddress, count), "MPI_Allreduce")
        }
    }

    public func allReduceMinimum(_ value: Int) -> Int {
        var result = value
        check(gannet_mpi_allreduce_min_long(&result), "MPI_Allreduce")
        return result
    }

    public func broadcast(_ buffer: UnsafeMutablePointer<Float>, count: Int, root: Int) {
        var offset = 0
        while offset < count {
            let chunk = min(count - offset, Int(Int32.max))
            check(gannet_mpi_bcast_float(buffer + offset, Int32(chunk), Int32(root)), "MPI_Bcast")
            offset += chunk
        }
    }

    public func barrier() { check(gannet_mpi_barrier(), "MPI_Barrier") }
}
