import Foundation
import Formats
import Testing

/// Runs the built `blendset` binary, as a user would.
struct CLI {
    static let binary: String = {
        // The test bundle sits in the same build folder as the executables.
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("blendset").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("blendset").path
    }()

    static let fixture = URL(fileURLWithPath: "../shared/fixtures/fer2013-mini.csv").standardizedFileURL.path
    static let pipeline = URL(fileURLWithPath: "pipeline.json").standardizedFileURL.path
    /// Keeps fixture builds of the default pipeline quick: no class filling, small balance, short training.
    static let fast = ["--set", "augment.per_class_target=0", "--set", "balance.per_class=50", "--set", "train.epochs=3"]

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    @discardableResult
    static func run(_ args: [String], in directory: String? = nil) throws -> Result {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = args
        if let directory { p.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        // Read both pipes before waiting, so a full pipe never blocks the child.
        nonisolated(unsafe) var errData = Data()
        let reader = Thread { errData = err.fileHandleForReading.readDataToEndOfFile() }
        reader.start()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        while reader.isExecuting || !reader.isFinished { Thread.sleep(forTimeInterval: 0.001) }
        return Result(status: p.terminationStatus, stdout: String(decoding: outData, as: UTF8.self), stderr: String(decoding: errData, as: UTF8.self))
    }

    static func folder(_ label: String = #function) -> String {
        let path = NSTemporaryDirectory() + "blendset-cli-tests/\(label.filter { $0.isLetter })-\(UUID().uuidString.prefix(8))"
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// `build` on the fixture into a fresh cache, returning the parsed --json output.
    static func buildJSON(cache: String, _ extra: [String] = []) throws -> (Result, [String: Any]) {
        let r = try run(["build", "--pipeline", pipeline, "--cache", cache, "--set", "ingest.source=\(fixture)", "--json"] + fast + extra)
        let object = (try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8))) as? [String: Any] ?? [:]
        return (r, object)
    }
}

func statuses(_ json: [String: Any]) -> [String: String] {
    var out: [String: String] = [:]
    for s in json["stages"] as? [[String: Any]] ?? [] { out[s["name"] as! String] = s["status"] as? String }
    return out
}

@Suite("blendset CLI")
struct CLITests {
    @Test("build --json runs every stage, and a second build finds every stage cached")
    func buildTwice() throws {
        let cache = CLI.folder() + "/cache"
        let (r1, j1) = try CLI.buildJSON(cache: cache)
        #expect(r1.status == 0, "\(r1.stderr)")
        let stages = j1["stages"] as? [[String: Any]] ?? []
        #expect(stages.map { $0["name"] as? String } == ["ingest", "select", "split", "landmarks", "blendshapes", "augment", "balance", "truncate", "onehot", "dataset", "train"])
        #expect(stages.allSatisfy { $0["status"] as? String == "ran" })
        #expect(stages.allSatisfy { ($0["key"] as? String)?.count == 64 && $0["seconds"] != nil && $0["rows_in"] != nil && $0["rows_out"] != nil })
        #expect(stages.first { $0["name"] as? String == "select" }?["rows_out"] as? Int == 126)
        #expect((j1["version"] as? String)?.count == 64)
        let (r2, j2) = try CLI.buildJSON(cache: cache)
        #expect(r2.status == 0)
        #expect(statuses(j2).values.allSatisfy { $0 == "cached" })
        #expect(j2["version"] as? String == j1["version"] as? String)
    }

    @Test("--set balance.seed=2 runs only balance and the stages below it")
    func seedChange() throws {
        let cache = CLI.folder() + "/cache"
        try CLI.buildJSON(cache: cache, ["--set", "balance.per_class=20"])
        let (r, j) = try CLI.buildJSON(cache: cache, ["--set", "balance.per_class=20", "--set", "balance.seed=2"])
        #expect(r.status == 0)
        let s = statuses(j)
        #expect(["ingest", "select", "split", "landmarks", "blendshapes", "augment"].allSatisfy { s[$0] == "cached" })
        #expect(["balance", "truncate", "onehot", "dataset", "train"].allSatisfy { s[$0] == "ran" })
    }

