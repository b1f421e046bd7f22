import Testing
import Basics
import Foundation

@Suite struct CRC32Tests {
    @Test func checkValues() {
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(CRC32.checksum([]) == 0)
        #expect(CRC32.checksum([UInt8](repeating: 0, count: 32)) == 0x190A_55AD)
    }
}

@Suite struct FileBytesTests {
    @Test func readsWholeFile() throws {
        let path = NSTemporaryDirectory() + "/basics-\(getpid())-read.bin"
        let bytes = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(try FileBytes.read(atPath: path) == bytes)
    }

    @Test func missingFileAndDirectoryAreNamed() {
        #expect(throws: FileReadError(path: "/nonexistent/x", reason: .cannotOpen(errno: ENOENT))) {
            try FileBytes.read(atPath: "/nonexistent/x")
        }
        do {
            _ = try FileBytes.read(atPath: "/tmp")
            Issue.record("reading a directory must fail")
        } catch {
            #expect(error.reason == .isDirectory)
            #expect(error.description == "/tmp: cannot read: it is a directory, expected a file")
        }
    }
}

@Suite struct ParallelLoopTests {
    @Test(arguments: [1, 2, 3, 8])
    func runVisitsEveryIndexOnce(jobs: Int) {
        var hits = [Int](repeating: 0, count: 1000)
        hits.withUnsafeMutableBufferPointer { h in
            nonisolated(unsafe) let p = h.baseAddress!
            ParallelLoop.run(count: 1000, jobs: jobs) { p[$0] += $0 + 1 }
        }
        #expect(hits == (0..<1000).map { $0 + 1 })
    }

    @Test(arguments: [nil, 1 << 20] as [Int?])
    func mapKeepsIndexOrderForAnyJobCount(stackSize: Int?) throws {
        let expected = (0..<500).map { $0 * $0 }
        for jobs in [1, 2, 5] {
            let made = Counter()
            let got = ParallelLoop.map(count: 500, jobs: jobs, stackSize: stackSize, makeWorker: { made.add() }) { _, i in i * i }
            #expect(got == expected)
            #expect(made.value == min(jobs, 500))
        }
    }

    struct Stop: Error, Equatable { let index: Int }

    @Test func mapRethrowsTheError() {
        #expect(throws: Stop(index: 7)) {
            _ = try ParallelLoop.map(count: 100, jobs: 1, makeWorker: { () throws(Stop) in 0 }) { (_, i) throws(Stop) -> Int in
                if i == 7 { throw Stop(index: 7) }
                return i
            }
        }
    }

    @Test func mapReportsProgress() {
        let last = Counter()
        _ = ParallelLoop.map(count: 130, jobs: 2, progress: { n in last.set(n) }, makeWorker: { 0 }) { _, i in i }
        #expect(last.value == 130)
    }
}

private final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func add() { lock.lock(); n += 1; lock.unlock() }
    func set(_ v: Int) { lock.lock(); n = max(n, v); lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return n }
}
