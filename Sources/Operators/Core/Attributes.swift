/// Reads MXNet attribute strings for one node, accepting every spelling MXNet writes or
/// accepts: tuples `"(3, 3)"`, `"[3,3]"`, `"(3,3)"`, bare `"3"`, `"()"`, `"None"`;
/// booleans `True`/`False`/`1`/`0` in any case; floats in Python's `str()` form.
/// Errors name the node and the attribute.
public struct AttributeReader {
    public let attributes: [String: String]
    public let node: String

    public init(_ attributes: [String: String], node: String) {
        self.attributes = attributes
        self.node = node
    }

    private func fail(_ key: String, _ value: String, _ expected: String) -> OperatorError {
        OperatorError(node: node, "attribute '\(key)' = '\(value)' is not \(expected)")
    }

    public func has(_ key: String) -> Bool { attributes[key] != nil }

    public func int(_ key: String, default defaultValue: Int? = nil) throws(OperatorError) -> Int {
        guard let text = attributes[key] else {
            if let defaultValue { return defaultValue }
            throw OperatorError(node: node, "required attribute '\(key)' is missing")
        }
        guard let value = Int(text.trimmingSpaces) else { throw fail(key, text, "an integer") }
        return value
    }

    public func float(_ key: String, default defaultValue: Double) throws(OperatorError) -> Double {
        guard let text = attributes[key] else { return defaultValue }
        guard let value = Double(text.trimmingSpaces) else { throw fail(key, text, "a number") }
        return value
    }

    public func bool(_ key: String, default defaultValue: Bool) throws(OperatorError) -> Bool {
        guard let text = attributes[key] else { return defaultValue }
        switch text.trimmingSpaces.lowercased() {
        case "true", "1": return true
        case "false", "0": return false
        default: throw fail(key, text, "a boolean (True/False/1/0)")
        }
    }

    /// An optional boolean where MXNet also accepts `None` (meaning: not set).
    public func optionalBool(_ key: String) throws(OperatorError) -> Bool? {
        guard let text = attributes[key], text.trimmingSpaces.lowercased() != "none" else { return nil }
        return try bool(key, default: false)
    }

    public func string(_ key: String, default defaultValue: String, allowed: [String]) throws(OperatorError) -> String {
        guard let text = attributes[key] else { return defaultValue }
        let value = text.trimmingSpaces
        guard allowed.contains(value) else { throw fail(key, text, "one of \(allowed.joined(separator: ", "))") }
        return value
    }

    /// A tuple of integers; `nil` when absent, `None` or `()`.
    public func tuple(_ key: String) throws(OperatorError) -> [Int]? {
        guard let text = attributes[key] else { return nil }
        var body = text.trimmingSpaces
        if body.lowercased() == "none" { return nil }
        if let first = body.first, first == "(" || first == "[" {
            guard let last = body.last, last == ")" || last == "]" else { throw fail(key, text, "a tuple") }
            body = String(body.dropFirst().dropLast())
        }
        let parts = body.split(separator: ",").map { String($0).trimmingSpaces }.filter { !$0.isEmpty }
        if parts.isEmpty { return nil }
        var values: [Int] = []
        for part in parts {
            // 2015 files sometimes carry Python longs ("3L").
            let digits = part.hasSuffix("L") ? String(part.dropLast()) : part
            guard let value = Int(digits) else { throw fail(key, text, "a tuple of integers") }
            values.append(value)
        }
        return values
    }

    /// A spatial tuple of exactly `count` values; a single value is broadcast; absent gives `defaultValue`.
    public func spatial(_ key: String, count: Int, default defaultValue: Int) throws(OperatorError) -> [Int] {
        guard let values = try tuple(key) else { return Array(repeating: defaultValue, count: count) }
        if values.count == 1 && count > 1 { return Array(repeating: values[0], count: count) }
        guard values.count == count else {
            throw OperatorError(node: node, "attribute '\(key)' has \(values.count) values, expected \(count)")
        }
        return values
    }
}

extension String {
    var trimmingSpaces: String {
        var slice = Substring(self)
        while let first = slice.first, first == " " || first == "\t" || first == "\"" || first == "'" {
            slice.removeFirst()
        }
        while let last = slice.last, last == " " || last == "\t" || last == "\"" || last == "'" { slice.removeLast() }
        return String(slice)
    }
}
