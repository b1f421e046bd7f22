import Foundation
import Testing

@Suite("train commands: metrics, predict, tune")
struct TrainCLITests {
    static let quickTrain = ["--set", "train.epochs=3", "--set", "train.units=[6,4]", "--set", "train.normalize=zscore"]

    @Test("metrics --json has the documented shape; --save writes a model that predict uses on raw features")
    func metricsAndPredict() throws {
        let dir = CLI.folder(), cache = dir + "/cache"
        let (r, _) = try CLI.buildJSON(cache: cache, Self.quickTrain)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("Epoch 3/3"))
        let m = try CLI.run(["metrics", "--cache", cache, "--json", "--save", dir + "/out"])
        #expect(m.status == 0, "\(m.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(m.stdout.utf8)) as? [String: Any])
        #expect(Set(json.keys) == ["test", "val", "epochs", "seconds"])
        let test = try #require(json["test"] as? [String: Any])
        #expect(Set(test.keys) == ["accuracy", "macro_f1", "per_class", "confusion"])
        #expect((test["confusion"] as? [[Int]])?.count == 3)
        #expect(json["epochs"] as? Int == 3)
        for f in ["model.blsmodel", "history.csv", "metrics.json", "curves.svg", "confusion.svg"] {
            #expect(FileManager.default.fileExists(atPath: dir + "/out/" + f), "\(f)")
        }
        let text = try CLI.run(["metrics", "--cache", cache])
        #expect(text.stdout.contains("confusion (rows = true, columns = predicted: happy, sad, neutral)"))

        let e = try CLI.run(["export", "--cache", cache, "--format", "csv", "--out", dir + "/csv"])
        #expect(e.status == 0, "\(e.stderr)")
        let p = try CLI.run(["predict", "--model", dir + "/out/model.blsmodel", "--input", dir + "/csv/test.csv"])
        #expect(p.status == 0, "\(p.stderr)")
        let lines = p.stdout.split(separator: "\n")
        #expect(lines.first == "row,class,p_happy,p_sad,p_neutral")
        let csvRows = try String(contentsOfFile: dir + "/csv/test.csv", encoding: .utf8).split(separator: "\n").count
        #expect(lines.count == csvRows)

        // A file without the model's feature names is refused, not misread.
        try "a,b,c\n1,2,3\n".write(toFile: dir + "/bad.csv", atomically: true, encoding: .utf8)
        let bad = try CLI.run(["predict", "--model", dir + "/out/model.blsmodel", "--input", dir + "/bad.csv"])
        #expect(bad.status == 65)
        #expect(bad.stderr.contains("lacks 33 of the model's 33 features"))
        let missing = try CLI.run(["predict", "--model", dir + "/nope.blsmodel", "--input", dir + "/bad.csv"])
        #expect(missing.status == 66)
    }

    @Test("tune runs each combination once; a second run finds every trial cached")
    func tune() throws {
        let cache = CLI.folder() + "/cache"
        let args = ["tune", "--pipeline", CLI.pipeline, "--cache", cache, "--set", "ingest.source=\(CLI.fixture)", "--grid", "train.lr=0.001,0.01"]
            + CLI.fast + Self.quickTrain
        let first = try CLI.run(args)
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.contains("Trial #1 summary") && first.stdout.contains("Trial #2 summary"))
        let second = try CLI.run(args + ["--json"])
        let json = try #require(try JSONSerialization.jsonObject(with: Data(second.stdout.utf8)) as? [String: Any])
        let trials = try #require(json["trials"] as? [[String: Any]])
        #expect(trials.count == 2)
        #expect(trials.allSatisfy { $0["cached"] as? Bool == true })
        let acc = trials.map { $0["val_accuracy"] as? Double ?? -1 }
        #expect(acc == acc.sorted(by: >))
    }

    @Test("metrics on a version without a train stage says how to get one")
    func untrained() throws {
        let dir = CLI.folder()
        let r = try CLI.run(["metrics", "--cache", dir + "/cache"])
        #expect(r.status == 66)
        #expect(r.stderr.contains("blendset build"))
    }
}
