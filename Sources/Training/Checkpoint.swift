import Foundation
import Graph
import TensorCore

/// What a training run needs beyond the parameters to continue exactly, and how its images
/// were prepared (so that `score` and `predict` can repeat it).
public struct TrainingState: Codable, Sendable, Equatable {
    /// Epochs completed.
    public var epoch: Int
    public var updateCount: Int
    public var learningRate: Float
    public var seed: UInt64
    public var batchSize: Int
    public var classCount: Int
    public var preprocessing: Preprocessing

    public init(
        epoch: Int, updateCount: Int, learningRate: Float, seed: UInt64, batchSize: Int, classCount: Int,
        preprocessing: Preprocessing
    ) {
        self.epoch = epoch
        self.updateCount = updateCount
        self.learningRate = learningRate
        self.seed = seed
        self.batchSize = batchSize
        self.classCount = classCount
        self.preprocessing = preprocessing
    }

    /// What is out of range in a state read from a file, or nil.
    var problem: String? {
        let p = preprocessing
        let shape = p.dataShape
        if epoch < 0 || updateCount < 0 { return "negative epoch \(epoch) or update count \(updateCount)" }
        if batchSize < 1 || classCount < 1 { return "batch size \(batchSize) or class count \(classCount) below 1" }
        if !learningRate.isFinite { return "the learning rate \(learningRate) is not finite" }
        if shape.count != 3 || !(1...4).contains(shape[0]) || !shape[1...].allSatisfy({ (1...65535).contains($0) })
            || shape.reduce(1, *) > 1 << 28
        {
            return "implausible data shape \(shape)"
        }
        if let resize = p.resize, !(1...65535).contains(resize) { return "implausible resize \(resize)" }
        if !p.scale.isFinite || p.scale == 0 || !(p.meanRGB ?? []).allSatisfy(\.isFinite) {
            return "the scale \(p.scale) or the mean \(p.meanRGB ?? []) is not finite and non-zero"
        }
        return nil
    }

    /// The image preparation of training, reused by inference.
    public struct Preprocessing: Codable, Sendable, Equatable {
        /// `[C, H, W]`.
        public var dataShape: [Int]
        public var resize: Int?
        /// RGB means, or nil when a mean image was used.
        public var meanRGB: [Float]?
        public var meanImage: String?
        public var scale: Float

        public init(dataShape: [Int], resize: Int?, meanRGB: [Float]?, meanImage: String?, scale: Float) {
            self.dataShape = dataShape
            self.resize = resize
            self.meanRGB = meanRGB
            self.meanImage = meanImage
            self.scale = scale
        }

        /// The preprocessing as attributes of the symbol's `data` variable, so that a
        /// `PREFIX-symbol.json` shipped without its `.state` still says how to feed it:
        /// `__gannet_data_shape__` `"(3, 224, 224)"`, `__gannet_resize__`, `__gannet_mean_rgb__`,
        /// `__gannet_mean_img__`, `__gannet_scale__`.
        public var symbolAttributes: [String: String] {
            var attributes = [
                "__gannet_data_shape__": "(\(dataShape.map(String.init).joined(separator: ", ")))",
                "__gannet_scale__": "\(scale)",
            ]
            if let resize { attributes["__gannet_resize__"] = "\(resize)" }
            if let meanRGB {
                attributes["__gannet_mean_rgb__"] = "(\(meanRGB.map { "\($0)" }.joined(separator: ", ")))"
            }
            if let meanImage { attributes["__gannet_mean_img__"] = meanImage }
            return attributes
        }

        /// Reads `symbolAttributes` back; nil without a data shape or when a value does not parse.
        public init?(symbolAttributes attributes: [String: String]) {
            func numbers(_ text: String) -> [Substring] {
                text.trimmingCharacters(in: CharacterSet(charactersIn: "()[] ")).split(separator: ",")
                    .map { $0.trimmingCharacters(in: .whitespaces)[...] }
            }
            guard let shapeText = attributes["__gannet_data_shape__"] else { return nil }
            let shape = numbers(shapeText).compactMap { Int($0) }
            guard shape.count == 3, shape.allSatisfy({ $0 > 0 }) else { return nil }
            var resize: Int? = nil
            if let text = attributes["__gannet_resize__"] {
                guard let value = Int(text), value > 0 else { return nil }
                resize = value
            }
            var meanRGB: [Float]? = nil
            if let text = attributes["__gannet_mean_rgb__"] {
                let values = numbers(text).compactMap { Float($0) }
                guard values.count == 3 else { return nil }
                meanRGB = values
            }
            guard let scale = Float(attributes["__gannet_scale__"] ?? "1") else { return nil }
            self.init(
                dataShape: shape, resize: resize, meanRGB: meanRGB, meanImage: attributes["__gannet_mean_img__"],
                scale: scale)
        }
    }
}

/// MXNet checkpoints (`PREFIX-symbol.json`, `PREFIX-NNNN.params`) and Gannet's state sidecar
/// (`PREFIX-NNNN.state`: a JSON `TrainingState` and the momentum buffers). Every file is
/// written to a temporary name, synced and renamed, the `.params` last: a crash at any
/// moment leaves every checkpoint whose `.params` exists whole, `.state` included.
public enum Checkpoint {
    public static func parametersPath(_ prefix: String, epoch: Int) -> String {
        String(format: "%@-%04d.params", prefix, epoch)
    }
    public static func statePath(_ prefix: String, epoch: Int) -> String {
        String(format: "%@-%04d.state", prefix, epoch)
    }
    public static func symbolPath(_ prefix: String) -> String { prefix + "-symbol.json" }

