import Foundation
import Formats
import Testing
@testable import Pipeline

@Suite("Per-item memo")
struct MemoStoreTests {
    @Test("records survive reopening; unknown keys are absent")
    func roundTrip() throws {
        let dir = temporaryFolder()
        do {
            let memo = try MemoStore(directory: dir)
            try memo.put(SHA256.digest("a"), [1, 2, 3])
            try memo.put(SHA256.digest("b"), [])
            #expect(memo.get(SHA256.digest("a")) == [1, 2, 3])
            memo.flush()
        }
        let reopened = try MemoStore(directory: dir)
        #expect(reopened.count == 2)
        #expect(reopened.get(SHA256.digest("a")) == [1, 2, 3])
        #expect(reopened.get(SHA256.digest("b")) == [])
        #expect(reopened.get(SHA256.digest("c")) == nil)
    }

    @Test("a torn last record (a writer killed mid-append) is ignored; earlier records stay")
    func tornTail() throws {
        let dir = temporaryFolder()
        do {
            let memo = try MemoStore(directory: dir)
            try memo.put(SHA256.digest("kept"), Array(repeating: 7, count: 100))
            try memo.put(SHA256.digest("torn"), Array(repeating: 9, count: 100))
        }
        let pack = dir + "/" + (try FileManager.default.contentsOfDirectory(atPath: dir).first { $0.hasSuffix(".pack") }!)
        let bytes = try readFileBytes(atPath: pack)
        try AtomicFile.write(Array(bytes.dropLast(40)), to: pack)
        let reopened = try MemoStore(directory: dir)
        #expect(reopened.get(SHA256.digest("kept")) == Array(repeating: 7, count: 100))
        #expect(reopened.get(SHA256.digest("torn")) == nil)
        // A flipped byte in a record's payload also makes it unreadable rather than wrong.
        var flipped = bytes
        flipped[40] ^= 0xFF
        try AtomicFile.write(flipped, to: pack)
        #expect(try MemoStore(directory: dir).get(SHA256.digest("kept")) == nil)
    }
}
