import Foundation
import Formats

/// A trained classifier with everything needed to use it safely: the layers, the weights,
/// the class and feature names, and the feature scaling it was trained with.
///
/// File format (`.blsmodel`, little-endian):
///
///     offset  size  field
///     0       8     magic "BLSMODEL"
///     8       4     format version (UInt32, 1)
///     12      4     header length H (UInt32)
///     16      H     header: UTF-8 JSON (see `Header`): input shape, layers, classes,
///                   feature names, normalisation, and the weight tensors (name, offset,
///                   count, and shape)
///     16+H    8     weight count P (UInt64)
///     24+H    4·P   weights, float32; kernels row-major (inputs × outputs); LSTM gate
///                   order i, f, c, o as in Keras
///     end−32  32    SHA-256 of every byte before it
public struct TrainedModel: Sendable, Equatable {
    public var network: Network
    public var weights: [Float]
    public var classes: [String]
    public var featureNames: [String]
    public var normalization: Normalization

    public static let magic: [UInt8] = Array("BLSMODEL".utf8)
    public static let formatVersion: UInt32 = 1

    public init(network: Network, weights: [Float], classes: [String], featureNames: [String], normalization: Normalization) {
        self.network = network
        self.weights = weights
        self.classes = classes
        self.featureNames = featureNames
        self.normalization = normalization
    }

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
    }

    public func encoded() -> [UInt8] {
        let layers = network.layers.map { spec -> Header.Layer in
            switch spec {
            case let .lstm(u, a, rs): return .init(type: "lstm", units: u, activation: a.rawValue, return_sequences: rs)
            case let .dense(u, a): return .init(type: "dense", units: u, activation: a.rawValue)
            case let .dropout(r): return .init(type: "dropout", rate: r)
            }
        }
        let header = Header(format: "blendset-model", input_steps: network.input.steps, input_features: network.input.features,
                            layers: layers, classes: classes, features: featureNames, normalization: normalization,
                            tensors: network.slots.map { .init(name: $0.name, offset: $0.offset, count: $0.count) })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = Array(try! encoder.encode(header))
        var out = Self.magic
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        u32(Self.formatVersion)
        u32(UInt32(json.count))
        out += json
        withUnsafeBytes(of: UInt64(weights.count).littleEndian) { out.append(contentsOf: $0) }
        for w in weights { withUnsafeBytes(of: w.bitPattern.littleEndian) { out.append(contentsOf: $0) } }
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
        guard version == Self.formatVersion else { throw bad("format version \(version); this blendset reads version \(Self.formatVersion)") }
        let h = Int(u32(12))
        guard 16 + h + 8 <= b.count - 32 else { throw bad("the header length \(h) runs past the end") }
        let header: Header
        do { header = try JSONDecoder().decode(Header.self, from: Data(b[16..<(16 + h)])) } catch { throw bad("the header does not parse (\(error))") }
        var p = 0
        for i in 0..<8 { p |= Int(b[16 + h + i]) << (8 * i) }
        let start = 24 + h
        guard start + 4 * p == b.count - 32 else { throw bad("it declares \(p) weights but holds \(max(0, b.count - 32 - start) / 4)") }
        var layers: [LayerSpec] = []
        for (i, l) in header.layers.enumerated() {
            let act = Activation(rawValue: l.activation ?? "linear")
            switch (l.type, l.units, act) {
            case ("lstm", let u?, let a?): layers.append(.lstm(units: u, activation: a, returnSequences: l.return_sequences ?? false))
            case ("dense", let u?, let a?): layers.append(.dense(units: u, activation: a))
            case ("dropout", _, _): layers.append(.dropout(rate: l.rate ?? 0))
            default: throw bad("layer \(i + 1) (\(l.type)) is not understood")
            }
        }
        let network = try Network(input: InputShape(steps: header.input_steps, features: header.input_features), layers: layers)
        guard network.parameterCount == p else { throw bad("the layers need \(network.parameterCount) weights, the file holds \(p)") }
        var weights = [Float](repeating: 0, count: p)
        for i in 0..<p { weights[i] = Float(bitPattern: u32(start + 4 * i)) }
        guard header.normalization.method == .none || header.normalization.shift.count == network.input.size else {
            throw bad("its normalisation has \(header.normalization.shift.count) values for \(network.input.size) features")
        }
        self.init(network: network, weights: weights, classes: header.classes, featureNames: header.features, normalization: header.normalization)
    }

    public static func read(path: String) throws(LearningError) -> TrainedModel {
        let bytes: [UInt8]
        do { bytes = try readFileBytes(atPath: path) } catch { throw .invalidModelFile(path: path, reason: "\(error)") }
        return try TrainedModel(decoding: bytes, path: path)
    }

    /// Class probabilities [rows][classes] for rows of *raw* features: the stored scaling
    /// is applied here, so callers cannot forget or repeat it.
    public func predict(rawFeatures: [Float], threads: Int = 1) throws(LearningError) -> [Float] {
        guard rawFeatures.count % network.input.size == 0 else {
            throw .invalidData("\(rawFeatures.count) values are not whole rows of \(network.input.size) features")
        }
        var x = rawFeatures
        normalization.apply(to: &x)
        return network.predict(weights: weights, features: x, threads: threads)
    }
}
