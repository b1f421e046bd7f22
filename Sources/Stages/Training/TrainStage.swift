import Foundation
import Formats
import Learning
import Pipeline

/// The thin trainer: fits a small classifier (LSTM, MLP or gradient-boosted trees) on the
/// dataset's train split, picks nothing on test, and reports what the dataset is worth: per-epoch history, test and validation
/// metrics, learning-curve and confusion-matrix SVGs, and the model itself.
///
/// Every parameter that changes the result is a parameter, so it is in the stage key; the
/// thread count is not, because the trainer's results do not depend on it.
public struct TrainStage: Stage {
    public static let kind = "train"
    // 3: the trainer draws from Basics.SeededRandom (new streams, its own shuffle), so
    // weights differ from version 2 for the same seed.
    // 4: the plots mark the kept epoch, carry the parameters, shade the confusion matrix
    // by row share with legible text (same model, history and metrics as 3).
    // 5: the model file stores each feature's train range (header key feature_ranges).
    public static let version = 5
    public static let summary = "train an LSTM, MLP or gradient-boosted tree classifier on the dataset (one per seed: an ensemble); metrics, curves, confusion matrix, model"
    public static let inputCount = 1...1
    public static let parameters: [ParameterSpec] = [
        ParameterSpec("model", default: .string("lstm"),
                      "\"lstm\": the features as a sequence of steps × 1 value through stacked LSTMs; \"mlp\": the features as one vector through Dense layers; \"gbt\": gradient-boosted trees (histogram-based, softmax; the gbt_* parameters)"),
        ParameterSpec("units", default: .array([.int(33), .int(12)]),
                      "hidden layer sizes, first to last; a single integer sets the first layer and keeps the others"),
        ParameterSpec("activation", default: .string("relu"), "hidden activation: relu, selu, tanh, sigmoid or linear"),
        ParameterSpec("dropout", default: .number(0), "dropout rate after each hidden layer, in [0, 1)"),
        ParameterSpec("lr", default: .number(0.00464489028556945), "Adam learning rate"),
        ParameterSpec("beta1", default: .number(0.9), "Adam β1"),
        ParameterSpec("beta2", default: .number(0.999), "Adam β2"),
        ParameterSpec("epsilon", default: .number(1e-7), "Adam ε"),
        ParameterSpec("amsgrad", default: .bool(false), "use the AMSGrad variant of Adam"),
        ParameterSpec("clipnorm", default: .number(1), "clip gradients to this L2 norm; 0 turns clipping off"),
        ParameterSpec("clip_scope", default: .string("per_weight"),
                      "\"per_weight\": each weight tensor separately (Keras clipnorm); \"global\": all together (Keras global_clipnorm)"),
        ParameterSpec("epochs", default: .int(100), "training epochs (the most, with early stopping)"),
        ParameterSpec("batch_size", default: .int(32), "mini-batch size"),
        ParameterSpec("seed", default: .int(42), "seeds initial weights, shuffling and dropout (gbt: the feature and row draws)"),
        ParameterSpec("seeds", default: .null,
                      "null: one model, seeded by 'seed'; a list such as [1, 2, 3]: one model per seed, each seed's metrics with mean ± std, and the ensemble (mean of the probabilities) as the model"),
        ParameterSpec("class_weights", default: .null,
                      "null (all 1), \"balanced\" (n / (classes × count), from the train split), or one number per class"),
        ParameterSpec("early_stopping_patience", default: .int(0),
                      "stop when the validation loss has not improved for this many epochs (gbt: rounds) and keep the best epoch's weights (trees); 0 = off"),
        ParameterSpec("normalize", default: .string("none"),
                      "feature scaling fitted on the train split and stored in the model: none, zscore or minmax"),
        ParameterSpec("gbt_rounds", default: .int(100), "gbt: boosting rounds (the most, with early stopping); each adds one tree per class"),
        ParameterSpec("gbt_learning_rate", default: .number(0.1), "gbt: shrinkage of each tree's leaf values, in (0, 10]"),
        ParameterSpec("gbt_max_leaves", default: .int(31), "gbt: leaves per tree, grown best-gain first; 0 = no limit (then set gbt_max_depth)"),
        ParameterSpec("gbt_max_depth", default: .int(0), "gbt: depth limit of a tree; 0 = none"),
        ParameterSpec("gbt_min_samples_leaf", default: .int(20), "gbt: rows a leaf must keep at least"),
        ParameterSpec("gbt_l2", default: .number(0), "gbt: L2 regularisation of the leaf values (λ in G² / (H + λ))"),
        ParameterSpec("gbt_max_bins", default: .int(255), "gbt: quantile bins per feature, fitted on the train split, 2 to 256"),
        ParameterSpec("gbt_feature_fraction", default: .number(1), "gbt: share of the features each node may split on, drawn per node from the seed; 1 = all"),
        ParameterSpec("gbt_subsample", default: .number(1), "gbt: share of the train rows each round is grown on, drawn per round from the seed; 1 = all"),
    ]

