import Foundation
import Formats
import Learning
import Pipeline
import Testing
@testable import Stages

@Suite("F distribution")
struct FDistributionTests {
    /// (f, d1, d2, scipy.stats.f.sf(f, d1, d2)) from SciPy 1.17.1.
    static let survivalCases: [(Double, Double, Double, Double)] = [
        (13.5, 1, 4, 0.021311641128756713),
        (3.0, 2, 57, 0.057706897673732487),
        (1.0, 2, 57, 0.3742407328067765),
        (0.5, 2, 100, 0.6080388246889497),
        (4.61, 2, 22497, 0.009961221301301714),
        (2.0, 5, 10, 0.16419495089973887),
        (10.0, 2, 22497, 4.5602063258255074e-05),
        (50.0, 2, 22497, 2.1547393431765323e-22),
        (0.01, 3, 30, 0.9985977393494714),
        (7.0, 1, 1, 0.2300534561626159),
        (1e-09, 2, 10, 0.999999999),
        (2.5, 32, 1000, 9.966564967690402e-06),
    ]

    @Test("survival function matches SciPy's stats.f.sf to 1e-9 relative", arguments: FDistributionTests.survivalCases)
    func survival(_ c: (Double, Double, Double, Double)) {
        let p = FDistribution.survival(c.0, d1: c.1, d2: c.2)
        #expect(abs(p - c.3) <= 1e-9 * c.3, "sf(\(c.0); \(c.1), \(c.2)) = \(p), SciPy \(c.3)")
    }

    /// (a, b, x, scipy.special.betainc(a, b, x)).
    static let betaCases: [(Double, Double, Double, Double)] = [
        (0.5, 0.5, 0.3, 0.36901011956554536),
        (2, 3, 0.4, 0.5247999999999999),
        (10, 1, 0.9, 0.34867844010000004),
        (11248.5, 1, 0.99, 7.988889801223584e-50),
        (0.1, 5, 0.01, 0.7690889207843462),
    ]

    @Test("regularised incomplete beta matches SciPy's special.betainc", arguments: FDistributionTests.betaCases)
    func incompleteBeta(_ c: (Double, Double, Double, Double)) {
        let v = FDistribution.regularizedIncompleteBeta(a: c.0, b: c.1, x: c.2)
        #expect(abs(v - c.3) <= 1e-9 * c.3, "I_\(c.2)(\(c.0), \(c.1)) = \(v), SciPy \(c.3)")
    }

    @Test("edges: F ≤ 0 has p 1, infinite F has p 0, bad degrees of freedom are NaN")
    func edges() {
        #expect(FDistribution.survival(0, d1: 2, d2: 10) == 1)
        #expect(FDistribution.survival(.infinity, d1: 2, d2: 10) == 0)
        #expect(FDistribution.survival(1, d1: 0, d2: 10).isNaN)
    }

    @Test("weak features: an absolute p-value test, whatever the best feature's F")
    func weak() {
        // p(4.61; 2, 22497) = 0.00996 ≤ 0.01: a signal; p(4.5; …) = 0.011: weak.
        #expect(!Manifest.isWeak(4.61, d1: 2, d2: 22497))
        #expect(Manifest.isWeak(4.5, d1: 2, d2: 22497))
        #expect(Manifest.isWeak(nil, d1: 2, d2: 22497))
        // The same F on few rows is not significant (p(4.61; 2, 6) = 0.061).
        #expect(Manifest.isWeak(4.61, d1: 2, d2: 6))
        #expect(Manifest.isWeak(100, d1: 0, d2: 10))
    }
}

@Suite("plots")
struct PlotTests {
    static let heading = TrainingPlots.Heading(subject: "version 0123456789ab", parameters: "model=\"lstm\" units=[33,12] lr=0.00464 epochs=20 seed=42")

    static func history(_ n: Int) -> [TrainingPlots.Epoch] {
        (1...n).map { e in
            let t = Double(e) / Double(n)
            return TrainingPlots.Epoch(loss: 1.1 - 0.5 * t, accuracy: 0.45 + 0.3 * t, macroF1: 0.44 + 0.3 * t,
                                       valLoss: 1.0 - 0.3 * t + 0.4 * t * t, valAccuracy: 0.5 + 0.1 * t, valMacroF1: 0.48 + 0.1 * t)
        }
    }

