/// Element type of a tensor. Compute is float32; bfloat16 is a storage type for
/// mixed precision (converted to float32 around the operators that need it).
public enum DataType: String, Sendable, CaseIterable {
    case float32
    case bfloat16

    /// Size of one element in bytes.
    public var byteCount: Int {
        switch self {
        case .float32: 4
        case .bfloat16: 2
        }
    }
}

/// Conversion between float32 and bfloat16 (the upper 16 bits of a float32).
public enum BFloat16 {
    /// Rounds to nearest even, as oneDNN and PyTorch do; NaN stays a (quiet) NaN.
    @inlinable
    public static func bits(from value: Float) -> UInt16 {
        // Both results computed and one selected, without a branch, so that loops over
        // arrays vectorise.
        let raw = value.bitPattern
        let rounded = UInt16(truncatingIfNeeded: (raw &+ 0x7FFF &+ ((raw >> 16) & 1)) >> 16)
        let quietNaN = UInt16(truncatingIfNeeded: raw >> 16) | 0x0040
        return value.isNaN ? quietNaN : rounded
    }

    @inlinable
    public static func float(fromBits bits: UInt16) -> Float {
        Float(bitPattern: UInt32(bits) << 16)
    }
}
