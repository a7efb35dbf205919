import Foundation
import TensorCore

/// `PREFIX-metrics.csv` (one row per epoch) and `PREFIX-curves.svg` (accuracy and loss).
public enum MetricsTable {
    /// One epoch: what `train --json` reports, its duration and its last learning rate.
    @dynamicMemberLookup
    public struct Row: Sendable, Equatable {
        public var report: EpochReport
        public var seconds: Double
        public var learningRate: Double

        public init(_ report: EpochReport, seconds: Double, learningRate: Double) {
            self.report = report
            self.seconds = seconds
            self.learningRate = learningRate
        }

        public subscript<Value>(dynamicMember path: KeyPath<EpochReport, Value>) -> Value { report[keyPath: path] }
    }

    public static let header =
        "epoch,train-accuracy,train-top-k,train-cross-entropy,validation-accuracy,validation-top-k,"
        + "validation-cross-entropy,samples-per-second,seconds,learning-rate"

    public static func path(_ prefix: String) -> String { prefix + "-metrics.csv" }

    /// Rows of an earlier run for epochs before `epoch` (a resumed run continues the table).
    public static func read(prefix: String, before epoch: Int) -> [Row] {
        guard let text = try? String(contentsOfFile: path(prefix), encoding: .utf8) else { return [] }
        return text.split(separator: "\n").dropFirst().compactMap { line in
            let f = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            guard f.count == 10, let e = Int(f[0]), e < epoch else { return nil }
            let report = EpochReport(
                epoch: e, trainAccuracy: Double(f[1]) ?? 0, trainTopK: Double(f[2]) ?? 0,
                trainCrossEntropy: Double(f[3]) ?? 0, validationAccuracy: Double(f[4]), validationTopK: Double(f[5]),
                validationCrossEntropy: Double(f[6]), samplesPerSecond: Double(f[7]) ?? 0)
            return Row(report, seconds: Double(f[8]) ?? 0, learningRate: Double(f[9]) ?? 0)
        }
    }

    public static func write(_ rows: [Row], prefix: String) throws {
        func text(_ value: Double?) -> String { value.map { String(format: "%.6f", $0) } ?? "" }
        var csv = header + "\n"
        for row in rows {
            csv +=
                "\(row.epoch),\(text(row.trainAccuracy)),\(text(row.trainTopK)),\(text(row.trainCrossEntropy)),"
                + "\(text(row.validationAccuracy)),\(text(row.validationTopK)),\(text(row.validationCrossEntropy)),"
                + "\(text(row.samplesPerSecond)),\(text(row.seconds)),\(text(row.learningRate))\n"
        }
        try writeFileAtomically(csv, to: path(prefix))
    }

    /// Two charts side by side: accuracy (train, validation) and cross-entropy, per epoch.
    public static func plot(_ rows: [Row], prefix: String) throws {
        let width = 420.0, height = 300.0, margin = 40.0
        func chart(x offset: Double, title: String, series: [(String, String, [Double?])], maximum: Double) -> String {
            var svg = "<g transform=\"translate(\(offset),0)\">"
            svg += "<text x=\"\(width / 2)\" y=\"20\" text-anchor=\"middle\" font-size=\"14\">\(title)</text>"
            svg +=
                "<rect x=\"\(margin)\" y=\"\(margin)\" width=\"\(width - 2 * margin)\" height=\"\(height - 2 * margin)\" fill=\"none\" stroke=\"#999\"/>"
            let epochs = rows.map(\.report.epoch)
            let low = Double(epochs.min() ?? 0), high = Double(max((epochs.max() ?? 1), (epochs.min() ?? 0) + 1))
            func px(_ epoch: Int) -> Double { margin + (Double(epoch) - low) / (high - low) * (width - 2 * margin) }
            func py(_ value: Double) -> Double { height - margin - min(value / maximum, 1) * (height - 2 * margin) }
            for tick in 0...4 {
                let value = maximum * Double(tick) / 4
                svg +=
                    "<text x=\"\(margin - 4)\" y=\"\(py(value) + 4)\" text-anchor=\"end\" font-size=\"10\">\(String(format: "%.2f", value))</text>"
            }
            svg += "<text x=\"\(width / 2)\" y=\"\(height - 8)\" text-anchor=\"middle\" font-size=\"11\">epoch</text>"
            for (index, (name, colour, values)) in series.enumerated() {
                let points = zip(epochs, values).compactMap { epoch, value in value.map { "\(px(epoch)),\(py($0))" } }
                guard !points.isEmpty else { continue }
                svg +=
                    "<polyline fill=\"none\" stroke=\"\(colour)\" stroke-width=\"2\" points=\"\(points.joined(separator: " "))\"/>"
                svg +=
                    "<text x=\"\(margin + 8)\" y=\"\(margin + 16 + 14 * Double(index))\" font-size=\"11\" fill=\"\(colour)\">\(name)</text>"
            }
            return svg + "</g>"
        }
        let losses: [Double] = rows.flatMap { [$0.trainCrossEntropy, $0.validationCrossEntropy ?? 0] }
        var svg =
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(2 * width)\" height=\"\(height)\" font-family=\"sans-serif\">"
        svg += chart(
            x: 0, title: "accuracy",
            series: [
                ("train", "#1f77b4", rows.map(\.report.trainAccuracy)),
                ("validation", "#d62728", rows.map(\.report.validationAccuracy)),
            ], maximum: 1)
        svg += chart(
            x: width, title: "cross-entropy",
            series: [
                ("train", "#1f77b4", rows.map(\.report.trainCrossEntropy)),
                ("validation", "#d62728", rows.map(\.report.validationCrossEntropy)),
            ],
            maximum: max(losses.max() ?? 1, 1e-3) * 1.05)
        svg += "</svg>\n"
        try writeFileAtomically(svg, to: prefix + "-curves.svg")
    }
}