    public enum ModelKind: String, Sendable { case lstm, mlp, gbt }
    public enum ClassWeights: Sendable, Equatable { case none, balanced, given([Float]) }

    public let model: ModelKind
    public let units: [Int]
    public let activation: Activation
    public let dropout: Double
    public let optimizer: Adam
    public let epochs: Int
    public let batchSize: Int
    public let seed: UInt64
    public let classWeights: ClassWeights
    public let patience: Int
    public let normalize: Normalization.Method
    /// nil: one model seeded by `seed`.
    public let seeds: [UInt64]?
    /// The gbt_* parameters (seed, class weights, patience and threads are set per run).
    public let boosting: BoostingOptions

    /// Artifact names.
    public enum Artifact {
        public static let model = "model"
        public static let history = "history"
        public static let metrics = "metrics"
        public static let curves = "curves"
        public static let confusion = "confusion"
        /// gbt only: total split gain per feature, as an SVG bar chart.
        public static let importance = "importance"
    }

    public init(parameters p: StageParameters) throws(PipelineError) {
        guard let m = ModelKind(rawValue: try p.string("model", oneOf: ["lstm", "mlp", "gbt"])) else { throw p.invalid("model", "unknown model") }
        model = m
        let u = try p.value("units")
        let defaults = [33, 12]
        if let one = u.intValue {
            guard one > 0, one <= 4096 else { throw p.invalid("units", "expected a positive layer size, found \(one)") }
            units = [one] + defaults.dropFirst()
        } else if let list = u.arrayValue, !list.isEmpty, list.allSatisfy({ ($0.intValue ?? 0) > 0 }) {
            units = list.map { $0.intValue! }
        } else {
            throw p.invalid("units", "expected a positive integer or a non-empty array of them, found \(u.canonical)")
        }
        let a = try p.string("activation", oneOf: ["relu", "selu", "tanh", "sigmoid", "linear"])
        activation = Activation(rawValue: a)!
        dropout = try p.double("dropout", in: 0...0.95)
        let clip = try p.double("clipnorm", in: 0...1e9)
        let scope = try p.string("clip_scope", oneOf: ["per_weight", "global"])
        optimizer = Adam(learningRate: Float(try p.double("lr", in: 1e-9...10)), beta1: Float(try p.double("beta1", in: 0...0.999999)),
                         beta2: Float(try p.double("beta2", in: 0...0.9999999)), epsilon: Float(try p.double("epsilon", in: 0...1)),
                         amsgrad: try p.bool("amsgrad"),
                         clipping: clip == 0 ? .none : scope == "global" ? .global(Float(clip)) : .perTensor(Float(clip)))
        epochs = try p.int("epochs", in: 1...100_000)
        batchSize = try p.int("batch_size", in: 1...65536)
        seed = UInt64(truncatingIfNeeded: try p.int("seed"))
        let cw = try p.value("class_weights")
        if case .null = cw.kind {
            classWeights = .none
        } else if cw.stringValue == "balanced" {
            classWeights = .balanced
        } else if let list = cw.arrayValue, !list.isEmpty, list.allSatisfy({ ($0.doubleValue ?? -1) >= 0 }) {
            classWeights = .given(list.map { Float($0.doubleValue!) })
        } else {
            throw p.invalid("class_weights", "expected null, \"balanced\" or an array of non-negative numbers (one per class), found \(cw.canonical)")
        }
        patience = try p.int("early_stopping_patience", in: 0...100_000)
        normalize = Normalization.Method(rawValue: try p.string("normalize", oneOf: ["none", "zscore", "minmax"]))!
        let sv = try p.value("seeds")
        if case .null = sv.kind {
            seeds = nil
        } else if let list = sv.arrayValue, !list.isEmpty, list.count <= 1000, list.allSatisfy({ $0.intValue != nil }) {
            let values = list.map { UInt64(truncatingIfNeeded: $0.intValue!) }
            guard Set(values).count == values.count else { throw p.invalid("seeds", "lists a seed twice (\(sv.canonical)); each seed must be different") }
            seeds = values
        } else {
            throw p.invalid("seeds", "expected null or a non-empty array of integers such as [1, 2, 3], found \(sv.canonical)")
        }
        boosting = BoostingOptions(
            rounds: try p.int("gbt_rounds", in: 1...1_000_000), learningRate: try p.double("gbt_learning_rate", in: 1e-9...10),
            maxLeaves: try p.int("gbt_max_leaves", in: 0...1_000_000), maxDepth: try p.int("gbt_max_depth", in: 0...64),
            minSamplesLeaf: try p.int("gbt_min_samples_leaf", in: 1...100_000_000), l2: try p.double("gbt_l2", in: 0...1e12),
            maxBins: try p.int("gbt_max_bins", in: 2...256), featureFraction: try p.double("gbt_feature_fraction", in: 1e-9...1),
            subsample: try p.double("gbt_subsample", in: 1e-9...1))
        if boosting.maxLeaves == 1 { throw p.invalid("gbt_max_leaves", "expected 0 (no limit) or at least 2 leaves, found 1") }
        if boosting.maxLeaves == 0 && boosting.maxDepth == 0 {
            throw p.invalid("gbt_max_leaves", "is 0 (no limit) and gbt_max_depth is 0 (no limit) too: set gbt_max_leaves ≥ 2 or gbt_max_depth ≥ 1")
        }
    }

