import TensorCore
import Testing

@Suite struct TensorCoreTests {
    @Test func shapeBasics() {
        let shape: Shape = [64, 3, 224, 224]
        #expect(shape.rank == 4 && shape.elementCount == 9_633_792)
        #expect(shape.strides == [150_528, 50_176, 224, 1])
        #expect(shape.description == "(64, 3, 224, 224)")
    }

    @Test func tensorsAreAlignedZeroedAndRoundTrip() {
        let tensor = Tensor(shape: [3, 5])
        #expect(Int(bitPattern: tensor.rawPointer) % 64 == 0)
        #expect(tensor.toArray() == [Float](repeating: 0, count: 15))
        let values = (0..<15).map { Float($0) / 3 }
        tensor.copy(from: values)
        #expect(tensor.toArray() == values)
        let view = tensor.reshaped([15])
        view.floats[0] = 42
        #expect(tensor.floats[0] == 42, "a reshaped view shares memory")
    }

    @Test func bfloat16RoundsToNearestEven() {
        #expect(BFloat16.float(fromBits: BFloat16.bits(from: 1.0)) == 1.0)
        // 1 + 2^-8 lies exactly between two bfloat16 values: ties to even (1.0).
        #expect(BFloat16.float(fromBits: BFloat16.bits(from: 1 + 0x1p-8)) == 1.0)
        #expect(BFloat16.float(fromBits: BFloat16.bits(from: 1 + 0x1p-8 + 0x1p-12)) == 1 + 0x1p-7)
        #expect(BFloat16.float(fromBits: BFloat16.bits(from: .nan)).isNaN)
        let tensor = Tensor(shape: [4], dataType: .bfloat16)
        tensor.copy(from: [1, -2, 0.5, 3.140625])
        #expect(tensor.toArray() == [1, -2, 0.5, 3.140625])
        #expect(tensor.byteCount == 8)
    }

    @Test func seededGeneratorIsReproducibleAndUniform() {
        var a = SeededGenerator(seed: 42), b = SeededGenerator(seed: 42), c = SeededGenerator(seed: 42, stream: 1)
        let first = (0..<5).map { _ in a.next() }
        #expect(first == (0..<5).map { _ in b.next() })
        #expect(first != (0..<5).map { _ in c.next() })
        var sum = 0.0
        for _ in 0..<10_000 {
            let u = a.nextUnitFloat()
            #expect(u >= 0 && u < 1)
            sum += Double(u)
        }
        #expect(abs(sum / 10_000 - 0.5) < 0.02)
    }
}