    @Test("status explains a pending change; dag renders; show prints rows")
    func inspection() throws {
        let cache = CLI.folder() + "/cache"
        try CLI.buildJSON(cache: cache)
        let st = try CLI.run(["status", "--pipeline", CLI.pipeline, "--cache", cache, "--set", "ingest.source=\(CLI.fixture)"] + CLI.fast + ["--set", "balance.per_class=10"])
        #expect(st.status == 0)
        #expect(st.stdout.contains("cached     split"))
        #expect(st.stdout.contains("would run  balance: param per_class: 50 → 10"))
        #expect(st.stdout.contains("would run  truncate: input 'balance' will be rebuilt"))
        let dot = try CLI.run(["dag", "--pipeline", CLI.pipeline, "--dot"])
        #expect(dot.stdout.hasPrefix("digraph pipeline {") && dot.stdout.contains("\"augment\" -> \"balance\";"))
        let mermaid = try CLI.run(["dag", "--pipeline", CLI.pipeline, "--mermaid"])
        #expect(mermaid.stdout.contains("s_onehot --> s_dataset"))
        let show = try CLI.run(["show", "select", "--rows", "3", "--pipeline", CLI.pipeline, "--cache", cache, "--set", "ingest.source=\(CLI.fixture)"] + CLI.fast)
        #expect(show.status == 0, "\(show.stderr)")
        #expect(show.stdout.hasPrefix("126 rows"))
        #expect(show.stdout.contains("label i32") && show.stdout.contains("… 123 more rows"))
    }

    @Test("help is complete: every command has help, and usage errors exit 64")
    func help() throws {
        let main = try CLI.run(["--help"])
        #expect(main.status == 0)
        for c in ["build", "status", "dag", "show"] {
            #expect(main.stdout.contains("  \(c) "))
            let h = try CLI.run(["help", c])
            #expect(h.status == 0 && h.stdout.contains("USAGE: blendset \(c)"))
            #expect(try CLI.run([c, "--help"]).stdout == h.stdout)
        }
        let stages = try CLI.run(["help", "stages"])
        #expect(stages.stdout.contains("balance (version 3)") && stages.stdout.contains("per_class = 7500"))
        #expect(try CLI.run(["frobnicate"]).status == 64)
        #expect(try CLI.run(["build", "--bogus"]).status == 64)
        #expect(try CLI.run(["build", "--jobs", "zero"]).status == 64)
        #expect(try CLI.run(["show"]).status == 64)
        #expect(try CLI.run([]).status == 64)
        let bad = try CLI.run(["build", "--bogus"])
        #expect(bad.stderr.contains("unknown option '--bogus' for 'build'"))
    }

    @Test("--no-wait fails at once while another build holds the lock")
    func lockNoWait() throws {
        let cache = CLI.folder() + "/cache"
        try FileManager.default.createDirectory(atPath: cache, withIntermediateDirectories: true)
        let fd = open(cache + "/LOCK", O_RDWR | O_CREAT, 0o644)
        defer { close(fd) }
        #expect(flock(fd, LOCK_EX) == 0)
        let r = try CLI.run(["build", "--pipeline", CLI.pipeline, "--cache", cache, "--set", "ingest.source=\(CLI.fixture)", "--no-wait"])
        #expect(r.status == 75)
        #expect(r.stderr.contains("is locked by another build"))
    }

    @Test("a missing FER2013 says where to get it and how to point --set at it")
    func missingSource() throws {
        let cache = CLI.folder() + "/cache"
        let r = try CLI.run(["build", "--pipeline", CLI.pipeline, "--cache", cache, "--set", "ingest.source=/nonexistent/fer2013.csv"])
        #expect(r.status == 66)
        #expect(r.stderr.contains("'/nonexistent/fer2013.csv' does not exist") && r.stderr.contains("Kaggle") && r.stderr.contains("--set ingest.source="))
    }