    /// The layer list for `features` inputs and `classes` outputs.
    public func layers(classes: Int) -> [LayerSpec] {
        var out: [LayerSpec] = []
        for (i, u) in units.enumerated() {
            switch model {
            case .lstm: out.append(.lstm(units: u, activation: activation, returnSequences: i < units.count - 1))
            case .mlp, .gbt: out.append(.dense(units: u, activation: activation))
            }
            if dropout > 0 { out.append(.dropout(rate: dropout)) }
        }
        return out + [.dense(units: classes, activation: .softmax)]
    }

    public func inputShape(features: Int) -> InputShape {
        model == .lstm ? InputShape(steps: features, features: 1) : InputShape(steps: 1, features: features)
    }

    public func run(_ context: StageContext) throws -> StageResult {
        let table = try context.input.table()
        let classes = table.names(MetadataKey.classes)
        guard !classes.isEmpty else { throw stageError(context, "the input has no class list; train reads the output of a 'dataset' stage") }
        guard table.column(ColumnName.features) != nil else {
            throw stageError(context, "the input has no '\(ColumnName.features)' column (a dataset of images only?); train needs blendshape features: put landmarks and blendshapes stages before 'dataset'")
        }
        let (x, width) = try table.float32(ColumnName.features)
        let labels = try table.int32(ColumnName.label), splits = try table.int32(ColumnName.split)
        var names = table.names(MetadataKey.features)
        if names.count != width { names = (0..<width).map { "f\($0)" } }
        var data: [Split: LabeledData] = [:]
        for s in Split.allCases {
            var f: [Float] = [], l: [Int32] = []
            for r in 0..<table.rowCount where splits[r] == s.rawValue {
                f.append(contentsOf: x[(r * width)..<((r + 1) * width)])
                l.append(labels[r])
            }
            data[s] = LabeledData(features: f, labels: l)
        }
        let train = data[.train]!, val = data[.val]!, test = data[.test]!
        // A degenerate dataset (e.g. a tiny or filtered source) is still a dataset: the build
        // succeeds with a warning and empty metrics instead of failing at the last stage.
        guard train.count > 0 else {
            context.warn("the train split is empty: nothing to train, so no model; check the split and balance stages")
            let empty = JSONValue.object([("test", .null), ("val", .null), ("epochs", .int(0)), ("best_epoch", .int(0)),
                                          ("classes", .array(classes.map { .string($0) }))])
            return StageResult(artifacts: [Artifact.metrics: Array((empty.canonical + "\n").utf8), Artifact.history: Array(Self.historyCSV([]).utf8)],
                               rowsIn: table.rowCount, rowsOut: 0, stats: .object([("epochs", .int(0))]))
        }
        if test.count == 0 { context.warn("the test split is empty: the model is trained but has no test metrics") }
        if val.count == 0 {
            guard patience == 0 else { throw stageError(context, "early_stopping_patience needs a validation split, and it is empty") }
            context.warn("the validation split is empty: the history has no validation columns")
        }
        let scaling = Normalization.fit(normalize, features: train.features, width: width)
        func scaled(_ d: LabeledData) -> LabeledData {
            var f = d.features
            scaling.apply(to: &f)
            return LabeledData(features: f, labels: d.labels)
        }
        var network: Network? = nil
        if model != .gbt {
            do { network = try Network(input: inputShape(features: width), layers: layers(classes: classes.count)) } catch {
                throw stageError(context, error.description)
            }
        }
        var counts = [Int](repeating: 0, count: classes.count)
        for l in train.labels { counts[Int(l)] += 1 }
        var weightsByClass: [Float]? = nil
        switch classWeights {
        case .none: break
        case .balanced: weightsByClass = counts.map { $0 == 0 ? 0 : Float(Double(train.count) / Double(classes.count * $0)) }
        case let .given(w):
            guard w.count == classes.count else { throw stageError(context, "class_weights has \(w.count) values for \(classes.count) classes (\(classes.joined(separator: ", ")))") }
            weightsByClass = w
        }
        let scaledTrain = scaled(train), scaledVal = val.count > 0 ? scaled(val) : nil
        let seedList = seeds ?? [seed]
        let steps = model == .gbt ? boosting.rounds : epochs
        var fits: [Fit] = []
        for (i, s) in seedList.enumerated() {
            let label = seeds == nil ? context.stage : "\(context.stage) seed \(s)"
            let onEpoch = { (e: EpochRecord) in
                if model != .gbt || e.epoch % 10 == 0 || e.epoch == 1 || e.epoch == steps {
                    Self.printEpoch(e, of: steps, stage: label, unit: model == .gbt ? "Round" : "Epoch")
                }
                context.progress(done: i * steps + e.epoch, total: seedList.count * steps, unit: model == .gbt ? "rounds" : "epochs")
            }
            let fit: Fit
            do {
                if let network {
                    let options = TrainingOptions(epochs: epochs, batchSize: batchSize, optimizer: optimizer, seed: s, classWeights: weightsByClass,
                                                  earlyStopping: patience > 0 ? EarlyStopping(patience: patience) : nil, threads: context.jobs)
                    let r = try Trainer.train(network: network, weights: network.initialWeights(seed: s), train: scaledTrain,
                                              validation: scaledVal, options: options, onEpoch: onEpoch)
                    fit = Fit(seed: s, member: .network(network, weights: r.weights), history: r.history, bestEpoch: r.bestEpoch,
                              stoppedEarly: r.stoppedEarly, seconds: r.seconds, importances: nil)
                } else {
                    var options = boosting
                    options.seed = s
                    options.classWeights = weightsByClass
                    options.patience = patience
                    options.threads = context.jobs
                    let r = try TreeBooster.train(train: scaledTrain, validation: scaledVal, width: width, classes: classes.count,
                                                  options: options, onRound: onEpoch)
                    fit = Fit(seed: s, member: .trees(r.model), history: r.history, bestEpoch: r.bestRound,
                              stoppedEarly: r.stoppedEarly, seconds: r.seconds, importances: r.importances)
                }
            } catch {
                throw stageError(context, error.description)
            }
            if fit.stoppedEarly {
                let what = model == .gbt ? "round" : "epoch", kept = model == .gbt ? "trees" : "weights"
                context.warn("\(seeds == nil ? "" : "seed \(s): ")early stopping after \(what) \(fit.history.count): the validation loss was best at \(what) \(fit.bestEpoch); its \(kept) are kept")
            }
            fits.append(fit)
        }
        let trained = TrainedModel(members: fits.map(\.member), classes: classes, featureNames: names, normalization: scaling,
                                   featureRanges: FeatureRanges.fit(features: train.features, width: width))
        // Each member's probabilities on its own; the ensemble's are their mean, as TrainedModel.predict computes them.
        func probabilities(_ d: LabeledData) throws -> (members: [[Float]], ensemble: [Float]) {
            let each = try fits.map { f in
                try TrainedModel(members: [f.member], classes: classes, featureNames: names, normalization: scaling)
                    .predict(rawFeatures: d.features, threads: context.jobs)
            }
            return (each, TrainedModel.average(each))
        }
        let testProbs = try probabilities(test)
        let testEval = Trainer.evaluate(probabilities: testProbs.ensemble, labels: test.labels, classes: classes.count)
        var report: [(String, JSONValue)] = [("test", test.count > 0 ? Self.metricsJSON(testEval.metrics, classes: classes) : .null)]
        var valEval: (loss: Double, metrics: ClassificationMetrics)? = nil
        var valProbs: [[Float]] = []
        if val.count > 0 {
            let vp = try probabilities(val)
            valProbs = vp.members
            let v = Trainer.evaluate(probabilities: vp.ensemble, labels: val.labels, classes: classes.count)
            report.append(("val", Self.metricsJSON(v.metrics, classes: classes)))
            valEval = v
        } else {
            report.append(("val", .null))
        }
        let first = fits[0]
        report.append(("epochs", .int(first.history.count)))
        report.append(("classes", .array(classes.map { .string($0) })))
        report.append(("best_epoch", .int(first.bestEpoch)))
        var importance: [(String, Double)]? = nil
        let treeFits = fits.compactMap(\.importances)
        if !treeFits.isEmpty {
            // Mean over the seeds; largest first, ties in feature order.
            let mean = (0..<width).map { f in treeFits.reduce(0.0) { $0 + $1[f] } / Double(treeFits.count) }
            importance = mean.indices.sorted { mean[$0] != mean[$1] ? mean[$0] > mean[$1] : $0 < $1 }.map { (names[$0], mean[$0]) }
            report.append(("feature_importance", .array(importance!.map { .object([("feature", .string($0.0)), ("gain", .number($0.1))]) })))
        }
        if seeds != nil {
            var perSeed: [JSONValue] = []
            var scores: [String: [String: [Double]]] = ["test": [:], "val": [:]]
            for (i, f) in fits.enumerated() {
                var entry: [(String, JSONValue)] = [("seed", .int(Int(truncatingIfNeeded: f.seed)))]
                for (split, probs, labels) in [("test", testProbs.members[i], test.labels), ("val", valProbs.isEmpty ? [] : valProbs[i], val.labels)] {
                    guard !labels.isEmpty else { entry.append((split, .null)); continue }
                    let m = Trainer.evaluate(probabilities: probs, labels: labels, classes: classes.count).metrics
                    entry.append((split, Self.metricsJSON(m, classes: classes)))
                    scores[split]!["accuracy", default: []].append(m.accuracy)
                    scores[split]!["macro_f1", default: []].append(m.macroF1)
                }
                entry.append(("epochs", .int(f.history.count)))
                entry.append(("best_epoch", .int(f.bestEpoch)))
                perSeed.append(.object(entry))
            }
            report.append(("seeds", .array(perSeed)))
            report.append(("seed_summary", .object(["test", "val"].map { split in
                guard let s = scores[split], !s.isEmpty else { return (split, .null) }
                return (split, .object(["accuracy", "macro_f1"].map { key in
                    let (mean, std) = Self.meanAndSampleStd(s[key] ?? [])
                    return (key, .object([("mean", .number(mean)), ("std", .number(std))]))
                }))
            })))
        }
        // Numeric stats are what 'blendset diff' compares between two trained versions;
        // times sit under "seconds", which diff leaves out (they differ run to run).
        func summary(_ m: ClassificationMetrics) -> JSONValue {
            .object([("accuracy", .number(m.accuracy)), ("macro_f1", .number(m.macroF1)),
                     ("f1", .object(classes.indices.map { (classes[$0], .number(m.f1($0))) }))])
        }
        let seconds = fits.reduce(0.0) { $0 + $1.seconds }
        var description: String
        var parameterCount = 0
        if let network {
            description = network.layers.map(\.name).joined(separator: " → ")
            parameterCount = network.parameterCount * fits.count
        } else {
            let nodes = fits.map { f -> Int in if case let .trees(t) = f.member { return t.nodes.count } else { return 0 } }
            description = "GBT(\(first.bestEpoch) rounds × \(classes.count) trees, max_leaves \(boosting.maxLeaves), lr \(String(format: "%g", boosting.learningRate)))"
            parameterCount = nodes.reduce(0, +)
        }
        if seeds != nil { description = "ensemble of \(fits.count) × " + description + ", seeds \(seedList.map(String.init).joined(separator: ", "))" }
        var statList: [(String, JSONValue)] = [
            ("model", .string(description)),
            ("parameters", .int(parameterCount)),
            ("rows", .object([("train", .int(train.count)), ("val", .int(val.count)), ("test", .int(test.count))])),
            ("epochs", .int(first.history.count)), ("best_epoch", .int(first.bestEpoch)),
            ("seconds", .object([("total", .number((seconds * 1000).rounded() / 1000)),
                                 ("per_epoch", .number((seconds / Double(max(1, fits.reduce(0) { $0 + $1.history.count })) * 1000).rounded() / 1000))])),
        ]
        if test.count > 0 { statList.append(("test", summary(testEval.metrics))) }
        if let v = valEval { statList.append(("val", summary(v.metrics))) }
        let stats = JSONValue.object(statList)
        // The version id hashes these outputs, so it cannot be in them; 'metrics --save'
        // draws the plots again with it (TrainResults.artifact).
        let heading = TrainingPlots.Heading(subject: "trained on dataset content \(context.input.contentID.hex.prefix(12))",
                                            parameters: TrainingPlots.parameterSummary(context.parameters.values))
        var artifacts: [String: [UInt8]] = [
            Artifact.model: trained.encoded(),
            Artifact.history: Array((seeds == nil ? Self.historyCSV(first.history) : Self.seedHistoryCSV(fits.map { ($0.seed, $0.history) })).utf8),
            Artifact.metrics: Array((JSONValue.object(report).canonical + "\n").utf8),
            Artifact.curves: Array(TrainingPlots.learningCurves(first.history.map(TrainingPlots.Epoch.init), keptEpoch: first.bestEpoch,
                                                                earlyStopping: patience > 0, heading: heading).utf8),
            Artifact.confusion: Array(TrainingPlots.confusionMatrix(testEval.metrics, classes: classes, title: "Test confusion matrix", heading: heading).utf8),
        ]
        if let importance { artifacts[Artifact.importance] = Array(TrainingPlots.featureImportance(importance).utf8) }
        return StageResult(artifacts: artifacts, rowsIn: table.rowCount, rowsOut: test.count, stats: stats)
    }

