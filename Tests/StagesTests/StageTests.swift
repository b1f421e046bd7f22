import Foundation
import Formats
import Pipeline
import Testing
import Learning
@testable import Stages

@Suite("ingest")
struct IngestTests {
    @Test("the fixture CSV becomes 174 rows with usage, emotion, stable ids, image sizes and hashes")
    func csvFixture() throws {
        let b = try BuiltPipeline(defaultPipelineJSON(source: fixtureCSV, upTo: "ingest"))
        let t = try b.table("ingest")
        #expect(t.rowCount == 174)
        let usage = try t.int32(ColumnName.usage)
        #expect([occurrences(usage, 0), occurrences(usage, 1), occurrences(usage, 2)] == [122, 26, 26] as [Int])
        let emotions = try t.int32(ColumnName.emotion)
        #expect([3, 4, 6].map { occurrences(emotions, $0) } == [42, 42, 42] as [Int])
        #expect(try t.strings(ColumnName.itemID)[0...2] == ["0", "1", "2"])
        #expect(try t.int32(ColumnName.imageWidth).allSatisfy { $0 == 48 })
        let images = try b.images("ingest")
        #expect(images.count == 174)
        // The first data row of the file, parsed independently.
        let lines = try String(contentsOfFile: fixtureCSV, encoding: .utf8).split(separator: "\n")
        let firstPixels = lines[1].split(separator: ",")[1].split(separator: " ").map { UInt8($0)! }
        #expect(Array(images.pixels(0)) == firstPixels)
        let hashes = try t.uint8(ColumnName.imageHash).values
        #expect(Array(hashes[0..<32]) == SHA256.digest(firstPixels).bytes)
    }

    @Test("a PNG folder <usage>/<emotion>/*.png: any size, gray or RGB; each image's size is recorded")
    func pngFolder() throws {
        let dir = temporaryFolder()
        let images: [(String, PixelImage)] = [
            ("Training/happy/a.png", PixelImage(width: 48, height: 48, channels: 1, pixels: .init(repeating: 7, count: 48 * 48))),
            ("Training/sad/b.png", PixelImage(width: 64, height: 40, channels: 3, pixels: .init(repeating: 9, count: 64 * 40 * 3))),
            ("PublicTest/neutral/c.png", PixelImage(width: 3, height: 5, channels: 1, pixels: Array(0..<15))),
            ("PrivateTest/angry/d.png", PixelImage(width: 10, height: 10, channels: 3, pixels: .init(repeating: 1, count: 300))),
        ]
        for (path, image) in images { try AtomicFile.write(try PNGCodec.encode(image), to: dir + "/faces/" + path) }
        let b = try BuiltPipeline(defaultPipelineJSON(source: dir + "/faces", upTo: "ingest"))
        let t = try b.table("ingest")
        #expect(t.rowCount == 4)
        // Sorted by usage folder name, then emotion, then file.
        #expect(try t.strings(ColumnName.itemID) == ["PrivateTest/angry/d.png", "PublicTest/neutral/c.png", "Training/happy/a.png", "Training/sad/b.png"])
        #expect(try t.int32(ColumnName.usage) == [2, 1, 0, 0])
        #expect(try t.int32(ColumnName.emotion) == [0, 6, 3, 4])
        #expect(try t.int32(ColumnName.imageWidth) == [10, 3, 48, 64])
        #expect(try t.int32(ColumnName.imageHeight) == [10, 5, 48, 40])
        #expect(try t.int32(ColumnName.imageChannels) == [3, 1, 1, 3])
        #expect(Array(try b.images("ingest").pixels(1)) == Array(0..<15))
    }

