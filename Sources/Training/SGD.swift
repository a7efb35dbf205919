import Dispatch
import Graph
import TensorCore

/// SGD with momentum and weight decay as MXNet defines it (f.2 of the format notes):
///
///     g' = rescale · g          (rescale = 1 / global batch: SoftmaxOutput sums over samples)
///     g' = clip(g', ±clip)      (when clipping is on; after rescaling, as MXNet 1.9.1)
///     m  = momentum · m − lr · (g' + wd · w)
///     w  = w + m
///
/// Weight decay applies to weights and gammas only (MXNet 1.x's `wd_mult` does so for
/// `*_weight` and `*_gamma` by name; here by the role the operator declares); the momentum
/// buffers are allocated once, at construction.
public final class SGD {
    public var learningRate: Float
    public var momentum: Float
    public var weightDecay: Float
    public var rescale: Float
    public var clip: Float?
    /// Parameter name → (weight, gradient, momentum buffer, decays).
    private let slots: [(name: String, weight: Tensor, gradient: Tensor, velocity: Tensor, decays: Bool)]

    public init(
        executor: Executor, learningRate: Float, momentum: Float = 0.9, weightDecay: Float = 0.0001,
        rescale: Float, clip: Float? = nil
    ) {
        self.learningRate = learningRate
        self.momentum = momentum
        self.weightDecay = weightDecay
        self.rescale = rescale
        self.clip = clip
        let graph = executor.graph
        slots = graph.parameterNames.compactMap { name in
            guard let gradient = executor.gradient(name), let weight = executor.argument(name) else { return nil }
            return (name, weight, gradient, Tensor(shape: weight.shape), graph.role(of: name)?.decays == true)
        }
    }

    /// Names of the parameters it updates.
    public var parameterNames: [String] { slots.map(\.name) }

    /// The momentum buffer of every parameter (saved with checkpoints for an exact resume).
    public var momentumBuffers: [(name: String, tensor: Tensor)] { slots.map { ($0.name, $0.velocity) } }

    /// Applies one update to every parameter, spread over the cores.
    public func update() {
        let chunk = 1 << 16
        for slot in slots {
            let count = slot.weight.elementCount
            let buffers = Buffers(w: slot.weight.floats, g: slot.gradient.floats, m: slot.velocity.floats)
            let decay = slot.decays ? weightDecay : 0
            let (lr, mu, scale, limit) = (learningRate, momentum, rescale, clip)
            let chunks = (count + chunk - 1) / chunk
            let body: @Sendable (Int) -> Void = { index in
                let (w, g, m) = (buffers.w, buffers.g, buffers.m)
                let start = index * chunk, end = min(start + chunk, count)
                for i in start..<end {
                    var gradient = scale * g[i]
                    if let limit { gradient = min(max(gradient, -limit), limit) }
                    m[i] = mu * m[i] - lr * (gradient + decay * w[i])
                    w[i] += m[i]
                }
            }
            if chunks == 1 { body(0) } else { DispatchQueue.concurrentPerform(iterations: chunks, execute: body) }
        }
    }

    /// The three arrays of one parameter; chunks touch disjoint ranges.
    private struct Buffers: @unchecked Sendable {
        let w, g, m: UnsafeMutablePointer<Float>
    }
}
