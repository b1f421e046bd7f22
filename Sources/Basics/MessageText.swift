/// Text from input files and command lines, made safe to quote in an error message: control
/// characters (terminal escape sequences, NUL) are shown escaped (`\x1b`, `\0`), and long
/// text is shortened, so a hostile 20 MB header line gives a short, printable message.
public enum MessageText {
    /// About how many characters of one quoted input field a message shows.
    public static let fieldLimit = 80
    /// About how many characters one line of a whole message keeps.
    public static let lineLimit = 1000

    /// One field of input (a token, a header, a name): escaped, and shortened to about
    /// `limit` characters with the full length stated.
    public static func field(_ text: some StringProtocol, limit: Int = fieldLimit) -> String {
        // Escape only what can be shown: the field may be megabytes long.
        let escaped = escape(text.prefix(limit + 1), keepNewlines: false)
        return shorten(escaped, limit: limit, tail: 0, originalCount: text.count > limit ? text.count : nil)
    }

    /// A whole message: escaped (newlines kept, they separate a message from its hint) and
    /// each line shortened to about `lineLimit` characters, keeping its end (the hint).
    public static func sanitized(_ message: String) -> String {
        let escaped = escape(message, keepNewlines: true)
        guard escaped.utf8.count > lineLimit else { return escaped }
        return escaped.split(separator: "\n", omittingEmptySubsequences: false)
            .map { shorten(String($0), limit: lineLimit, tail: 120, originalCount: nil) }
            .joined(separator: "\n")
    }

    /// `\0`, `\t`, `\r`, `\n` and `\xNN` for C0 and C1 control characters and DEL;
    /// `\u{…}` for the bidirectional overrides that can reorder what a terminal shows.
    public static func escape(_ text: some StringProtocol, keepNewlines: Bool = false) -> String {
        var out = ""
        out.unicodeScalars.reserveCapacity(text.unicodeScalars.count)
        for s in text.unicodeScalars {
            switch s.value {
            case 0x0A where keepNewlines: out.unicodeScalars.append(s)
            case 0x00: out += "\\0"
            case 0x09: out += "\\t"
            case 0x0A: out += "\\n"
            case 0x0D: out += "\\r"
            case 0x01...0x1F, 0x7F...0x9F: out += "\\x" + hex(s.value, digits: 2)
            case 0x202A...0x202E, 0x2066...0x2069: out += "\\u{" + hex(s.value, digits: 4) + "}"
            default: out.unicodeScalars.append(s)
            }
        }
        return out
    }

    private static func shorten(_ text: String, limit: Int, tail: Int, originalCount: Int?) -> String {
        let count = text.count
        guard count > limit || originalCount != nil else { return text }
        let total = originalCount ?? count
        let head = max(1, limit - tail)
        let end = tail > 0 ? String(text.suffix(tail)) : ""
        return String(text.prefix(head)) + "… (\(total) characters in all)" + (end.isEmpty ? "" : " …" + end)
    }

    private static func hex(_ value: UInt32, digits: Int) -> String {
        let s = String(value, radix: 16)
        return String(repeating: "0", count: max(0, digits - s.count)) + s
    }
}