    static let stateMagic = Array("GANNETST".utf8)

    /// Writes the symbol, the parameters and auxiliary states (`arg:`/`aux:`), and the state.
    public static func save(
        prefix: String, epoch: Int, symbol: Symbol, executor: Executor, optimizer: SGD,
        state: TrainingState
    ) throws {
        let annotated = symbol.settingAttributes(
            state.preprocessing.symbolAttributes,
            ofVariable: try executor.graph.dataInput())
        try writeFileAtomically(Array(try SymbolJSON.encode(annotated).utf8), to: symbolPath(prefix))
        var bytes = stateMagic
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = try encoder.encode(state)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: json)
        bytes.append(
            contentsOf: NDArrayFile.encode(
                optimizer.momentumBuffers.map {
                    NDArrayFile.Entry(name: "momentum:\($0.name)", tensor: $0.tensor)
                }))
        try writeFileAtomically(bytes, to: statePath(prefix, epoch: epoch))
        // Last: a `.params` under its final name means the whole checkpoint is there.
        try NDArrayFile.write(checkpointEntries(executor), to: parametersPath(prefix, epoch: epoch))
    }

    /// Loads `arg:`/`aux:` entries into the executor. Every parameter and auxiliary state
    /// must be present with its shape; errors name the file, the entry and both shapes.
    /// Unprefixed names (some old files) are accepted. Returns the entries nobody used.
    @discardableResult
    public static func loadParameters(_ path: String, into executor: Executor) throws -> [String] {
        let entries: [NDArrayFile.Entry]
        do { entries = try NDArrayFile.read(path: path) } catch { throw TrainingError("\(error)") }
        return try loadParameters(entries, file: path, into: executor)
    }

    /// `loadParameters` from entries already read from `file`.
    @discardableResult
    public static func loadParameters(_ entries: [NDArrayFile.Entry], file path: String, into executor: Executor) throws
        -> [String]
    {
        var byName: [String: Tensor] = [:]
        for entry in entries {
            let name =
                entry.name.hasPrefix("arg:") || entry.name.hasPrefix("aux:")
                ? String(entry.name.dropFirst(4)) : entry.name
            byName[name] = entry.tensor
        }
        var used = Set<String>()
        for name in executor.graph.parameterNames + executor.graph.auxiliaryNames {
            let target = executor.argument(name) ?? executor.auxiliary(name)!
            guard let source = byName[name] else {
                throw TrainingError(
                    "\(path): no entry for '\(name)' (the file has \(entries.count) entries; is it for this network?)")
            }
            guard source.shape == target.shape else {
                throw TrainingError(
                    "\(path): '\(name)' has shape \(source.shape) in the file but the network needs \(target.shape)")
            }
            target.floats.update(from: source.floats, count: target.elementCount)  // files read as float32
            used.insert(name)
        }
        return byName.keys.filter { !used.contains($0) }.sorted()
    }

    /// The parameters and auxiliary states of `executor` holding NaN or infinity (what a
    /// diverged run saves): loading them is allowed, but callers warn naming them.
    public static func nonFiniteParameters(of executor: Executor) -> [String] {
        (executor.graph.parameterNames + executor.graph.auxiliaryNames).filter { name in
            guard let tensor = executor.argument(name) ?? executor.auxiliary(name) else { return false }
            let values = UnsafeBufferPointer(start: tensor.floats, count: tensor.elementCount)
            return !values.allSatisfy(\.isFinite)
        }
    }

    /// Reads a `.state`: the training state, and the momentum buffers into `optimizer`.
    public static func loadState(_ path: String, into optimizer: SGD?) throws -> TrainingState {
        let bytes: [UInt8]
        do { bytes = try readFile(path) } catch { throw TrainingError("\(error)") }
        guard bytes.count >= 16, Array(bytes[0..<8]) == stateMagic else {
            throw TrainingError("\(path): not a Gannet state file")
        }
        let claimed = bytes[8..<16].withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard claimed <= bytes.count - 16 else { throw TrainingError("\(path): truncated") }
        let length = Int(claimed)
        let state: TrainingState
        do { state = try JSONDecoder().decode(TrainingState.self, from: Data(bytes[16..<(16 + length)])) } catch {
            throw TrainingError("\(path): \(error)")
        }
        if let problem = state.problem { throw TrainingError("\(path): \(problem)") }
        guard let optimizer else { return state }
        let entries: [NDArrayFile.Entry]
        do { entries = try NDArrayFile.decode(Array(bytes[(16 + length)...]), file: path) } catch {
            throw TrainingError("\(error)")
        }
        let byName = Dictionary(entries.map { ($0.name, $0.tensor) }, uniquingKeysWith: { first, _ in first })
        for buffer in optimizer.momentumBuffers {
            guard let source = byName["momentum:\(buffer.name)"], source.shape == buffer.tensor.shape else {
                throw TrainingError("\(path): the momentum of '\(buffer.name)' is missing or has another shape")
            }
            buffer.tensor.floats.update(from: source.floats, count: buffer.tensor.elementCount)
        }
        return state
    }
}
