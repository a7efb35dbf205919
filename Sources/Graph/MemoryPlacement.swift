/// Binding phase: where every slot of an execution plan lives, in three regions.
///
/// - weights: learned parameters and auxiliary states, back to back (read by every step
///   that uses them, so they stay out of the activation plan);
/// - gradients: the parameter gradients, back to back in the order the gradient pass
///   completes them, so that consecutive finished gradients form one contiguous range (an
///   all-reduce bucket);
/// - arena: everything else, placed by `MemoryPlanner` (inputs, outputs and the zero
///   gradients of unconsumed outputs pinned).
///
/// Every start is aligned to 64 bytes. Placement computes offsets only; it allocates nothing.
struct MemoryPlacement {
    typealias Region = Executor.Buffer.Region

    /// Per slot: its region and byte offset there, and its size in bytes.
    private(set) var regions: [Region]
    private(set) var offsets: [Int]
    let sizes: [Int]
    private(set) var weightBytes = 0
    private(set) var gradientBytes = 0
    let arenaBytes: Int
    let inPlaceCount: Int
    let peakLiveBytes: Int
    /// Parameter-gradient slots in completion order, and the call that completes each.
    let gradientOrder: [Int]
    let completedAfter: [Int: Int]

    /// `reuse: false` gives every arena tensor its own block (for checking the planner).
    init(_ plan: ExecutionPlan, reuse: Bool) {
        sizes = plan.slots.map { $0.shape.elementCount * $0.type.byteCount }
        let weightSlots = Set(plan.learnable.union(plan.auxiliary).map { plan.outputSlots[$0][0] })
        let parameterGradients = Set(plan.parameterGradientSlots.values)
        var pinned = Set(plan.inputs.map { plan.outputSlots[$0][0] })
        pinned.formUnion(plan.headSlots)
        pinned.formUnion(parameterGradients)
        pinned.formUnion(plan.zeroGradientSlots)
        var activationSizes = sizes
        for slot in weightSlots.union(parameterGradients) { activationSizes[slot] = 0 }
        let arena = MemoryPlanner.plan(
            sizes: activationSizes, pinned: pinned.union(weightSlots), steps: plan.steps,
            reuse: reuse)
        regions = [Region](repeating: .arena, count: sizes.count)
        offsets = arena.offsets
        arenaBytes = arena.arenaBytes
        inPlaceCount = arena.inPlaceCount
        peakLiveBytes = arena.peakLiveBytes

        var completedAfter: [Int: Int] = [:]
        for (index, call) in plan.gradientPassCalls.enumerated() {
            for gradient in call.gradientSlots.compactMap({ $0 }) where parameterGradients.contains(gradient) {
                completedAfter[gradient] = index
            }
        }
        self.completedAfter = completedAfter
        gradientOrder = parameterGradients.sorted { (completedAfter[$0]!, $0) < (completedAfter[$1]!, $1) }
        weightBytes = place(weightSlots.sorted(), in: .weights)
        gradientBytes = place(gradientOrder, in: .gradients)
    }

    /// Places `slots` back to back in `region`; returns the region's size.
    private mutating func place(_ slots: [Int], in region: Region) -> Int {
        var end = 0
        for slot in slots {
            regions[slot] = region
            offsets[slot] = end
            end += (sizes[slot] + MemoryPlanner.alignment - 1) / MemoryPlanner.alignment * MemoryPlanner.alignment
        }
        return end
    }
}
