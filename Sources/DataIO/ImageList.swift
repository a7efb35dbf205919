import Foundation

/// One line of an MXNet `.lst`: `index \t label [\t label …] \t relative/path`.
public struct ImageListEntry: Sendable, Equatable {
    public var index: UInt64
    public var labels: [Float]
    public var path: String

    public init(index: UInt64, labels: [Float], path: String) {
        self.index = index
        self.labels = labels
        self.path = path
    }
}

public enum ImageList {
    /// Parses a `.lst`: fields split on tabs and trimmed (so the 2015 `"%d \t %d \t %s"` form
    /// reads too), Windows line endings accepted, paths may contain spaces. Errors name the
    /// file and line.
    public static func read(path: String) throws -> [ImageListEntry] {
        guard let text = readTextFile(path) else {
            throw ImageListError(path: path, line: 0, "cannot read: \(systemError())")
        }
        var entries: [ImageListEntry] = []
        // `\r\n` is one Character in Swift, and a newline.
        for (number, line) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            if line.allSatisfy({ $0 == " " || $0 == "\t" }) { continue }
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
                .map { $0.trimmingCharacters(in: .whitespaces) }
            guard fields.count >= 3 else {
                throw ImageListError(path: path, line: number + 1, "expected 'index<TAB>label<TAB>path', got '\(line)'")
            }
            guard let index = UInt64(fields[0]) ?? Double(fields[0]).flatMap({ UInt64(exactly: $0) }) else {
                throw ImageListError(
                    path: path, line: number + 1, "the index '\(fields[0])' is not a non-negative integer")
            }
            var labels: [Float] = []
            for field in fields[1..<(fields.count - 1)] {
                guard let label = Float(field), label.isFinite else {
                    throw ImageListError(path: path, line: number + 1, "the label '\(field)' is not a finite number")
                }
                labels.append(label)
            }
            entries.append(ImageListEntry(index: index, labels: labels, path: fields.last!))
        }
        return entries
    }

    /// The text of a `.lst` in im2rec.py's form: `%d\t%f…\t%s\n`.
    public static func text(_ entries: [ImageListEntry]) -> String {
        var text = ""
        for entry in entries {
            text += "\(entry.index)\t"
            for label in entry.labels { text += String(format: "%f\t", Double(label)) }
            text += entry.path + "\n"
        }
        return text
    }
}

public struct ImageListError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let line: Int
    public let message: String

    init(path: String, line: Int, _ message: String) {
        self.path = path
        self.line = line
        self.message = message
    }

    public var description: String { line > 0 ? "\(path):\(line): \(message)" : "\(path): \(message)" }
}
