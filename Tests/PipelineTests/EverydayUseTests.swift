import Foundation
import Formats
import Testing
@testable import Pipeline

/// Emits its `text` and warns `warn` (when not empty); `shares` is an object parameter,
/// as split.fractions is, for status's canonical comparison.
struct Warner: Stage {
    static let kind = "warner"
    static let version = 1
    static let summary = "emit a text and warn"
    static let inputCount = 0...1
    static let parameters = [
        ParameterSpec("warn", default: .string(""), "the warning, if any"),
        ParameterSpec("shares", default: .object([("train", .number(0.8)), ("val", .number(0.1)), ("test", .number(0.1))]), "an object"),
        ParameterSpec("seed", default: .int(42), "a number"),
    ]
    let warning: String
    init(parameters: StageParameters) throws(PipelineError) {
        warning = try parameters.string("warn")
        _ = try parameters.value("shares")
        _ = try parameters.int("seed")
    }
    func run(_ context: StageContext) throws -> StageResult {
        if !warning.isEmpty { context.warn(warning) }
        var bytes: [UInt8] = []
        for i in context.inputs { bytes += try i.bytes("out") }
        return StageResult(artifacts: ["out": bytes + Array(warning.utf8)], rowsOut: 1, stats: .object([("n", .int(1))]))
    }
}

/// Reports `items` items done at once (as memo hits are), then works `tail_ms` more, as a
/// stage that encodes and stores its output does.
struct Tail: Stage {
    static let kind = "tail"
    static let version = 1
    static let summary = "report items, then finish slowly"
    static let inputCount = 0...0
    static let parameters = [
        ParameterSpec("items", default: .int(100), "items reported"),
        ParameterSpec("tail_ms", default: .int(200), "milliseconds after the last report"),
    ]
    let items: Int, tailMilliseconds: Int
    init(parameters: StageParameters) throws(PipelineError) {
        items = try parameters.int("items")
        tailMilliseconds = try parameters.int("tail_ms")
    }
    func run(_ context: StageContext) throws -> StageResult {
        context.progress(done: items, total: items, unit: "images", fromMemo: items)
        Thread.sleep(forTimeInterval: Double(tailMilliseconds) / 1000)
        return StageResult(artifacts: ["out": [UInt8(items & 0xFF)]], rowsOut: items)
    }
}

/// Keeps the finishing estimates a build announces.
final class FinishingObserver: BuildObserver, @unchecked Sendable {  // only touched under `lock`
    private let lock = NSLock()
    private var estimates: [String: Double] = [:]
    var seen: [String: Double] { lock.lock(); defer { lock.unlock() }; return estimates }
    func waitingForLock(holder: String) {}
    func stageStarted(_ stage: String, kind: String) {}
    func stageProgress(_ stage: String, done: Int, total: Int, unit: String, fromMemo: Int) {}
    func stageWarning(_ stage: String, _ message: String) {}
    func stageFinished(_ report: StageReport) {}
    func stageFinishingEstimate(_ stage: String, secondsPerItem: Double) {
        lock.lock(); estimates[stage] = secondsPerItem; lock.unlock()
    }
}

private let registry = StageRegistry([TextSource.self, Append.self, Warner.self, Tail.self])

private func everydayPlan(_ json: String, in folder: String, overrides: [String] = []) throws -> BuildPlan {
    let file = folder + "/pipeline.json"
    try json.write(toFile: file, atomically: true, encoding: .utf8)
    return try BuildPlan.load(file: file, registry: registry,
                              overrides: try overrides.map { t throws(PipelineError) in try ParameterOverride(parsing: t) },
                              workingDirectory: folder)
}

private func builder(_ json: String, in folder: String, overrides: [String] = []) throws -> Builder {
    Builder(plan: try everydayPlan(json, in: folder, overrides: overrides), cacheRoot: folder + "/cache", jobs: 2)
}

/// a → b → c, and w (warns) → d beside them: two final stages, c and d.
private let forked = """
{ "version": 1, "stages": [
  { "name": "a", "kind": "text", "params": { "text": "x" } },
  { "name": "b", "kind": "append", "inputs": ["a"], "params": { "suffix": "1" } },
  { "name": "c", "kind": "append", "inputs": ["b"], "params": { "suffix": "2" } },
  { "name": "w", "kind": "warner", "inputs": [], "params": { "warn": "sad is short of 7,500",
    "shares": { "test": 0.10, "val": 0.1, "train": 0.80 } } },
  { "name": "d", "kind": "append", "inputs": ["w"] }
] }
"""

