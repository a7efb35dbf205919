/// The extents of a tensor, outermost first (MXNet's logical NCHW order for images).
///
/// ```swift
/// let s: Shape = [64, 3, 224, 224]
/// s.elementCount   // 9_633_792
/// ```
public struct Shape: Hashable, Sendable, ExpressibleByArrayLiteral, CustomStringConvertible {
    public var dimensions: [Int]

    public init(_ dimensions: [Int]) {
        precondition(dimensions.allSatisfy { $0 >= 0 }, "negative extent in shape \(dimensions)")
        self.dimensions = dimensions
    }

    public init(arrayLiteral elements: Int...) { self.init(elements) }

    public var rank: Int { dimensions.count }

    /// Product of all extents (1 for a scalar).
    public var elementCount: Int { dimensions.reduce(1, *) }

    public subscript(axis: Int) -> Int {
        get { dimensions[axis] }
        set { dimensions[axis] = newValue }
    }

    /// Row-major strides in elements.
    public var strides: [Int] {
        var result = [Int](repeating: 1, count: rank)
        var step = 1
        for axis in stride(from: rank - 1, through: 0, by: -1) {
            result[axis] = step
            step *= dimensions[axis]
        }
        return result
    }

    /// MXNet's spelling: `(64, 3, 224, 224)`.
    public var description: String {
        "(" + dimensions.map(String.init).joined(separator: ", ") + ")"
    }
}
