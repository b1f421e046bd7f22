import Foundation
import Formats

/// Writes a `TrainedModel` as an ONNX model (ir_version 8, opset 13; `ai.onnx.ml` 3 for
/// trees) with the protobuf wire format written here, so that any ONNX runtime can use a
/// blendset model next to MediaPipe.
///
/// The graph takes `features` [N, F]: RAW blendshape features in the order of the
/// `feature_names` metadata entry. The stored normalisation is part of the graph (Sub, Mul),
/// and `probabilities` [N, classes] comes out in the order of `class_names`. An LSTM layer is
/// ONNX's `LSTM` op (gates reordered from Keras' i, f, c, o to ONNX's i, o, f, c); an ensemble
/// is the `Mean` of its members; gradient-boosted trees are `ai.onnx.ml.TreeEnsembleRegressor`
/// (raw scores) followed by `Softmax`. Dropout is left out (inference).
public enum ONNXExport {
    public static let irVersion: Int64 = 8
    public static let opset: Int64 = 13
    public static let mlOpset: Int64 = 3
    public static let inputName = "features"
    public static let outputName = "probabilities"

    // ONNX TensorProto.DataType
    static let float: Int64 = 1, int64: Int64 = 7

    public static func encode(_ model: TrainedModel) throws(LearningError) -> [UInt8] {
        var g = Graph()
        let size = model.inputSize, k = model.classes.count
        var x = inputName
        let n = model.normalization
        if n.method != .none {
            guard n.shift.count == size, n.scale.count == size else {
                throw .invalidModel("its normalisation has \(n.shift.count) values for \(size) features")
            }
            x = g.node("Sub", [x, g.floats("norm_shift", dims: [size], n.shift)])[0]
            x = g.node("Mul", [x, g.floats("norm_scale", dims: [size], n.scale)])[0]
        }
        var outputs: [String] = []
        for (i, member) in model.members.enumerated() {
            switch member {
            case let .network(network, weights): outputs.append(try g.network(network, weights: weights, input: x, member: i + 1))
            case let .trees(trees): outputs.append(g.trees(trees, input: x, member: i + 1))
            }
        }
        _ = g.node(outputs.count == 1 ? "Identity" : "Mean", outputs, named: outputName)

        var graph = ProtobufWriter()
        for node in g.nodes { graph.message(1, node) }
        graph.string(2, "blendset")
        for t in g.initializers { graph.message(5, t) }
        graph.message(11, valueInfo(inputName, dims: [nil, size]))
        graph.message(12, valueInfo(outputName, dims: [nil, k]))

        var m = ProtobufWriter()
        m.int(1, irVersion)
        m.string(2, "blendset")
        m.string(3, "1")
        m.message(7, graph)
        m.message(8) { $0.string(1, ""); $0.int(2, opset) }
        if g.usesML { m.message(8) { $0.string(1, "ai.onnx.ml"); $0.int(2, mlOpset) } }
        for (key, value) in metadata(model) { m.message(14) { $0.string(1, key); $0.string(2, value) } }
        return m.bytes
    }

    /// The `metadata_props` entries: what an application needs to feed the graph.
    public static func metadata(_ model: TrainedModel) -> [(String, String)] {
        func json(_ names: [String]) -> String { String(decoding: (try? JSONEncoder().encode(names)) ?? Data("[]".utf8), as: UTF8.self) }
        return [
            ("feature_names", json(model.featureNames)),
            ("class_names", json(model.classes)),
            ("normalization", model.normalization.method.rawValue),
            ("input", "features [N, \(model.inputSize)] float32: raw blendshape scores in the order of feature_names; the graph applies the normalisation"),
            ("output", "probabilities [N, \(model.classes.count)] float32 in the order of class_names; the label is the largest"),
        ]
    }

    static func valueInfo(_ name: String, dims: [Int?]) -> ProtobufWriter {
        var v = ProtobufWriter()
        v.string(1, name)
        v.message(2) { type in
            type.message(1) { tensor in
                tensor.int(1, float)
                tensor.message(2) { shape in
                    for d in dims { shape.message(1) { dim in if let d { dim.int(1, Int64(d)) } else { dim.string(2, "N") } } }
                }
            }
        }
        return v
    }

    /// Nodes and initializers in the order they are made; names are unique by a counter.
    struct Graph {
        var nodes: [ProtobufWriter] = []
        var initializers: [ProtobufWriter] = []
        var counter = 0
        var usesML = false