@Suite("Everyday use: partial builds, warnings, status, progress")
struct EverydayUseTests {
    @Test("build with targets runs only those stages and their inputs, and records no version short of every final stage")
    func partialBuild() throws {
        let dir = temporaryFolder()
        let b = try builder(forked, in: dir)
        let partial = try b.build(targets: ["b"])
        #expect(partial.stages.map(\.name) == ["a", "b"])
        #expect(partial.ran() == ["a", "b"])
        #expect(partial.recordedVersion == nil && partial.targets == ["b"])
        #expect(try VersionStore(layout: b.layout).all().isEmpty)
        // Both final stages: a whole build, which records a version; a and b stay cached.
        let whole = try b.build(targets: ["d", "c"])
        #expect(whole.stages.map(\.name) == ["a", "b", "c", "w", "d"])
        #expect(whole.ran() == ["c", "w", "d"])
        #expect(whole.recordedVersion != nil)
        #expect(try b.build().recordedVersion?.id == whole.recordedVersion?.id)
        expectPipelineError({ _ = try b.build(targets: ["nosuch"]) }) { error in
            if case .unknownStage("nosuch", let known) = error { return known == ["a", "b", "c", "w", "d"] } else { return false }
        }
    }

    @Test("status and cachedRecords with targets cover only those stages and their inputs")
    func partialStatus() throws {
        let dir = temporaryFolder()
        let b = try builder(forked, in: dir)
        #expect(try b.status(targets: ["c"]).map(\.name) == ["a", "b", "c"])
        _ = try b.build(targets: ["b"])
        let s = try b.status(targets: ["c"])
        #expect(s.map(\.action) == [.cached, .cached, .run])
        #expect(try b.cachedRecords(targets: ["b"]).keys.sorted() == ["a", "b"])
    }

    @Test("warnings are collected with their stage, kept in the record, and reported again by a cached build and the version")
    func warningsSurviveCaching() throws {
        let dir = temporaryFolder()
        let b = try builder(forked, in: dir)
        let first = try b.build()
        #expect(first.warnings.map(\.stage) == ["w"])
        #expect(first.warnings.map(\.message) == ["sad is short of 7,500"])
        let second = try b.build()
        #expect(second.ran().isEmpty)
        #expect(second.warnings.map(\.stage) == ["w"] && second.warnings.map(\.message) == ["sad is short of 7,500"])
        // The stage's own stats stay next to them.
        #expect(second.stage("w").stats["n"]?.intValue == 1)
        let version = try #require(second.recordedVersion)
        let entry = try #require(version.stages.first { $0.name == "w" })
        #expect(StageReport.warnings(in: entry.stats) == ["sad is short of 7,500"])
    }