    @Test("an unknown parameter in --set or pipeline.json names it and where it is")
    func badConfig() throws {
        let dir = CLI.folder()
        let r = try CLI.run(["build", "--pipeline", CLI.pipeline, "--cache", dir + "/cache", "--set", "balance.per_clas=5"])
        #expect(r.status == 78)
        #expect(r.stderr.contains("stage 'balance' has no parameter 'per_clas'"))
        try #"{ "version": 1, "stages": [ { "name": "ingest", "kind": "ingset" } ] }"#.write(toFile: dir + "/p.json", atomically: true, encoding: .utf8)
        let k = try CLI.run(["build", "--pipeline", dir + "/p.json", "--cache", dir + "/cache"])
        #expect(k.status == 78)
        #expect(k.stderr.contains("p.json:1:49: unknown stage kind 'ingset'"))
    }
}

/// Each bad input gets a clear error naming the file, the line and the problem, a
/// non-zero exit, and no result written.
@Suite("bad input")
struct BadInputTests {
    static let header = "emotion,pixels,Usage"
    static let pixels = Array(repeating: "128", count: 2304).joined(separator: " ")

    static let cases: [(name: String, content: String, expected: String)] = [
        ("wrong pixel count", "\(header)\n3,\(pixels),Training\n4,\(pixels) 7,Training\n", "bad.csv:3: expected 2304 pixel values, found 2305"),
        ("non-numeric pixel", "\(header)\n3,\(pixels.replacingOccurrences(of: "128 128", with: "128 abc", options: [], range: pixels.range(of: "128 128"))),Training\n", "bad.csv:2: pixel 2"),
        ("out-of-range pixel", "\(header)\n3,300 \(pixels.dropFirst(4)),Training\n", "bad.csv:2: pixel 1"),
        ("emotion outside 0-6", "\(header)\n7,\(pixels),Training\n", "bad.csv:2: emotion must be an integer 0...6, found '7'"),
        ("missing header", "3,\(pixels),Training\n", "bad.csv:1: missing header"),
        ("missing column", "emotion,pixels\n3,\(pixels)\n", "bad.csv:1: missing column 'Usage'"),
        ("empty file", "", "bad.csv: is empty"),
    ]

    @Test("bad CSV rows and files", arguments: cases.indices)
    func badCSV(index: Int) throws {
        let c = Self.cases[index]
        let dir = CLI.folder("badCSV\(index)")
        try c.content.write(toFile: dir + "/bad.csv", atomically: true, encoding: .utf8)
        let r = try CLI.run(["build", "--pipeline", CLI.pipeline, "--cache", dir + "/cache", "--set", "ingest.source=\(dir)/bad.csv"])
        #expect(r.status == 65, "\(c.name): \(r.stderr)")
        #expect(r.stderr.contains(c.expected), "\(c.name): \(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/cache/versions"), "\(c.name): a version was written")
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: dir + "/cache/runs")) ?? []).isEmpty, "\(c.name): a run record was written")
    }

    @Test("with on_bad_row = skip, bad rows are skipped and counted")
    func skip() throws {
        let dir = CLI.folder()
        try Self.cases[0].content.write(toFile: dir + "/bad.csv", atomically: true, encoding: .utf8)
        let r = try CLI.run(["build", "--pipeline", CLI.pipeline, "--cache", dir + "/cache", "--set", "ingest.source=\(dir)/bad.csv",
                             "--set", "ingest.on_bad_row=skip"] + CLI.fast)
        #expect(r.stderr.contains("skipped 1 bad row(s); first: line 3"))
        #expect(r.stderr.contains("ran    ingest 2 → 1 rows"), "\(r.stderr)")
        // The one kept image has no face, so the dataset would be empty: that fails the
        // build (issue 10) instead of recording an empty version.
        #expect(r.status == 65 && r.stderr.contains("stage 'dataset' failed: the dataset would have no rows"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/cache/versions"))
    }

    @Test("a truncated or corrupt .zst is reported as such", arguments: ["truncated", "corrupt"])
    func badZstd(kind: String) throws {
        let dir = CLI.folder("badZstd\(kind)")
        let csv = try readFileBytes(atPath: CLI.fixture)
        var z = Zstd.compress(csv)
        // Our own frames carry no content checksum, so damage the frame header, which zstd always checks.
        if kind == "truncated" { z = Array(z.prefix(z.count / 2)) } else { z[1] ^= 0x5A }
        try AtomicFile.write(z, to: dir + "/fer.csv.zst")
        let r = try CLI.run(["build", "--pipeline", CLI.pipeline, "--cache", dir + "/cache", "--set", "ingest.source=\(dir)/fer.csv.zst"])
        #expect(r.status == 65)
        #expect(r.stderr.contains("fer.csv.zst: is \(kind == "truncated" ? "truncated" : "corrupt")"), "\(r.stderr)")
    }

    @Test("a file in the PNG folder that is not a decodable PNG")
    func badPNG() throws {
        let dir = CLI.folder()
        try AtomicFile.write(try PNGCodec.encode(PixelImage(width: 48, height: 48, channels: 1, pixels: .init(repeating: 5, count: 2304))), to: dir + "/faces/Training/happy/0.png")
        try AtomicFile.write(Array(repeating: 0x89, count: 40), to: dir + "/faces/Training/sad/1.png")
        let r = try CLI.run(["build", "--pipeline", CLI.pipeline, "--cache", dir + "/cache", "--set", "ingest.source=\(dir)/faces"])
        #expect(r.status == 65)
        #expect(r.stderr.contains("faces/Training/sad/1.png"), "\(r.stderr)")
    }
}