    /// One seed's training run.
    struct Fit {
        var seed: UInt64
        var member: TrainedModel.Member
        var history: [EpochRecord]
        var bestEpoch: Int
        var stoppedEarly: Bool
        var seconds: Double
        var importances: [Double]?
    }

    /// Mean and sample standard deviation (n − 1; 0 for a single value).
    static func meanAndSampleStd(_ x: [Double]) -> (Double, Double) {
        guard !x.isEmpty else { return (0, 0) }
        let mean = x.reduce(0, +) / Double(x.count)
        guard x.count > 1 else { return (mean, 0) }
        let ss = x.reduce(0.0) { $0 + ($1 - mean) * ($1 - mean) }
        return (mean, (ss / Double(x.count - 1)).squareRoot())
    }

    static func metricsJSON(_ m: ClassificationMetrics, classes: [String]) -> JSONValue {
        .object([
            ("accuracy", .number(m.accuracy)),
            ("macro_f1", .number(m.macroF1)),
            ("per_class", .object(classes.indices.map { c in
                (classes[c], .object([("precision", .number(m.precision(c))), ("recall", .number(m.recall(c))),
                                      ("f1", .number(m.f1(c))), ("support", .int(m.confusion[c].reduce(0, +)))]))
            })),
            ("confusion", .array(m.confusion.map { .array($0.map { .int($0) }) })),
        ])
    }

