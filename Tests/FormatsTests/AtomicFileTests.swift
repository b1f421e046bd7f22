import Foundation
import Testing
@testable import Formats

@Suite("Atomic file writes")
struct AtomicFileTests {
    @Test func writesAndCreatesParents() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path + "/a/b/c/out.bin"
        try AtomicFile.write([1, 2, 3], to: path)
        #expect(try readFileBytes(atPath: path) == [1, 2, 3])
        try AtomicFile.write([9], to: path)
        #expect(try readFileBytes(atPath: path) == [9])
        #expect(try leftovers(in: dir.path + "/a/b/c").isEmpty)
    }

    @Test("a crash mid-write leaves the old content", arguments: [0, 1, 500, 4095])
    func crashKeepsOldContent(faultAfter: Int) throws {
        let dir = try TemporaryDirectory()
        let path = dir.path + "/data.bin"
        let old = [UInt8](repeating: 7, count: 1000)
        try AtomicFile.write(old, to: path)
        let new = [UInt8](repeating: 8, count: 4096)
        #expect(throws: FormatError.self) {
            try AtomicFile.write(new, to: path, faultAfterBytes: faultAfter)
        }
        #expect(try readFileBytes(atPath: path) == old)
        // A crash leaves its temporary file behind, like a killed process would.
        #expect(try leftovers(in: dir.path).count == 1)
        AtomicFile.removeStaleTemporaries(in: dir.path)
        #expect(try leftovers(in: dir.path).isEmpty)
        try AtomicFile.write(new, to: path)
        #expect(try readFileBytes(atPath: path) == new)
    }

    @Test func crashOnFirstWriteLeavesNoDestination() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path + "/fresh.bin"
        #expect(throws: FormatError.self) {
            try AtomicFile.write([1, 2, 3, 4], to: path, faultAfterBytes: 2)
        }
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test func failureRemovesTemporary() throws {
        let dir = try TemporaryDirectory()
        // The destination is a non-empty directory, so the final rename fails.
        let path = dir.path + "/target"
        try FileManager.default.createDirectory(atPath: path + "/inner", withIntermediateDirectories: true)
        #expect(throws: FormatError.self) { try AtomicFile.write([1, 2, 3], to: path) }
        #expect(try leftovers(in: dir.path).isEmpty)
    }

    @Test func parentIsAFile() throws {
        let dir = try TemporaryDirectory()
        try AtomicFile.write([1], to: dir.path + "/file")
        #expect(throws: FormatError.self) { try AtomicFile.write([1], to: dir.path + "/file/child") }
    }

    @Test func readMissingNamesPath() {
        do {
            _ = try readFileBytes(atPath: "/no/such/dir/data.csv")
            Issue.record("expected an error")
        } catch {
            #expect(error.file == "/no/such/dir/data.csv")
            #expect(error.description.contains("no such file"))
        }
    }

    @Test func readDirectoryFails() throws {
        let dir = try TemporaryDirectory()
        #expect(throws: FormatError.self) { try readFileBytes(atPath: dir.path) }
    }

    private func leftovers(in directory: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasPrefix(".tmp-") }
    }
}

@Suite("Atomic file names")
struct AtomicFileNameTests {
    @Test func longFileName() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path + "/" + String(repeating: "n", count: 250)
        try AtomicFile.write([1, 2], to: path)
        #expect(try readFileBytes(atPath: path) == [1, 2])
    }
}
