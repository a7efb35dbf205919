import ArgumentParser
import DataIO
import Foundation
import TensorCore

/// `gannet list`: an MXNet `.lst` from an image folder, shuffled by default.
struct List: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write PREFIX.lst (index, label, path) for the images under ROOT, as im2rec --list does.",
        discussion: """
            With --recursive every subfolder of ROOT is a class (labels 0, 1, … in sorted folder \
            order; images in deeper folders belong to their top folder) and PREFIX.synset.txt \
            lists the folder names in label order. Without it, the images directly in ROOT get \
            label 0. The list is shuffled (seeded) unless --no-shuffle: a list sorted by class \
            makes whole batches of one class, and training then stays at chance accuracy.

            Example:
              gannet list data/train images/train --recursive
              # data/photos_train.lst and data/photos_val.lst:
              gannet list data/photos images --recursive --train-ratio 0.9
            """)

    @Argument(help: "Output prefix: writes PREFIX.lst (or PREFIX_train.lst, … with ratios, PREFIX_N.lst with chunks).")
    var prefix: String

    @Argument(help: "The image folder.")
    var root: String

    @Flag(help: "Each subfolder of ROOT is a class.")
    var recursive = false

    @Option(help: "Accepted extensions, compared lower-cased.")
    var exts = ".jpg,.jpeg,.png"

    @Flag(help: "Keep the walk order (sorted) instead of shuffling.")
    var noShuffle = false

    @Option(parsing: .unconditional, help: "Shuffle seed.")
    var seed: UInt64 = 100

    @Option(
        parsing: .unconditional,
        help: "Fraction of each chunk for PREFIX_train.lst; the rest (after the test part) goes to PREFIX_val.lst.")
    var trainRatio = 1.0

    @Option(parsing: .unconditional, help: "Fraction of each chunk for PREFIX_test.lst (taken first).")
    var testRatio = 0.0

    @Option(parsing: .unconditional, help: "Split the list into this many chunks (PREFIX_0.lst, …).")
    var chunks = 1

    mutating func validate() throws {
        guard (0...1).contains(trainRatio), (0...1).contains(testRatio), trainRatio + testRatio <= 1 + 1e-9 else {
            throw ValidationError("--train-ratio and --test-ratio must lie in [0, 1] and sum to at most 1")
        }
        if chunks < 1 { throw ValidationError("--chunks must be at least 1") }
    }

    func run() throws {
        let extensions = Set(exts.split(separator: ",").map { $0.lowercased().trimmingCharacters(in: .whitespaces) })
        let (paths, classes) = try walk(root: root, recursive: recursive, extensions: extensions)
        guard !paths.isEmpty else { throw RuntimeFailure("\(root): no files with extensions \(exts)") }
        var entries = paths.enumerated().map {
            ImageListEntry(index: UInt64($0.offset), labels: [Float($0.element.label)], path: $0.element.path)
        }
        if !noShuffle {
            var generator = SeededGenerator(seed: seed)
            entries.shuffle(using: &generator)
        }
        // The synset and every list are written together: all of them or none.
        var files: [(path: String, bytes: [UInt8])] = []
        if recursive { files.append((prefix + ".synset.txt", Array((classes.joined(separator: "\n") + "\n").utf8))) }
        // im2rec's split: per chunk, test first, then train, the rest validation.
        let chunkSize = (entries.count + chunks - 1) / chunks
        var written: [String] = []
        func add(_ part: ArraySlice<ImageListEntry>, _ path: String) {
            files.append((path, Array(ImageList.text(Array(part)).utf8)))
            written.append("\(path) (\(part.count))")
        }
        for chunk in 0..<chunks {
            let part = entries[min(entries.count, chunk * chunkSize)..<min(entries.count, (chunk + 1) * chunkSize)]
            let start = part.startIndex
            let suffix = chunks > 1 ? "_\(chunk)" : ""
            let trainCount = Int(Double(part.count) * trainRatio), testCount = Int(Double(part.count) * testRatio)
            if trainRatio == 1 {
                add(part, prefix + suffix + ".lst")
            } else {
                if testRatio > 0 { add(part[start..<(start + testCount)], prefix + suffix + "_test.lst") }
                if trainRatio + testRatio < 1 {
                    add(part[(start + testCount + trainCount)...], prefix + suffix + "_val.lst")
                }
                add(part[(start + testCount)..<(start + testCount + trainCount)], prefix + suffix + "_train.lst")
            }
        }
        try writeFilesAtomically(files)
        if recursive { for (label, name) in classes.enumerated() { log("\(name) \(label)") } }
        log("\(entries.count) images in \(max(classes.count, 1)) classes: \(written.joined(separator: ", "))")
    }

    /// Files under `root` (sorted), with their class label.
    func walk(root: String, recursive: Bool, extensions: Set<String>) throws -> ([(path: String, label: Int)], [String])
    {
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        guard manager.fileExists(atPath: root, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw RuntimeFailure("\(root): not a folder")
        }
        func accepted(_ name: String) -> Bool {
            guard let dot = name.lastIndex(of: ".") else { return false }
            return extensions.contains(name[dot...].lowercased())
        }
        let top = try manager.contentsOfDirectory(atPath: root).sorted()
        guard recursive else {
            let files = top.filter { name in
                var folder: ObjCBool = false
                return manager.fileExists(atPath: root + "/" + name, isDirectory: &folder) && !folder.boolValue
                    && accepted(name)
            }
            return (files.map { ($0, 0) }, [])
        }
        let classes = top.filter { name in
            var folder: ObjCBool = false
            return manager.fileExists(atPath: root + "/" + name, isDirectory: &folder) && folder.boolValue
        }
        var files: [(path: String, label: Int)] = []
        for (label, name) in classes.enumerated() {
            guard let enumerator = manager.enumerator(atPath: root + "/" + name) else { continue }
            var inside: [String] = []
            while let relative = enumerator.nextObject() as? String {
                if accepted(relative) { inside.append(relative) }
            }
            for relative in inside.sorted() { files.append((name + "/" + relative, label)) }
        }
        return (files, classes)
    }
}
