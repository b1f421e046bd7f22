import Foundation
import Testing

extension CLI {
    /// Whether the system python can import onnxruntime (.ci/run installs it).
    static let hasONNXRuntime: Bool = {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", "import onnxruntime"]
        p.standardError = Pipe()
        guard (try? p.run()) != nil else { return false }
        p.waitUntilExit()
        return p.terminationStatus == 0
    }()

    /// A fixture build trained with `settings`, its model saved and its test split exported as CSV.
    static func trainedFixture(_ settings: [String], label: String = #function) throws -> (dir: String, cache: String, model: String, testCSV: String) {
        let dir = folder(label), cache = dir + "/cache"
        let (r, _) = try buildJSON(cache: cache, ["--set", "train.units=[6,4]"] + settings)
        #expect(r.status == 0, "\(r.stderr)")
        let m = try run(["metrics", "--cache", cache, "--save", dir + "/out"])
        #expect(m.status == 0, "\(m.stderr)")
        let e = try run(["export", "--cache", cache, "--format", "csv", "--out", dir + "/csv"])
        #expect(e.status == 0, "\(e.stderr)")
        return (dir, cache, dir + "/out/model.blsmodel", dir + "/csv/test.csv")
    }
}

@Suite("export-model (ONNX) and predict's range warning")
struct ModelExportCLITests {
    @Test("z-scored features fed to a raw model give the range warning on stderr and in --json; raw ones do not; metrics and manifest name the normalisation")
    func rangeWarning() throws {
        let f = try CLI.trainedFixture(["--set", "train.model=mlp"])
        // The train split lies inside the ranges by construction; the fixture's 15 test rows are too
        // few to promise that none of them is a true outlier.
        let raw = try CLI.run(["predict", "--model", f.model, "--input", f.dir + "/csv/train.csv", "--json"])
        #expect(raw.status == 0, "\(raw.stderr)")
        #expect(!raw.stderr.contains("warning"), "\(raw.stderr)")
        let rawJSON = try #require(try JSONSerialization.jsonObject(with: Data(raw.stdout.utf8)) as? [String: Any])
        #expect((rawJSON["warnings"] as? [String])?.isEmpty == true)

        // Z-score every feature column over the file's rows, as a user's preprocessing might.
        let lines = try String(contentsOfFile: f.dir + "/csv/train.csv", encoding: .utf8).split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        // The export's feature columns sit between emotion_name and the one-hot columns. A quoted
        // augmentation recipe may hold commas, so a row's columns are counted from its end.
        let header = lines[0]
        let first = try #require(header.firstIndex(of: "emotion_name")) + 1
        let features = first..<(try #require(header.firstIndex { $0.hasPrefix("onehot_") }))
        #expect(features.count == 33)
        func column(_ row: [String], _ c: Int) -> Int { row.count - header.count + c }
        var z = lines
        for c in features {
            let v = lines.dropFirst().map { Double($0[column($0, c)]) ?? .nan }
            #expect(!v.contains { !$0.isFinite })
            let mean = v.reduce(0, +) / Double(v.count)
            let sd = (v.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(v.count)).squareRoot()
            for r in 1..<z.count { z[r][column(z[r], c)] = String(format: "%.4f", sd > 0 ? (v[r - 1] - mean) / sd : 0) }
        }
        try (z.map { $0.joined(separator: ",") }.joined(separator: "\n") + "\n").write(toFile: f.dir + "/z.csv", atomically: true, encoding: .utf8)
        let scaled = try CLI.run(["predict", "--model", f.model, "--input", f.dir + "/z.csv", "--json"])
        #expect(scaled.status == 0, "\(scaled.stderr)")
        #expect(scaled.stderr.hasPrefix("blendset: warning: "), "\(scaled.stderr)")
        #expect(scaled.stderr.contains("have features outside the range the model was trained on"), "\(scaled.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(scaled.stdout.utf8)) as? [String: Any])
        let warnings = try #require(json["warnings"] as? [String])
        #expect(warnings.count == 1 && warnings[0].contains("raw features (no normalisation)"))
        let text = try CLI.run(["predict", "--model", f.model, "--input", f.dir + "/z.csv"])
        #expect(text.status == 0 && text.stderr.contains("outside the range"))

        let metrics = try CLI.run(["metrics", "--cache", f.cache])
        #expect(metrics.stdout.contains("normalisation: none (the model takes raw blendshape features as they are)"), "\(metrics.stdout)")
        let manifest = try CLI.run(["manifest", "--cache", f.cache])
        #expect(manifest.stdout.contains("model (stage 'train'): Dense(6, relu) → Dense(4, relu) → Dense(3, softmax)"), "\(manifest.stdout)")
        #expect(manifest.stdout.contains("  normalisation: none"))
    }

    static let models: [String] = ["lstm", "mlp", "gbt", "mlp-ensemble"]

    @Test("onnxruntime's probabilities on the test split match blendset predict within 1e-5",
          .enabled(if: CLI.hasONNXRuntime, "python3 cannot import onnxruntime: pip install onnxruntime (.ci/run does)"),
          arguments: models)
    func onnxParity(kind: String) throws {
        let settings: [String]
        switch kind {
        case "lstm": settings = ["--set", "train.normalize=minmax"]                 // the default recipe's layers, scaled input
        case "mlp": settings = ["--set", "train.model=mlp", "--set", "train.normalize=zscore", "--set", "train.activation=selu"]
        case "gbt": settings = ["--set", "train.model=gbt", "--set", "train.gbt_rounds=5"]
        default: settings = ["--set", "train.model=mlp", "--set", "train.seeds=[1,2]", "--set", "train.activation=tanh"]
        }
        let f = try CLI.trainedFixture(settings, label: "onnx" + kind)
        let onnx = f.dir + "/model.onnx"
        let e = try CLI.run(["export-model", "--model", f.model, "--out", onnx])
        #expect(e.status == 0, "\(e.stderr)")
        #expect(e.stdout.hasPrefix("wrote \(onnx)"))
        let fromCache = try CLI.run(["export-model", "--cache", f.cache, "--out", f.dir + "/cache.onnx"])
        #expect(fromCache.status == 0, "\(fromCache.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: onnx)) == Data(contentsOf: URL(fileURLWithPath: f.dir + "/cache.onnx")))

        let p = try CLI.run(["predict", "--model", f.model, "--input", f.testCSV, "--json"])
        #expect(p.status == 0, "\(p.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(p.stdout.utf8)) as? [String: Any])
        let classes = try #require(json["classes"] as? [String])
        let rows = try #require(json["rows"] as? [[String: Any]])
        let ours = rows.map { r in classes.map { ((r["probabilities"] as? [String: Any])?[$0] as? Double) ?? .nan } }
        #expect(ours.count > 10)

        let py = Process()
        py.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        py.arguments = ["python3", "-c", """
            import csv, json, sys
            import numpy as np, onnxruntime as ort
            s = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
            meta = s.get_modelmeta().custom_metadata_map
            names = json.loads(meta["feature_names"])
            rows = list(csv.DictReader(open(sys.argv[2])))
            x = np.array([[float(r[n]) for n in names] for r in rows], dtype=np.float32)
            p = s.run(["probabilities"], {"features": x})[0]
            json.dump({"classes": json.loads(meta["class_names"]), "normalization": meta["normalization"], "probabilities": p.tolist()}, sys.stdout)
            """, onnx, f.testCSV]
        let out = Pipe(), err = Pipe()
        py.standardOutput = out
        py.standardError = err
        try py.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let errText = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        py.waitUntilExit()
        #expect(py.terminationStatus == 0, "\(errText)")
        let theirs = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(theirs["classes"] as? [String] == classes)
        let probs = try #require(theirs["probabilities"] as? [[Double]])
        #expect(probs.count == ours.count)
        var worst = 0.0
        for (a, b) in zip(ours, probs) { for (x, y) in zip(a, b) { worst = max(worst, abs(x - y)) } }
        #expect(worst <= 1e-5, "max |Δ| \(worst) for \(kind)")
        print("ONNX parity \(kind): \(ours.count) rows, max |Δ| \(worst)")
    }

    @Test("export-model: --out is required (64); a missing model file exits 66")
    func errors() throws {
        let dir = CLI.folder()
        let noOut = try CLI.run(["export-model", "--model", dir + "/m.blsmodel"])
        #expect(noOut.status == 64 && noOut.stderr.contains("--out FILE.onnx is required"), "\(noOut.stderr)")
        let missing = try CLI.run(["export-model", "--model", dir + "/m.blsmodel", "--out", dir + "/m.onnx"])
        #expect(missing.status == 66 && missing.stderr.contains("cannot read the model file"), "\(missing.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/m.onnx"))
    }
}