    @Test("status lists only the parameter that changed: object key order and 0.80 vs 0.8 are no change")
    func statusComparesCanonicalValues() throws {
        let dir = temporaryFolder()
        _ = try builder(forked, in: dir).build()
        let s = try builder(forked, in: dir, overrides: ["w.seed=43"]).status(targets: ["w"])
        #expect(s.count == 1 && s[0].action == .run)
        #expect(s[0].reasons == ["param seed: 42 → 43"])
        // The same fractions written another way: same key, so cached.
        let same = try builder(forked, in: dir, overrides: [#"w.shares={"train":0.8,"val":0.10,"test":0.1}"#]).status(targets: ["w"])
        #expect(same.map(\.action) == [.cached])
    }

    @Test("the ETA counts computed items only: memo hits do not make a long stage look done")
    func etaIgnoresMemoHits() {
        // 21,264 images, 12,400 found in the memo at once, the rest computed at 100/s.
        var e = ProgressEstimator()
        let first = e.update(time: 0.5, done: 12_400, total: 21_264, fromMemo: 12_400)
        #expect(first.rate == nil && first.secondsLeft == nil)
        #expect(first.text(unit: "images") == "12400/21264 images (58%, 12,400 from memo, ETA ?)")
        let later = e.update(time: 10.5, done: 13_400, total: 21_264, fromMemo: 12_400)
        #expect(later.rate == 100)
        #expect(abs(later.secondsLeft! - 78.64) < 1e-9)
        // Counting the memo hits as throughput would have said about 6.6 s.
        #expect(Double(21_264 - 13_400) / (13_400 / 10.5) < 7)
        #expect(later.text(unit: "images") == "13400/21264 images (63%, 12,400 from memo, 100 images/s computed, ETA 1m19s)")
    }

    @Test("the ETA of a stage with no memo hits is its plain rate; every item from memo means done, with no ETA")
    func etaPlainAndAllMemo() {
        var e = ProgressEstimator()
        _ = e.update(time: 2, done: 0, total: 100, fromMemo: 0)
        let quarter = e.update(time: 7, done: 25, total: 100, fromMemo: 0)
        #expect(quarter.rate == 5 && quarter.secondsLeft == 15)
        #expect(quarter.text(unit: "epochs") == "25/100 epochs (25%, 5.0 epochs/s, ETA 15s)")
        var all = ProgressEstimator()
        let done = all.update(time: 1, done: 500, total: 500, fromMemo: 500)
        #expect(done.secondsLeft == nil)
        #expect(done.text(unit: "images") == "500/500 images (100%, 500 from memo)")
        #expect(ProgressEstimator.seconds(3725) == "1h02m" && ProgressEstimator.seconds(171) == "2m51s")
    }

    @Test("memo look-ups are timed as their own pass, so an all-memoised stage has an honest ETA")
    func etaForMemoLookups() {
        // 20,000 images, all in the memo, looked up at 2,000/s: the look-up pass reports
        // every 512 and its ETA at 25% is the time its last 75% take.
        var e = ProgressEstimator()
        let unit = "images looked up in the memo"
        var quarter: ProgressEstimator.Estimate?
        for i in stride(from: 512, to: 20_000, by: 512) {
            let estimate = e.update(time: Double(i) / 2000, done: i, total: 20_000, fromMemo: 0, pass: unit)
            if quarter == nil && i >= 5000 { quarter = estimate }
        }
        let real = Double(20_000 - 5120) / 2000
        #expect(quarter?.secondsLeft.map { abs($0 - real) < 0.5 } == true, "\(String(describing: quarter))")
        // Then the compute pass of the misses: a count above the last look-up report, but
        // another unit, still restarts the clock (it would otherwise never show a rate).
        _ = e.update(time: 10, done: 19_900, total: 20_000, fromMemo: 19_900, pass: "images")
        let computing = e.update(time: 12, done: 19_950, total: 20_000, fromMemo: 19_900, pass: "images")
        #expect(computing.rate == 25 && computing.secondsLeft == 2)
    }

    @Test("the ETA adds the stage's measured finishing time, also once every item is done")
    func etaAddsFinishingTime() {
        // 16,384 images from the memo at 16,384/s, then 1.5 s of encoding and storing: at 25%
        // the items alone say 0.75 s, the whole stage has 2.25 s to go.
        var e = ProgressEstimator()
        e.finishingSecondsPerItem = 1.5 / 16_384  // exact in binary, so the sums below are too
        let unit = "images looked up in the memo"
        _ = e.update(time: 0, done: 0, total: 16_384, fromMemo: 0, pass: unit)
        let quarter = e.update(time: 0.25, done: 4096, total: 16_384, fromMemo: 0, pass: unit)
        #expect(quarter.rate == 16_384 && abs(quarter.secondsLeft! - 2.25) < 1e-9)
        let done = e.update(time: 1, done: 16_384, total: 16_384, fromMemo: 16_384, pass: "images")
        #expect(done.secondsLeft == 1.5)
        #expect(done.text(unit: "images") == "16384/16384 images (100%, 16,384 from memo, ETA 2s)")
    }

    @Test("a build measures each kind's time after its last progress report, and the next run of that kind is told it")
    func finishingTimeIsMeasuredAndAnnounced() throws {
        let dir = temporaryFolder()
        let json = """
            { "version": 1, "stages": [ { "name": "t", "kind": "tail", "params": { "items": 100, "tail_ms": 200 } } ] }
            """
        let first = FinishingObserver()
        _ = try builder(json, in: dir).build(observer: first)
        #expect(first.seen.isEmpty)  // nothing measured yet
        let times = FinishingTimes.load(dir + "/cache/finishing-times.json")
        let perItem = try #require(times["tail"])
        #expect(perItem >= 0.2 / 100 && perItem < 2.0 / 100)
        // Another key (so it runs again): told the measured tail before its first report.
        let second = FinishingObserver()
        _ = try builder(json, in: dir, overrides: ["t.items=50"]).build(observer: second)
        #expect(second.seen["t"] == perItem)
        // A damaged file is no estimate, not an error.
        try "not json".write(toFile: dir + "/cache/finishing-times.json", atomically: true, encoding: .utf8)
        #expect(FinishingTimes.load(dir + "/cache/finishing-times.json").isEmpty)
        _ = try builder(json, in: dir, overrides: ["t.items=60"]).build()
    }

    @Test("a new pass (a new total, or a count that goes back) restarts the clock")
    func etaRestartsPerPass() {
        var e = ProgressEstimator()
        _ = e.update(time: 0, done: 0, total: 1000, fromMemo: 0)
        #expect(e.update(time: 10, done: 1000, total: 1000, fromMemo: 0).rate == 100)
        // The fill pass: 300 images, timed from its own first report, not from the stage's start.
        #expect(e.update(time: 60, done: 0, total: 300, fromMemo: 0).rate == nil)
        let fill = e.update(time: 62, done: 100, total: 300, fromMemo: 0)
        #expect(fill.rate == 50 && fill.secondsLeft == 4)
    }
}
