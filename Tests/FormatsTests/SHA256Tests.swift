import Foundation
import Testing
@testable import Formats
import Basics

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

    @Test("eight lanes at once give each message's own digest, for every tail length and group remainder")
    func lanesMatchOneByOne() {
        for length in [1, 2, 55, 56, 63, 64, 65, 119, 120, 128, 2304] {
            for count in [0, 1, 7, 8, 9, 16, 17, 23] {
                let messages = (0..<(length * count)).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ length &+ $0 >> 7) }
                var digests = [UInt8](repeating: 0, count: count * 32)
                messages.withUnsafeBytes { m in
                    digests.withUnsafeMutableBytes { SHA256.digests(ofMessages: m, length: length, into: $0) }
                }
                for i in 0..<count {
                    let one = SHA256.digest(Array(messages[(i * length)..<((i + 1) * length)])).bytes
                    #expect(Array(digests[(i * 32)..<((i + 1) * 32)]) == one, "length \(length), message \(i) of \(count)")
                }
            }
        }
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

    // The padding is built in place: messages ending just before, at and after the
    // 56-byte length field and the block end (values from Python's hashlib).
    @Test("padding around the length field and block ends", arguments: [
        (55, "e7313d333c272e639f790978283f9eb392e843d0f29b7016828bb1daa4aac70b"),
        (56, "4324d65f3c103567f5589c710bc08f8523f929a9272e3af36fc968e52abc6c27"),
        (57, "35df609437dcfea3279283ab79fd554e2bf78f8f7ae2de532d8ee300b09e8f73"),
        (63, "81c80242132f230c3bd41b3e63bbcff16107339549214a99614ff26664625055"),
        (64, "39e3d7b6b5d075d37d053ad89b24b41bef4f3c29760c84447cab3f3be1882241"),
        (65, "aacca6ff74fdbb296d165a45cecfa04e5127bc008770fbbdd48006f2d2fae95e"),
        (119, "9ce7368e4daf32341631b492e80359dc9f594b48453cd0dd5bf0b19279cc177e"),
        (120, "7836b787757e95e58b3ca5aec90b1b004e8deba1e50e9675af9cabf1a13a04b5"),
    ])
    func paddingEdges(length: Int, expected: String) {
        let data = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
        #expect(SHA256.digest(data).hex == expected)
        // A hasher reused after a partial block must not leak its earlier bytes into the padding.
        var hasher = SHA256()
        hasher.update(Array(data.prefix(50)))
        hasher.update(Array(data.dropFirst(50)))
        #expect(hasher.finalize().hex == expected)
    }

    @Test("digests(prefix:) gives the prefix's and the whole's digests in one pass")
    func prefixAndWhole() {
        let data = (0..<300).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ 1) }
        for length in [0, 1, 32, 63, 64, 65, 100, 300] {
            for split in Set([0, length / 3, max(0, length - 32), length]) {
                let (prefix, whole) = data.withUnsafeBytes { SHA256.digests(UnsafeRawBufferPointer(rebasing: $0[0..<length]), prefix: split) }
                #expect(prefix == SHA256.digest(Array(data[0..<split])), "length \(length), split \(split)")
                #expect(whole == SHA256.digest(Array(data[0..<length])), "length \(length), split \(split)")
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

@Suite("SHA-256 on the CPU's SHA extensions")
struct SHA256ExtensionsTests {
    @Test("the SHA-extension rounds give the portable rounds' state, for 1 to 9 blocks of varied bytes",
          .enabled(if: SHA256.usesExtensions, "this CPU or build has no SHA extensions"))
    func extensionsMatchPortable() {
        var random = SeededRandom(seed: 20261204)
        for blocks in 1...9 {
            for _ in 0..<50 {
                let data = (0..<(blocks * 64)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
                var start = SHA256.State()
                // Start from a state other than the initial one too.
                if blocks % 2 == 0 { data.withUnsafeBytes { SHA256.compressPortably(&start, $0.baseAddress!, blocks: 1) } }
                var portable = start, extensions = start
                data.withUnsafeBytes { buffer in
                    SHA256.compressPortably(&portable, buffer.baseAddress!, blocks: blocks)
                    SHA256.compressWithExtensions(&extensions, buffer.baseAddress!, blocks: blocks)
                }
                #expect(portable == extensions, "\(blocks) blocks")
            }
        }
    }
}
