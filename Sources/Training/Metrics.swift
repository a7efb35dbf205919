import Foundation
import TensorCore

/// Running classification metrics over the rows of batches: accuracy (argmax equals the
/// label), top-k accuracy, and mean cross-entropy `−log p(label)`.
public struct ClassificationMetrics: Sendable {
    public let topK: Int
    public private(set) var count = 0
    private var correct = 0
    private var correctTopK = 0
    private var crossEntropySum = 0.0

    public init(topK: Int = 5) { self.topK = topK }

    public var accuracy: Double { count > 0 ? Double(correct) / Double(count) : 0 }
    public var topKAccuracy: Double { count > 0 ? Double(correctTopK) / Double(count) : 0 }
    public var crossEntropy: Double { count > 0 ? crossEntropySum / Double(count) : 0 }

    /// Adds the first `rows` rows of `probabilities` `[B, K]` against `labels` (one per row).
    /// Labels outside `0..<K` are a caller error, checked before.
    public mutating func add(probabilities: Tensor, labels: UnsafePointer<Float>, rows: Int) {
        let classes = probabilities.shape[1]
        let values = probabilities.floats
        for row in 0..<rows {
            let p = values + row * classes
            let label = Int(labels[row])
            let target = p[label]
            // The rank of the label: how many classes score higher (ties count for the label).
            // A row with NaN or infinity (a diverged network) is never counted as correct.
            var higher = UnsafeBufferPointer(start: p, count: classes).allSatisfy(\.isFinite) ? 0 : classes
            for k in 0..<classes where p[k] > target { higher += 1 }
            if higher == 0 { correct += 1 }
            if higher < topK { correctTopK += 1 }
            crossEntropySum -= log(Double(Swift.max(target, 1e-12)))
            count += 1
        }
    }

    /// The running sums (count, correct, correct in top k, cross-entropy), for reducing
    /// over the processes of a data-parallel job.
    public var sums: [Double] { [Double(count), Double(correct), Double(correctTopK), crossEntropySum] }

    public init(topK: Int, sums: [Double]) {
        self.topK = topK
        count = Int(sums[0])
        correct = Int(sums[1])
        correctTopK = Int(sums[2])
        crossEntropySum = sums[3]
    }

    public mutating func reset() {
        count = 0
        correct = 0
        correctTopK = 0
        crossEntropySum = 0
    }
}
