#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Testing
@testable import Formats

/// Writers never replace what is not a regular file (issue 10, point 6): before, a FIFO,
/// a device (through a symlink) or a symlink at the output path was replaced by a plain file.
@Suite("OutputPath: never clobber what is not ours")
struct OutputPathTests {
    func fileType(_ path: String) -> mode_t {
        var info = stat()
        return lstat(path, &info) == 0 ? info.st_mode & S_IFMT : 0
    }

    func expectRefused(_ path: String, saying what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            try AtomicFile.write(Array("new".utf8), to: path)
            Issue.record("writing to \(path) was not refused", sourceLocation: sourceLocation)
        } catch {
            #expect(error.kind == .cannotCreate, sourceLocation: sourceLocation)
            #expect(error.description.contains(path) && error.description.contains(what), "\(error)", sourceLocation: sourceLocation)
        }
    }

    @Test("a FIFO is refused and stays a FIFO")
    func fifo() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path + "/out.npz"
        #expect(mkfifo(path, 0o644) == 0)
        expectRefused(path, saying: "a FIFO")
        #expect(fileType(path) == S_IFIFO)
    }

    @Test("a symlink to a character device (/dev/null) is refused and left alone")
    func symlinkToDevice() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path + "/out.csv"
        try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: "/dev/null")
        expectRefused(path, saying: "a symbolic link")
        #expect(fileType(path) == S_IFLNK)
        // As a folder on the way (export csv --out DIR), it is a device, not a folder.
        do {
            try AtomicFile.write(Array("x".utf8), to: path + "/train.csv")
            Issue.record("writing below a symlink to /dev/null was not refused")
        } catch {
            #expect(error.kind == .cannotCreate && error.description.contains("a character device"), "\(error)")
        }
    }

    @Test("a symlink to a regular file is refused; the file it points at is unchanged")
    func symlinkToFile() throws {
        let dir = try TemporaryDirectory()
        let target = dir.path + "/precious.txt", path = dir.path + "/out.npz"
        try AtomicFile.write(Array("keep".utf8), to: target)
        try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: target)
        expectRefused(path, saying: "a symbolic link")
        #expect(fileType(path) == S_IFLNK)
        #expect(try readFileBytes(atPath: target) == Array("keep".utf8))
    }

    @Test("a folder is refused")
    func folder() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path + "/out.npz"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        expectRefused(path, saying: "a folder")
        #expect(fileType(path) == S_IFDIR)
    }

    @Test("a missing path or a regular file is written; folders on the way may be symlinks")
    func allowed() throws {
        let dir = try TemporaryDirectory()
        try AtomicFile.write(Array("one".utf8), to: dir.path + "/a/b.txt")
        try AtomicFile.write(Array("two".utf8), to: dir.path + "/a/b.txt")
        #expect(try readFileBytes(atPath: dir.path + "/a/b.txt") == Array("two".utf8))
        try FileManager.default.createSymbolicLink(atPath: dir.path + "/link", withDestinationPath: dir.path + "/a")
        try AtomicFile.write(Array("three".utf8), to: dir.path + "/link/c.txt")
        #expect(try readFileBytes(atPath: dir.path + "/a/c.txt") == Array("three".utf8))
        try OutputPath.check(dir.path + "/missing/deeper/x")
    }
}

/// Error messages quote input escaped and short (issue 10, point 8).
@Suite("FER2013 errors: escaped, bounded, precise")
struct FER2013ErrorTextTests {
    func failure(_ text: String) -> FormatError? {
        do { _ = try FER2013CSV.parse(Array(text.utf8), source: "x.csv"); return nil } catch { return error }
    }

    @Test("a negative pixel is 'negative', not 'not a number'")
    func negativePixel() throws {
        let pixels = (["-5"] + Array(repeating: "1", count: 2303)).joined(separator: " ")
        let error = try #require(failure("emotion,pixels,Usage\n3,\(pixels),Training\n"))
        #expect(error.description.contains("pixel 1 (image row 0, column 0) is negative") && error.description.contains("found '-5'"), "\(error)")
        let letters = (["ab"] + Array(repeating: "1", count: 2303)).joined(separator: " ")
        #expect(failure("emotion,pixels,Usage\n3,\(letters),Training\n")?.description.contains("is not a number") == true)
    }

    @Test("a header with terminal escapes and NUL is echoed escaped")
    func escapedHeader() throws {
        let error = try #require(failure("emotion,\u{1B}]0;pwned\u{7}\u{0},Usage\n"))
        let text = error.description
        #expect(text.contains("\\x1b]0;pwned\\x07\\0"), "\(text)")
        #expect(!text.unicodeScalars.contains { $0.value < 0x20 })
    }

    @Test("a 2 MB header line gives a short message")
    func longHeader() throws {
        let columns = (0..<200_000).map { "column\($0)" }.joined(separator: ",")
        let error = try #require(failure("emotion,\(columns)\n"))
        #expect(error.description.utf8.count < 400, "\(error.description.utf8.count) bytes")
        #expect(error.description.contains("missing columns 'pixels' and 'Usage'"))
        let plain = String(repeating: "z", count: 2_000_000)
        #expect((failure(plain + "\n")?.description.utf8.count ?? .max) < 400)
    }
}

/// A build clearing stale temporaries under the lock must spare those of live writers outside
/// it: before, three concurrent builds on one cache could make one exit 74 ("cannot move the
/// new content into place") when another removed its manifest's temporary file.
@Suite("Stale temporaries: only dead writers' files are removed")
struct StaleTemporaryTests {
    @Test("a live process's temporary stays; a dead one's, our own and an old-style one go")
    func liveWritersSpared() throws {
        let dir = try TemporaryDirectory()
        let live = ".tmp-x.manifest.json-1-ab12", dead = ".tmp-x.json-2147483646-cd34"
        let own = ".tmp-x.json-\(getpid())-ef56", old = ".tmp-x-9f8e"
        for name in [live, dead, own, old] { try AtomicFile.write([1], to: dir.path + "/" + name) }
        AtomicFile.removeStaleTemporaries(in: dir.path)
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        #expect(left == [live], "\(left)")
    }

    @Test("temporary names carry the writer's pid")
    func pidInName() throws {
        let dir = try TemporaryDirectory()
        #expect(throws: FormatError.self) { try AtomicFile.write([1, 2, 3], to: dir.path + "/f.bin", faultAfterBytes: 1) }
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        #expect(names.count == 1 && names[0].hasPrefix(".tmp-f.bin-\(getpid())-"), "\(names)")
    }
}
