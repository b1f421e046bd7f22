import Foundation
import Formats
import Testing

/// The default pipeline without the face stages, so these tests stay fast in debug builds.
func basicPipeline(in folder: String) throws -> String {
    let file = folder + "/pipeline.json"
    try """
    { "version": 1, "stages": [
      { "name": "ingest", "params": { "source": "\(CLI.fixture)" } },
      { "name": "select" }, { "name": "split" }, { "name": "balance", "params": { "per_class": 20 } },
      { "name": "truncate" }, { "name": "onehot" }, { "name": "dataset" } ] }
    """.write(toFile: file, atomically: true, encoding: .utf8)
    return file
}

/// A folder with a pipeline, its cache, and two versions: per_class 20 (older), then 10.
struct TwoVersions {
    let folder = CLI.folder()
    var pipeline: String
    var cache: String { folder + "/cache" }
    var first = "", second = ""

    init() throws {
        pipeline = try basicPipeline(in: folder)
        first = try build([])
        second = try build(["--set", "balance.per_class=10"])
    }

    func build(_ extra: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let r = try CLI.run(["build", "--pipeline", pipeline, "--json"] + extra)
        #expect(r.status == 0, "\(r.stderr)", sourceLocation: sourceLocation)
        let j = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        return j["version"] as! String
    }

    @discardableResult
    func run(_ args: [String]) throws -> CLI.Result { try CLI.run(args + ["--cache", cache]) }

    func json(_ args: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: Any] {
        let r = try run(args + ["--json"])
        #expect(r.status == 0, "\(r.stderr)", sourceLocation: sourceLocation)
        return (try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8))) as? [String: Any] ?? [:]
    }
}

@Suite("blendset version commands")
struct VersionCLITests {
    @Test("build writes a manifest beside the version; versions lists newest first with tags and changes")
    func versionsAndTags() throws {
        let t = try TwoVersions()
        #expect(FileManager.default.fileExists(atPath: t.cache + "/versions/\(t.second).manifest.json"))
        #expect(try t.run(["tag", "baseline", "latest~1"]).stdout == "tagged \(t.first.prefix(12)) as baseline\n")
        let list = try t.run(["versions"])
        #expect(list.status == 0)
        let lines = list.stdout.split(separator: "\n")
        #expect(lines[0].hasPrefix("ref") && lines[2].hasPrefix("latest    \(t.second.prefix(12))") && lines[2].hasSuffix("balance.per_class=10"))
        #expect(lines[3].contains("baseline") && lines[3].hasSuffix("(oldest)"))
        let j = try t.json(["versions"])
        let versions = j["versions"] as! [[String: Any]]
        #expect(versions.map { $0["id"] as! String } == [t.second, t.first])
        #expect(versions[1]["tags"] as? [String] == ["baseline"] && versions[0]["rows"] as? Int == 66)
        // Rebuilding the first configuration gives the same id and makes it the latest.
        #expect(try t.build([]) == t.first)
        #expect((try t.json(["versions"])["versions"] as! [[String: Any]]).first?["ref"] as? String == "latest")
        #expect(try t.run(["tag", "baseline", t.second]).status == 64)
        #expect(try t.run(["tag", "baseline", String(t.second.prefix(8)), "--force"]).stdout.hasPrefix("moved tag baseline"))
        #expect(try t.run(["tag", "baseline", "--delete"]).status == 0)
    }

