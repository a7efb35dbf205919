import ArgumentParser
import DNNL
import DataIO
import Distributed
import Foundation
import Graph
import Models
import TensorCore
import Training

#if canImport(Glibc)
import Glibc
#endif

// What every command shares: option groups, errors, reports and the standard-error writer.

/// `--json`: JSON on standard output instead of text (one object; `inspect` without a
/// record: one per line).
struct JSONOutput: ParsableArguments {
    @Flag(help: "Print the results as JSON on standard output (logs and progress stay on standard error).")
    var json = false
}

/// `--threads`.
struct ThreadOptions: ParsableArguments {
    @Option(help: "Worker threads (default: all cores).")
    var threads = ProcessInfo.processInfo.activeProcessorCount

    func validate() throws {
        if threads < 1 { throw ValidationError("--threads must be at least 1") }
    }
}

/// Checks before any work that files `PREFIX-…` can be written: the prefix names a file (not
/// empty, not a folder) in a folder that exists and is writable.
func checkWritablePrefix(_ prefix: String, flag: String) throws {
    let slash = prefix.lastIndex(of: "/")
    let name = slash.map { String(prefix[prefix.index(after: $0)...]) } ?? prefix
    guard !name.isEmpty else {
        throw ValidationError("\(flag) '\(prefix)' must end in a file name prefix (e.g. models/alexnet)")
    }
    let folder = slash.map { $0 == prefix.startIndex ? "/" : String(prefix[..<$0]) } ?? "."
    var info = stat()
    guard stat(folder, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else {
        throw ValidationError("\(flag): the folder '\(folder)' does not exist")
    }
    guard access(folder, W_OK) == 0 else { throw ValidationError("\(flag): the folder '\(folder)' is not writable") }
}

/// `--max-pixels`: the largest image accepted, checked from its header before decoding.
struct ImageLimitOptions: ParsableArguments {
    @Option(
        help:
            "Largest image accepted, in pixels (width × height): checked from the header before decoding, and against the size a resize makes (default: 2^28)."
    )
    var maxPixels = ImageCodec.defaultPixelLimit

    func validate() throws {
        if maxPixels < 1 { throw ValidationError("--max-pixels must be at least 1") }
    }

    /// Sets the process-wide limit; called first in `run()`, before any image is read.
    func apply() { ImageCodec.pixelLimit = maxPixels }
}

/// `--network` and `--data-shape`: a built-in network or an MXNet symbol file.
struct NetworkOptions: ParsableArguments {
    @Option(
        help:
            "A built-in network (\(NetworkName.allCases.map(\.rawValue).joined(separator: ", "))) or an MXNet symbol JSON file."
    )
    var network: String

    @Option(help: "Input shape C,H,W (default: the network's; 3,224,224 for a symbol file).")
    var dataShape: DataShape?

    /// The symbol (with `classCount` outputs where the network lets it be chosen) and the
    /// data shape `[C, H, W]`.
    func load(classCount: Int?) throws -> (symbol: Symbol, dataShape: [Int]) {
        let (symbol, defaultShape) = try loadNetwork(network, classCount: classCount)
        return (symbol, dataShape?.dimensions ?? defaultShape)
    }
}

/// How images are prepared: resize, mean, scale (the crop is the data shape). In `train`
/// what is not given takes MXNet's defaults and is recorded in the checkpoint; `score` and
/// `predict` fall back to the training run's, then to the defaults.
struct PreprocessingOptions: ParsableArguments {
    @Option(
        parsing: .unconditional,
        help:
            "Resize the shorter side to this before cropping (default: the training run's, else none for train and the crop size for inference)."
    )
    var resize: Int?

    @Option(
        help:
            "Per-channel RGB mean subtracted from the images, e.g. 123.68,116.78,103.94 (default: the training run's, else none)."
    )
    var meanRgb: String?

    @Option(help: "Mean image file (MXNet's mean.bin, e.g. from `gannet mean`; default: the training run's).")
    var meanImg: String?

    @Option(
        parsing: .unconditional,
        help: "Multiply the images by this after subtracting the mean (default: the training run's, else 1).")
    var scale: Float?

    func validate() throws {
        if meanRgb != nil && meanImg != nil { throw ValidationError("give --mean-rgb or --mean-img, not both") }
        if let meanRgb, parseFloats(meanRgb, count: 3)?.allSatisfy(\.isFinite) != true {
            throw ValidationError("--mean-rgb must be three finite numbers R,G,B")
        }
        if let resize, !(1...65535).contains(resize) { throw ValidationError("--resize must be 1–65535") }
        if let scale, !scale.isFinite || scale == 0 {
            throw ValidationError("--scale must be a finite non-zero number")
        }
    }

    /// What these options (and a data shape) override of a training run's preprocessing.
    func overrides(dataShape: [Int]?) -> PreprocessingOverrides {
        PreprocessingOverrides(
            dataShape: dataShape, resize: resize, meanRGB: meanRgb.flatMap { parseFloats($0, count: 3) },
            meanImage: meanImg, scale: scale)
    }
}

/// `--dtype`: the type activations are computed in. bfloat16 stops with a message on a CPU
/// without native bfloat16 unless forced.
struct PrecisionOptions: ParsableArguments {
    @Option(
        help:
            "Compute type of the activations: float32, or bfloat16 (mixed precision: master weights, their gradients, the optimizer, BatchNorm statistics and the loss stay float32)."
    )
    var dtype: DataType = .float32

    @Flag(
        help:
            "Compute in bfloat16 even on a CPU without native bfloat16 (oneDNN emulates it there, several times slower than float32)."
    )
    var forceBfloat16 = false

    func validate() throws {
        guard dtype == .bfloat16, !forceBfloat16, !Library.hasNativeBFloat16 else { return }
        throw ValidationError(
            "--dtype bfloat16: this CPU's widest instruction set for oneDNN is \(Library.instructionSet), without native "
                + "bfloat16 (avx512_bf16 or AMX); oneDNN would emulate it, several times slower than float32, or have "
                + "no bfloat16 kernels at all (AVX2). Use float32, or --force-bfloat16 to run it anyway.")
    }
}

extension DataType: ExpressibleByArgument {}

/// A built-in network by name, or a symbol JSON file; with its default data shape.
func loadNetwork(_ name: String, classCount: Int?) throws -> (Symbol, [Int]) {
    if let builtIn = NetworkName(rawValue: name) {
        return (try runtime { try builtIn.symbol(classCount: classCount) }, builtIn.dataShape)
    }
    guard name.hasSuffix(".json") else {
        throw ValidationError(
            "--network '\(name)' is neither a built-in network "
                + "(\(NetworkName.allCases.map(\.rawValue).joined(separator: ", "))) nor a .json file")
    }
    let (symbol, notes) = try runtime {
        try SymbolJSON.decode(String(decoding: try readFile(name), as: UTF8.self), file: name)
    }
    if !notes.legacyPooling.isEmpty {
        log(
            "note: \(name) predates MXNet 0.9; Pooling without pooling_convention read as 'full' (MXNet rounded up "
                + "then): \(notes.legacyPooling.joined(separator: ", "))")
    }
    return (symbol, [3, 224, 224])
}

/// `C,H,W` on the command line.
/// `C,H,W`: 1–4 channels (grey, RGB, RGBA), sides of 1–65535 pixels, at most 2^28 values
/// (a 1 GiB float image).
struct DataShape: ExpressibleByArgument {
    var dimensions: [Int]
    init?(argument: String) {
        let parts = argument.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.count == 3, let c = parts[0], let h = parts[1], let w = parts[2], (1...4).contains(c),
            (1...65535).contains(h), (1...65535).contains(w), c * h * w <= 1 << 28
        else { return nil }
        dimensions = [c, h, w]
    }

}

func parseFloats(_ text: String, count: Int) -> [Float]? {
    let values = text.split(separator: ",").map { Float($0.trimmingCharacters(in: .whitespaces)) }
    guard values.count == count, values.allSatisfy({ $0 != nil }) else { return nil }
    return values.map { $0! }
}

func parseIntegers(_ text: String) -> [Int]? {
    let values = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
    guard !values.isEmpty, values.allSatisfy({ $0 != nil }) else { return nil }
    return values.map { $0! }
}

extension NetworkName: ExpressibleByArgument {}
extension PoolingRounding: ExpressibleByArgument {}
extension Executor.LayoutPolicy: ExpressibleByArgument {}
extension ImageIteratorOptions.BadRecordPolicy: ExpressibleByArgument {}

/// A failure at run time (exit status 1); the message names what is at fault.
struct RuntimeFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Runs library work, turning its errors into runtime failures (exit status 1) that keep
/// their message, prefixed with `context` when given; usage errors pass through.
@discardableResult
func runtime<T>(_ context: String? = nil, _ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as RuntimeFailure {
        throw error
    } catch let error as ValidationError {
        throw error
    } catch let error as ExitCode {
        throw error
    } catch {
        throw RuntimeFailure(context.map { "\($0): \(error)" } ?? "\(error)")
    }
}

/// Prints a report as one JSON object on standard output (keys sorted). JSON has no NaN or
/// infinity: a non-finite number is written as `null`.
func printReport<T: Encodable>(_ report: T) throws {
    // The encoder writes non-finite numbers as this marker string, which then becomes null;
    // a control character is escaped in any string, so no other value can look like it.
    let marker = "\u{1}non-finite"
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    encoder.nonConformingFloatEncodingStrategy = .convertToString(
        positiveInfinity: marker, negativeInfinity: marker, nan: marker)
    let data: Data
    do { data = try encoder.encode(report) } catch { throw RuntimeFailure("cannot write the JSON report: \(error)") }
    print(String(decoding: data, as: UTF8.self).replacingOccurrences(of: "\"\\u0001non-finite\"", with: "null"))
}

/// An optional that reports write as `null` rather than leave out (the contract names the key).
@propertyWrapper
struct Nullable<Value: Encodable>: Encodable {
    var wrappedValue: Value?

    init(wrappedValue: Value?) { self.wrappedValue = wrappedValue }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if let wrappedValue { try container.encode(wrappedValue) } else { try container.encodeNil() }
    }
}

