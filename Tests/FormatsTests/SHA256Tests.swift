import Foundation
import Testing
@testable import Formats

@Suite("SHA-256")
struct SHA256Tests {
    @Test("FIPS 180 vectors", arguments: [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
        ("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
         "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"),
    ])
    func vectors(message: String, expected: String) {
        #expect(SHA256.digest(Array(message.utf8)).hex == expected)
        #expect(SHA256.digest(message).hex == expected)
    }

    @Test func oneMillionA() {
        let expected = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
        #expect(SHA256.digest([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)).hex == expected)
        // The same message fed in uneven pieces exercises the pending-block path.
        var hasher = SHA256()
        var fed = 0
        var piece = 1
        while fed < 1_000_000 {
            let n = min(piece, 1_000_000 - fed)
            hasher.update([UInt8](repeating: UInt8(ascii: "a"), count: n))
            fed += n
            piece = piece * 3 % 1000 + 1
        }
        #expect(hasher.finalize().hex == expected)
    }

    @Test("every length around block boundaries matches one-shot hashing")
    func splitsAgree() {
        let data = (0..<300).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
        for length in 0...data.count {
            let whole = SHA256.digest(Array(data[0..<length]))
            for cut in [0, 1, length / 2, max(0, length - 1), length] where cut <= length {
                var hasher = SHA256()
                hasher.update(Array(data[0..<cut]))
                hasher.update(Array(data[cut..<length]))
                #expect(hasher.finalize() == whole, "length \(length), cut \(cut)")
            }
        }
    }

    @Test func fileMatchesSha256sum() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path + "/blob.bin"
        let data = (0..<(3 << 20) + 17).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 13) }
        try AtomicFile.write(data, to: path)
        let digest = try ContentDigest.ofFile(atPath: path)
        #expect(digest == SHA256.digest(data))
        if let tool = ["/usr/bin/sha256sum", "/bin/sha256sum"].first(where: FileManager.default.isExecutableFile) {
            let output = try runTool(tool, [path])
            #expect(output.split(separator: " ").first.map(String.init) == digest.hex)
        }
    }

    @Test func ofFileMissingNamesPath() {
        #expect(throws: FormatError.self) { try ContentDigest.ofFile(atPath: "/nonexistent/x.bin") }
        do {
            _ = try ContentDigest.ofFile(atPath: "/nonexistent/x.bin")
        } catch {
            #expect(error.description.contains("/nonexistent/x.bin"))
        }
    }

    @Test func hexCodableAndOrder() throws {
        let a = SHA256.digest("a"), b = SHA256.digest("b")
        #expect(ContentDigest(hex: a.hex) == a)
        #expect(ContentDigest(hex: a.hex.uppercased()) == a)
        #expect(ContentDigest(hex: "xyz") == nil)
        #expect(ContentDigest(hex: String(a.hex.dropLast()) + "g") == nil)
        #expect(a.description == a.hex)
        #expect(ContentDigest(bytes: a.bytes) == a)
        #expect((a < b) == (a.hex < b.hex))
        let json = try JSONEncoder().encode([a])
        #expect(String(decoding: json, as: UTF8.self) == "[\"\(a.hex)\"]")
        #expect(try JSONDecoder().decode([ContentDigest].self, from: json) == [a])
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([ContentDigest].self, from: Data("[\"00\"]".utf8)) }
    }
}