    @Test("manifest: human tables, JSON (as written beside the version), and SVG plots")
    func manifest() throws {
        let t = try TwoVersions()
        let human = try t.run(["manifest", "latest~1"])
        #expect(human.status == 0, "\(human.stderr)")
        #expect(human.stdout.hasPrefix("dataset version \(t.first.prefix(12))  (latest~1)"))
        #expect(human.stdout.contains("  train     20   20       20     60"))
        #expect(human.stdout.contains("lineage") && human.stdout.contains("per_class=20"))
        let j = try t.json(["manifest", String(t.second.prefix(10))])
        #expect((j["version"] as? [String: Any])?["id"] as? String == t.second)
        let written = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: t.cache + "/versions/\(t.second).manifest.json")))
        #expect(NSDictionary(dictionary: written as! [String: Any]).isEqual(to: j))
        let plots = t.folder + "/plots"
        let p = try t.run(["manifest", "--plots", plots])
        #expect(p.status == 0 && p.stderr.contains("class-counts.svg"))
        #expect(try String(contentsOfFile: plots + "/class-counts.svg", encoding: .utf8).hasPrefix("<?xml"))
    }

    @Test("diff: params, keys, per-class deltas and removed rows; --json is stable")
    func diff() throws {
        let t = try TwoVersions()
        let r = try t.run(["diff", "latest~1", "latest"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("balance.per_class: 20 → 10  ◀"))
        #expect(r.stdout.contains("stage keys: 4 of 7 differ: balance, truncate, onehot, dataset"))
        #expect(r.stdout.contains("  train  happy    20  10  -10  ◀"))
        #expect(r.stdout.contains("66 unchanged, 0 changed, 0 added, 30 removed"))
        #expect(try t.run(["diff"]).stdout == r.stdout)
        let a = try t.run(["diff", "latest~1", "latest", "--json"]), b = try t.run(["diff", "latest~1", "latest", "--json"])
        #expect(a.stdout == b.stdout)
        let j = try JSONSerialization.jsonObject(with: Data(a.stdout.utf8)) as! [String: Any]
        let rows = j["rows"] as! [[String: Any]]
        #expect(rows.filter { $0["split"] as? String == "train" }.map { $0["delta"] as! Int } == [-10, -10, -10])
    }

    @Test("export: npz loads, csv per split, png of a stage's images")
    func export() throws {
        let t = try TwoVersions()
        let npz = t.folder + "/out/d.npz"
        let r = try t.run(["export", "--format", "npz", "--out", npz])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("rows train 30, val 18, test 18") && r.stdout.contains("order shuffled (seed 42)"))
        let bytes = try readFileBytes(atPath: npz)
        #expect(bytes.prefix(4) == [0x50, 0x4b, 0x03, 0x04])
        let csv = try t.run(["export", "latest~1", "--format", "csv", "--out", t.folder + "/csv"])
        #expect(csv.status == 0)
        let header = try String(contentsOfFile: t.folder + "/csv/train.csv", encoding: .utf8).prefix { $0 != "\n" }
        #expect(header.hasSuffix("label,label_name,emotion,emotion_name,pixels,onehot_happy,onehot_sad,onehot_neutral"))
        let png = try t.run(["export", "--format", "png", "--stage", "split", "--rows", "3", "--out", t.folder + "/png"])
        #expect(png.status == 0, "\(png.stderr)")
        let files = try FileManager.default.contentsOfDirectory(atPath: t.folder + "/png").sorted()
        #expect(files.count == 5 && files.contains("index.csv") && files.contains("export.json"))
        #expect(try PNGCodec.decode(try readFileBytes(atPath: t.folder + "/png/" + files[0]), source: "png").width == 48)
    }

    @Test("export --split (issue 14): png writes exactly that split's images; csv and npz refuse it; a bad split or a stage without splits is a clear error")
    func exportSplit() throws {
        let t = try TwoVersions()
        /// index.csv of a png export: file name → (split, row).
        func index(_ dir: String) throws -> [String: String] {
            let lines = try String(contentsOfFile: dir + "/index.csv", encoding: .utf8).split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
            #expect(lines.first?.prefix(4) == ["row", "file", "item_id", "split"])
            return Dictionary(uniqueKeysWithValues: lines.dropFirst().map { ($0[1], $0[3]) })
        }
        let all = try t.run(["export", "--format", "png", "--stage", "split", "--rows", "1000", "--order", "source", "--out", t.folder + "/all"])
        #expect(all.status == 0, "\(all.stderr)")
        let everything = try index(t.folder + "/all")
        #expect(everything.count == 126)
        for (split, count) in [("train", 90), ("val", 18), ("test", 18)] {
            let out = t.folder + "/" + split
            let r = try t.run(["export", "--format", "png", "--stage", "split", "--split", split, "--rows", "1000", "--out", out])
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stdout.contains("wrote \(count) PNG image(s)"), "\(r.stdout)")
            let files = try index(out)
            #expect(files.count == count && files.values.allSatisfy { $0 == split }, "\(split)")
            #expect(Set(files.keys) == Set(everything.filter { $0.value == split }.keys), "\(split)")
            let written = try FileManager.default.contentsOfDirectory(atPath: out)
            #expect(Set(written) == Set(files.keys).union(["index.csv", "export.json"]))
            for name in files.keys.sorted().prefix(3) {
                #expect(try readFileBytes(atPath: out + "/" + name) == readFileBytes(atPath: t.folder + "/all/" + name))
            }
        }
        // --rows N takes N of that split only.
        let few = try t.run(["export", "--format", "png", "--stage", "split", "--split", "test", "--rows", "5", "--out", t.folder + "/few"])
        #expect(few.status == 0, "\(few.stderr)")
        let five = try index(t.folder + "/few")
        #expect(five.count == 5 && five.values.allSatisfy { $0 == "test" })

        let bad = try t.run(["export", "--format", "png", "--stage", "split", "--split", "validation", "--out", t.folder + "/bad"])
        #expect(bad.status == 64 && bad.stderr.contains("--split expects train, val or test, found 'validation'"), "\(bad.stderr)")
        #expect(!FileManager.default.fileExists(atPath: t.folder + "/bad"))
        for (format, out) in [("csv", t.folder + "/csv"), ("npz", t.folder + "/d.npz")] {
            let r = try t.run(["export", "--format", format, "--split", "test", "--out", out])
            #expect(r.status == 64 && r.stderr.contains("--split apply to --format png only"), "\(format): \(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: out))
        }
        // ingest comes before the split stage: its rows have no split yet.
        let early = try t.run(["export", "--format", "png", "--stage", "ingest", "--split", "test", "--out", t.folder + "/early"])
        #expect(early.status == 65 && early.stderr.contains("stage 'ingest' has no 'split' column"), "\(early.stderr)")
    }

    @Test("export --order: shuffled by default (recorded in export.json), source keeps the stored order, bad values exit 64")
    func exportOrder() throws {
        let t = try TwoVersions()
        func labels(_ dir: String) throws -> [String] {
            let lines = try String(contentsOfFile: dir + "/train.csv", encoding: .utf8).split(separator: "\n")
            let column = lines[0].split(separator: ",").firstIndex(of: "label_name")!
            return lines.dropFirst().map { String($0.split(separator: ",", omittingEmptySubsequences: false)[column]) }
        }
        #expect(try t.run(["export", "--format", "csv", "--out", t.folder + "/shuffled"]).status == 0)
        let source = try t.run(["export", "--format", "csv", "--order", "source", "--out", t.folder + "/source"])
        #expect(source.status == 0 && source.stdout.contains("order source"), "\(source.stderr)")
        let (a, b) = (try labels(t.folder + "/shuffled"), try labels(t.folder + "/source"))
        #expect(Set(b.prefix(10)) == ["happy"] && Set(a.prefix(10)).count > 1 && a.sorted() == b.sorted())
        let record = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: t.folder + "/shuffled/export.json"))) as! [String: Any]
        #expect(record["order"] as? String == "shuffled" && record["seed"] as? Int == 42 && record["format"] as? String == "csv")
        #expect(try t.run(["export", "--format", "csv", "--seed", "7", "--out", t.folder + "/seven"]).status == 0)
        #expect(try labels(t.folder + "/seven") != a)
        let bad = try t.run(["export", "--format", "npz", "--order", "random", "--out", t.folder + "/x.npz"])
        #expect(bad.status == 64 && bad.stderr.contains("--order expects shuffled or source, found 'random'"))
        #expect(try t.run(["export", "--format", "npz", "--order", "source", "--seed", "3", "--out", t.folder + "/x.npz"]).status == 64)
    }

    @Test("gc --keep-last 1: bytes freed reported, the kept version loads, build is a no-op")
    func gc() throws {
        let t = try TwoVersions()
        let dry = try t.run(["gc", "--keep-last", "1", "--dry-run"])
        #expect(dry.status == 0 && dry.stdout.contains("would free") && dry.stdout.contains("would remove 1 version(s)"))
        let j = try t.json(["gc", "--keep-last", "1"])
        #expect((j["bytes_freed"] as? Int ?? 0) > 0 && j["kept"] as? [String] == [t.second])
        #expect(try t.run(["manifest"]).status == 0)
        #expect(try t.run(["export", "--format", "npz", "--out", t.folder + "/k.npz"]).status == 0)
        let again = try CLI.run(["build", "--pipeline", t.pipeline, "--set", "balance.per_class=10", "--json"])
        let stages = (try JSONSerialization.jsonObject(with: Data(again.stdout.utf8)) as! [String: Any])["stages"] as! [[String: Any]]
        #expect(stages.allSatisfy { $0["status"] as? String == "cached" })
        #expect(try t.run(["manifest", t.first]).status == 64)
    }

    @Test("help is complete for every version command", arguments: ["versions", "tag", "manifest", "diff", "export", "gc"])
    func help(command: String) throws {
        let main = try CLI.run(["--help"])
        #expect(main.stdout.contains("  \(command) "))
        let h = try CLI.run(["help", command])
        #expect(h.status == 0 && h.stdout.contains("USAGE: blendset \(command)") && h.stdout.contains("--cache DIR"))
        #expect(try CLI.run([command, "--help"]).stdout == h.stdout)
    }

    @Test("usage errors exit 64 with a hint; no versions exits 66")
    func errors() throws {
        let t = try TwoVersions()
        let unknown = try t.run(["manifest", "nope"])
        #expect(unknown.status == 64 && unknown.stderr.contains("no version 'nope'") && unknown.stderr.contains("See 'blendset help manifest'"))
        #expect(try t.run(["diff", "latest~5"]).stderr.contains("latest~1 is the oldest"))
        #expect(try t.run(["tag", "latest"]).status == 64)
        #expect(try t.run(["export", "--out", "x"]).stderr.contains("--format is required"))
        #expect(try t.run(["export", "--format", "xls", "--out", "x"]).status == 64)
        #expect(try t.run(["export", "--format", "png", "--out", "x"]).status == 64)
        let stage = try t.run(["export", "--format", "png", "--stage", "nope", "--out", t.folder + "/x"])
        #expect(stage.status == 64 && stage.stderr.contains("its stages: ingest, select"))
        #expect(try t.run(["gc", "--keep-last", "many"]).status == 64)
        #expect(try t.run(["diff", "a", "b", "c"]).status == 64)
        let empty = try CLI.run(["versions", "--cache", t.folder + "/none", "--json"])
        #expect(empty.status == 0 && empty.stdout.contains("\"versions\": []"))
        let none = try CLI.run(["manifest", "--cache", t.folder + "/none"])
        #expect(none.status == 66 && none.stderr.contains("run 'blendset build' first"))
    }

    /// (arguments, exit code, fragments of stderr): each `VersionError` case keeps its code and message.
    static let versionErrors: [([String], Int32, [String])] = [
        (["metrics"], 65, ["blendset: error: version ", "was not trained"]),
        (["tag", "--delete", "nope"], 64, ["no tag 'nope'; there are no tags", "See 'blendset help tag'."]),
        (["export", "latest~9", "--format", "npz", "--out", "x.npz"], 64, ["latest~1 is the oldest", "See 'blendset help export'."]),
        (["diff", "0000"], 64, ["no version '0000'", "See 'blendset help diff'."]),
    ]

    @Test("version errors map to their exit codes through main", arguments: versionErrors.indices)
    func versionErrorCodes(index: Int) throws {
        let (args, status, fragments) = Self.versionErrors[index]
        let r = try TwoVersions().run(args)
        #expect(r.status == status, "\(args): \(r.stderr)")
        for f in fragments { #expect(r.stderr.contains(f), "\(args): \(r.stderr)") }
        #expect(r.stdout.isEmpty)
    }

    @Test("moving a tag without --force is a usage error that names the tag's version")
    func tagExists() throws {
        let t = try TwoVersions()
        #expect(try t.run(["tag", "v1", "latest~1"]).status == 0)
        let r = try t.run(["tag", "v1"])
        #expect(r.status == 64 && r.stderr.contains("tag 'v1' already points at \(t.first.prefix(12)); use --force"))
        #expect(r.stderr.hasSuffix("See 'blendset help tag'.\n"))
    }
}
