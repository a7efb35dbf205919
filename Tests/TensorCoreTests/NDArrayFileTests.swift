import TensorCore
import Testing

@Suite struct NDArrayFileTests {
    func hex(_ text: String) -> [UInt8] {
        let digits = Array(text.filter { $0.isHexDigit })
        return stride(from: 0, to: digits.count, by: 2).map { UInt8(String(digits[$0...$0 + 1]), radix: 16)! }
    }

    /// c.4: the bytes mxnet 1.9.1 writes for {'arg:fc_weight': 2×3 [1…6], 'aux:bn_moving_mean': [7]}.
    var mxnetBytes: [UInt8] {
        hex(
            "1201000000000000 0000000000000000 0200000000000000"
                + "c9fa93f9 00000000 02000000 0200000000000000 0300000000000000 01000000 00000000 00000000"
                + "0000803f 00000040 00004040 00008040 0000a040 0000c040"
                + "c9fa93f9 00000000 01000000 0100000000000000 01000000 00000000 00000000 0000e040"
                + "0200000000000000")
            + hex("0d00000000000000") + Array("arg:fc_weight".utf8)
            + hex("1200000000000000") + Array("aux:bn_moving_mean".utf8)
    }

    @Test func writesExactlyWhatMXNetWrites() {
        let entries = [
            NDArrayFile.Entry(name: "arg:fc_weight", tensor: Tensor(shape: [2, 3], values: [1, 2, 3, 4, 5, 6])),
            NDArrayFile.Entry(name: "aux:bn_moving_mean", tensor: Tensor(shape: [1], values: [7])),
        ]
        #expect(NDArrayFile.encode(entries) == mxnetBytes)
    }

    @Test func readsMXNetFiles() throws {
        let entries = try NDArrayFile.decode(mxnetBytes)
        #expect(entries.map(\.name) == ["arg:fc_weight", "aux:bn_moving_mean"])
        #expect(entries[0].tensor.shape == [2, 3] && entries[0].tensor.toArray() == [1, 2, 3, 4, 5, 6])
        #expect(entries[1].tensor.toArray() == [7])
    }

    /// c.3: the 2015 format, 32-bit rank and extents and no per-array magic.
    @Test func readsThe2015Format() throws {
        let legacy =
            hex(
                "1201000000000000 0000000000000000 0100000000000000"
                    + "02000000 02000000 03000000 01000000 00000000 00000000"
                    + "0000803f 00000040 00004040 00008040 0000a040 0000c040"
                    + "0100000000000000 0800000000000000") + Array("mean_img".utf8)
        let entries = try NDArrayFile.decode(legacy)
        #expect(entries.count == 1 && entries[0].name == "mean_img")
        #expect(entries[0].tensor.shape == [2, 3] && entries[0].tensor.toArray() == [1, 2, 3, 4, 5, 6])
    }

    @Test func unnamedListsAndFloat16() throws {
        // One float16 array [1.5, -2] saved without names.
        let bytes = hex(
            "1201000000000000 0000000000000000 0100000000000000"
                + "c9fa93f9 00000000 01000000 0200000000000000 01000000 00000000 02000000"
                + "003e 00c0" + "0000000000000000")
        let entries = try NDArrayFile.decode(bytes)
        #expect(entries[0].name == "" && entries[0].tensor.toArray() == [1.5, -2])
    }

    @Test func truncatedAndForeignFilesNameFileAndOffset() {
        do {
            _ = try NDArrayFile.decode(Array(mxnetBytes.prefix(70)), file: "model-0001.params")
            Issue.record("expected an error")
        } catch {
            #expect("\(error)".contains("model-0001.params") && "\(error)".contains("truncated at offset"))
        }
        #expect(throws: NDArrayFileError.self) { try NDArrayFile.decode(Array("not a params file".utf8)) }
    }
}
