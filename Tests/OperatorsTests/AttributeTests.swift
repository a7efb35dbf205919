import Testing

@testable import Operators

@Suite struct AttributeTests {
    let reader = AttributeReader(
        [
            "python": "(3, 3)", "list": "[2,2]", "tight": "(1,1)", "bare": "3", "empty": "()", "none": "None",
            "long": "(3L, 3L)", "yes": "True", "no": "false", "one": "1", "zero": "0", "float": "1e-05",
            "bad": "(a, b)",
        ], node: "conv1")

    @Test func tuplesInEverySpelling() throws {
        #expect(try reader.tuple("python") == [3, 3])
        #expect(try reader.tuple("list") == [2, 2])
        #expect(try reader.tuple("tight") == [1, 1])
        #expect(try reader.tuple("bare") == [3])
        #expect(try reader.tuple("empty") == nil)
        #expect(try reader.tuple("none") == nil)
        #expect(try reader.tuple("long") == [3, 3])
        #expect(try reader.spatial("bare", count: 2, default: 0) == [3, 3])
        #expect(try reader.spatial("missing", count: 2, default: 1) == [1, 1])
    }

    @Test func booleansAndNumbers() throws {
        #expect(try reader.bool("yes", default: false))
        #expect(try !reader.bool("no", default: true))
        #expect(try reader.bool("one", default: false))
        #expect(try !reader.bool("zero", default: true))
        #expect(try reader.float("float", default: 0) == 1e-5)
        #expect(try reader.optionalBool("none") == nil)
    }

    @Test func errorsNameNodeAndAttribute() {
        do {
            _ = try reader.tuple("bad")
            Issue.record("expected an error")
        } catch {
            #expect(error.description.contains("conv1") && error.description.contains("'bad'"))
        }
        #expect(throws: OperatorError.self) { try reader.int("missing") }
        #expect(throws: OperatorError.self) { try reader.bool("python", default: false) }
    }
}