/// MPI's communicator when an MPI launcher started this process, else the single-process one.
func jobCommunicator() throws -> any Communicator {
    try runtime { () throws -> any Communicator in
        MPICommunicator.isLaunchedByMPI ? try MPICommunicator() : SingleProcess()
    }
}

/// Writes a line to standard error (standard output carries results), in one write.
func log(_ text: String) {
    let line = text + "\n"
    line.withCString { _ = write(2, $0, strlen($0)) }
}

/// `--synset`, `--top-k` and `--data-shape` of the commands that classify images.
struct ClassificationOptions: ParsableArguments {
    @Option(help: "Class names, one per line in label order (e.g. PREFIX.synset.txt from `gannet list`).")
    var synset: String?

    @Option(parsing: .unconditional, help: "How many classes to list per image.")
    var topK = 5

    @Option(help: "Input shape C,H,W (default: the training run's, else 3,224,224).")
    var dataShape: DataShape?

    func validate() throws {
        if topK < 1 { throw ValidationError("--top-k must be at least 1") }
    }

    /// The names of `--synset` (one per line, label order), or nil without it.
    func names() throws -> [String]? {
        guard let synset else { return nil }
        guard let text = try? String(contentsOfFile: synset, encoding: .utf8) else {
            throw RuntimeFailure("\(synset): cannot read")
        }
        return text.split(whereSeparator: \.isNewline).map(String.init)
    }

    /// Warns when the synset does not name every class of the network, or names more.
    func check(_ names: [String]?, classCount: Int) {
        if let names, let synset, names.count != classCount {
            log("warning: \(synset) has \(names.count) names for \(classCount) classes")
        }
    }
}
