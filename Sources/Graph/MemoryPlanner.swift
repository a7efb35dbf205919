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
        /// The most bytes live at once: the arena can be no smaller than this.
        public var peakLiveBytes: Int = 0
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
        var free = FreeList()
        var inPlaceCount = 0
        var live = 0, peak = 0
        func need(_ tensor: Int) -> Int { max(aligned[tensor], alignment) }
        func release(_ tensor: Int) {
            free.release(offset: offsets[tensor], size: need(tensor), arenaEnd: &end)
            live -= need(tensor)
        }
        for tensor in pinned.sorted() {
            allocate(tensor)
            live += need(tensor)
        }
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
                    released.insert(donor.read)  // its block now belongs to `tensor`
                    live -= need(donor.read)
                    inPlaceCount += 1
                } else {
                    offsets[tensor] = free.take(need(tensor), arenaEnd: &end)
                }
                live += need(tensor)
            }
            peak = max(peak, live)
            for tensor in step.reads {
                remainingReads[tensor] -= 1
                if remainingReads[tensor] == 0 && !pinned.contains(tensor) && !released.contains(tensor) {
                    release(tensor)
                    released.insert(tensor)
                }
            }
            // Written and never read (hidden outputs nobody needs): free at once.
            for tensor in step.writes
            where remainingReads[tensor] == 0 && !pinned.contains(tensor)
                && !released.contains(tensor)
            {
                release(tensor)
                released.insert(tensor)
            }
        }
        return Plan(offsets: offsets, arenaBytes: end, inPlaceCount: inPlaceCount, peakLiveBytes: peak)
    }
}

/// Free byte ranges of the arena, sorted by offset and coalesced: best fit with the
/// remainder kept free, and a request that fits nowhere grows the arena from a free
/// range that touches its end.
struct FreeList {
    private var ranges: [(offset: Int, size: Int)] = []

    mutating func take(_ size: Int, arenaEnd end: inout Int) -> Int {
        if let best = ranges.indices.filter({ ranges[$0].size >= size }).min(by: { ranges[$0].size < ranges[$1].size })
        {
            let offset = ranges[best].offset
            if ranges[best].size == size {
                ranges.remove(at: best)
            } else {
                ranges[best] = (offset + size, ranges[best].size - size)
            }
            return offset
        }
        if let last = ranges.last, last.offset + last.size == end {
            ranges.removeLast()
            end = last.offset + size
            return last.offset
        }
        defer { end += size }
        return end
    }

    mutating func release(offset: Int, size: Int, arenaEnd end: inout Int) {
        let index = ranges.firstIndex { $0.offset > offset } ?? ranges.count
        ranges.insert((offset, size), at: index)
        // Merge with the following and the preceding range when they touch.
        if index + 1 < ranges.count, ranges[index].offset + ranges[index].size == ranges[index + 1].offset {
            ranges[index].size += ranges[index + 1].size
            ranges.remove(at: index + 1)
        }
        if index > 0, ranges[index - 1].offset + ranges[index - 1].size == ranges[index].offset {
            ranges[index - 1].size += ranges[index].size
            ranges.remove(at: index)
        }
    }
}
