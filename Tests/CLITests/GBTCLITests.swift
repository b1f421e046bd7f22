import Foundation
import Testing

@Suite("gradient-boosted trees and seed ensembles through the CLI")
struct GBTCLITests {
    static let gbt = ["--set", "train.model=\"gbt\"", "--set", "train.gbt_rounds=20", "--set", "train.gbt_min_samples_leaf=5",
                      "--set", "train.gbt_feature_fraction=0.6", "--set", "train.seeds=[1,2]"]

    @Test("a gbt ensemble: metrics shows seeds and importances, --save writes importance.svg, predict uses the ensemble")
    func gbtEnsemble() throws {
        let dir = CLI.folder(), cache = dir + "/cache"
        let (r, _) = try CLI.buildJSON(cache: cache, Self.gbt)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("train seed 2: Round 20/20"))
        let m = try CLI.run(["metrics", "--cache", cache, "--json", "--save", dir + "/out"])
        #expect(m.status == 0, "\(m.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(m.stdout.utf8)) as? [String: Any])
        #expect(Set(json.keys) == ["test", "val", "epochs", "seconds", "normalization", "decision", "seeds", "seed_summary", "feature_importance"])
        #expect((json["seeds"] as? [[String: Any]])?.compactMap { $0["seed"] as? Int } == [1, 2])
        let summary = try #require(json["seed_summary"] as? [String: [String: Any]])
        #expect((summary["test"]?["accuracy"] as? [String: Double])?["std"] != nil && (summary["val"]?["macro_f1"] as? [String: Double])?["mean"] != nil)
        // Per class: precision, recall and F1, each with mean and std over the seeds.
        let perClass = try #require(summary["test"]?["per_class"] as? [String: [String: [String: Double]]])
        #expect(perClass["sad"]?["recall"]?["std"] != nil && perClass.count == 3)
        #expect((json["feature_importance"] as? [[String: Any]])?.count == 33)
        #expect(FileManager.default.fileExists(atPath: dir + "/out/importance.svg"))
        let text = try CLI.run(["metrics", "--cache", cache])
        #expect(text.stdout.contains("mean ± std (n − 1): test accuracy"))
        #expect(text.stdout.contains("feature importance (total split gain"))
        #expect(text.stdout.contains("ensemble of 2 × GBT("))

        let e = try CLI.run(["export", "--cache", cache, "--format", "csv", "--out", dir + "/csv"])
        #expect(e.status == 0, "\(e.stderr)")
        let p = try CLI.run(["predict", "--model", dir + "/out/model.blsmodel", "--input", dir + "/csv/test.csv"])
        #expect(p.status == 0, "\(p.stderr)")
        // The ensemble's predictions give the metrics' test accuracy.
        let header = try String(contentsOfFile: dir + "/csv/test.csv", encoding: .utf8).split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false) }
        let labelColumn = try #require(header[0].firstIndex(of: "label_name"))
        let truth = header.dropFirst().map { String($0[labelColumn]) }
        let predicted = p.stdout.split(separator: "\n").dropFirst().map { String($0.split(separator: ",")[1]) }
        let right = zip(truth, predicted).filter { $0 == $1 }.count
        let accuracy = try #require((json["test"] as? [String: Any])?["accuracy"] as? Double)
        #expect(abs(Double(right) / Double(truth.count) - accuracy) < 1e-9, "labels \(truth.prefix(3)), predicted \(predicted.prefix(3))")
    }

    @Test("invalid gbt parameters exit 78 and name the parameter")
    func invalidParameters() throws {
        let r = try CLI.run(["build", "--pipeline", CLI.pipeline, "--cache", CLI.folder() + "/cache", "--set", "ingest.source=\(CLI.fixture)",
                             "--set", "train.model=\"gbt\"", "--set", "train.gbt_learning_rate=0"])
        #expect(r.status == 78)
        #expect(r.stderr.contains("gbt_learning_rate"))
        let seeds = try CLI.run(["build", "--pipeline", CLI.pipeline, "--cache", CLI.folder() + "/cache", "--set", "ingest.source=\(CLI.fixture)",
                                 "--set", "train.seeds=[3,3]"])
        #expect(seeds.status == 78 && seeds.stderr.contains("seeds"))
    }
}
