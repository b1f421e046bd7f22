import Foundation
import Testing

/// Issue 11: build up to a stage, warnings that cannot scroll away, status that reports
/// real changes, JSON and exit codes as documented, help that answers the next question.
@Suite("everyday use: partial builds, warnings, status, JSON, help")
struct EverydayCLITests {
    static let fixtureBuild = ["--pipeline", CLI.pipeline, "--set", "ingest.source=\(CLI.fixture)"] + CLI.fast

    static func object(_ text: String) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any]
    }

    @Test("build split runs ingest, select and split only, prints the per-split class counts and records no version")
    func buildUpToSplit() throws {
        let cache = CLI.folder() + "/cache"
        let r = try CLI.run(["build", "split", "--cache", cache] + Self.fixtureBuild)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(!r.stderr.contains("landmarks"))
        #expect(r.stdout.contains("no version recorded: a partial build up to split"))
        // The split stage's stats: rows per split and class (30/6/6 per class in the fixture).
        let stats = try #require(r.stdout.range(of: "stage 'split' (split) stats")).upperBound
        let table = r.stdout[stats...]
        #expect(table.contains("method: \"usage\"") || table.contains("method: usage"))
        let train = try #require(table.split(separator: "\n").first { $0.trimmingCharacters(in: .whitespaces).hasPrefix("train") })
        #expect(train.split(separator: " ").suffix(3) == ["30", "30", "30"], "\(table)")
        #expect(table.contains("happy") && table.contains("neutral"))
        let versions = try CLI.run(["versions", "--cache", cache])
        #expect(versions.stdout.contains("no dataset versions"))

        let json = try CLI.run(["build", "split", "--json", "--cache", cache] + Self.fixtureBuild)
        let j = try #require(Self.object(json.stdout))
        #expect(j["version"] is NSNull && j["targets"] as? [String] == ["split"])
        #expect(statuses(j) == ["ingest": "cached", "select": "cached", "split": "cached"])

        // status and show follow the same rule: only split and what it reads from.
        let st = try CLI.run(["status", "split", "--json", "--cache", cache] + Self.fixtureBuild)
        let s = try #require(Self.object(st.stdout), "status --json must print one object: \(st.stdout)")
        #expect((s["stages"] as? [[String: Any]])?.map { $0["name"] as? String } == ["ingest", "select", "split"])
        #expect(s["would_run"] as? Int == 0)
        let show = try CLI.run(["show", "split", "--rows", "2", "--cache", cache] + Self.fixtureBuild)
        #expect(show.status == 0, "\(show.stderr)")
        #expect(show.stdout.hasPrefix("126 rows"))
        let unknown = try CLI.run(["build", "nosuch", "--cache", cache] + Self.fixtureBuild)
        #expect(unknown.status == 64 && unknown.stderr.contains("nosuch"))
    }

    @Test("status --set split.seed=43 names seed alone, not the unchanged fractions")
    func statusNamesRealChangesOnly() throws {
        let cache = CLI.folder() + "/cache"
        let b = try CLI.run(["build", "split", "--cache", cache, "--set", "split.method=stratified"] + Self.fixtureBuild)
        #expect(b.status == 0, "\(b.stderr)")
        let st = try CLI.run(["status", "split", "--cache", cache, "--set", "split.method=stratified", "--set", "split.seed=43"] + Self.fixtureBuild)
        #expect(st.status == 0, "\(st.stderr)")
        #expect(st.stdout.contains("would run  split: param seed: 42 → 43\n"), "\(st.stdout)")
        #expect(!st.stdout.contains("fractions"))
    }

    // truncate.on_class_change=fail (the default) stops such a build outright (issue 12);
    // "warn" lets it finish with the duplicates as a warning.
    @Test("truncate.digits=0: the duplicate warning is in --json, in the block after the summary, in manifest and versions; --strict exits 65")
    func warningsCannotScrollAway() throws {
        let dir = CLI.folder(), cache = dir + "/cache"
        let (r, j) = try CLI.buildJSON(cache: cache, ["--set", "truncate.digits=0", "--set", "truncate.on_class_change=\"warn\""])
        #expect(r.status == 0, "\(r.stderr)")
        let warnings = try #require(j["warnings"] as? [[String: String]])
        let duplicate = try #require(warnings.first { $0["stage"] == "truncate" })
        #expect(duplicate["message"]?.contains("more row(s) exact duplicates") == true)

        // A cached rebuild, as text: the block after the summary table still has it.
        let text = try CLI.run(["build", "--cache", cache, "--set", "truncate.digits=0", "--set", "truncate.on_class_change=\"warn\""] + Self.fixtureBuild)
        #expect(text.status == 0)
        let summary = try #require(text.stdout.range(of: "\nversion ")).upperBound
        let block = text.stdout[summary...]
        #expect(block.contains("warning") && block.contains("  truncate: truncating "), "\(text.stdout)")

        let manifest = try CLI.run(["manifest", "--cache", cache])
        #expect(manifest.stdout.contains("truncate: truncating ") && manifest.stdout.contains("more row(s) exact duplicates"))
        let mj = try #require(Self.object(try CLI.run(["manifest", "--cache", cache, "--json"]).stdout))
        #expect((mj["warnings"] as? [[String: String]])?.contains { $0["stage"] == "truncate" } == true)
        let versions = try #require(Self.object(try CLI.run(["versions", "--cache", cache, "--json"]).stdout))
        let latest = try #require((versions["versions"] as? [[String: Any]])?.first)
        #expect(latest["warnings"] as? Int == warnings.count)
        #expect(try CLI.run(["versions", "--cache", cache]).stdout.contains("warnings"))

        let strict = try CLI.run(["build", "--strict", "--cache", cache, "--set", "truncate.digits=0", "--set", "truncate.on_class_change=\"warn\""] + Self.fixtureBuild)
        #expect(strict.status == 65)
        #expect(strict.stderr.contains("--strict") && strict.stderr.contains("truncate: truncating"))
        // The default truncation leaves no duplicate warning on the fixture.
        let plain = try CLI.run(["build", "--json", "--cache", cache] + Self.fixtureBuild)
        #expect((Self.object(plain.stdout)?["warnings"] as? [Any])?.contains { ($0 as? [String: String])?["stage"] == "truncate" } == false)

        // predict --json prints one object; with no --model it uses the latest version's model.
        #expect(try CLI.run(["export", "--cache", cache, "--format", "csv", "--out", dir + "/csv"]).status == 0)
        let p = try CLI.run(["predict", "--cache", cache, "--input", dir + "/csv/test.csv", "--json"])
        #expect(p.status == 0, "\(p.stderr)")
        let pj = try #require(Self.object(p.stdout), "predict --json must print one object")
        #expect(pj["classes"] as? [String] == ["happy", "sad", "neutral"])
        let rows = try #require(pj["rows"] as? [[String: Any]])
        let csvRows = try String(contentsOfFile: dir + "/csv/test.csv", encoding: .utf8).split(separator: "\n").count - 1
        #expect(rows.count == csvRows && rows.allSatisfy { ($0["probabilities"] as? [String: Double])?.count == 3 })

        // show train says where the model and plots are and how to get them.
        let show = try CLI.run(["show", "train", "--cache", cache] + Self.fixtureBuild)
        #expect(show.status == 0, "\(show.stderr)")
        #expect(show.stdout.contains("model") && show.stdout.contains(cache + "/objects/"))
        #expect(show.stdout.contains("blendset metrics --save DIR") && show.stdout.contains("curves.svg"))
    }

    @Test("dag takes --cache; --set on an unknown stage exits 78; help stages lists the 52 blendshape names")
    func commonOptionsAndHelp() throws {
        let dir = CLI.folder()
        let dag = try CLI.run(["dag", "--pipeline", CLI.pipeline, "--cache", dir + "/cache"])
        #expect(dag.status == 0 && dag.stdout.contains("landmarks (landmarks)"), "\(dag.stderr)")
        for command in ["build", "status", "dag", "show split"] {
            let r = try CLI.run(command.split(separator: " ").map(String.init) + ["--pipeline", CLI.pipeline, "--cache", dir + "/cache", "--set", "nosuch.x=1"])
            #expect(r.status == 78, "\(command): \(r.stderr)")
            #expect(r.stderr.contains("no stage named 'nosuch'"))
        }
        let stages = try CLI.run(["help", "stages"]).stdout
        for name in ["cheekPuff", "_neutral", "noseSneerRight", "browInnerUp"] { #expect(stages.contains(name)) }
        #expect(stages.contains("accepts any of these 52:"))
    }

    @Test("the README's commands section has every command's usage line as its help prints it")
    func readmeMatchesHelp() throws {
        let readme = try String(contentsOfFile: "README.md", encoding: .utf8)
        let section = try #require(readme.range(of: "## Commands")).upperBound
        let commands = readme[section...]
        let main = try CLI.run(["--help"]).stdout
        let names = main.split(separator: "\n").drop { !$0.hasPrefix("COMMANDS:") }.dropFirst()
            .prefix { $0.hasPrefix("  ") }.map { $0.split(separator: " ").first.map(String.init) ?? "" }
            .filter { $0 != "help" }
        #expect(names.count >= 15)
        for name in names {
            let help = try CLI.run(["help", name]).stdout
            let usage = try #require(help.split(separator: "\n").first { $0.hasPrefix("USAGE: ") }).dropFirst("USAGE: ".count)
            #expect(commands.contains(usage), "README lacks: \(usage)")
        }
    }
}
