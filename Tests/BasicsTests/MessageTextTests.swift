import Basics
import Testing

@Suite("Message text: input quoted in errors is escaped and bounded")
struct MessageTextTests {
    @Test("control characters and NUL are shown escaped, never raw")
    func escapes() {
        let hostile = "a\u{1B}[2Jb\u{0}c\u{7}\td\u{9B}e\u{202E}f"
        let field = MessageText.field(hostile)
        #expect(field == "a\\x1b[2Jb\\0c\\x07\\td\\x9be\\u{202e}f")
        #expect(!field.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) })
        #expect(MessageText.sanitized("line one\u{1B}\nSee help") == "line one\\x1b\nSee help")
    }

    @Test("a long field is shortened to about 80 characters and says how long it was")
    func shortensField() {
        let long = String(repeating: "x", count: 20_000_000)
        let field = MessageText.field(long)
        #expect(field.count < 120)
        #expect(field.hasPrefix(String(repeating: "x", count: 80)))
        #expect(field.hasSuffix("(20000000 characters in all)"))
        #expect(MessageText.field("short") == "short")
    }

    @Test("a whole message keeps its start and its hint, and each line is bounded")
    func sanitizesMessage() {
        let message = "bad header '" + String(repeating: "y", count: 100_000) + "'; expected emotion,pixels,Usage\nSee 'blendset help'."
        let safe = MessageText.sanitized(message)
        let lines = safe.split(separator: "\n")
        #expect(lines.count == 2)
        #expect(lines[0].count < MessageText.lineLimit + 60)
        #expect(lines[0].hasPrefix("bad header 'yyy") && lines[0].hasSuffix("expected emotion,pixels,Usage"))
        #expect(lines[1] == "See 'blendset help'.")
    }
}