    /// One row per epoch; validation columns are empty when there is no validation split.
    /// Per-epoch times are left out on purpose: they would make the artifact differ run to run.
    public static func historyCSV(_ h: [EpochRecord]) -> String {
        func f(_ d: Double?) -> String { d.map { String(format: "%.6f", $0) } ?? "" }
        var out = "epoch,loss,accuracy,macro_f1,val_loss,val_accuracy,val_macro_f1\n"
        for e in h { out += "\(e.epoch),\(f(e.loss)),\(f(e.accuracy)),\(f(e.macroF1)),\(f(e.valLoss)),\(f(e.valAccuracy)),\(f(e.valMacroF1))\n" }
        return out
    }

    /// With seeds: one block per seed, a `seed` column first.
    public static func seedHistoryCSV(_ runs: [(seed: UInt64, history: [EpochRecord])]) -> String {
        var out = "seed," + historyCSV([EpochRecord]()).dropLast() + "\n"
        for r in runs {
            for line in historyCSV(r.history).split(separator: "\n").dropFirst() { out += "\(r.seed),\(line)\n" }
        }
        return out
    }

    /// A Keras-like line per epoch (gbt: per round) on stderr.
    static func printEpoch(_ e: EpochRecord, of total: Int, stage: String, unit: String = "Epoch") {
        var line = "  \(stage): \(unit) \(e.epoch)/\(total) - \(String(format: "%.1f", e.seconds))s - loss: \(String(format: "%.4f", e.loss)) - accuracy: \(String(format: "%.4f", e.accuracy)) - macro_f1: \(String(format: "%.4f", e.macroF1))"
        if let vl = e.valLoss, let va = e.valAccuracy, let vf = e.valMacroF1 {
            line += " - val_loss: \(String(format: "%.4f", vl)) - val_accuracy: \(String(format: "%.4f", va)) - val_macro_f1: \(String(format: "%.4f", vf))"
        }
        // Clear a progress line that a terminal may be showing, then print ours.
        let prefix = isatty(2) == 1 ? "\r\u{1B}[K" : ""
        FileHandle.standardError.write((prefix + line + "\n").data(using: .utf8)!)
    }
}
