import Foundation
import Formats

/// A trained classifier with everything needed to use it safely: its members (a network
/// with its weights, or gradient-boosted trees), the class and feature names, and the
/// feature scaling it was trained with. With several members (an ensemble, e.g. one per
/// seed) the prediction is the mean of the members' probabilities.
///
/// File format (`.blsmodel`, little-endian; full description in docs/model-format.md):
///
///     offset  size  field
///     0       8     magic "BLSMODEL"
///     8       4     format version (UInt32): 1 = one network, 2 = members
///     12      4     header length H (UInt32)
///     16      H     header: UTF-8 JSON (see `Header`, `MembersHeader`)
///     16+H    8     version 1: weight count P (UInt64); version 2: body length B in bytes
///     24+H    4·P   version 1: weights, float32; kernels row-major (inputs × outputs); LSTM
///                   gate order i, f, c, o as in Keras. Version 2: the members' bodies
///     end−32  32    SHA-256 of every byte before it
///
/// A single network is still written as version 1, byte for byte as before.
public struct TrainedModel: Sendable, Equatable {
    public enum Member: Sendable, Equatable {
        case network(Network, weights: [Float])
        case trees(BoostedTrees)

        public var inputSize: Int {
            switch self {
            case let .network(n, _): return n.input.size
            case let .trees(t): return t.features
            }
        }

        public var classes: Int {
            switch self {
            case let .network(n, _): return n.classes
            case let .trees(t): return t.classes
            }
        }

        func predict(_ x: [Float], threads: Int) -> [Float] {
            switch self {
            case let .network(n, w): return n.predict(weights: w, features: x, threads: threads)
            case let .trees(t): return t.predict(features: x, threads: threads)
            }
        }
    }

    public var members: [Member]
    public var classes: [String]
    public var featureNames: [String]
    public var normalization: Normalization
    /// How probabilities become a class; nil = argmax (and no `decision` key in the file).
    public var decision: DecisionRule?
    /// Each feature's range over the train split, in raw (unnormalised) units; nil in files
    /// written before it existed. `predict` uses it to warn about differently scaled input.
    public var featureRanges: FeatureRanges?
    /// The decimals the train features were truncated to (every train value was already a
    /// multiple of 10^-digits), so features computed from images get the same cut; nil when
    /// they were not truncated.
    public var featureDigits: Int?

    public static let magic: [UInt8] = Array("BLSMODEL".utf8)
    /// The newest format version written; 1 is still written for a single network.
    public static let formatVersion: UInt32 = 2

    public init(network: Network, weights: [Float], classes: [String], featureNames: [String], normalization: Normalization) {
        self.init(members: [.network(network, weights: weights)], classes: classes, featureNames: featureNames, normalization: normalization)
    }

    public init(members: [Member], classes: [String], featureNames: [String], normalization: Normalization, decision: DecisionRule? = nil,
                featureRanges: FeatureRanges? = nil, featureDigits: Int? = nil) {
        self.members = members
        self.classes = classes
        self.featureNames = featureNames
        self.normalization = normalization
        self.decision = decision
        self.featureRanges = featureRanges
        self.featureDigits = featureDigits
    }

    /// The network of a one-network model, or nil.
    public var network: Network? {
        if members.count == 1, case let .network(n, _) = members[0] { return n }
        return nil
    }

    /// Features per input row.
    public var inputSize: Int { members.first?.inputSize ?? featureNames.count }

    struct Header: Codable {
        struct Layer: Codable {
            var type: String
            var units: Int?
            var activation: String?
            var return_sequences: Bool?
            var rate: Double?
        }
        struct Tensor: Codable { var name: String; var offset: Int; var count: Int }
        var format: String
        var input_steps: Int
        var input_features: Int
        var layers: [Layer]
        var classes: [String]
        var features: [String]
        var normalization: Normalization
        var tensors: [Tensor]
        var decision: DecisionRule?
        // Optional: absent (not null) when nil, so older models keep their bytes.
        var feature_ranges: FeatureRanges?
        var feature_digits: Int?
    }

    /// The version 2 header: what all members share, then one entry per member whose
    /// body is `body[offset ..< offset + length]`.
    struct MembersHeader: Codable {
        struct Entry: Codable {
            /// "network" or "gbt".
            var type: String
            var offset: Int
            var length: Int
            // network
            var input_steps: Int?
            var input_features: Int?
            var layers: [Header.Layer]?
            var tensors: [Header.Tensor]?
            // gbt
            var features: Int?
            var classes: Int?
            var trees: Int?
            var nodes: Int?
        }
        var format: String
        var classes: [String]
        var features: [String]
        var normalization: Normalization
        var members: [Entry]
        var decision: DecisionRule?
        var feature_ranges: FeatureRanges?
        var feature_digits: Int?
    }

