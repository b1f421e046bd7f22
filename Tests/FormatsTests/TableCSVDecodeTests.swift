import Formats
import Testing

@Suite("TableCSV.decode")
struct TableCSVDecodeTests {
    func decode(_ text: String) throws -> TableCSV.Records { try TableCSV.decode(Array(text.utf8), source: "t.csv") }

    @Test("quoted fields hold commas, doubled quotes and line breaks; rows keep their line numbers")
    func quoting() throws {
        let r = try decode("a, \"b,c\" ,d\r\n\r\n1,\"say \"\"hi\"\"\",\"x\ny\"\n  \n2,3,4")
        #expect(r.header == ["a", "b,c", "d"])
        #expect(r.rows.map(\.line) == [3, 6])
        #expect(r.rows[0].fields == ["1", "say \"hi\"", "x\ny"])
        #expect(r.rows[1].fields == ["2", "3", "4"])
    }

    @Test("an empty file has no header; an unclosed quote names the line it starts on")
    func errors() throws {
        #expect(try decode("").header.isEmpty)
        #expect(try decode("\n \n").header.isEmpty)
        #expect(throws: FormatError(file: "t.csv", line: 2, message: "a quoted field is not closed before the end of the file")) {
            try decode("a,b\n1,\"2\n3\n")
        }
    }
}
