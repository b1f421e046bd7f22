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

    @Test("checksums verified on several threads give the same records and damage count as on one")
    func scanThreadsAgree() throws {
        let dir = temporaryFolder()
        do {
            let memo = try MemoStore(directory: dir)
            for i in 0..<300 { try memo.put(SHA256.digest("item \(i)"), Array(repeating: UInt8(i % 256), count: i % 97)) }
        }
        let pack = dir + "/" + (try FileManager.default.contentsOfDirectory(atPath: dir).first { $0.hasSuffix(".pack") }!)
        var bytes = try readFileBytes(atPath: pack)
        bytes[bytes.count / 2] ^= 0x5A
        let one = MemoStore.scan(bytes, jobs: 1)
        #expect(one.records.count == 299 && one.damaged == 1)
        for jobs in [2, 3, 8] {
            let many = MemoStore.scan(bytes, jobs: jobs)
            #expect(many.damaged == one.damaged)
            #expect(many.records.map(\.0) == one.records.map(\.0))
            #expect(many.records.map(\.1) == one.records.map(\.1))
        }
        try AtomicFile.write(bytes, to: pack)
        #expect(try MemoStore(directory: dir, jobs: 2).count == 299)
    }

    @Test("a sealed artifact is checked against its id and its seal in one read; damage is still caught")
    func sealedRead() throws {
        let store = ArtifactStore(layout: CacheLayout(root: temporaryFolder()))
        let body = Array("some table bytes".utf8)
        let sealedBytes = body + SHA256.digest(body).bytes
        let sealed = try store.write(sealedBytes)
        let read = try store.readSealed(sealed)
        #expect(read.bytes == sealedBytes && read.sealed)
        let plain = try store.write(body + Array(repeating: 0, count: 32))
        #expect(try store.readSealed(plain).sealed == false)
        let short = try store.write([1, 2, 3])
        let shortRead = try store.readSealed(short)
        #expect(shortRead.bytes == [1, 2, 3] && !shortRead.sealed)
        try AtomicFile.write(Array(sealedBytes.dropLast()), to: store.layout.object(sealed))
        #expect(throws: PipelineError.self) { try store.readSealed(sealed) }
    }
}