    @Test("every cell shade gets a text colour with contrast ≥ 4.5:1 (WCAG AA)")
    func contrast() {
        #expect(abs(Contrast.ratio(Contrast.luminance(255, 255, 255), Contrast.luminance(0, 0, 0)) - 21) < 1e-9)
        #expect(Contrast.textColor(onRed: 255, green: 255, blue: 255) == "#000000")
        #expect(Contrast.textColor(onRed: 8, green: 48, blue: 107) == "#ffffff")
        var previous = 2.0
        for i in 0...1000 {
            let (r, g, b) = TrainingPlots.cellColor(share: Double(i) / 1000)
            let background = Contrast.luminance(r, g, b)
            let text = Contrast.textColor(onRed: r, green: g, blue: b) == "#000000" ? 0.0 : 1.0
            #expect(Contrast.ratio(background, text) >= 4.5, "share \(Double(i) / 1000): \(TrainingPlots.hex(r, g, b))")
            // A darker shade for every larger share: the ramp reads one way.
            #expect(background <= previous)
            previous = background
        }
        // The old ramp's white on light blue (share 0.6: #8bb5ff) fails; the chooser picks black there.
        #expect(Contrast.ratio(Contrast.luminance(0x8b, 0xb5, 0xff), 1) < 4.5)
        #expect(Contrast.textColor(onRed: 0x8b, green: 0xb5, blue: 0xff) == "#000000")
    }

    @Test("the confusion matrix shades by row share: 90% of a big row and of a small row look the same")
    func confusionShading() {
        let m = ClassificationMetrics(confusion: [[900, 100], [5, 45]])
        let svg = TrainingPlots.confusionMatrix(m, classes: ["happy", "sad"], title: "Test confusion matrix", heading: Self.heading)
        let fills = svg.split(separator: "\n").filter { $0.hasPrefix("<rect") && $0.contains("stroke=\"#ffffff\"") }
            .map { String($0.split(separator: "fill=\"")[1].prefix(7)) }
        #expect(fills.count == 4)
        #expect(fills[0] == fills[3] && fills[1] == fills[2])
        #expect(fills[0] == TrainingPlots.hex(TrainingPlots.cellColor(share: 0.9).0, TrainingPlots.cellColor(share: 0.9).1, TrainingPlots.cellColor(share: 0.9).2))
        #expect(svg.contains(">90.0%</text>") && svg.contains(">45 of 50</text>") && svg.contains("version 0123456789ab"))
    }

    @Test("learning curves: the kept epoch is marked, the heading names the version and parameters, train macro-F1 is drawn on top in its own style")
    func curves() {
        let svg = TrainingPlots.learningCurves(Self.history(20), keptEpoch: 14, earlyStopping: true, heading: Self.heading)
        #expect(svg.contains("Learning curves — version 0123456789ab"))
        #expect(svg.contains("units=[33,12]") && svg.contains("lr=0.00464"))
        #expect(svg.contains("epoch 14 of 20") && svg.contains(">kept: 14</text>"))
        // The kept-epoch line sits at epoch 14 of the loss panel (x0 70, width 370, 20 epochs).
        let x = TrainingPlots.trainF1Color
        #expect(svg.contains("<line x1=\"\(SVG.f1(70 + 13.0 / 19 * 370))\""))
        let lines = svg.split(separator: "\n")
        let accuracy = lines.lastIndex { $0.hasPrefix("<polyline") && $0.contains("stroke=\"\(TrainingPlots.trainColor)\"") }!
        let f1 = lines.firstIndex { $0.hasPrefix("<polyline") && $0.contains("stroke=\"\(x)\"") }!
        #expect(f1 > accuracy, "train macro-F1 is drawn after (on top of) train accuracy")
        #expect(lines[f1].contains("stroke-dasharray") && !lines[accuracy].contains("stroke-dasharray") && x != TrainingPlots.trainColor)
        #expect(svg.contains("<circle"), "macro-F1 carries markers")
        // A nearly flat loss still gets distinct axis labels.
        var flat = Self.history(5)
        for i in flat.indices { flat[i].loss = 1.0986 + Double(i) * 0.0001; flat[i].valLoss = 1.0987 }
        let labels = TrainingPlots.learningCurves(flat, keptEpoch: 5, earlyStopping: false, heading: Self.heading)
            .split(separator: "\n").filter { $0.contains("text-anchor=\"end\" fill=\"#555555\"") }.map { $0.split(separator: ">")[1] }
        #expect(Set(labels).count == labels.count, "\(labels)")
        let noStop = TrainingPlots.learningCurves(Self.history(5), keptEpoch: 5, earlyStopping: false, heading: Self.heading)
        #expect(noStop.contains("epoch 5 of 5 (the last epoch; early stopping off)"))
    }

