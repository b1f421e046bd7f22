import Foundation
import Formats
import Pipeline
import Testing
@testable import Stages

/// happy = 3, sad = 4, unknown = every other emotion: the researcher's merged dataset.
let happySadUnknown = #"select.classes=[{"name":"happy","emotions":[3]},{"name":"sad","emotions":[4]},{"name":"unknown","emotions":[0,1,2,5,6]}]"#

/// The fixture's train rows per emotion: 8 for 0, 1, 2 and 5; 30 for 3, 4 and 6.
private func mergedBalance(_ overrides: [String]) throws -> BuiltPipeline {
    try BuiltPipeline(defaultPipelineJSON(source: fixtureCSV, upTo: "balance"), overrides: [happySadUnknown] + overrides)
}

private func trainEmotions(_ t: Table, label: Int32) throws -> [Int32: Int] {
    let s = try t.int32(ColumnName.split), l = try t.int32(ColumnName.label), e = try t.int32(ColumnName.emotion)
    return Dictionary(grouping: s.indices.filter { s[$0] == 0 && l[$0] == label }.map { e[$0] }, by: { $0 }).mapValues(\.count)
}

/// The message of a stage failure, and whether the CLI would call it a config error (exit 78).
private func failure(_ body: () throws -> Void) -> (message: String, config: Bool)? {
    do { try body() } catch let e as PipelineError {
        if case .invalidParameter = e.underlyingError as? PipelineError { return (e.description, true) }
        return (e.description, false)
    } catch { return ("\(error)", false) }
    return nil
}

