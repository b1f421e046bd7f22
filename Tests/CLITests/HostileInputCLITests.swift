#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Testing

/// Issue 10, points 6 and 8, end to end: writers never clobber what is not a regular file
/// (exit 73), errors echo input escaped and short, and exit codes follow the help's list.
@Suite("blendset CLI: hostile outputs and consistent errors")
struct HostileInputCLITests {
    func fileType(_ path: String) -> mode_t {
        var info = stat()
        return lstat(path, &info) == 0 ? info.st_mode & S_IFMT : 0
    }

    /// A FIFO, a symlink to a character device, a symlink to a file and a folder, each at `dir/<name>`.
    func hostileOutputs(in dir: String) throws -> [(path: String, type: mode_t, says: String)] {
        let fifo = dir + "/fifo", device = dir + "/null", link = dir + "/link", folder = dir + "/folder"
        #expect(mkfifo(fifo, 0o644) == 0)
        try FileManager.default.createSymbolicLink(atPath: device, withDestinationPath: "/dev/null")
        try Data("precious".utf8).write(to: URL(fileURLWithPath: dir + "/precious"))
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: dir + "/precious")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false)
        return [(fifo, S_IFIFO, "a FIFO"), (device, S_IFLNK, "a symbolic link"), (link, S_IFLNK, "a symbolic link"), (folder, S_IFDIR, "a folder")]
    }

    @Test("export, manifest --plots, metrics --save and extract refuse FIFOs, devices, symlinks and folders (exit 73)")
    func outputsRefused() throws {
        let dir = CLI.folder(), cache = dir + "/cache"
        let (built, _) = try CLI.buildJSON(cache: cache)
        #expect(built.status == 0, "\(built.stderr)")
        let targets = try hostileOutputs(in: dir)
        for (path, type, says) in targets {
            let r = try CLI.run(["export", "--format", "npz", "--out", path, "--cache", cache])
            #expect(r.status == 73 && r.stderr.contains(path) && r.stderr.contains(says), "\(path): \(r.status) \(r.stderr)")
            #expect(fileType(path) == type)
        }
        #expect(try String(contentsOfFile: dir + "/precious", encoding: .utf8) == "precious")
        // Folder outputs: a FIFO or a symlink to /dev/null is not a folder to write into.
        for path in [dir + "/fifo", dir + "/null"] {
            let csv = try CLI.run(["export", "--format", "csv", "--out", path, "--cache", cache])
            #expect(csv.status == 73 && csv.stderr.contains("not a folder"), "\(csv.stderr)")
            let plots = try CLI.run(["manifest", "--plots", path, "--cache", cache])
            #expect(plots.status == 73, "\(plots.stderr)")
            let save = try CLI.run(["metrics", "--save", path, "--cache", cache])
            #expect(save.status == 73, "\(save.stderr)")
        }
        #expect(fileType(dir + "/fifo") == S_IFIFO && fileType(dir + "/null") == S_IFLNK)
        // extract refuses before the (long) extraction starts.
        let extract = try CLI.run(["extract", "--input", CLI.fixture, "--out", dir + "/fifo", "--model", "/nonexistent.task"])
        #expect(extract.status == 73 && extract.stderr.contains("a FIFO"), "\(extract.stderr)")
        // A regular file is still replaced.
        let ok = try CLI.run(["export", "--format", "npz", "--out", dir + "/precious", "--cache", cache])
        #expect(ok.status == 0, "\(ok.stderr)")
    }

    @Test("a deleted object is a damaged cache: exit 70, naming the file")
    func deletedObject() throws {
        let dir = CLI.folder(), cache = dir + "/cache"
        let (built, json) = try CLI.buildJSON(cache: cache)
        #expect(built.status == 0, "\(built.stderr)")
        let object = try DamagedCacheCLITests().tableObject(stage: "dataset", cache: cache, build: json)
        try FileManager.default.removeItem(atPath: object)
        for args in [["export", "--format", "npz", "--out", dir + "/x.npz"], ["manifest"], ["diff", "latest", "latest"]] {
            let r = try CLI.run(args + ["--cache", cache])
            #expect(r.status == 70 && r.stderr.contains(object) && r.stderr.contains("missing"), "\(args): \(r.status) \(r.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: dir + "/x.npz"))
    }

    @Test("exit codes: --set on no stage 78, missing --pipeline 66, empty ingest.source 78")
    func exitCodes() throws {
        let cache = CLI.folder() + "/cache"
        let set = try CLI.run(["build", "--pipeline", CLI.pipeline, "--cache", cache, "--set", "nosuch.x=1"])
        #expect(set.status == 78 && set.stderr.contains("no stage named 'nosuch'"), "\(set.status) \(set.stderr)")
        let missing = try CLI.run(["build", "--pipeline", "/nonexistent/pipeline.json", "--cache", cache])
        #expect(missing.status == 66 && missing.stderr.contains("/nonexistent/pipeline.json"), "\(missing.status) \(missing.stderr)")
        let empty = try CLI.run(["build", "--pipeline", CLI.pipeline, "--cache", cache, "--set", "ingest.source="])
        #expect(empty.status == 78 && empty.stderr.contains("ingest.source: is empty"), "\(empty.status) \(empty.stderr)")
        #expect(!FileManager.default.fileExists(atPath: cache + "/versions"))
    }

    @Test("a header-only CSV fails the build with a message and writes no version")
    func headerOnly() throws {
        let dir = CLI.folder(), cache = dir + "/cache"
        try Data("emotion,pixels,Usage\n".utf8).write(to: URL(fileURLWithPath: dir + "/empty.csv"))
        let r = try CLI.run(["build", "--pipeline", CLI.pipeline, "--cache", cache, "--set", "ingest.source=\(dir)/empty.csv"] + CLI.fast)
        #expect(r.status == 65 && r.stderr.contains("yields no images") && r.stderr.contains("no data rows"), "\(r.status) \(r.stderr)")
        let versions = try CLI.run(["versions", "--cache", cache])
        #expect((versions.stdout + versions.stderr).contains("no dataset versions"), "\(versions.stdout) \(versions.stderr)")
    }

    @Test("errors echo input bytes escaped and short")
    func escapedAndShort() throws {
        let dir = CLI.folder(), cache = dir + "/cache"
        try Data("emotion,\u{1B}[2J\u{1B}]0;pwned\u{7},Usage\n".utf8).write(to: URL(fileURLWithPath: dir + "/escape.csv"))
        let escape = try CLI.run(["build", "--pipeline", CLI.pipeline, "--cache", cache, "--set", "ingest.source=\(dir)/escape.csv"])
        #expect(escape.status == 65 && escape.stderr.contains("\\x1b[2J\\x1b]0;pwned\\x07"), "\(escape.stderr)")
        #expect(!escape.stderr.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" })
        let header = "emotion," + (0..<1_000_000).map { _ in "c" }.joined(separator: ",") + "\n"
        try Data(header.utf8).write(to: URL(fileURLWithPath: dir + "/long.csv"))
        let long = try CLI.run(["build", "--pipeline", CLI.pipeline, "--cache", cache, "--set", "ingest.source=\(dir)/long.csv"])
        #expect(long.status == 65 && long.stderr.utf8.count < 1000, "\(long.stderr.utf8.count) bytes")
        let arg = try CLI.run(["frobnicate\u{1B}[31m" + String(repeating: "x", count: 100_000)])
        #expect(arg.status == 64 && arg.stderr.contains("\\x1b[31m") && arg.stderr.utf8.count < 1500, "\(arg.stderr.utf8.count)")
    }
}