        mutating func fresh(_ base: String) -> String { counter += 1; return "\(base)_\(counter)" }

        mutating func floats(_ base: String, dims: [Int], _ values: [Float]) -> String {
            let name = fresh(base)
            var t = ProtobufWriter()
            t.ints(1, dims.map(Int64.init))
            t.int(2, float)
            t.string(8, name)
            var raw: [UInt8] = []
            raw.reserveCapacity(4 * values.count)
            for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { raw.append(contentsOf: $0) } }
            t.bytes(9, raw)
            initializers.append(t)
            return name
        }

        mutating func int64s(_ base: String, _ values: [Int64]) -> String {
            let name = fresh(base)
            var t = ProtobufWriter()
            t.int(1, Int64(values.count))
            t.int(2, int64)
            t.string(8, name)
            var raw: [UInt8] = []
            for v in values { withUnsafeBytes(of: v.littleEndian) { raw.append(contentsOf: $0) } }
            t.bytes(9, raw)
            initializers.append(t)
            return name
        }

        /// Adds a node; returns its output names (`outputs` of them, "" for an unused one).
        @discardableResult
        mutating func node(_ op: String, _ inputs: [String], outputs: Int = 1, named: String? = nil, unused: Set<Int> = [],
                           domain: String? = nil, attributes: [Attribute] = []) -> [String] {
            let outs = (0..<outputs).map { unused.contains($0) ? "" : (named ?? fresh(op.lowercased())) }
            var n = ProtobufWriter()
            for i in inputs { n.string(1, i) }
            for o in outs { n.string(2, o) }
            n.string(3, fresh("node_" + op))
            n.string(4, op)
            for a in attributes { n.message(5, a.encoded) }
            if let domain { n.string(7, domain) }
            nodes.append(n)
            return outs
        }

        mutating func network(_ network: Network, weights w: [Float], input: String, member: Int) throws(LearningError) -> String {
            let prefix = "m\(member)_"
            // The current value is a vector [N, F] or a sequence [T, N, F] (ONNX LSTM layout 0).
            var x = input, sequence = false
            if network.input.steps > 1 {
                let shape = int64s(prefix + "shape", [0, Int64(network.input.steps), Int64(network.input.features)])
                x = node("Reshape", [x, shape])[0]
                x = node("Transpose", [x], attributes: [.ints("perm", [1, 0, 2])])[0]
                sequence = true
            }
            for (l, p) in network.plan.enumerated() {
                let name = prefix + "layer\(l + 1)"
                switch p.kind {
                case .dropout:
                    continue
                case .dense:
                    if sequence { x = node("Squeeze", [x, int64s(name + "_axes", [0])])[0]; sequence = false }
                    let kernel = floats(name + "_kernel", dims: [p.inFeatures, p.units], Array(w[p.kernel..<(p.kernel + p.inFeatures * p.units)]))
                    let bias = floats(name + "_bias", dims: [p.units], Array(w[p.bias..<(p.bias + p.units)]))
                    x = node("MatMul", [x, kernel])[0]
                    x = node("Add", [x, bias])[0]
                    switch p.activation {
                    case .linear: break
                    case .relu: x = node("Relu", [x])[0]
                    case .tanh: x = node("Tanh", [x])[0]
                    case .sigmoid: x = node("Sigmoid", [x])[0]
                    case .selu: x = node("Selu", [x], attributes: [.float("alpha", Activation.seluAlpha), .float("gamma", Activation.seluScale)])[0]
                    case .softmax: x = node("Softmax", [x], attributes: [.int("axis", -1)])[0]
                    }
                case .lstm:
                    let onnxActivation: String
                    switch p.activation {
                    case .tanh: onnxActivation = "Tanh"
                    case .relu: onnxActivation = "Relu"
                    case .sigmoid: onnxActivation = "Sigmoid"
                    default: throw .invalidModel("layer \(l + 1) is an LSTM with activation \(p.activation.rawValue), which ONNX's LSTM op has no exact match for; tanh, relu and sigmoid export")
                    }
                    if !sequence { x = node("Unsqueeze", [x, int64s(name + "_axes", [0])])[0]; sequence = true }
                    let U = p.units, G = 4 * U
                    // Keras gate blocks i, f, c, o → ONNX i, o, f, c.
                    let order = [0, 3, 1, 2]
                    func gates(_ base: Int, rows: Int) -> [Float] {
                        var out = [Float](repeating: 0, count: G * rows)
                        for (dst, src) in order.enumerated() {
                            for u in 0..<U { for r in 0..<rows { out[(dst * U + u) * rows + r] = w[base + r * G + src * U + u] } }
                        }
                        return out
                    }
                    var b = [Float](repeating: 0, count: 2 * G)
                    for (dst, src) in order.enumerated() { for u in 0..<U { b[dst * U + u] = w[p.bias + src * U + u] } }
                    let W = floats(name + "_W", dims: [1, G, p.inFeatures], gates(p.kernel, rows: p.inFeatures))
                    let R = floats(name + "_R", dims: [1, G, U], gates(p.recurrent, rows: U))
                    let B = floats(name + "_B", dims: [1, 2 * G], b)
                    let out = node("LSTM", [x, W, R, B], outputs: 2, unused: p.returnSequences ? [1] : [0],
                                   attributes: [.int("hidden_size", Int64(U)), .strings("activations", ["Sigmoid", onnxActivation, onnxActivation])])
                    if p.returnSequences {
                        x = node("Squeeze", [out[0], int64s(name + "_axes", [1])])[0]   // Y [T, 1, N, U] → [T, N, U]
                    } else {
                        x = node("Squeeze", [out[1], int64s(name + "_axes", [0])])[0]   // Y_h [1, N, U] → [N, U]
                        sequence = false
                    }
                }
            }
            return x
        }

