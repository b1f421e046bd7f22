import Foundation
import Testing
@testable import Pipeline

/// Stage names, --set targets, the pipeline file and input paths are checked before anything
/// runs, with a precise error (issue 10, point 8).
@Suite("Plan validation: names, --set, paths")
struct PlanValidationTests {
    func invalid(_ json: String, overrides: [String] = [], sourceLocation: Testing.SourceLocation = #_sourceLocation) -> PipelineError? {
        do { _ = try plan(json, in: temporaryFolder(), overrides: overrides); return nil } catch let e as PipelineError { return e } catch {
            Issue.record("not a PipelineError: \(error)", sourceLocation: sourceLocation); return nil
        }
    }

    @Test("stage names: length limit, no control characters, no NUL, no '/', with line and column",
          arguments: [
            (String(repeating: "n", count: 101), "at most 100 characters"),
            ("bad\\u001b[31mname", "control characters; found \\x1b"),
            ("nul\\u0000name", "control characters; found \\0"),
            ("tab\\tname", "control characters; found \\t"),
            ("../up", "must not contain '.', '/'"),
            ("", "must not be empty"),
          ])
    func stageNames(name: String, expected: String) throws {
        let json = "{ \"version\": 1, \"stages\": [\n  { \"name\": \"\(name)\", \"kind\": \"text\" } ] }"
        let error = try #require(invalid(json))
        guard case .invalidPipeline(let loc, _) = error else { Issue.record("got \(error)"); return }
        #expect(loc.line == 2 && loc.column == 5, "\(loc)")  // the "name" key
        #expect(error.description.contains(expected), "\(error.description)")
        #expect(!error.description.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" })
        #expect(error.description.utf8.count < 400)
    }

    @Test("a stage name of exactly 100 characters is fine")
    func longestName() throws {
        let name = String(repeating: "n", count: 100)
        let p = try plan("{ \"version\": 1, \"stages\": [ { \"name\": \"\(name)\", \"kind\": \"text\" } ] }", in: temporaryFolder())
        #expect(p.stages.map(\.name) == [name])
    }

    @Test("a stage named only by an unusable kind is refused as a name")
    func kindAsName() throws {
        let error = try #require(invalid(#"{ "version": 1, "stages": [ { "kind": "te\u0007xt" } ] }"#))
        guard case .invalidPipeline = error else { Issue.record("got \(error)"); return }
        #expect(error.description.contains("control characters"))
    }

    @Test("--set on a stage the pipeline lacks is a bad parameter (exit 78), not bad usage")
    func setUnknownStage() throws {
        let json = #"{ "version": 1, "stages": [ { "name": "a", "kind": "text" } ] }"#
        let error = try #require(invalid(json, overrides: ["nosuch.x=1"]))
        guard case .invalidPipeline(let loc, let message) = error else { Issue.record("got \(error)"); return }
        #expect(loc.file == "--set nosuch.x=1")
        #expect(message.contains("no stage named 'nosuch'") && message.contains("stages: a"))
    }

    @Test("a missing pipeline file is missing input, not an I/O error")
    func missingPipelineFile() {
        expectPipelineError({ _ = try BuildPlan.load(file: "/nonexistent/pipeline.json", registry: testRegistry) }) {
            guard case .missingPipelineFile(let path) = $0 else { return false }
            return path == "/nonexistent/pipeline.json" && $0.description.contains("does not exist")
        }
    }

    @Test("an empty input path is an error, not the pipeline's folder", arguments: [false, true])
    func emptyInputPath(viaSet: Bool) throws {
        let json = viaSet ? #"{ "version": 1, "stages": [ { "name": "f", "kind": "file" } ] }"#
                          : "{ \"version\": 1, \"stages\": [\n { \"name\": \"f\", \"kind\": \"file\", \"params\": { \"path\": \"\" } } ] }"
        let error = try #require(invalid(json, overrides: viaSet ? ["f.path="] : []))
        guard case .invalidParameter(let loc, "f", "path", let message) = error else { Issue.record("got \(error)"); return }
        #expect(message.contains("is empty"))
        #expect(viaSet ? loc.file == "--set f.path=" : (loc.line == 2 && loc.column == 45), "\(loc)")
    }

    @Test("error messages quote long input shortened and escaped")
    func boundedMessages() throws {
        let kind = String(repeating: "k", count: 50_000) + "\u{1B}"
        let error = try #require(invalid("{ \"version\": 1, \"stages\": [ { \"name\": \"a\", \"kind\": \"\(kind)\" } ] }"))
        #expect(error.description.utf8.count < 800, "\(error.description.utf8.count) bytes")
        let key = String(repeating: "q", count: 50_000)
        let dup = try #require(invalid("{ \"version\": 1, \"\(key)\": 1, \"\(key)\": 2 }"))
        #expect(dup.description.utf8.count < 400)
        let set = try #require(invalid(#"{ "version": 1, "stages": [ { "name": "a", "kind": "text" } ] }"#,
                                       overrides: ["a." + String(repeating: "p", count: 50_000) + "=1"]))
        #expect(set.description.utf8.count < 800)
    }
}