/// A build killed with SIGKILL in the middle of extraction resumes from the per-image
/// memo and ends byte-identical to a build that was never interrupted.
@Suite("interrupted build")
struct InterruptedBuildTests {
    static let model = URL(fileURLWithPath: "../shared/models/face_landmarker.task").standardizedFileURL.path

    func args(_ cache: String) -> [String] {
        ["build", "--pipeline", CLI.pipeline, "--cache", cache, "--set", "ingest.source=\(CLI.fixture)",
         "--set", "augment.per_class_target=0", "--set", "balance.per_class=50", "--set", "train.epochs=3", "--jobs", "2", "--json"]
    }

    func memoRecords(_ cache: String) -> Int {
        let memo = cache + "/memo"
        let folders = (try? FileManager.default.contentsOfDirectory(atPath: memo)) ?? []
        var bytes = 0
        for f in folders {
            for p in (try? FileManager.default.contentsOfDirectory(atPath: memo + "/" + f)) ?? [] where p.hasSuffix(".pack") {
                bytes += ((try? FileManager.default.attributesOfItem(atPath: memo + "/" + f + "/" + p))?[.size] as? Int) ?? 0
            }
        }
        return bytes / 5800   // about one landmark record each
    }

    @Test("kill -9 during extraction, build again: it completes and the result is byte-identical")
    func killAndResume() throws {
        let root = CLI.folder()
        let reference = try CLI.run(args(root + "/reference"))
        #expect(reference.status == 0, "\(reference.stderr)")
        let referenceVersion = (try JSONSerialization.jsonObject(with: Data(reference.stdout.utf8)) as? [String: Any])?["version"] as? String

        let cache = root + "/interrupted"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CLI.binary)
        p.arguments = args(cache)
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        let deadline = Date().addingTimeInterval(120)
        while memoRecords(cache) < 20 && p.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.005) }
        let killedMidway = p.isRunning
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        #expect(killedMidway, "the build finished before it could be killed")
        #expect(p.terminationReason == .uncaughtSignal)

        let resumed = try CLI.run(args(cache))
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let json = try JSONSerialization.jsonObject(with: Data(resumed.stdout.utf8)) as? [String: Any]
        #expect(json?["version"] as? String == referenceVersion)
        // The resumed build reused what the killed one had extracted.
        let runs = try FileManager.default.contentsOfDirectory(atPath: cache + "/runs").filter { $0.hasSuffix(".json") }
        let landmarks = try runs.compactMap { name -> [String: Any]? in
            let r = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: cache + "/runs/" + name))) as? [String: Any]
            return r?["kind"] as? String == "landmarks" ? r : nil
        }
        let stats = landmarks.first?["stats"] as? [String: Any]   // run record format 2: stats is JSON, not a string
        #expect((stats?["memo_hits"] as? Int ?? 0) >= 20)
        // Both datasets are the same bytes.
        let a = try CLI.run(["show", "dataset", "--rows", "100000", "--pipeline", CLI.pipeline, "--cache", root + "/reference",
                             "--set", "ingest.source=\(CLI.fixture)", "--set", "augment.per_class_target=0", "--set", "balance.per_class=50", "--set", "train.epochs=3"])
        let b = try CLI.run(["show", "dataset", "--rows", "100000", "--pipeline", CLI.pipeline, "--cache", cache,
                             "--set", "ingest.source=\(CLI.fixture)", "--set", "augment.per_class_target=0", "--set", "balance.per_class=50", "--set", "train.epochs=3"])
        #expect(a.status == 0 && a.stdout == b.stdout)
    }
}

