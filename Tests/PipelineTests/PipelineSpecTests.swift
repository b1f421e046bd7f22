import Foundation
import Testing
@testable import Pipeline

@Suite("pipeline.json")
struct PipelineSpecTests {
    func planError(_ json: String, overrides: [String] = []) -> PipelineError? {
        do {
            _ = try plan(json, in: temporaryFolder(), overrides: overrides)
            return nil
        } catch let e as PipelineError {
            return e
        } catch {
            return nil
        }
    }

    @Test("missing keys get their documented defaults: kind = name, inputs = the stage before, params = defaults")
    func defaults() throws {
        let p = try plan(#"{ "stages": [ { "name": "text" }, { "name": "b", "kind": "append" } ] }"#, in: temporaryFolder())
        #expect(p.version == 1)
        #expect(p.stages[0].kind == "text")
        #expect(p.stages[1].inputs == ["text"])
        #expect(p.stages[1].parameters.values["suffix"] == .string("!"))
        #expect(p.stages[1].parameters.values["ignored"] == .int(0))
    }

    @Test("an unknown key names itself and its line and column")
    func unknownKey() {
        let e = planError("""
        { "version": 1,
          "stages": [ { "name": "a", "kind": "text", "parms": {} } ] }
        """)
        guard case .invalidPipeline(let loc, let message) = e else { Issue.record("expected invalidPipeline, got \(String(describing: e))"); return }
        #expect(loc.line == 2)
        #expect(loc.column == 46)
        #expect(message.contains("unknown key \"parms\""))
    }

    @Test("an unknown parameter names the stage, the parameter, its location and the valid names")
    func unknownParameter() {
        let e = planError("""
        { "version": 1, "stages": [
          { "name": "a", "kind": "text",
            "params": { "txt": "x" } } ] }
        """)
        guard case .unknownParameter(let loc, let stage, let parameter, let known) = e else { Issue.record("got \(String(describing: e))"); return }
        #expect(loc.line == 3)
        #expect(stage == "a" && parameter == "txt" && known == ["text"])
        #expect(e!.description.hasSuffix("pipeline.json:3:17: stage 'a' has no parameter 'txt'; its parameters are: text"))
    }

    @Test("an unknown stage kind names it, its location and the known kinds")
    func unknownKind() {
        let e = planError(#"{ "version": 1, "stages": [ { "name": "a", "kind": "txet" } ] }"#)
        guard case .unknownStageKind(let loc, let kind, let stage, let known) = e else { Issue.record("got \(String(describing: e))"); return }
        #expect(loc.line == 1 && kind == "txet" && stage == "a")
        #expect(known == ["append", "failing", "file", "text"])
    }

    @Test("a wrongly typed parameter is reported before anything runs")
    func wrongType() {
        let e = planError(#"{ "version": 1, "stages": [ { "name": "a", "kind": "text", "params": { "text": 5 } } ] }"#)
        guard case .invalidParameter(_, let stage, let parameter, let message) = e else { Issue.record("got \(String(describing: e))"); return }
        #expect(stage == "a" && parameter == "text")
        #expect(message == "expected a string, found a number 5")
    }

    @Test("a cycle is an error that names the cycle")
    func cycle() {
        let e = planError("""
        { "version": 1, "stages": [
          { "name": "src", "kind": "text" },
          { "name": "x", "kind": "append", "inputs": ["z"] },
          { "name": "y", "kind": "append", "inputs": ["x"] },
          { "name": "z", "kind": "append", "inputs": ["y", "src"] }
        ] }
        """)
        guard case .cycle(let names) = e else { Issue.record("got \(String(describing: e))"); return }
        #expect(Set(names) == ["x", "y", "z"])
        #expect(e!.description.contains("→"))
    }

    @Test("an input naming no stage is an error with its location")
    func unknownInput() {
        let e = planError(#"{ "version": 1, "stages": [ { "name": "b", "kind": "append", "inputs": ["nothing"] } ] }"#)
        guard case .unknownInput(_, let stage, let input) = e else { Issue.record("got \(String(describing: e))"); return }
        #expect(stage == "b" && input == "nothing")
    }

    @Test("syntax errors point at the line and column")
    func syntaxError() {
        let e = planError("{ \"version\": 1,\n  \"stages\": [ } ")
        guard case .invalidPipeline(let loc, let message) = e else { Issue.record("got \(String(describing: e))"); return }
        #expect(loc.line == 2 && loc.column == 15)
        #expect(message.contains("unexpected character"))
    }

    @Test("an unsupported format version is refused")
    func futureVersion() {
        let e = planError(#"{ "version": 2, "stages": [ { "name": "text" } ] }"#)
        #expect(e?.description.contains("pipeline format version 2 is not supported") == true)
    }

    @Test("--set overrides: JSON values, bare strings, and errors for unknown stages or parameters",
          arguments: [
            ("a.text=\"quoted\"", JSONValue.string("quoted")),
            ("a.text=bare/path.csv", JSONValue.string("bare/path.csv")),
            ("a.text=5000", JSONValue.int(5000)),
            ("a.text=[1,2]", JSONValue.array([.int(1), .int(2)])),
          ])
    func overrides(text: String, expected: JSONValue) throws {
        let o = try ParameterOverride(parsing: text)
        #expect(o.stage == "a" && o.parameter == "text")
        #expect(o.value == expected)
    }

    @Test("--set must name an existing stage and parameter")
    func overrideErrors() {
        let json = #"{ "version": 1, "stages": [ { "name": "a", "kind": "text" } ] }"#
        #expect(planError(json, overrides: ["b.text=x"])?.description == "--set b.text=x: no stage named 'b' in the pipeline; stages: a")
        guard case .unknownParameter(let loc, _, let parameter, _) = planError(json, overrides: ["a.txt=x"]) else { Issue.record(); return }
        #expect(parameter == "txt" && loc.file == "--set a.txt=x")
        #expect(throws: PipelineError.self) { try ParameterOverride(parsing: "nodot=1") }
        #expect(throws: PipelineError.self) { try ParameterOverride(parsing: "a.b") }
    }
}

@Suite("JSON")
struct JSONTests {
    @Test("canonical form sorts keys and normalises numbers")
    func canonical() throws {
        let v = try JSONParser.parse(#"{"b": [1.0, 2.5, -0.0, 1e3], "a": "é\n\"", "c": {"y": null, "x": true}}"#)
        #expect(v.canonical == #"{"a":"é\n\"","b":[1,2.5,0,1000],"c":{"x":true,"y":null}}"#)
    }

    @Test("duplicate keys, trailing commas and bad escapes are rejected",
          arguments: [#"{"a":1,"a":2}"#, #"[1,2,]"#, #""\q""#, "", "01x", #"{"a" 1}"#, "[1] 2"])
    func rejects(text: String) {
        #expect(throws: JSONSyntaxError.self) { try JSONParser.parse(text) }
    }

    @Test("unicode escapes, including surrogate pairs")
    func unicode() throws {
        #expect(try JSONParser.parse(#""\u00e9\ud83d\ude00""#).stringValue == "é😀")
    }
}
