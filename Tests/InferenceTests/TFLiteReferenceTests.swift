import Foundation
import Testing
@testable import Inference

/// One case of ../shared/reference/tflite/cases.json.
struct TFLiteReferenceCase: CustomTestStringConvertible, Sendable {
    struct File: Decodable, Sendable { let name: String; let shape: [Int]; let file: String }
    struct Entry: Decodable, Sendable { let input: File; let outputs: [File] }

    let model: String
    let name: String
    let entry: Entry

    var testDescription: String { "\(model)/\(name)" }

    /// Outputs of the blendshape model are scores in [0, 1]; the image models' are ~200.
    var tolerance: Float { model == "face_blendshapes" ? 1e-5 : 1e-3 }

    static let all: [TFLiteReferenceCase] = {
        guard let data = FileManager.default.contents(atPath: TFLiteSharedFiles.referenceDirectory + "/cases.json"),
              let table = try? JSONDecoder().decode([String: [String: Entry]].self, from: data) else { return [] }
        return table.keys.sorted().flatMap { model in
            table[model]!.keys.sorted().map { TFLiteReferenceCase(model: model, name: $0, entry: table[model]![$0]!) }
        }
    }()
}

@Suite struct TFLiteReferenceTests {
    @Test func casesAreListed() {
        #expect(TFLiteReferenceCase.all.count == 9, "cases.json should list 9 cases")
    }

    @Test(arguments: TFLiteReferenceCase.all)
    func matchesTFLite(_ c: TFLiteReferenceCase) throws {
        let model = try TFLiteBundleFixture.model(c.model)
        #expect(model.inputNames == [c.entry.input.name])
        #expect(model.inputShapes == [c.entry.input.shape])
        #expect(model.outputNames == c.entry.outputs.map(\.name))
        #expect(model.outputShapes == c.entry.outputs.map(\.shape))
        let interpreter = try Interpreter(model: model)
        let dir = TFLiteSharedFiles.referenceDirectory + "/" + c.model + "/"
        let input = try TFLiteSharedFiles.floats(dir + c.entry.input.file)
        // Run twice: the second run must not depend on state left by the first.
        _ = try interpreter.run(input)
        let outputs = try interpreter.run(input)
        for (i, file) in c.entry.outputs.enumerated() {
            let expected = try TFLiteSharedFiles.floats(dir + file.file)
            #expect(outputs[i].count == expected.count)
            let delta = tfliteMaxAbsDifference(outputs[i], expected)
            print("reference \(c.model)/\(c.name) output \(file.name): max |Δ| = \(delta)")
            #expect(delta <= c.tolerance, "\(c.model)/\(c.name) \(file.name): max |Δ| \(delta) > \(c.tolerance)")
        }
    }
}