@Suite("balance: merged classes")
struct MergedBalanceTests {
    @Test("per_class by class name: each class gets its own target")
    func perClassByName() throws {
        let b = try mergedBalance([#"balance.per_class={"happy": 20, "sad": 25, "unknown": 40}"#])
        let t = try b.table("balance")
        let s = try t.int32(ColumnName.split), l = try t.int32(ColumnName.label)
        #expect([Int32(0), 1, 2].map { c in s.indices.filter { s[$0] == 0 && l[$0] == c }.count } == [20, 25, 40])
        #expect(b.stats("balance")["per_class"]?["unknown"] == .int(40))
        // Without stratification, the unknown class takes what the seed picks, mostly neutral.
        #expect(b.stats("balance")["stratify_by"] == .string("none"))
    }

    @Test("an unknown class name or a missing class is a config error listing the classes", arguments: [
        (#"{"happy": 20, "sad": 20, "unknown": 20, "angry": 5}"#, "'angry', which is not a class"),
        (#"{"happy": 20, "sad": 20}"#, "has no count for 'unknown'"),
    ])
    func badNames(value: String, expected: String) {
        let f = failure { _ = try mergedBalance(["balance.per_class=\(value)"]) }
        #expect(f?.config == true)
        #expect(f?.message.contains(expected) == true, "\(f?.message ?? "no error")")
        #expect(f?.message.contains("happy, sad, unknown") == true)
    }

    @Test("per_class must be a count or an object of counts", arguments: [#""many""#, #"{"happy": 0}"#, "[1, 2]", "{}"])
    func badValues(value: String) {
        #expect(throws: PipelineError.self) { _ = try mergedBalance(["balance.per_class=\(value)"]) }
    }

    @Test("stratify_by emotion: equal shares per source emotion; a short emotion gives all it has, the rest goes to the others")
    func stratified() throws {
        // unknown: 50 rows over 5 emotions = 10 each; angry, disgust, fear and surprise have 8.
        let b = try mergedBalance([#"balance.per_class={"happy": 30, "sad": 30, "unknown": 50}"#, "balance.stratify_by=emotion"])
        let counts = try trainEmotions(try b.table("balance"), label: 2)
        #expect(counts == [0: 8, 1: 8, 2: 8, 5: 8, 6: 18])
        let unknown = b.stats("balance")["classes"]?["unknown"]
        #expect(unknown?["by_emotion"]?["neutral"]?["received"] == .int(18))
        #expect(unknown?["by_emotion"]?["disgust"]?["equal_share"] == .int(10))
        #expect(unknown?["short_emotions"] == .array(["angry", "disgust", "fear", "surprise"].map { .string($0) }))
        // 30 over 5 emotions = 6 each: nobody is short, every emotion gives exactly 6.
        let even = try mergedBalance([#"balance.per_class={"happy": 30, "sad": 30, "unknown": 30}"#, "balance.stratify_by=emotion"])
        #expect(try trainEmotions(try even.table("balance"), label: 2) == [0: 6, 1: 6, 2: 6, 5: 6, 6: 6])
        #expect(even.stats("balance")["classes"]?["unknown"]?["short_emotions"] == .array([]))
        // Without stratification the same target is drawn from the whole class.
        let plain = try mergedBalance([#"balance.per_class={"happy": 30, "sad": 30, "unknown": 30}"#])
        #expect(try trainEmotions(try plain.table("balance"), label: 2) != [0: 6, 1: 6, 2: 6, 5: 6, 6: 6])
    }

    @Test("stratified sampling is seeded: the same seed gives the same bytes, another seed other rows")
    func stratifiedSeeded() throws {
        let args = [#"balance.per_class={"happy": 20, "sad": 20, "unknown": 30}"#, "balance.stratify_by=emotion"]
        let a = try mergedBalance(args), a2 = try mergedBalance(args), c = try mergedBalance(args + ["balance.seed=7"])
        #expect(a.stage("balance").contentID == a2.stage("balance").contentID)
        #expect(a.stage("balance").contentID != c.stage("balance").contentID)
    }

    @Test("equal shares: water-filling, never more than a group has, remainder to the largest groups", arguments: [
        (10, [3, 100, 100], [3, 4, 3]),
        (9, [3, 3, 3], [3, 3, 3]),
        (20, [3, 3, 3], [3, 3, 3]),
        (7, [10, 10, 10], [3, 2, 2]),
        (50, [8, 8, 8, 8, 30], [8, 8, 8, 8, 18]),
        (7, [1, 50, 2], [1, 4, 2]),
    ])
    func equalShares(target: Int, available: [Int], expected: [Int]) {
        let q = BalanceStage.equalShares(target: target, available: available)
        #expect(q == expected)
        #expect(q.reduce(0, +) == min(target, available.reduce(0, +)))
        #expect(zip(q, available).allSatisfy { $0 <= $1 })
    }

    @Test("a val or test split whose class shares differ strongly from train's is a warning, in the stats")
    func shareWarning() throws {
        // Train 20 / 20 / 20; val and test hold 6 happy, 6 sad and 14 unknown (54%).
        let b = try mergedBalance([#"balance.per_class=20"#])
        let warnings = b.stats("balance")["share_warnings"]?.arrayValue?.compactMap(\.stringValue) ?? []
        #expect(warnings.count == 2)
        #expect(warnings.first?.hasPrefix("val class shares differ strongly from train's: unknown 53.8% against 33.3% in train") == true, "\(warnings)")
        #expect(b.stats("balance")["class_shares"]?["val"]?["unknown"] == .number(0.5385))
        #expect(b.stage("balance").warnings.contains(warnings[0]))
        // Train in the same proportions as val: no warning.
        let matched = try mergedBalance([#"balance.per_class={"happy": 12, "sad": 12, "unknown": 28}"#])
        #expect(matched.stats("balance")["share_warnings"] == .array([]))
        // The rule: a ratio above 1.5 and at least 5 points apart.
        #expect(BalanceStage.shareWarnings([[0.3, 0.7], [0.2, 0.8], nil], classes: ["a", "b"]).isEmpty)       // 1.5 exactly
        #expect(BalanceStage.shareWarnings([[0.02, 0.98], [0.04, 0.96], nil], classes: ["a", "b"]).isEmpty)   // ×2 but 2 points
        #expect(BalanceStage.shareWarnings([[0.3, 0.7], [0.19, 0.81], nil], classes: ["a", "b"]).count == 1)
    }
}

@Suite("source emotion in the dataset")
struct SourceEmotionTests {
    @Test("the dataset keeps each row's FER2013 emotion; in a merged class it tells the source apart")
    func datasetKeepsEmotion() throws {
        let b = try BuiltPipeline(defaultPipelineJSON(source: fixtureCSV), overrides: [happySadUnknown, "balance.per_class=20"])
        let t = try b.table("dataset")
        let ingest = try b.table("ingest")
        let emotionOf = Dictionary(uniqueKeysWithValues: zip(try ingest.strings(ColumnName.itemID), try ingest.int32(ColumnName.emotion)))
        let ids = try t.strings(ColumnName.itemID), e = try t.int32(ColumnName.emotion), l = try t.int32(ColumnName.label)
        #expect(t.rowCount > 0)
        for r in 0..<t.rowCount {
            #expect(e[r] == emotionOf[ids[r]])
            #expect([[3], [4], [0, 1, 2, 5, 6]][Int(l[r])].contains(Int(e[r])))
        }
        #expect(Set(l.indices.filter { l[$0] == 2 }.map { e[$0] }) == [0, 1, 2, 5, 6])
    }

    @Test("npz holds emotion_<split> (int32) and emotion_names; csv an emotion and emotion_name column")
    func exports() throws {
        let b = try BuiltPipeline(featurePipelineJSON, overrides: [happySadUnknown], registry: testStages)
        let data = try b.dataset()
        let arrays = try NPZReader.read(try DatasetExport.npz(data, layout: b.layout, order: .source))
        let byName = Dictionary(uniqueKeysWithValues: arrays.map { ($0.name, $0.array) })
        #expect(byName["emotion_names"]?.strings == ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"])
        let emotions = try data.table.int32(ColumnName.emotion)
        for (s, name) in ["train", "val", "test"].enumerated() {
            let a = try #require(byName["emotion_\(name)"])
            #expect(a.descr == "<i4" && a.shape == [data.rowsBySplit[s].count])
            let values = stride(from: 0, to: a.data.count, by: 4).map { Int32(bitPattern: UInt32(a.data[$0]) | UInt32(a.data[$0 + 1]) << 8 | UInt32(a.data[$0 + 2]) << 16 | UInt32(a.data[$0 + 3]) << 24) }
            #expect(values == data.rowsBySplit[s].map { emotions[$0] })
        }
        let csv = String(decoding: try DatasetExport.csv(data, layout: b.layout, order: .source)[0].bytes, as: UTF8.self).split(separator: "\n")
        let header = csv[0].split(separator: ",").map(String.init)
        let e = try #require(header.firstIndex(of: "emotion")), en = try #require(header.firstIndex(of: "emotion_name"))
        let first = csv[1].split(separator: ",").map(String.init)
        #expect(Emotion.names[Int(first[e])!] == first[en])
    }
}

@Suite("truncate: classes cannot break silently")
struct TruncateClassTests {
    /// Features before balance, so oversampled repeats reach truncate as duplicates.
    let json = """
    { "version": 1, "stages": [
      { "name": "ingest", "params": { "source": "\(fixtureCSV)" } },
      { "name": "select" }, { "name": "split" },
      { "name": "features", "kind": "synthetic_features" },
      { "name": "balance", "params": { "per_class": 45, "when_short": "oversample" } },
      { "name": "truncate", "params": { "digits": 8 } }, { "name": "onehot" }, { "name": "dataset" } ] }
    """

    @Test("per class: rows in, rows out, duplicates before and after; repeats made before truncation are not counted as created")
    func perClassReport() throws {
        let b = try BuiltPipeline(json)
        let happy = b.stats("truncate")["classes"]?["happy"]
        #expect(happy?["rows_in"] == .int(45 + 6 + 6) && happy?["rows_out"] == .int(57))
        #expect(happy?["duplicates_before"] == .int(15) && happy?["duplicates_after"] == .int(15))
        #expect(happy?["duplicates_created"] == .int(0))
        #expect(b.stats("truncate")["by_split"]?["train"]?["sad"]?["rows_in"] == .int(45))
        #expect(b.stats("truncate")["class_problems"] == .array([]))
    }

    @Test("digits 0 (astype(int)) collapses every class: the build fails naming the class and the counts")
    func digitsZeroFails() throws {
        let f = failure { _ = try BuiltPipeline(json, overrides: ["truncate.digits=0"]) }
        let message = try #require(f?.message)
        #expect(f?.config == false)   // a data error, exit 65
        // 45 train rows (30 distinct) of happy become one vector: 44 duplicates, 15 of them repeats.
        #expect(message.hasPrefix("stage 'truncate' failed: truncating features to 0 digits breaks 3 classes (max_duplicate_share 0.01): class 'happy' (train): 29 of its 45 rows (64.4%) became exact duplicates of another 'happy' row (duplicates 15 → 44; 1 distinct row left); class 'sad' (train): 29 of its 45 rows"), "\(message)")
        #expect(message.contains("class 'neutral' (train)"))
        #expect(message.contains("18 problems in all"))
        #expect(!message.contains("characters in all"))   // short enough to be shown whole
    }

    @Test("on_class_change = warn builds, warns and records the problems")
    func warnOnly() throws {
        let b = try BuiltPipeline(json, overrides: ["truncate.digits=0", "truncate.on_class_change=warn"])
        let problems = b.stats("truncate")["class_problems"]?.arrayValue ?? []
        #expect(problems.count == 18)   // 3 classes × 3 splits × (duplicates, collisions)
        #expect(b.stats("truncate")["classes"]?["neutral"]?["duplicates_created"] == .int(29 + 5 + 5))
        #expect(problems.allSatisfy { p in b.stage("truncate").warnings.contains(p.stringValue ?? "") })
    }

    @Test("max_duplicate_share is the limit per class and split")
    func threshold() throws {
        // 2 digits: rows differing only in the third synthetic feature (i · 1e-5) collapse.
        let strict = failure { _ = try BuiltPipeline(json, overrides: ["truncate.digits=2"]) }
        #expect(strict != nil)
        let loose = try BuiltPipeline(json, overrides: ["truncate.digits=2", "truncate.max_duplicate_share=1"])
        #expect(loose.stats("truncate")["class_problems"] == .array([]))
    }

    @Test("label columns are refused: truncating or rounding a label can change a row's class", arguments: ["onehot", "label", "emotion"])
    func labelColumnsRefused(column: String) {
        let f = failure { _ = try BuiltPipeline(json, overrides: [#"truncate.columns=["features","\#(column)"]"#]) }
        #expect(f?.message.contains("'\(column)' holds labels") == true, "\(f?.message ?? "no error")")
        #expect(f?.config == true)
    }

    @Test("lost rows and emptied classes are named with their counts")
    func lostRows() {
        let changes = [
            TruncateStage.ClassChange(className: "sad", split: "train", rowsIn: 30, rowsOut: 0, duplicatesBefore: 0, duplicatesAfter: 0, collisionsBefore: 0, collisionsAfter: 0),
            TruncateStage.ClassChange(className: "happy", split: "val", rowsIn: 10, rowsOut: 7, duplicatesBefore: 0, duplicatesAfter: 0, collisionsBefore: 0, collisionsAfter: 0),
            TruncateStage.ClassChange(className: "neutral", split: "test", rowsIn: 100, rowsOut: 100, duplicatesBefore: 2, duplicatesAfter: 3, collisionsBefore: 0, collisionsAfter: 1),
        ]
        let p = TruncateStage.problems(changes, maxDuplicateShare: 0.01).map(\.text)
        #expect(p == ["class 'sad' (train): emptied: 30 rows in, 0 out",
                      "class 'happy' (val): lost 3 of its 10 rows (7 out)"])
    }
}

@Suite("truncate on real blendshapes", .serialized)
struct TruncateFaceTests {
    @Test("the mini fixture through the face stages: truncating to 0 digits fails naming the collapsing class and its counts; 4 digits builds")
    func realCollapse() throws {
        let folder = temporaryFolder()
        let ok = try BuiltPipeline(facePipelineJSON(), folder: folder)
        #expect(ok.stats("truncate")["classes"]?["sad"]?["rows_in"]?.intValue ?? 0 > 0)
        #expect(ok.stats("truncate")["class_problems"] == .array([]))
        let f = failure { _ = try BuiltPipeline(facePipelineJSON(), overrides: ["truncate.digits=0"], folder: folder) }
        let message = try #require(f?.message)
        #expect(f?.config == false)   // a data error, exit 65
        // Every blendshape score is below 1, so at 0 digits a class collapses to (nearly) one vector.
        let warned = try BuiltPipeline(facePipelineJSON(), overrides: ["truncate.digits=0", "truncate.on_class_change=warn"], folder: folder)
        let sad = try #require(warned.stats("truncate")["by_split"]?["train"]?["sad"])
        let rows = sad["rows_in"]?.intValue ?? 0, created = sad["duplicates_created"]?.intValue ?? -1
        #expect(Double(created) > 0.9 * Double(rows))
        #expect(message.contains("class 'sad' (train): \(created) of its \(rows) rows"), "\(message)")
    }
}
