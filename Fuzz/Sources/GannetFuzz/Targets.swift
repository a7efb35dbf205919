import DataIO
import Foundation
import Graph
import TensorCore
import Training

/// One libFuzzer entry point for every parser; `GANNET_FUZZ_TARGET` chooses which one a run
/// exercises. Each target must end in a value or a thrown error, never a trap, and never
/// allocate by an unverified claim (the run's `-rss_limit_mb` catches that).
enum Target: String, CaseIterable {
    case recordio, header, lst, idx, symbol, ndarray, state, image

    /// Runs the parser on `data`; errors are the expected outcome of most inputs.
    func run(_ data: UnsafeRawBufferPointer) throws {
        switch self {
        case .recordio:
            let path = try Scratch.write(data, "recordio.rec")
            let reader = try RecordReader(paths: [path])
            var payload: [UInt8] = []
            for offset in reader.scanRecordOffsets().offsets.prefix(64) {
                _ = try? reader.readRecord(at: offset, into: &payload)
            }
        case .header:
            if let (header, offset) = ImageRecordHeader.parse(data) { _ = (header.labels.count, offset) }
        case .lst:
            _ = try ImageList.read(path: try Scratch.write(data, "fuzz.lst"))
        case .idx:
            _ = try RecordIndex.read(path: try Scratch.write(data, "fuzz.idx"))
        case .symbol:
            let text = String(decoding: data, as: UTF8.self)
            let (symbol, _) = try SymbolJSON.decode(text)
            _ = try Graph(symbol).inferShapes(["data": Shape([2, 3, 32, 32])])
        case .ndarray:
            _ = try NDArrayFile.decode(Array(data), file: "fuzz.params")
        case .state:
            _ = try Checkpoint.loadState(try Scratch.write(data, "fuzz.state"), into: nil)
        case .image:
            let (_, width, height) = try ImageCodec.info(data)
            var pixels = [UInt8](repeating: 0, count: width * height * 3)
            var scratch: [UInt8] = []
            try pixels.withUnsafeMutableBufferPointer { target in
                _ = try ImageCodec.decode(
                    data, scaleDenominator: 1, region: PixelRegion(x: 0, y: 0, width: width, height: height),
                    into: target.baseAddress!, scratch: &scratch)
            }
        }
    }
}

/// Parsers that read files get the input through one file per target in a private folder.
enum Scratch {
    nonisolated(unsafe) static var folder = ""

    static func write(_ data: UnsafeRawBufferPointer, _ name: String) throws -> String {
        let path = folder + "/" + name
        try Data(data).write(to: URL(fileURLWithPath: path))
        return path
    }
}

nonisolated(unsafe) private var target = Target.recordio

/// libFuzzer's driver (in the runtime that `-sanitize=fuzzer` links): it parses libFuzzer's
/// flags and calls `callback` with each input.
@_silgen_name("LLVMFuzzerRunDriver")
func runDriver(
    _ argc: UnsafeMutablePointer<Int32>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
) -> Int32

@main
enum GannetFuzz {
    static func main() {
        let name = ProcessInfo.processInfo.environment["GANNET_FUZZ_TARGET"] ?? ""
        guard let chosen = Target(rawValue: name) else {
            FileHandle.standardError.write(
                Data("GANNET_FUZZ_TARGET must be one of \(Target.allCases.map(\.rawValue))\n".utf8))
            exit(2)
        }
        target = chosen
        // Images stay small enough that a decode fits the run's memory limit (the claim is
        // what is checked; the limit itself is a flag).
        ImageCodec.pixelLimit = 1 << 24
        Scratch.folder = NSTemporaryDirectory() + "gannet-fuzz-\(getpid())"
        try? FileManager.default.createDirectory(atPath: Scratch.folder, withIntermediateDirectories: true)
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        exit(
            runDriver(&argc, &argv) { bytes, count in
                do { try target.run(UnsafeRawBufferPointer(start: bytes, count: count)) } catch {}
                return 0
            })
    }
}