@Suite("extract")
struct ExtractTests {
    @Test("one line per row in input order; empty scores without a face; identical bytes for --jobs 1 and 2")
    func extract() throws {
        let dir = CLI.folder()
        let model = URL(fileURLWithPath: "../shared/models/face_landmarker.task").standardizedFileURL.path
        let one = try CLI.run(["extract", "--model", model, "--input", CLI.fixture, "--rows", "20-59", "--jobs", "1", "--out", dir + "/one.csv"])
        let two = try CLI.run(["extract", "--model", model, "--input", CLI.fixture, "--rows", "20-59", "--jobs", "2", "--out", dir + "/two.csv"])
        #expect(one.status == 0 && two.status == 0, "\(one.stderr)")
        let a = try String(contentsOfFile: dir + "/one.csv", encoding: .utf8), b = try String(contentsOfFile: dir + "/two.csv", encoding: .utf8)
        #expect(a == b)
        let lines = a.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        #expect(lines.count == 41)
        #expect(lines[0].hasPrefix("id,row,detected,_neutral,browDownLeft,"))
        #expect(lines[0].split(separator: ",").count == 55)
        #expect(lines.dropFirst().map { Int($0.split(separator: ",")[0])! } == Array(20...59))
        #expect(lines.dropFirst().map { Int($0.split(separator: ",")[1])! } == Array(20...59))
        for line in lines.dropFirst() {
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
            #expect(fields.count == 55)
            #expect(fields[2] == "1" ? fields[3...].allSatisfy { Float($0) != nil } : fields[3...].allSatisfy(\.isEmpty))
        }
        #expect(two.stderr.contains("40 images"))
    }

    @Test("--rows A-B reads the CSV no further than row B: a bad row after it is never reached")
    func rowsStopTheRead() throws {
        let dir = CLI.folder()
        let model = URL(fileURLWithPath: "../shared/models/face_landmarker.task").standardizedFileURL.path
        var lines = try String(contentsOfFile: CLI.fixture, encoding: .utf8).split(separator: "\n").map(String.init)
        lines[101] = "3,1 2 3,Training"  // data row 100: 3 pixels instead of 2304
        let bad = dir + "/bad.csv"
        try (lines.joined(separator: "\n") + "\n").write(toFile: bad, atomically: true, encoding: .utf8)
        let first = try CLI.run(["extract", "--model", model, "--input", bad, "--rows", "0-9", "--jobs", "1", "--out", dir + "/first.csv"])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stderr.contains("10 images"))
        let whole = try CLI.run(["extract", "--model", model, "--input", bad, "--rows", "0-100", "--jobs", "1", "--out", dir + "/whole.csv"])
        #expect(whole.status == 65 && whole.stderr.contains("bad.csv:102: expected 2304 pixel values"), "\(whole.stderr)")
    }

    @Test("a missing model or bad --rows is a clear error")
    func errors() throws {
        let r = try CLI.run(["extract", "--model", "/nope.task", "--input", CLI.fixture, "--out", "/tmp/x.csv"])
        #expect(r.status == 66 && r.stderr.contains("/nope.task"))
        #expect(try CLI.run(["extract", "--input", CLI.fixture, "--out", "/tmp/x.csv", "--rows", "9-3"]).status == 64)
        #expect(try CLI.run(["extract", "--input", CLI.fixture]).status == 64)
    }
}
