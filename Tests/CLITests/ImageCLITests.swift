import Foundation
import Testing

/// `predict` on images and on extract's CSV, and `extract` on images (issue 14).
@Suite("predict and extract on images", .serialized)
struct ImageCLITests {
    static let photos = URL(fileURLWithPath: "../shared/photos").standardizedFileURL.path
    static let faceModel = URL(fileURLWithPath: "../shared/models/face_landmarker.task").standardizedFileURL.path
    static let photoNames = ["astronaut-640x480.jpg", "astronaut-flipped.jpg", "astronaut-gray.png", "astronaut.png", "no-face-rocket.jpg"]

    /// A small model trained on the fixture, saved with `metrics --save`.
    static let model: String = {
        let dir = CLI.folder("imagemodel")
        _ = try? CLI.buildJSON(cache: dir + "/cache", ["--set", "train.epochs=3", "--set", "train.units=[6,4]"])
        _ = try? CLI.run(["metrics", "--cache", dir + "/cache", "--save", dir + "/out"])
        return dir + "/out/model.blsmodel"
    }()

    @Test("predict IMAGE_OR_FOLDER: one line per image in sorted order, no face is not a failure, --jobs does not change the output")
    func predictImages() throws {
        let one = try CLI.run(["predict", "--model", Self.model, "--face-model", Self.faceModel, Self.photos, "--jobs", "1"])
        #expect(one.status == 0, "\(one.stderr)")
        let lines = one.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first == "path,face,box_x,box_y,box_width,box_height,class,p_happy,p_sad,p_neutral")
        #expect(lines.dropFirst().map { $0.split(separator: ",")[0] } == Self.photoNames.map { Substring(Self.photos + "/" + $0) })
        for line in lines.dropFirst() {
            let f = line.split(separator: ",", omittingEmptySubsequences: false)
            #expect(f.count == 10)
            if line.contains("no-face-rocket") {
                #expect(f[1] == "no" && f[6] == "no face" && f[2...5].allSatisfy(\.isEmpty) && f[7...].allSatisfy(\.isEmpty))
            } else {
                #expect(f[1] == "yes" && ["happy", "sad", "neutral"].contains(f[6]))
                let p = f[7...].compactMap { Double($0) }
                #expect(p.count == 3 && abs(p.reduce(0, +) - 1) < 1e-4)
                #expect(f[6] == ["happy", "sad", "neutral"][p.indices.max { p[$0] < p[$1] }!])
                let box = f[2...5].compactMap { Double($0) }
                #expect(box.count == 4 && box[2] > 50 && box[3] > 50)
            }
        }
        let two = try CLI.run(["predict", "--model", Self.model, "--face-model", Self.faceModel, Self.photos, "--jobs", "2"])
        #expect(two.stdout == one.stdout)
        let json = try CLI.run(["predict", "--model", Self.model, "--face-model", Self.faceModel, Self.photos, "--json"])
        let objects = json.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(objects.count == 5)
        #expect(objects.last?["face"] as? Bool == false && objects.last?["class"] as? String == "no face")
        #expect((objects.first?["probabilities"] as? [String: Double])?.count == 3)
        #expect((objects.first?["box"] as? [String: Double])?.keys.sorted() == ["height", "width", "x", "y"])
    }

    @Test("an unreadable image is reported on its own line, the others are classified, and the exit code is 65")
    func unreadableImage() throws {
        let dir = CLI.folder()
        try "not an image".write(toFile: dir + "/broken.png", atomically: true, encoding: .utf8)
        let jpeg = try Data(contentsOf: URL(fileURLWithPath: Self.photos + "/astronaut-640x480.jpg"))
        try jpeg.prefix(jpeg.count / 3).write(to: URL(fileURLWithPath: dir + "/truncated.jpg"))
        let r = try CLI.run(["predict", "--model", Self.model, "--face-model", Self.faceModel,
                             dir, Self.photos + "/astronaut.png", dir + "/missing.png"])
        #expect(r.status == 65)
        let lines = r.stdout.split(separator: "\n").dropFirst().map { $0.split(separator: ",", omittingEmptySubsequences: false) }
        #expect(lines.map { $0[0].hasSuffix("broken.png") || $0[0].hasSuffix("truncated.jpg") || $0[0].hasSuffix("missing.png") ? $0[1] : "ok" }
                == ["error", "error", "yes", "error"].map { $0 == "yes" ? "ok" : Substring($0) })
        #expect(r.stderr.contains("broken.png: is not a PNG or JPEG image"))
        #expect(r.stderr.contains("truncated.jpg"))
        #expect(r.stderr.contains("3 of 4 image(s) could not be read"))
    }

    @Test("extract over the photos matches MediaPipe within 2e-3, and predict --input reads its CSV with the no-face photo and ids")
    func extractThenPredict() throws {
        let dir = CLI.folder()
        let e = try CLI.run(["extract", "--model", Self.faceModel, Self.photos, "--out", dir + "/photos.csv", "--jobs", "2"])
        #expect(e.status == 0, "\(e.stderr)")
        #expect(e.stderr.contains("5 images, 4 with a face"))
        let ours = try csvRows(dir + "/photos.csv")
        let reference = try csvRows("../shared/reference/mediapipe/photos.blendshapes.csv")
        #expect(ours.header.prefix(3) == ["id", "row", "detected"])
        #expect(ours.rows.map { ($0[0] as NSString).lastPathComponent } == Self.photoNames)
        for row in ours.rows {
            let name = (row[0] as NSString).lastPathComponent
            let ref = try #require(reference.rows.first { $0[0] == name })
            #expect(row[2] == ref[1], "\(name): detected")
            guard row[2] == "1" else { continue }
            let worst = (0..<52).map { abs(Double(row[3 + $0])! - Double(ref[2 + $0])!) }.max()!
            #expect(worst < 2e-3, "\(name): largest blendshape difference \(worst)")
        }
        let p = try CLI.run(["predict", "--model", Self.model, "--input", dir + "/photos.csv"])
        #expect(p.status == 0, "\(p.stderr)")
        let lines = p.stdout.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false) }
        #expect(lines.first == ["row", "id", "class", "p_happy", "p_sad", "p_neutral"])
        #expect(lines.dropFirst().map { ($0[1] as Substring).hasSuffix("no-face-rocket.jpg") ? $0[2] : "face" } == ["face", "face", "face", "face", "no face"])
        let json = try CLI.run(["predict", "--model", Self.model, "--input", dir + "/photos.csv", "--json"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let rows = try #require(object["rows"] as? [[String: Any]])
        #expect(rows.map { ($0["id"] as? String).map { ($0 as NSString).lastPathComponent } } == Self.photoNames)
        #expect(rows.last?["face"] as? Bool == false && rows.last?["class"] as? String == "no face")

        // The same labels as predict on the images themselves.
        let direct = try CLI.run(["predict", "--model", Self.model, "--face-model", Self.faceModel, Self.photos])
        #expect(direct.stdout.split(separator: "\n").dropFirst().map { $0.split(separator: ",", omittingEmptySubsequences: false)[6] }
                == lines.dropFirst().map { $0[2] })
    }

    @Test("extract --rows on images keeps their positions in the walk; a FER2013 CSV and images together are refused")
    func extractRowsOfImages() throws {
        let dir = CLI.folder()
        let e = try CLI.run(["extract", "--model", Self.faceModel, Self.photos, "--rows", "1-2", "--out", dir + "/two.csv"])
        #expect(e.status == 0, "\(e.stderr)")
        let rows = try csvRows(dir + "/two.csv").rows
        #expect(rows.map { ($0[0] as NSString).lastPathComponent } == ["astronaut-flipped.jpg", "astronaut-gray.png"])
        #expect(rows.map { $0[1] } == ["1", "2"])
        let mixed = try CLI.run(["extract", "--model", Self.faceModel, CLI.fixture, Self.photos, "--out", dir + "/x.csv"])
        #expect(mixed.status == 64)
    }

    /// The face lines of `predict IMAGE…`'s CSV: path, class and the probability fields.
    func faceLines(_ stdout: String) -> [(path: String, label: String, p: [String])] {
        stdout.split(separator: "\n").dropFirst().map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
            .filter { $0[1] == "yes" }.map { ($0[0], $0[6], Array($0[7...])) }
    }

    @Test("a model whose decision rule overrules argmax changes the printed label of images and of extract's CSV")
    func decisionRuleOnImagesAndExtractCSV() throws {
        let plain = try CLI.run(["predict", "--model", Self.model, "--face-model", Self.faceModel, Self.photos])
        #expect(plain.status == 0, "\(plain.stderr)")
        let before = faceLines(plain.stdout)
        try #require(before.count == 4)
        // The same network with a rule that calls every face `ruled` unless another class is certain:
        // `ruled` is not the argmax of the first face, so that label must change.
        let ruled = try #require(["happy", "sad", "neutral"].first { $0 != before[0].label })
        let dir = CLI.folder()
        let rule = #"train.decision={"rule": "reject", "class": "\#(ruled)", "threshold": 1}"#
        let (b, _) = try CLI.buildJSON(cache: dir + "/cache", ["--set", "train.epochs=3", "--set", "train.units=[6,4]", "--set", rule])
        #expect(b.status == 0, "\(b.stderr)")
        let m = try CLI.run(["metrics", "--cache", dir + "/cache", "--save", dir + "/out"])
        #expect(m.status == 0, "\(m.stderr)")
        let model = dir + "/out/model.blsmodel"

        let images = try CLI.run(["predict", "--model", model, "--face-model", Self.faceModel, Self.photos])
        #expect(images.status == 0, "\(images.stderr)")
        let after = faceLines(images.stdout)
        #expect(after.map(\.path) == before.map(\.path))
        #expect(after.map(\.p) == before.map(\.p), "the rule must not change the probabilities")
        #expect(after.allSatisfy { $0.label == ruled })
        #expect(after[0].label != before[0].label)
        #expect(images.stdout.contains("no-face-rocket.jpg,no,,,,,no face,"))
        let lines = try CLI.run(["predict", "--model", model, "--face-model", Self.faceModel, Self.photos, "--json"])
        let objects = lines.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(objects.filter { $0["face"] as? Bool == true }.map { $0["class"] as? String } == Array(repeating: ruled, count: 4))

        // extract's CSV through predict --input: the rule's labels too, ids and the no-face row kept.
        let e = try CLI.run(["extract", "--model", Self.faceModel, Self.photos, "--out", dir + "/photos.csv"])
        #expect(e.status == 0, "\(e.stderr)")
        func labels(_ model: String) throws -> [String] {
            let p = try CLI.run(["predict", "--model", model, "--input", dir + "/photos.csv"])
            #expect(p.status == 0, "\(p.stderr)")
            return p.stdout.split(separator: "\n").dropFirst().map { String($0.split(separator: ",", omittingEmptySubsequences: false)[2]) }
        }
        #expect(try labels(Self.model) == before.map(\.label) + ["no face"])
        #expect(try labels(model) == Array(repeating: ruled, count: 4) + ["no face"])
        let json = try CLI.run(["predict", "--model", model, "--input", dir + "/photos.csv", "--json"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        // The same top-level members as predict on a feature CSV, the decision rule included.
        let decision = try #require(object["decision"] as? [String: Any], "\(json.stdout.prefix(300))")
        #expect(decision["rule"] as? String == "reject" && decision["class"] as? String == ruled)
        let rows = try #require(object["rows"] as? [[String: Any]])
        #expect(rows.map { $0["class"] as? String } == Array(repeating: ruled, count: 4) + ["no face"])
    }

    @Test("predict --input on z-scored extract output warns on stderr and in --json, counting only the face rows")
    func rangeWarningOnExtractCSV() throws {
        let dir = CLI.folder()
        let e = try CLI.run(["extract", "--model", Self.faceModel, Self.photos, "--out", dir + "/photos.csv"])
        #expect(e.status == 0, "\(e.stderr)")
        let raw = try CLI.run(["predict", "--model", Self.model, "--input", dir + "/photos.csv", "--json"])
        #expect(raw.status == 0, "\(raw.stderr)")
        #expect(!raw.stderr.contains("warning"), "\(raw.stderr)")
        let rawJSON = try #require(try JSONSerialization.jsonObject(with: Data(raw.stdout.utf8)) as? [String: Any])
        #expect((rawJSON["warnings"] as? [String])?.isEmpty == true)

        // Z-score each blendshape column over the face rows; the no-face row keeps its empty scores.
        let (header, rows) = try csvRows(dir + "/photos.csv")
        let detected = try #require(header.firstIndex(of: "detected"))
        let faces = rows.indices.filter { rows[$0][detected] == "1" }
        #expect(faces.count == 4 && header.count == 55)
        var z = rows
        for c in (detected + 1)..<header.count {
            let v = faces.map { Double(rows[$0][c])! }
            let mean = v.reduce(0, +) / Double(v.count)
            let sd = (v.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(v.count)).squareRoot()
            for (k, r) in faces.enumerated() { z[r][c] = String(sd > 0 ? (v[k] - mean) / sd : 0) }
        }
        try (([header] + z).map { $0.joined(separator: ",") }.joined(separator: "\n") + "\n").write(toFile: dir + "/z.csv", atomically: true, encoding: .utf8)

        let text = try CLI.run(["predict", "--model", Self.model, "--input", dir + "/z.csv"])
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stderr.contains("blendset: warning: ") && text.stderr.contains("of 4 rows") && text.stderr.contains("outside the range the model was trained on"), "\(text.stderr)")
        #expect(text.stdout.split(separator: "\n").last?.contains("no-face-rocket.jpg,no face,") == true)
        let json = try CLI.run(["predict", "--model", Self.model, "--input", dir + "/z.csv", "--json"])
        #expect(json.status == 0 && json.stderr.contains("blendset: warning: "), "\(json.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let warnings = try #require(object["warnings"] as? [String])
        #expect(warnings.count == 1 && warnings[0].contains("of 4 rows") && warnings[0].contains("raw features"))
        #expect((object["rows"] as? [[String: Any]])?.count == 5)
    }

    func csvRows(_ path: String) throws -> (header: [String], rows: [[String]]) {
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        return (lines[0], Array(lines.dropFirst()))
    }
}