    static func layerHeaders(_ network: Network) -> [Header.Layer] {
        network.layers.map { spec -> Header.Layer in
            switch spec {
            case let .lstm(u, a, rs): return .init(type: "lstm", units: u, activation: a.rawValue, return_sequences: rs)
            case let .dense(u, a): return .init(type: "dense", units: u, activation: a.rawValue)
            case let .dropout(r): return .init(type: "dropout", rate: r)
            }
        }
    }

    static func layers(_ headers: [Header.Layer], bad: (String) -> LearningError) throws(LearningError) -> [LayerSpec] {
        var layers: [LayerSpec] = []
        for (i, l) in headers.enumerated() {
            let act = Activation(rawValue: l.activation ?? "linear")
            switch (l.type, l.units, act) {
            case ("lstm", let u?, let a?): layers.append(.lstm(units: u, activation: a, returnSequences: l.return_sequences ?? false))
            case ("dense", let u?, let a?): layers.append(.dense(units: u, activation: a))
            case ("dropout", _, _): layers.append(.dropout(rate: l.rate ?? 0))
            default: throw bad("layer \(i + 1) (\(l.type)) is not understood")
            }
        }
        return layers
    }

    public func encoded() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var out = Self.magic
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        if members.count == 1, case let .network(network, weights) = members[0] {
            let header = Header(format: "blendset-model", input_steps: network.input.steps, input_features: network.input.features,
                                layers: Self.layerHeaders(network), classes: classes, features: featureNames, normalization: normalization,
                                tensors: network.slots.map { .init(name: $0.name, offset: $0.offset, count: $0.count) }, decision: decision,
                                feature_ranges: featureRanges, feature_digits: featureDigits)
            let json = Array(try! encoder.encode(header))
            u32(1)
            u32(UInt32(json.count))
            out += json
            withUnsafeBytes(of: UInt64(weights.count).littleEndian) { out.append(contentsOf: $0) }
            for w in weights { withUnsafeBytes(of: w.bitPattern.littleEndian) { out.append(contentsOf: $0) } }
            out += SHA256.digest(out).bytes
            return out
        }
        var body: [UInt8] = []
        func b32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { body.append(contentsOf: $0) } }
        var entries: [MembersHeader.Entry] = []
        for m in members {
            let offset = body.count
            switch m {
            case let .network(network, weights):
                for w in weights { b32(w.bitPattern) }
                entries.append(.init(type: "network", offset: offset, length: body.count - offset,
                                     input_steps: network.input.steps, input_features: network.input.features,
                                     layers: Self.layerHeaders(network),
                                     tensors: network.slots.map { .init(name: $0.name, offset: $0.offset, count: $0.count) }))
            case let .trees(t):
                for v in t.baseScores { b32(v.bitPattern) }
                for i in 0..<t.treeCount { b32(UInt32(t.treeStarts[i + 1] - t.treeStarts[i])) }
                for n in t.nodes {
                    b32(UInt32(bitPattern: n.feature)); b32(n.threshold.bitPattern)
                    b32(UInt32(bitPattern: n.left)); b32(UInt32(bitPattern: n.right)); b32(n.value.bitPattern)
                }
                entries.append(.init(type: "gbt", offset: offset, length: body.count - offset,
                                     features: t.features, classes: t.classes, trees: t.treeCount, nodes: t.nodes.count))
            }
        }
        let header = MembersHeader(format: "blendset-model", classes: classes, features: featureNames, normalization: normalization, members: entries, decision: decision,
                                   feature_ranges: featureRanges, feature_digits: featureDigits)
        let json = Array(try! encoder.encode(header))
        u32(2)
        u32(UInt32(json.count))
        out += json
        withUnsafeBytes(of: UInt64(body.count).littleEndian) { out.append(contentsOf: $0) }
        out += body
        out += SHA256.digest(out).bytes
        return out
    }

    public init(decoding b: [UInt8], path: String = "model") throws(LearningError) {
        func bad(_ reason: String) -> LearningError { .invalidModelFile(path: path, reason: reason) }
        guard b.count >= 24 + 32, Array(b[0..<8]) == Self.magic else { throw bad("it is not a blendset model (no BLSMODEL header)") }
        guard Array(SHA256.digest(Array(b[..<(b.count - 32)])).bytes) == Array(b[(b.count - 32)...]) else {
            throw bad("its checksum does not match: the file is damaged or truncated")
        }
        func u32(_ o: Int) -> UInt32 { UInt32(b[o]) | UInt32(b[o + 1]) << 8 | UInt32(b[o + 2]) << 16 | UInt32(b[o + 3]) << 24 }
        let version = u32(8)
        guard version == 1 || version == 2 else { throw bad("format version \(version); this blendset reads versions 1 and 2") }
        let h = Int(u32(12))
        guard 16 + h + 8 <= b.count - 32 else { throw bad("the header length \(h) runs past the end") }
        var p = 0
        for i in 0..<8 { p |= Int(b[16 + h + i]) << (8 * i) }
        let start = 24 + h
        if version == 2 {
            try self.init(decodingMembers: b, headerLength: h, bodyLength: p, path: path)
            return
        }
        let header: Header
        do { header = try JSONDecoder().decode(Header.self, from: Data(b[16..<(16 + h)])) } catch { throw bad("the header does not parse (\(error))") }
        guard p >= 0, p <= (b.count - 32 - start) / 4, start + 4 * p == b.count - 32 else {
            throw bad("it declares \(p) weights but holds \(max(0, b.count - 32 - start) / 4)")
        }
        let layers = try Self.layers(header.layers, bad: bad)
        let network = try Network(input: InputShape(steps: header.input_steps, features: header.input_features), layers: layers)
        guard network.parameterCount == p else { throw bad("the layers need \(network.parameterCount) weights, the file holds \(p)") }
        var weights = [Float](repeating: 0, count: p)
        for i in 0..<p { weights[i] = Float(bitPattern: u32(start + 4 * i)) }
        guard header.normalization.method == .none || header.normalization.shift.count == network.input.size else {
            throw bad("its normalisation has \(header.normalization.shift.count) values for \(network.input.size) features")
        }
        try Self.check(header.decision, classes: header.classes, bad: bad)
        try Self.check(header.feature_ranges, size: network.input.size, bad: bad)
        try Self.check(digits: header.feature_digits, bad: bad)
        self.init(members: [.network(network, weights: weights)], classes: header.classes, featureNames: header.features,
                  normalization: header.normalization, decision: header.decision, featureRanges: header.feature_ranges,
                  featureDigits: header.feature_digits)
    }

    /// A stored rule must fit the model's classes; a file that says otherwise is damaged.
    static func check(_ d: DecisionRule?, classes: [String], bad: (String) -> LearningError) throws(LearningError) {
        guard let d else { return }
        switch d.rule {
        case .classWeights:
            guard let w = d.weights, w.count == classes.count, w.allSatisfy({ $0.isFinite && $0 >= 0 }) else {
                throw bad("its decision rule needs \(classes.count) non-negative class weights, found \(d.weights.map { "\($0.count)" } ?? "none")")
            }
        case .reject:
            guard let c = d.class, classes.contains(c), let t = d.threshold, t.isFinite else {
                throw bad("its reject rule needs one of the classes (\(classes.joined(separator: ", "))) and a threshold")
            }
        }
    }

    static func check(digits: Int?, bad: (String) -> LearningError) throws(LearningError) {
        guard let digits else { return }
        guard FeatureDigits.range.contains(digits) else { throw bad("its feature_digits is \(digits); expected \(FeatureDigits.range.lowerBound) to \(FeatureDigits.range.upperBound)") }
    }

    static func check(_ ranges: FeatureRanges?, size: Int, bad: (String) -> LearningError) throws(LearningError) {
        guard let r = ranges else { return }
        guard r.min.count == size, r.max.count == size else { throw bad("its feature_ranges have \(r.min.count) minima and \(r.max.count) maxima for \(size) features") }
    }

    private init(decodingMembers b: [UInt8], headerLength h: Int, bodyLength: Int, path: String) throws(LearningError) {
        func bad(_ reason: String) -> LearningError { .invalidModelFile(path: path, reason: reason) }
        let header: MembersHeader
        do { header = try JSONDecoder().decode(MembersHeader.self, from: Data(b[16..<(16 + h)])) } catch { throw bad("the header does not parse (\(error))") }
        let bodyStart = 24 + h
        guard bodyLength >= 0, bodyLength == b.count - 32 - bodyStart else {
            throw bad("it declares a body of \(bodyLength) bytes but holds \(max(0, b.count - 32 - bodyStart))")
        }
        guard !header.members.isEmpty else { throw bad("it has no members") }
        func u32(_ o: Int) -> UInt32 { UInt32(b[o]) | UInt32(b[o + 1]) << 8 | UInt32(b[o + 2]) << 16 | UInt32(b[o + 3]) << 24 }
        var members: [Member] = []
        for (i, e) in header.members.enumerated() {
            let what = "member \(i + 1) (\(e.type))"
            guard e.offset >= 0, e.length >= 0, e.offset <= bodyLength, e.length <= bodyLength - e.offset, e.length % 4 == 0 else {
                throw bad("\(what) lies outside the body")
            }
            let o = bodyStart + e.offset, words = e.length / 4
            switch e.type {
            case "network":
                guard let steps = e.input_steps, let features = e.input_features, let lh = e.layers else { throw bad("\(what) lacks its input shape or layers") }
                let network = try Network(input: InputShape(steps: steps, features: features), layers: try Self.layers(lh, bad: bad))
                guard network.parameterCount == words else { throw bad("\(what): the layers need \(network.parameterCount) weights, the file holds \(words)") }
                members.append(.network(network, weights: (0..<words).map { Float(bitPattern: u32(o + 4 * $0)) }))
            case "gbt":
                guard let features = e.features, let k = e.classes, let trees = e.trees, let count = e.nodes,
                      features >= 1, k >= 2, trees >= 0, count >= 0, k + trees + 5 * count == words else {
                    throw bad("\(what): its feature, class, tree and node counts do not match its \(e.length) bytes")
                }
                let base = (0..<k).map { Float(bitPattern: u32(o + 4 * $0)) }
                var starts = [0]
                for t in 0..<trees { starts.append(starts[t] + Int(u32(o + 4 * (k + t)))) }
                let n0 = o + 4 * (k + trees)
                let nodes = (0..<count).map { j -> BoostedTrees.Node in
                    let q = n0 + 20 * j
                    return BoostedTrees.Node(feature: Int32(bitPattern: u32(q)), threshold: Float(bitPattern: u32(q + 4)),
                                             left: Int32(bitPattern: u32(q + 8)), right: Int32(bitPattern: u32(q + 12)),
                                             value: Float(bitPattern: u32(q + 16)))
                }
                let model = BoostedTrees(features: features, classes: k, baseScores: base, treeStarts: starts, nodes: nodes)
                if let problem = model.problem() { throw bad("\(what): \(problem)") }
                members.append(.trees(model))
            default:
                throw bad("\(what) is of a kind this blendset does not know (network, gbt)")
            }
        }
        let size = members[0].inputSize
        guard members.allSatisfy({ $0.inputSize == size && $0.classes == header.classes.count }) else {
            throw bad("its members disagree on the input size or class count (\(header.classes.count) classes)")
        }
        guard header.normalization.method == .none || header.normalization.shift.count == size else {
            throw bad("its normalisation has \(header.normalization.shift.count) values for \(size) features")
        }
        try Self.check(header.decision, classes: header.classes, bad: bad)
        try Self.check(header.feature_ranges, size: size, bad: bad)
        try Self.check(digits: header.feature_digits, bad: bad)
        self.init(members: members, classes: header.classes, featureNames: header.features, normalization: header.normalization,
                  decision: header.decision, featureRanges: header.feature_ranges, featureDigits: header.feature_digits)
    }

    public static func read(path: String) throws(LearningError) -> TrainedModel {
        let bytes: [UInt8]
        do { bytes = try readFileBytes(atPath: path) } catch { throw .invalidModelFile(path: path, reason: "\(error)") }
        return try TrainedModel(decoding: bytes, path: path)
    }

    /// Class probabilities [rows][classes] for rows of *raw* features: the stored scaling
    /// is applied here, so callers cannot forget or repeat it. An ensemble averages its
    /// members' probabilities (summed in member order, in Double).
    public func predict(rawFeatures: [Float], threads: Int = 1) throws(LearningError) -> [Float] {
        let size = inputSize
        guard size > 0, rawFeatures.count % size == 0 else {
            throw .invalidData("\(rawFeatures.count) values are not whole rows of \(size) features")
        }
        var x = rawFeatures
        normalization.apply(to: &x)
        if members.count == 1 { return members[0].predict(x, threads: threads) }
        return Self.average(members.map { $0.predict(x, threads: threads) })
    }

    /// The class of each row of `probabilities` (from `predict`) under the stored decision
    /// rule, or argmax when the model has none.
    public func decide(_ probabilities: [Float]) -> [Int32] {
        decision?.predict(probabilities, classes: classes) ?? DecisionRule.argmax(probabilities, classes: classes.count)
    }

    /// The element-wise mean of equally long probability arrays.
    public static func average(_ probabilities: [[Float]]) -> [Float] {
        guard let first = probabilities.first else { return [] }
        if probabilities.count == 1 { return first }
        var sum = [Double](repeating: 0, count: first.count)
        for p in probabilities { for i in sum.indices { sum[i] += Double(p[i]) } }
        let m = Double(probabilities.count)
        return sum.map { Float($0 / m) }
    }
}