    @Test("a file in the PNG folder that is not a PNG fails with its path, or is skipped with on_bad_row = skip")
    func badPNG() throws {
        let dir = temporaryFolder()
        try AtomicFile.write(try PNGCodec.encode(PixelImage(width: 2, height: 2, channels: 1, pixels: [1, 2, 3, 4])), to: dir + "/faces/Training/happy/ok.png")
        try AtomicFile.write(Array("not an image".utf8), to: dir + "/faces/Training/happy/broken.png")
        #expect {
            try BuiltPipeline(defaultPipelineJSON(source: dir + "/faces", upTo: "ingest"))
        } throws: { error in
            "\(error)".contains("faces/Training/happy/broken.png")
        }
        let b = try BuiltPipeline(defaultPipelineJSON(source: dir + "/faces", upTo: "ingest"), overrides: ["ingest.on_bad_row=skip"])
        #expect(try b.table("ingest").rowCount == 1)
        #expect(b.stats("ingest")["skipped"] == .int(1))
    }

    @Test("a JPEG in the folder is read like a PNG: RGB, full size, its path is the item id")
    func jpegInFolder() throws {
        let dir = temporaryFolder()
        let jpeg = Array(try Data(contentsOf: URL(fileURLWithPath: FileManager.default.currentDirectoryPath + "/../shared/photos/astronaut-640x480.jpg")))
        try AtomicFile.write(jpeg, to: dir + "/faces/Training/happy/photo.jpg")
        try AtomicFile.write(try PNGCodec.encode(PixelImage(width: 2, height: 2, channels: 1, pixels: [1, 2, 3, 4])), to: dir + "/faces/Training/sad/small.png")
        let t = try BuiltPipeline(defaultPipelineJSON(source: dir + "/faces", upTo: "ingest")).table("ingest")
        #expect(t.rowCount == 2)
        #expect(try t.strings(ColumnName.itemID) == ["Training/happy/photo.jpg", "Training/sad/small.png"])
        #expect(try t.int32(ColumnName.imageWidth) == [640, 2])
        #expect(try t.int32(ColumnName.imageChannels) == [3, 1])
    }

    @Test("an unknown usage or emotion folder is an error naming it")
    func unknownFolder() throws {
        let dir = temporaryFolder()
        try AtomicFile.write(try PNGCodec.encode(PixelImage(width: 2, height: 2, channels: 1, pixels: [1, 2, 3, 4])), to: dir + "/faces/Training/joyful/x.png")
        #expect {
            try BuiltPipeline(defaultPipelineJSON(source: dir + "/faces", upTo: "ingest"))
        } throws: { error in
            "\(error)".contains("joyful: unknown emotion folder")
        }
    }
}

@Suite("select")
struct SelectTests {
    @Test("the default keeps emotions 3, 4, 6 as happy, sad, neutral")
    func defaultClasses() throws {
        let h = StageHarness()
        let t = try h.run(SelectStage.self, inputs: [try ingestedFixture(h).output]).table()
        #expect(t.rowCount == 126)
        #expect(t.names(MetadataKey.classes) == ["happy", "sad", "neutral"])
        let emotions = try t.int32(ColumnName.emotion), labels = try t.int32(ColumnName.label)
        for (e, l) in zip(emotions, labels) { #expect([3: 0, 4: 1, 6: 2][e] == l) }
    }

    @Test("several emotions may map to one class, by id or by name, in the order given")
    func manyToOne() throws {
        let classes = #"[{"name":"unknown","emotions":[0,1,2,"surprise",6]},{"name":"happy","emotions":["happy"]},{"name":"sad","emotions":[4]}]"#
        let h = StageHarness()
        let t = try h.run(SelectStage.self, parameters: ["classes": try JSONParser.parse(classes)], inputs: [try ingestedFixture(h).output]).table()
        #expect(t.rowCount == 174)
        #expect(t.names(MetadataKey.classes) == ["unknown", "happy", "sad"])
        let labels = try t.int32(ColumnName.label)
        #expect([occurrences(labels, 0), occurrences(labels, 1), occurrences(labels, 2)] == [90, 42, 42] as [Int])
    }

    @Test("invalid class lists are refused before anything runs", arguments: [
        #"[]"#, #"[{"name":"x"}]"#, #"[{"name":"x","emotions":[7]}]"#, #"[{"name":"x","emotions":["joy"]}]"#,
        #"[{"name":"x","emotions":[3]},{"name":"y","emotions":[3]}]"#, #"[{"name":"x","emotions":[3],"extra":1}]"#,
    ])
    func invalid(classes: String) throws {
        #expect(throws: PipelineError.self) {
            try BuiltPipeline(defaultPipelineJSON(source: fixtureCSV, upTo: "select"), overrides: ["select.classes=\(classes)"])
        }
    }
}

@Suite("split")
struct SplitTests {
    @Test("from Usage: Training → train, PublicTest → val, PrivateTest → test")
    func usage() throws {
        let h = StageHarness()
        let selected = try h.run(SelectStage.self, inputs: [try ingestedFixture(h).output])
        let t = try h.run(SplitStage.self, inputs: [selected.output]).table()
        #expect(try t.int32(ColumnName.split) == (try t.int32(ColumnName.usage)))
        let s = try t.int32(ColumnName.split)
        #expect([occurrences(s, 0), occurrences(s, 1), occurrences(s, 2)] == [90, 18, 18] as [Int])
    }

