import DataIO
import Foundation
import Graph
import TensorCore

/// A checkpoint (`PREFIX-symbol.json` + `PREFIX-NNNN.params`, MXNet 1.x or 2015 dialect)
/// bound for inference at one batch size, with the preprocessing it was trained with.
///
/// The preprocessing is the first that gives it of: `overrides`, the run's `.state`, the
/// `__gannet_*__` attributes of the symbol's data input, MXNet's defaults. The `.params` is
/// read once: its shapes choose a 2015 file's Pooling rounding, then its values are loaded.
public final class InferenceModel {
    public let executor: Executor
    public let preprocessing: TrainingState.Preprocessing
    public let classCount: Int
    /// The data input, `(batch, C, H, W)`.
    public let data: Tensor

    /// Notes (dialect upgrades, unused entries, assumed shapes) go to `log`.
    public init(prefix: String, epoch: Int, batchSize: Int, overrides: PreprocessingOverrides = .init(),
                log: (String) -> Void = { _ in }) throws {
        let symbolPath = Checkpoint.symbolPath(prefix)
        guard FileManager.default.fileExists(atPath: symbolPath) else { throw TrainingError("\(symbolPath): no such file") }
        let text = String(decoding: try readFile(symbolPath), as: UTF8.self)
        let parametersPath = Checkpoint.parametersPath(prefix, epoch: epoch)
        let entries = try NDArrayFile.read(path: parametersPath)
        let statePath = Checkpoint.statePath(prefix, epoch: epoch)
        let stored = try Self.storedPreprocessing(symbolText: text, symbolPath: symbolPath, statePath: statePath)
        preprocessing = overrides.resolved(over: stored)
        if stored == nil && overrides.dataShape == nil {
            log("note: neither \(statePath) nor \(symbolPath) gives the preprocessing; assuming data shape "
                + "\(preprocessing.dataShape) (see --data-shape)")
        }
        let dataShape = Shape([batchSize] + preprocessing.dataShape)
        let symbol = try Self.decode(text, file: symbolPath, dataShape: dataShape, parameters: entries, log: log)
        do {
            executor = try Executor(symbol, inputShapes: Graph(symbol).inputShapes(data: dataShape), isTraining: false)
        } catch {
            throw TrainingError("\(symbolPath): \(error)")
        }
        let unused = try Checkpoint.loadParameters(entries, file: parametersPath, into: executor)
        if !unused.isEmpty { log("note: the parameters file has entries the network does not use: \(unused.joined(separator: ", "))") }
        classCount = executor.outputs[0].shape.dimensions.last ?? 0
        data = executor.argument(try executor.graph.dataInput())!
    }

    /// The training run's preprocessing: from the `.state`, else from the symbol's data attributes.
    static func storedPreprocessing(symbolText: String, symbolPath: String,
                                    statePath: String) throws -> TrainingState.Preprocessing? {
        if FileManager.default.fileExists(atPath: statePath), let state = try? Checkpoint.loadState(statePath, into: nil) {
            return state.preprocessing
        }
        let dataName = try Graph(SymbolJSON.decode(symbolText, file: symbolPath).0).dataInput()
        return TrainingState.Preprocessing(symbolAttributes: SymbolJSON.variableAttributes(symbolText, name: dataName))
    }

    /// The symbol, with a 2015 file's Pooling rounding chosen by the parameter shapes.
    static func decode(_ text: String, file: String, dataShape: Shape, parameters: [NDArrayFile.Entry],
                       log: (String) -> Void) throws -> Symbol {
        var shapes: [String: Shape] = [:]
        for entry in parameters {
            let name = entry.name.hasPrefix("arg:") || entry.name.hasPrefix("aux:") ? String(entry.name.dropFirst(4)) : entry.name
            shapes[name] = entry.tensor.shape
        }
        let (symbol, notes, convention) = try SymbolJSON.decodeLegacy(text, file: file, dataShape: dataShape,
                                                                      parameterShapes: shapes)
        if let convention {
            log("note: \(file) predates MXNet 0.9; Pooling without pooling_convention read as '\(convention.rawValue)', "
                + "the rounding its parameters fit: \(notes.legacyPooling.joined(separator: ", "))")
        }
        if !notes.addedAuxiliary.isEmpty {
            log("note: BatchNorm auxiliary states added to \(notes.addedAuxiliary.joined(separator: ", ")) (2015 file)")
        }
        return symbol
    }

    /// Iterator options that prepare records as this model expects.
    public func iteratorOptions(batchSize: Int) throws -> ImageIteratorOptions {
        try preprocessing.iteratorOptions(batchSize: batchSize)
    }
}
