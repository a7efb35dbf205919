/// MXNet's static memory planning as offsets into one arena: walk the steps in execution
/// order, give each tensor a block when it is first written, return the block to a free
/// list after its last read, and let an output take over an input's block in place when
/// the operator allows it and nothing reads the input afterwards. Pinned tensors
/// (parameters, their gradients, auxiliary states, inputs, outputs) keep their own blocks.
public struct MemoryPlanner {
    /// One step of execution: which tensors it reads and writes, and which (read, write)
    /// pairs may share memory.
    public struct Step {
        public var reads: [Int]
        public var writes: [Int]
        public var inPlace: [(read: Int, write: Int)]

        public init(reads: [Int], writes: [Int], inPlace: [(read: Int, write: Int)] = []) {
            self.reads = reads
            self.writes = writes
            self.inPlace = inPlace
        }
    }

    /// Byte offsets of every tensor and the arena size.
    public struct Plan {
        public var offsets: [Int]
        public var arenaBytes: Int
        /// Tensors that took over another's block in place.
        public var inPlaceCount: Int
    }

    public static let alignment = 64

    /// Plans `sizes` (bytes per tensor) over `steps`. With `reuse` false every tensor gets
    /// its own block (the switch that turns planning off).
    public static func plan(sizes: [Int], pinned: Set<Int>, steps: [Step], reuse: Bool = true) -> Plan {
        let aligned = sizes.map { ($0 + alignment - 1) / alignment * alignment }
        var offsets = [Int](repeating: -1, count: sizes.count)
        var end = 0
        func allocate(_ tensor: Int) {
            offsets[tensor] = end
            end += max(aligned[tensor], alignment)
        }
        guard reuse else {
            for tensor in sizes.indices { allocate(tensor) }
            return Plan(offsets: offsets, arenaBytes: end, inPlaceCount: 0)
        }
        var remainingReads = [Int](repeating: 0, count: sizes.count)
        for step in steps { for tensor in step.reads { remainingReads[tensor] += 1 } }
        // Free blocks: (offset, size); best fit, never split (as MXNet's pool).
        var free: [(offset: Int, size: Int)] = []
        var blockSize = [Int](repeating: 0, count: sizes.count)
        var inPlaceCount = 0
        func take(_ tensor: Int) {
            let need = max(aligned[tensor], alignment)
            if let best = free.indices.filter({ free[$0].size >= need }).min(by: { free[$0].size < free[$1].size }) {
                offsets[tensor] = free[best].offset
                blockSize[tensor] = free[best].size
                free.remove(at: best)
            } else {
                offsets[tensor] = end
                blockSize[tensor] = need
                end += need
            }
        }
        for tensor in pinned.sorted() { allocate(tensor); blockSize[tensor] = aligned[tensor] }
        var released = Set<Int>()
        for step in steps {
            for tensor in step.writes where offsets[tensor] < 0 {
                let donor = step.inPlace.first { pair in
                    pair.write == tensor && !pinned.contains(pair.read) && remainingReads[pair.read] == 1
                        && aligned[pair.read] == aligned[tensor] && offsets[pair.read] >= 0
                        && step.reads.filter { $0 == pair.read }.count == 1 && !released.contains(pair.read)
                }
                if let donor {
                    offsets[tensor] = offsets[donor.read]
                    blockSize[tensor] = blockSize[donor.read]
                    released.insert(donor.read)  // its block now belongs to `tensor`
                    inPlaceCount += 1
                } else {
                    take(tensor)
                }
            }
            for tensor in step.reads {
                remainingReads[tensor] -= 1
                if remainingReads[tensor] == 0 && !pinned.contains(tensor) && !released.contains(tensor) {
                    free.append((offsets[tensor], blockSize[tensor]))
                    released.insert(tensor)
                }
            }
            // Written and never read (hidden outputs nobody needs): free at once.
            for tensor in step.writes where remainingReads[tensor] == 0 && !pinned.contains(tensor)
                && !released.contains(tensor) {
                free.append((offsets[tensor], blockSize[tensor]))
                released.insert(tensor)
            }
        }
        return Plan(offsets: offsets, arenaBytes: end, inPlaceCount: inPlaceCount)
    }
}