    @Test("seeded stratified fractions: per-class shares, repeatable, and the seed matters")
    func stratified() throws {
        let overrides = ["split.method=stratified", #"split.fractions={"train":0.5,"val":0.25,"test":0.25}"#]
        let a = try BuiltPipeline(defaultPipelineJSON(source: fixtureCSV, upTo: "split"), overrides: overrides)
        let again = try BuiltPipeline(defaultPipelineJSON(source: fixtureCSV, upTo: "split"), overrides: overrides)
        let other = try BuiltPipeline(defaultPipelineJSON(source: fixtureCSV, upTo: "split"), overrides: overrides + ["split.seed=7"])
        let t = try a.table("split")
        let s = try t.int32(ColumnName.split), labels = try t.int32(ColumnName.label)
        for c in Int32(0)..<3 {
            let rows = s.indices.filter { labels[$0] == c }
            #expect(rows.filter { s[$0] == 0 }.count == 21)   // round(42 * 0.5)
            #expect(rows.filter { s[$0] == 1 }.count == 11)   // round(42 * 0.25) = 10.5 → 11
            #expect(rows.filter { s[$0] == 2 }.count == 10)
        }
        #expect(a.stage("split").contentID == again.stage("split").contentID)
        #expect(a.stage("split").contentID != other.stage("split").contentID)
    }

    @Test("fractions must add up to 1")
    func badFractions() {
        #expect(throws: PipelineError.self) {
            try BuiltPipeline(defaultPipelineJSON(source: fixtureCSV, upTo: "split"),
                              overrides: ["split.method=stratified", #"split.fractions={"train":0.5,"val":0.1,"test":0.1}"#])
        }
    }
}

@Suite("balance")
struct BalanceTests {
    func built(_ overrides: [String]) throws -> (BuiltPipeline, Table) {
        let b = try BuiltPipeline(defaultPipelineJSON(source: fixtureCSV, upTo: "balance"), overrides: overrides)
        return (b, try b.table("balance"))
    }

    @Test("undersampling: exactly per_class train rows per class; val and test untouched")
    func undersample() throws {
        let (b, t) = try built(["balance.per_class=20"])
        let s = try t.int32(ColumnName.split), l = try t.int32(ColumnName.label)
        for c in Int32(0)..<3 { #expect(s.indices.filter { s[$0] == 0 && l[$0] == c }.count == 20) }
        let before = try b.table("split")
        let beforeIDs = zip(try before.strings(ColumnName.itemID), try before.int32(ColumnName.split)).filter { $0.1 != 0 }.map(\.0)
        let afterIDs = zip(try t.strings(ColumnName.itemID), s).filter { $0.1 != 0 }.map(\.0)
        #expect(beforeIDs == afterIDs)
        #expect(Set(try t.strings(ColumnName.itemID)).count == t.rowCount)   // no repeats when undersampling
    }

    @Test("the seed picks the rows; the same seed gives the same bytes")
    func seeded() throws {
        let (a, _) = try built(["balance.per_class=20"])
        let (a2, _) = try built(["balance.per_class=20"])
        let (b, _) = try built(["balance.per_class=20", "balance.seed=2"])
        #expect(a.stage("balance").contentID == a2.stage("balance").contentID)
        #expect(a.stage("balance").contentID != b.stage("balance").contentID)
    }

    @Test("a short class is kept whole with a warning under \"keep\"")
    func keepShort() throws {
        let h = StageHarness()
        let split = try h.run(SplitStage.self, inputs: [try h.run(SelectStage.self, inputs: [try ingestedFixture(h).output]).output])
        let balanced = try h.run(BalanceStage.self, parameters: ["per_class": .int(40)], inputs: [split.output])
        #expect(try balanced.table().rowCount == 126)
        #expect(balanced.warnings.count == 3)
        #expect(balanced.stats["classes"]?["sad"]?["policy"] == .string("kept (short)"))
        #expect(balanced.stats["classes"]?["sad"]?["received"] == .int(30))
    }

    @Test("a short class is filled by seeded repeats under \"oversample\", spread evenly")
    func oversample() throws {
        let (b, t) = try built(["balance.per_class=75", "balance.when_short=oversample"])
        let s = try t.int32(ColumnName.split), l = try t.int32(ColumnName.label), ids = try t.strings(ColumnName.itemID)
        for c in Int32(0)..<3 {
            let rows = s.indices.filter { s[$0] == 0 && l[$0] == c }
            #expect(rows.count == 75)
            let perItem = Dictionary(grouping: rows.map { ids[$0] }, by: { $0 }).mapValues(\.count)
            #expect(perItem.count == 30 && perItem.values.allSatisfy { $0 == 2 || $0 == 3 })
        }
        #expect(b.stats("balance")["classes"]?["happy"]?["from_repeats"] == .int(45))
        #expect(try t.int32(ColumnName.balanceCopy).max() == 2)
    }
}

@Suite("truncate, onehot, dataset")
struct FloatStageTests {
    let json = """
    { "version": 1, "stages": [
      { "name": "ingest", "params": { "source": "\(fixtureCSV)" } },
      { "name": "select" }, { "name": "split" },
      { "name": "features", "kind": "synthetic_features" },
      { "name": "truncate", "params": { "on_class_change": "warn" } }, { "name": "onehot" }, { "name": "dataset" } ] }
    """

    @Test("truncate cuts toward zero to N digits and counts the duplicates it creates", arguments: [4, 2, 0])
    func truncate(digits: Int) throws {
        let b = try BuiltPipeline(json, overrides: ["truncate.digits=\(digits)"])
        let (v, w) = try b.table("truncate").float32(ColumnName.features)
        let (orig, _) = try b.table("features").float32(ColumnName.features)
        #expect(w == 3)
        for (x, y) in zip(orig, v) {
            let text = "\(y)"
            let decimals = text.contains("e") ? 99 : (text.split(separator: ".").last.map { $0 == "0" ? 0 : $0.count } ?? 0)
            #expect(decimals <= max(digits, 1))
            #expect(abs(y) <= abs(x))
            #expect(Double(abs(x - y)) < pow(10, -Double(digits)) + 1e-6)
        }
        #expect(FeatureDigits.truncate(0.98765, digits: 4) == 0.9876)
        #expect(FeatureDigits.truncate(0.0003, digits: 4) == 0.0003)   // float32 0.0003 lies just below 3e-4
        #expect(FeatureDigits.truncate(-0.0003, digits: 4) == -0.0003)
        for k in 0..<10_000 {
            let v = Float(Double(k) / 1e4)
            #expect(FeatureDigits.truncate(v, digits: 4) == v)
        }
        #expect(FeatureDigits.truncate(-0.98765, digits: 2) == -0.98)
        let dup = b.stats("truncate")["duplicate_rows"]?["features"]
        #expect(dup?["before"] == .int(duplicateRows(orig, width: 3)))
        #expect(dup?["after"] == .int(duplicateRows(v, width: 3)))
    }

    @Test("onehot adds one float column per class")
    func onehot() throws {
        let b = try BuiltPipeline(json)
        let t = try b.table("onehot")
        let (o, w) = try t.float32(ColumnName.onehot)
        #expect(w == 3)
        for (i, l) in (try t.int32(ColumnName.label)).enumerated() {
            #expect(Array(o[(i * 3)..<(i * 3 + 3)]) == (0..<3).map { $0 == Int(l) ? 1 : 0 })
        }
    }

    @Test("dataset keeps features, labels, one-hot, split and provenance; drops images when there are features")
    func dataset() throws {
        let b = try BuiltPipeline(json)
        let t = try b.table("dataset")
        #expect(t.metadata[MetadataKey.format] == DatasetStage.formatName)
        #expect(t.names(MetadataKey.classes) == ["happy", "sad", "neutral"])
        #expect(t.names(MetadataKey.features) == ["a", "b", "c"])
        let names = Set(t.columns.map(\.name))
        #expect(names == [ColumnName.split, ColumnName.label, ColumnName.emotion, ColumnName.onehot, ColumnName.features,
                          ColumnName.itemID, ColumnName.sourceRow, ColumnName.imageHash])
        #expect(b.stage("dataset").artifacts[imagesArtifact] == nil)
        #expect(b.stats("dataset")["rows"]?["train"]?["sad"] == .int(30))
    }

    @Test("the default dataset without features keeps the images, forwarded by id, not copied")
    func imagesForwarded() throws {
        let b = try BuiltPipeline(defaultPipelineJSON(source: fixtureCSV))
        let ingestImages = b.stage("ingest").artifacts[imagesArtifact]
        #expect(ingestImages != nil)
        for s in ["select", "split", "balance", "truncate", "onehot", "dataset"] {
            #expect(b.stage(s).artifacts[imagesArtifact] == ingestImages)
        }
    }

    @Test("a whole build is byte-identical with one or two jobs")
    func jobsDeterminism() throws {
        let one = try BuiltPipeline(json, jobs: 1)
        let two = try BuiltPipeline(json, jobs: 2)
        #expect(one.report.version.id == two.report.version.id)
        #expect(one.report.stages.map(\.contentID) == two.report.stages.map(\.contentID))
    }
}