        mutating func trees(_ t: BoostedTrees, input: String, member: Int) -> String {
            usesML = true
            var treeIDs: [Int64] = [], nodeIDs: [Int64] = [], featureIDs: [Int64] = [], modes: [String] = [], values: [Float] = []
            var trueIDs: [Int64] = [], falseIDs: [Int64] = []
            var targetTrees: [Int64] = [], targetNodes: [Int64] = [], targetIDs: [Int64] = [], targetWeights: [Float] = []
            for tree in 0..<t.treeCount {
                let start = t.treeStarts[tree]
                for i in 0..<(t.treeStarts[tree + 1] - start) {
                    let n = t.nodes[start + i]
                    treeIDs.append(Int64(tree)); nodeIDs.append(Int64(i))
                    if n.feature < 0 {
                        featureIDs.append(0); modes.append("LEAF"); values.append(0); trueIDs.append(0); falseIDs.append(0)
                        targetTrees.append(Int64(tree)); targetNodes.append(Int64(i)); targetIDs.append(Int64(tree % t.classes)); targetWeights.append(n.value)
                    } else {
                        // blendset goes left when x <= threshold.
                        featureIDs.append(Int64(n.feature)); modes.append("BRANCH_LEQ"); values.append(n.threshold)
                        trueIDs.append(Int64(n.left)); falseIDs.append(Int64(n.right))
                    }
                }
            }
            let raw = node("TreeEnsembleRegressor", [input], domain: "ai.onnx.ml", attributes: [
                .int("n_targets", Int64(t.classes)), .string("aggregate_function", "SUM"), .string("post_transform", "NONE"),
                .floats("base_values", t.baseScores),
                .ints("nodes_treeids", treeIDs), .ints("nodes_nodeids", nodeIDs), .ints("nodes_featureids", featureIDs),
                .strings("nodes_modes", modes), .floats("nodes_values", values),
                .ints("nodes_truenodeids", trueIDs), .ints("nodes_falsenodeids", falseIDs),
                .ints("target_treeids", targetTrees), .ints("target_nodeids", targetNodes), .ints("target_ids", targetIDs),
                .floats("target_weights", targetWeights),
            ])[0]
            return node("Softmax", [raw], attributes: [.int("axis", -1)])[0]
        }
    }

    /// An ONNX AttributeProto.
    enum Attribute {
        case int(String, Int64), float(String, Float), string(String, String)
        case ints(String, [Int64]), floats(String, [Float]), strings(String, [String])

        var encoded: ProtobufWriter {
            var a = ProtobufWriter()
            switch self {
            case let .float(name, v): a.string(1, name); a.float(2, v); a.int(20, 1)
            case let .int(name, v): a.string(1, name); a.int(3, v); a.int(20, 2)
            case let .string(name, v): a.string(1, name); a.string(4, v); a.int(20, 3)
            case let .floats(name, v): a.string(1, name); a.floats(7, v); a.int(20, 6)
            case let .ints(name, v): a.string(1, name); a.ints(8, v); a.int(20, 7)
            case let .strings(name, v): a.string(1, name); for s in v { a.string(9, s) }; a.int(20, 8)
            }
            return a
        }
    }
}