    @Test("p-values in the feature panels read 'p = …' or 'p < 1e-300'")
    func pText() {
        #expect(ManifestPlots.formatP(0.01743) == "p = 0.0174")
        #expect(ManifestPlots.formatP(2e-37) == "p = 2e-37")
        #expect(ManifestPlots.formatP(0) == "p < 1e-300")
    }

    @Test("axes: ranges follow the data's spread on round steps, within bounds; no '-0.0' label")
    func axes() {
        let (lo, hi) = TrainingPlots.niceRange(1.093, 1.101, within: 0...Double.greatestFiniteMagnitude)
        #expect(lo <= 1.093 && hi >= 1.101 && hi - lo <= 0.02, "\(lo)…\(hi)")
        let (a, b) = TrainingPlots.niceRange(0.31, 0.98, within: 0...1)
        #expect(abs(a - 0.2) < 1e-12 && abs(b - 1.0) < 1e-12, "\(a)…\(b)")
        #expect(TrainingPlots.niceRange(0.5, 0.5, within: 0...1).0 < 0.5)
        let grid = SVG.yGrid(lo: -0.2, hi: 1, step: 0.2, from: 0, to: 10, y: { $0 }, label: { String(format: "%.1f", $0) })
        #expect(grid.contains(">0.0</text>") && !grid.contains("-0.0") && grid.contains(">-0.2</text>"))
    }

    @Test("metrics --save's SVGs carry the version id; the stored ones name the dataset content")
    func versionInTitle() throws {
        let b = try BuiltPipeline(TrainStageTests.json, overrides: ["train.epochs=6", "train.early_stopping_patience=2"])
        let layout = CacheLayout(root: b.folder + "/cache")
        let v = b.report.version
        let stored = String(decoding: try b.store.read(b.stage("train").artifacts[TrainStage.Artifact.curves]!), as: UTF8.self)
        #expect(stored.contains("trained on dataset content ") && stored.contains("early_stopping_patience=2"))
        for name in [TrainStage.Artifact.curves, TrainStage.Artifact.confusion] {
            let svg = String(decoding: try TrainResults.artifact(name, of: v, layout: layout), as: UTF8.self)
            #expect(svg.contains("version \(v.shortID)") && svg.contains("units=[4,3]"), "\(name)")
        }
        let best = try JSONParser.parse(try TrainResults.artifact(TrainStage.Artifact.metrics, of: v, layout: layout))["best_epoch"]!.intValue!
        let curves = String(decoding: try TrainResults.artifact(TrainStage.Artifact.curves, of: v, layout: layout), as: UTF8.self)
        #expect(curves.contains(">kept: \(best)</text>"))
        #expect(throws: FormatError.self) { try TrainResults.history(Array("epoch,loss\n1,x\n".utf8), source: "h") }
    }

