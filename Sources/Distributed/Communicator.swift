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

    /// Initialises MPI (funneled: only the training thread calls it).
    public init() throws {
        var provided: Int32 = 0
        guard MPI_Init_thread(nil, nil, Int32(MPI_THREAD_FUNNELED), &provided) == MPI_SUCCESS else {
            throw CommunicatorError(description: "MPI_Init_thread failed")
        }
        MPI_Comm_set_errhandler(gannet_mpi_world(), gannet_mpi_errors_return())
        var rank: Int32 = 0, size: Int32 = 0
        MPI_Comm_rank(gannet_mpi_world(), &rank)
        MPI_Comm_size(gannet_mpi_world(), &size)
        self.rank = Int(rank)
        self.size = Int(size)
        atexit { MPI_Finalize() }
    }

    private func check(_ status: Int32, _ call: String) {
        guard status != MPI_SUCCESS else { return }
        var length: Int32 = 0
        var text = [CChar](repeating: 0, count: Int(MPI_MAX_ERROR_STRING))
        MPI_Error_string(status, &text, &length)
        let message = String(decoding: text.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        FileHandle.standardError.write(Data("rank \(rank): \(call) failed: \(message); another rank probably died\n".utf8))
        exit(1)
    }

    public func allReduceSum(_ buffer: UnsafeMutablePointer<Float>, count: Int) {
        var offset = 0
        while offset < count {  // MPI counts are Int32
            let chunk = min(count - offset, Int(Int32.max))
            check(MPI_Allreduce(gannet_mpi_in_place(), buffer + offset, Int32(chunk), gannet_mpi_float(), gannet_mpi_sum(),
                                gannet_mpi_world()), "MPI_Allreduce")
            offset += chunk
        }
    }

    /// In-flight nonblocking operations; a handle indexes this list, and finished slots are
    /// reused, so a steady training loop does not allocate.
    private var requests: [MPI_Request?] = []

    public func startAllReduceSum(_ buffer: UnsafeMutablePointer<Float>, count: Int) -> Int {
        precondition(count <= Int(Int32.max), "a nonblocking allreduce of \(count) floats is over MPI's Int32 count")
        var request: MPI_Request? = nil
        check(MPI_Iallreduce(gannet_mpi_in_place(), buffer, Int32(count), gannet_mpi_float(), gannet_mpi_sum(),
                             gannet_mpi_world(), &request), "MPI_Iallreduce")
        if let free = requests.firstIndex(where: { $0 == nil }) {
            requests[free] = request
            return free
        }
        requests.append(request)
        return requests.count - 1
    }

    public func isFinished(_ handle: Int) -> Bool {
        guard requests[handle] != nil else { return true }
        var done: Int32 = 0
        check(MPI_Test(&requests[handle], &done, nil), "MPI_Test")
        if done != 0 { requests[handle] = nil }
        return done != 0
    }

    public func wait(_ handle: Int) {
        guard requests[handle] != nil else { return }
        check(MPI_Wait(&requests[handle], nil), "MPI_Wait")
        requests[handle] = nil
    }

    public func allReduceSum(_ values: inout [Double]) {
        let count = Int32(values.count)
        values.withUnsafeMutableBufferPointer { buffer in
            check(MPI_Allreduce(gannet_mpi_in_place(), buffer.baseAddress, count, gannet_mpi_double(), gannet_mpi_sum(),
                                gannet_mpi_world()), "MPI_Allreduce")
        }
    }

    public func allReduceMinimum(_ value: Int) -> Int {
        var local = value, result = 0
        check(MPI_Allreduce(&local, &result, 1, gannet_mpi_long(), gannet_mpi_min(), gannet_mpi_world()), "MPI_Allreduce")
        return result
    }

    public func broadcast(_ buffer: UnsafeMutablePointer<Float>, count: Int, root: Int) {
        var offset = 0
        while offset < count {
            let chunk = min(count - offset, Int(Int32.max))
            check(MPI_Bcast(buffer + offset, Int32(chunk), gannet_mpi_float(), Int32(root), gannet_mpi_world()), "MPI_Bcast")
            offset += chunk
        }
    }

    public func barrier() { check(MPI_Barrier(gannet_mpi_world()), "MPI_Barrier") }
}
