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
    // 5: metrics gain the confusion by source emotion ("by_emotion"), "decision" and, with
    // seeds, per-class mean ± std; an emotion-confusion SVG; decision rules and the
    // balanced_source / balanced_val class weights; the model file stores each
    // feature's train range (header key feature_ranges).
    // 6: the model file records the decimals of its train features (header key
    // feature_digits); a version-5 cache entry would serve models without it.
    public static let version = 6
    public static let summary = "train an LSTM, MLP or gradient-boosted tree classifier on the dataset (one per seed: an ensemble); metrics, curves, confusion matrix, model"
    /// The dataset; optionally, second, a stage before 'balance' whose train split gives
    /// the class counts of `class_weights: "balanced_source"`.
    public static let inputCount = 1...2
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
                      "null (all 1); \"balanced\": n / (classes × count_c) from the train split as trained on (all 1 when balance made it even); \"balanced_source\": the same formula on the train split BEFORE balancing, counted in the stage's second input (e.g. \"inputs\": [\"dataset\", \"split\"]); \"balanced_val\": val share_c / train share_c, so the weighted train classes have val's shares (mean weight 1 per train row); or one number per class"),
        ParameterSpec("decision", default: .string("argmax"),
                      "how probabilities become a class, stored in the model and applied by 'predict': \"argmax\"; {\"rule\": \"class_weights\", \"objective\": \"macro_f1\"} (per-class multipliers on the probabilities, coordinate ascent over the grid 2^(i/4), i = −12…12, maximising val macro-F1); {\"rule\": \"class_weights\", \"objective\": \"recall\", \"class\": C, \"target\": R} (the best val macro-F1 among the weights whose val recall of C is ≥ R); {\"rule\": \"reject\", \"class\": C, \"threshold\": T or \"tune\"} (predict C unless the best other class's probability is ≥ T; \"tune\": T in 0, 0.01, …, 1 with the best val macro-F1)"),
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
    public enum ClassWeights: Sendable, Equatable { case none, balanced, balancedSource, balancedVal, given([Float]) }

    /// `train.decision` as configured; class names are checked against the dataset's when the stage runs.
    public enum DecisionSetting: Sendable, Equatable {
        case argmax
        case classWeights(recallOf: (class: String, target: Double)?)
        case reject(class: String, threshold: Double?)

        public static func == (a: Self, b: Self) -> Bool {
            switch (a, b) {
            case (.argmax, .argmax): return true
            case let (.classWeights(x), .classWeights(y)): return x?.class == y?.class && x?.target == y?.target
            case let (.reject(c, t), .reject(d, u)): return c == d && t == u
            default: return false
            }
        }
    }

    public let model: ModelKind
    public let units: [Int]
    public let activation: Activation
    public let dropout: Double
    public let optimizer: Adam
    public let epochs: Int
    public let batchSize: Int
    public let seed: UInt64
    public let classWeights: ClassWeights
    public let decision: DecisionSetting
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
        /// Rows: the source FER2013 emotions; columns: the predicted classes (test split).
        public static let emotionConfusion = "emotion_confusion"
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
        } else if cw.stringValue == "balanced_source" {
            classWeights = .balancedSource
        } else if cw.stringValue == "balanced_val" {
            classWeights = .balancedVal
        } else if let list = cw.arrayValue, !list.isEmpty, list.allSatisfy({ ($0.doubleValue ?? -1) >= 0 }) {
            classWeights = .given(list.map { Float($0.doubleValue!) })
        } else {
            throw p.invalid("class_weights", "expected null, \"balanced\", \"balanced_source\", \"balanced_val\" or an array of non-negative numbers (one per class), found \(cw.canonical)")
        }
        decision = try Self.decisionSetting(p)
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

    static func decisionSetting(_ p: StageParameters) throws(PipelineError) -> DecisionSetting {
        let d = try p.value("decision")
        if case .null = d.kind { return .argmax }
        if let name = d.stringValue {
            guard name == "argmax" else { throw p.invalid("decision", "expected \"argmax\" or an object with \"rule\": \"class_weights\" or \"reject\", found \(d.canonical)") }
            return .argmax
        }
        guard let members = d.objectValue else {
            throw p.invalid("decision", "expected \"argmax\" or an object such as {\"rule\": \"class_weights\", \"objective\": \"macro_f1\"}, found \(d.canonical)")
        }
        func allow(_ keys: [String]) throws(PipelineError) {
            if let extra = members.first(where: { !keys.contains($0.key) }) {
                throw p.invalid("decision", "unknown key '\(extra.key)'; this rule takes \(keys.map { "'\($0)'" }.joined(separator: ", "))")
            }
        }
        func className() throws(PipelineError) -> String {
            guard let c = d["class"]?.stringValue, !c.isEmpty else { throw p.invalid("decision", "needs \"class\": the name of one of the dataset's classes, found \(d["class"]?.canonical ?? "none")") }
            return c
        }
        switch d["rule"]?.stringValue {
        case "class_weights":
            switch d["objective"]?.stringValue ?? "macro_f1" {
            case "macro_f1":
                try allow(["rule", "objective"])
                return .classWeights(recallOf: nil)
            case "recall":
                try allow(["rule", "objective", "class", "target"])
                let c = try className()
                guard let t = d["target"]?.doubleValue, t > 0, t <= 1 else {
                    throw p.invalid("decision", "objective \"recall\" needs \"target\": the val recall of '\(c)' to reach, a number in (0, 1], found \(d["target"]?.canonical ?? "none")")
                }
                return .classWeights(recallOf: (c, t))
            default:
                throw p.invalid("decision", "unknown objective \(d["objective"]!.canonical); expected \"macro_f1\" or \"recall\"")
            }
        case "reject":
            try allow(["rule", "class", "threshold"])
            let c = try className()
            if d["threshold"]?.stringValue == "tune" { return .reject(class: c, threshold: nil) }
            guard let t = d["threshold"]?.doubleValue, t >= 0, t <= 1 else {
                throw p.invalid("decision", "rule \"reject\" needs \"threshold\": a probability in [0, 1] or \"tune\", found \(d["threshold"]?.canonical ?? "none")")
            }
            return .reject(class: c, threshold: t)
        default:
            throw p.invalid("decision", "unknown rule \(d["rule"]?.canonical ?? "(none)"); expected \"class_weights\" or \"reject\" (or \"argmax\" instead of an object)")
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
        let emotionColumn = table.column(ColumnName.emotion) != nil ? try table.int32(ColumnName.emotion) : nil
        var data: [Split: LabeledData] = [:]
        var emotionsOf: [Split: [Int32]] = [:]
        for s in Split.allCases {
            var f: [Float] = [], l: [Int32] = [], e: [Int32] = []
            for r in 0..<table.rowCount where splits[r] == s.rawValue {
                f.append(contentsOf: x[(r * width)..<((r + 1) * width)])
                l.append(labels[r])
                if let emotionColumn { e.append(emotionColumn[r]) }
            }
            data[s] = LabeledData(features: f, labels: l)
            emotionsOf[s] = emotionColumn == nil ? nil : e
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
        case .balancedSource:
            let source = try sourceCounts(context, classes: classes)
            let n = source.reduce(0, +)
            weightsByClass = source.map { $0 == 0 ? 0 : Float(Double(n) / Double(classes.count * $0)) }
        case .balancedVal:
            guard val.count > 0 else { throw stageError(context, "class_weights \"balanced_val\" needs the val split's class shares, and the val split is empty") }
            var valCounts = [Int](repeating: 0, count: classes.count)
            for l in val.labels { valCounts[Int(l)] += 1 }
            // w_c = val share / train share: the weighted train rows have val's class shares and sum to n.
            weightsByClass = classes.indices.map { c in
                counts[c] == 0 ? 0 : Float((Double(valCounts[c]) / Double(val.count)) / (Double(counts[c]) / Double(train.count)))
            }
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
        let ruleClass: Int?
        switch decision {
        case .argmax, .classWeights(recallOf: nil): ruleClass = nil
        case let .classWeights(recallOf: (name, _)?), let .reject(name, _):
            guard let c = classes.firstIndex(of: name) else {
                throw PipelineError.stageFailed(stage: context.stage, underlying: context.parameters.invalid("decision",
                    "names class '\(name)', which the dataset does not have; its classes are \(classes.joined(separator: ", "))"))
            }
            ruleClass = c
        }
        let tunedOnVal: Bool
        switch decision {
        case .argmax, .reject(_, _?): tunedOnVal = false
        default: tunedOnVal = true
        }
        if tunedOnVal && val.count == 0 {
            throw stageError(context, "decision \(context.parameters.values["decision"]?.canonical ?? "") is tuned on the val split, and it is empty; use \"argmax\" or a fixed reject threshold")
        }
        let k = classes.count
        // The rule for one set of val probabilities (the ensemble's, or one seed's), with its val figures before and after.
        func rule(valProbabilities p: [Float], seedLabel: String) -> DecisionRule? {
            var r: DecisionRule
            switch decision {
            case .argmax: return nil
            case let .classWeights(recallOf: recall):
                let t = DecisionTuning.classWeights(probabilities: p, labels: val.labels, classes: k, recallOf: recall.map { (ruleClass!, $0.target) })
                r = DecisionRule(rule: .classWeights, weights: t.weights)
                r.objective = recall == nil ? "macro_f1" : "recall"
                r.target_class = recall?.class
                r.target = recall?.target
                if let recall, !t.reached {
                    context.warn("\(seedLabel)decision: no class weights reach val recall \(recall.target) for '\(recall.class)'; kept the highest reachable (\(String(format: "%.4f", r.figures(p, labels: val.labels, classes: classes).recall[ruleClass!])))")
                }
            case let .reject(name, threshold):
                r = DecisionRule(rule: .reject, class: name,
                                 threshold: threshold ?? DecisionTuning.rejectThreshold(probabilities: p, labels: val.labels, classes: k, reject: ruleClass!))
            }
            if val.count > 0 {
                r.val_before = DecisionRule.Figures(ClassificationMetrics(trueLabels: val.labels, predicted: DecisionRule.argmax(p, classes: k), classes: k))
                r.val_after = r.figures(p, labels: val.labels, classes: classes)
            }
            return r
        }
        func predicted(_ p: [Float], _ r: DecisionRule?) -> [Int32] { r?.predict(p, classes: classes) ?? DecisionRule.argmax(p, classes: k) }
        func metrics(_ p: [Float], _ labels: [Int32], _ r: DecisionRule?) -> ClassificationMetrics {
            ClassificationMetrics(trueLabels: labels, predicted: predicted(p, r), classes: k)
        }
        // Each member's probabilities on its own; the ensemble's are their mean, as TrainedModel.predict computes them.
        func probabilities(_ d: LabeledData) throws -> (members: [[Float]], ensemble: [Float]) {
            let each = try fits.map { f in
                try TrainedModel(members: [f.member], classes: classes, featureNames: names, normalization: scaling)
                    .predict(rawFeatures: d.features, threads: context.jobs)
            }
            return (each, TrainedModel.average(each))
        }
        let testProbs = try probabilities(test)
        let valProbsAll = val.count > 0 ? try probabilities(val) : nil
        let chosen = valProbsAll.map { rule(valProbabilities: $0.ensemble, seedLabel: "") } ?? rule(valProbabilities: [], seedLabel: "")
        let trained = TrainedModel(members: fits.map(\.member), classes: classes, featureNames: names, normalization: scaling, decision: chosen,
                                   featureRanges: FeatureRanges.fit(features: train.features, width: width),
                                   featureDigits: FeatureDigits.detect(train.features))
        let testPredicted = predicted(testProbs.ensemble, chosen)
        let testMetrics = ClassificationMetrics(trueLabels: test.labels, predicted: testPredicted, classes: k)
        var report: [(String, JSONValue)] = [("test", test.count > 0 ? Self.metricsJSON(testMetrics, classes: classes, byEmotion: emotionsOf[.test].map { ($0, testPredicted) }) : .null)]
        var valMetrics: ClassificationMetrics? = nil
        var valProbs: [[Float]] = []
        if let vp = valProbsAll {
            valProbs = vp.members
            let vPredicted = predicted(vp.ensemble, chosen)
            let v = ClassificationMetrics(trueLabels: val.labels, predicted: vPredicted, classes: k)
            report.append(("val", Self.metricsJSON(v, classes: classes, byEmotion: emotionsOf[.val].map { ($0, vPredicted) })))
            valMetrics = v
        } else {
            report.append(("val", .null))
        }
        let first = fits[0]
        report.append(("epochs", .int(first.history.count)))
        report.append(("classes", .array(classes.map { .string($0) })))
        report.append(("best_epoch", .int(first.bestEpoch)))
        let testArgmax = test.count > 0 ? metrics(testProbs.ensemble, test.labels, nil) : nil
        report.append(("decision", Self.decisionJSON(chosen, classes: classes, testArgmax: testArgmax)))
        if let w = weightsByClass {
            report.append(("class_weights", .object(classes.indices.map { (classes[$0], .number(Double(w[$0]))) })))
        }
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
                // Each seed's model gets its own rule, tuned on its own val probabilities, as if trained alone.
                let seedRule = valProbs.isEmpty ? rule(valProbabilities: [], seedLabel: "seed \(f.seed): ") : rule(valProbabilities: valProbs[i], seedLabel: "seed \(f.seed): ")
                for (split, probs, labels) in [("test", testProbs.members[i], test.labels), ("val", valProbs.isEmpty ? [] : valProbs[i], val.labels)] {
                    guard !labels.isEmpty else { entry.append((split, .null)); continue }
                    let seedPredicted = predicted(probs, seedRule)
                    let m = ClassificationMetrics(trueLabels: labels, predicted: seedPredicted, classes: k)
                    entry.append((split, Self.metricsJSON(m, classes: classes, byEmotion: emotionsOf[split == "test" ? .test : .val].map { ($0, seedPredicted) })))
                    scores[split]!["accuracy", default: []].append(m.accuracy)
                    scores[split]!["macro_f1", default: []].append(m.macroF1)
                    for c in classes.indices {
                        scores[split]!["\(c).precision", default: []].append(m.precision(c))
                        scores[split]!["\(c).recall", default: []].append(m.recall(c))
                        scores[split]!["\(c).f1", default: []].append(m.f1(c))
                    }
                }
                entry.append(("epochs", .int(f.history.count)))
                entry.append(("best_epoch", .int(f.bestEpoch)))
                if let seedRule { entry.append(("decision", Self.decisionJSON(seedRule, classes: classes, testArgmax: nil))) }
                perSeed.append(.object(entry))
            }
            report.append(("seeds", .array(perSeed)))
            func ms(_ x: [Double]) -> JSONValue {
                let (mean, std) = Self.meanAndSampleStd(x)
                return .object([("mean", .number(mean)), ("std", .number(std))])
            }
            report.append(("seed_summary", .object(["test", "val"].map { split in
                guard let s = scores[split], !s.isEmpty else { return (split, .null) }
                return (split, .object(["accuracy", "macro_f1"].map { key in (key, ms(s[key] ?? [])) } + [
                    ("per_class", .object(classes.indices.map { c in
                        (classes[c], .object(["precision", "recall", "f1"].map { ($0, ms(s["\(c).\($0)"] ?? [])) }))
                    })),
                ]))
            })))
        }
        // Numeric stats are what 'blendset diff' compares between two trained versions;
        // times sit under "seconds", which diff leaves out (they differ run to run).
        func summary(_ m: ClassificationMetrics) -> JSONValue {
            .object([("accuracy", .number(m.accuracy)), ("macro_f1", .number(m.macroF1)),
                     ("f1", .object(classes.indices.map { (classes[$0], .number(m.f1($0))) })),
                     ("precision", .object(classes.indices.map { (classes[$0], .number(m.precision($0))) })),
                     ("recall", .object(classes.indices.map { (classes[$0], .number(m.recall($0))) }))])
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
        if test.count > 0 { statList.append(("test", summary(testMetrics))) }
        if let v = valMetrics { statList.append(("val", summary(v))) }
        if let chosen { statList.append(("decision", .string(chosen.rule.rawValue))) }
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
            Artifact.confusion: Array(TrainingPlots.confusionMatrix(testMetrics, classes: classes, title: "Test confusion matrix", heading: heading).utf8),
        ]
        if let e = emotionsOf[.test], test.count > 0 {
            artifacts[Artifact.emotionConfusion] = Array(TrainingPlots.emotionConfusion(Self.emotionRows(testPredicted, emotions: e, classes: k),
                                                                                        classes: classes, title: "Test: source emotion × predicted class", heading: heading).utf8)
        }
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

    /// The class counts of the train split in the stage's second input
    /// (a stage before 'balance'), for `class_weights: "balanced_source"`.
    func sourceCounts(_ context: StageContext, classes: [String]) throws -> [Int] {
        guard context.inputs.count == 2 else {
            throw PipelineError.stageFailed(stage: context.stage, underlying: context.parameters.invalid("class_weights",
                "\"balanced_source\" needs the class counts before balancing: give the stage a second input, a stage before 'balance' such as 'split' (\"inputs\": [\"dataset\", \"split\"])"))
        }
        let source = try context.inputs[1].table()
        let names = source.names(MetadataKey.classes)
        guard names == classes else {
            throw stageError(context, "the second input '\(context.inputs[1].stage)' has the classes [\(names.joined(separator: ", "))], the dataset [\(classes.joined(separator: ", "))]; give a stage of the same pipeline before 'balance'")
        }
        let labels = try source.int32(ColumnName.label)
        let splits = source.column(ColumnName.split) != nil ? try source.int32(ColumnName.split) : nil
        var counts = [Int](repeating: 0, count: classes.count)
        for r in labels.indices where (splits?[r] ?? Split.train.rawValue) == Split.train.rawValue && labels[r] >= 0 && Int(labels[r]) < classes.count {
            counts[Int(labels[r])] += 1
        }
        return counts
    }

    /// One row per source emotion present (FER2013 id order): its name and how many of its
    /// rows were predicted as each class.
    static func emotionRows(_ predicted: [Int32], emotions: [Int32], classes k: Int) -> [(name: String, counts: [Int])] {
        var rows: [Int32: [Int]] = [:]
        for (p, e) in zip(predicted, emotions) { rows[e, default: [Int](repeating: 0, count: k)][Int(p)] += 1 }
        return rows.keys.sorted().map { e in
            (Emotion.names.indices.contains(Int(e)) ? Emotion.names[Int(e)] : "emotion \(e)", rows[e]!)
        }
    }

    /// The `decision` member of the metrics: the rule, its parameters and its val figures
    /// under argmax ("before") and under the rule ("after"); test figures under argmax too.
    public static func decisionJSON(_ r: DecisionRule?, classes: [String], testArgmax: ClassificationMetrics?) -> JSONValue {
        guard let r else { return .object([("rule", .string("argmax"))]) }
        var out: [(String, JSONValue)] = [("rule", .string(r.rule.rawValue))]
        if let w = r.weights { out.append(("weights", .object(classes.indices.map { (classes[$0], .number(w[$0])) }))) }
        if let c = r.class { out.append(("class", .string(c))) }
        if let t = r.threshold { out.append(("threshold", .number(t))) }
        if let o = r.objective { out.append(("objective", .string(o))) }
        if let c = r.target_class, let t = r.target { out.append(("target", .object([("class", .string(c)), ("recall", .number(t))]))) }
        func figures(_ f: DecisionRule.Figures) -> JSONValue {
            .object([("accuracy", .number(f.accuracy)), ("macro_f1", .number(f.macro_f1)),
                     ("recall", .object(classes.indices.map { (classes[$0], .number($0 < f.recall.count ? f.recall[$0] : 0)) }))])
        }
        if let b = r.val_before, let a = r.val_after { out.append(("val", .object([("before", figures(b)), ("after", figures(a))]))) }
        if let t = testArgmax { out.append(("test_argmax", figures(DecisionRule.Figures(t)))) }
        return .object(out)
    }

    /// `byEmotion`: each row's source emotion and predicted class, for the "by_emotion" rows.
    static func metricsJSON(_ m: ClassificationMetrics, classes: [String], byEmotion: (emotions: [Int32], predicted: [Int32])? = nil) -> JSONValue {
        var members: [(String, JSONValue)] = [
            ("accuracy", .number(m.accuracy)),
            ("macro_f1", .number(m.macroF1)),
            ("per_class", .object(classes.indices.map { c in
                (classes[c], .object([("precision", .number(m.precision(c))), ("recall", .number(m.recall(c))),
                                      ("f1", .number(m.f1(c))), ("support", .int(m.confusion[c].reduce(0, +)))]))
            })),
            ("confusion", .array(m.confusion.map { .array($0.map { .int($0) }) })),
        ]
        if let (emotions, predicted) = byEmotion, emotions.count == predicted.count {
            // Rows: source emotions; columns: predicted classes.
            members.append(("by_emotion", .array(emotionRows(predicted, emotions: emotions, classes: classes.count).map { row in
                .object([("emotion", .string(row.name)), ("predicted", .array(row.counts.map { .int($0) })), ("rows", .int(row.counts.reduce(0, +)))])
            })))
        }
        return .object(members)
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