    @Test("every plot renders to a non-empty PNG with rsvg-convert, without an error")
    func rendersWithRsvg() throws {
        let rsvg = try #require(Self.findExecutable("rsvg-convert"),
                                "rsvg-convert is not installed: apt-get install -y librsvg2-bin (.ci/run installs it)")
        let features = try BuiltPipeline(featurePipelineJSON, registry: testStages)
        let data = try features.dataset()
        var svgs = ManifestPlots.render(data, manifest: Manifest(data, layout: features.layout))
        let trained = try BuiltPipeline(TrainStageTests.json, overrides: ["train.epochs=12", "train.early_stopping_patience=3"])
        let layout = CacheLayout(root: trained.folder + "/cache")
        for (name, file) in [(TrainStage.Artifact.curves, "curves.svg"), (TrainStage.Artifact.confusion, "confusion.svg")] {
            svgs.append((file, String(decoding: try TrainResults.artifact(name, of: trained.report.version, layout: layout), as: UTF8.self)))
        }
        svgs.append(("curves-synthetic.svg", TrainingPlots.learningCurves(Self.history(40), keptEpoch: 31, earlyStopping: true, heading: Self.heading)))
        svgs.append(("importance.svg", TrainingPlots.featureImportance((0..<45).map { ("feature\($0) <&>", Double(45 - $0) * 1.5) })))
        let folder = temporaryFolder()
        for (name, svg) in svgs {
            let input = folder + "/" + name, output = input.replacingOccurrences(of: ".svg", with: ".png")
            try AtomicFile.write(Array(svg.utf8), to: input)
            let p = Process()
            p.executableURL = URL(fileURLWithPath: rsvg)
            p.arguments = ["-o", output, input]
            let err = Pipe()
            p.standardError = err
            try p.run()
            let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            #expect(p.terminationStatus == 0 && message.isEmpty, "rsvg-convert \(name): status \(p.terminationStatus), \(message)")
            let png = try readFileBytes(atPath: output)
            #expect(!png.isEmpty, "\(name): empty PNG")
            let image = try PNGCodec.decode(png, source: output)
            #expect(image.width > 300 && image.height > 200, "\(name): \(image.width)x\(image.height)")
            #expect(Set(image.pixels).count > 10, "\(name): the picture is blank")
            // Set BLENDSET_PLOT_PNGS=DIR to keep the pictures for a look.
            if let keep = ProcessInfo.processInfo.environment["BLENDSET_PLOT_PNGS"] {
                try AtomicFile.write(png, to: keep + "/" + (name as NSString).deletingPathExtension + ".png")
            }
        }
    }

    static func findExecutable(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return (path.split(separator: ":") + ["/usr/bin"]).map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}

@Suite("manifest text")
struct ManifestTextTests {
    @Test("parameters: every one shown, wrapped within 100 columns, long values continued, never cut")
    func parametersWrapped() throws {
        var long: [(String, JSONValue)] = (0..<30).map { ("parameter_\($0)", .number(Double($0) + 0.123456789)) }
        let classes = JSONValue.array((0..<12).map { .object([("name", .string("class_\($0)")), ("emotions", .array([.int($0)]))]) })
        long.append(("classes", classes))
        long.append(("normalize", .string("zscore")))
        let text = renderParameters([("augment", .object(long)), ("a_very_long_stage_name_beyond_the_column", .object([("x", .int(1))])), ("onehot", .object([]))])
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines.allSatisfy { $0.count <= 100 }, "\(lines.map(\.count).max()!)")
        #expect(lines.count > 5)
        let words = text.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)
        for (k, v) in long where k != "classes" { #expect(words.contains("\(k)=\(v.canonical)"), "\(k)") }
        // The long value comes back whole when its continuation lines are joined.
        let start = lines.firstIndex { $0.contains("classes=") }!
        let joined = lines[start...].map { $0.trimmingCharacters(in: .whitespaces) }.joined()
        #expect(joined.contains("classes=" + classes.canonical))
        #expect(lines.contains("  a_very_long_stage_name_beyond_the_column") && lines.contains(String(repeating: " ", count: 28) + "x=1"))
        #expect(lines.last!.hasPrefix("  onehot ") && lines.last!.hasSuffix(" -"))
    }

    @Test("the text manifest of a trained version shows train's normalize and every other parameter")
    func manifestShowsAll() throws {
        let b = try BuiltPipeline(TrainStageTests.json, overrides: ["train.normalize=zscore"])
        let m = Manifest(try b.dataset(), layout: b.layout)
        let text = m.text(tags: [], ref: nil)
        let section = text.components(separatedBy: "\nparameters").last!.components(separatedBy: "\nartifacts").first!
        for name in TrainStage.parameters.map(\.name) { #expect(section.contains(" \(name)="), "\(name)") }
        #expect(section.contains("normalize=\"zscore\""))
        #expect(section.split(separator: "\n").allSatisfy { $0.count <= 100 })
    }
}
