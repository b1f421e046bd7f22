import Foundation
import Formats
import Learning
import Pipeline
import Stages

extension OptionSpec {
    static let onnxOut = OptionSpec(name: "--out", valueName: "FILE.onnx", help: "the ONNX file to write")
}

let exportModelCommand = CommandSpec(
    name: "export-model",
    summary: "write a trained model as ONNX, for onnxruntime or any other ONNX runtime",
    usage: "blendset export-model [VERSION] --out FILE.onnx [--model FILE] [--cache DIR] [--pipeline FILE]",
    details: """
        The model is the one trained for VERSION (default latest) in the cache, or with --model FILE a
        model written by 'blendset metrics --save DIR'. The graph (ONNX ir_version 8, opset 13) takes
        "features", float32 [N, F]: RAW blendshape features in the order of the metadata entry
        feature_names (JSON); the model's normalisation is part of the graph. It gives
        "probabilities", float32 [N, classes], in the order of class_names; the label is the largest.
        MLP and LSTM (ONNX LSTM op; activations tanh, relu or sigmoid) and gradient-boosted trees
        (ai.onnx.ml TreeEnsembleRegressor, then Softmax) export; an ensemble is the Mean of its members.
        The file is written atomically. See docs/model-format.md.
        """,
    options: [.pipeline, .cache, .model, .onnxOut],
    positionals: 0...1,
    run: { args in
        let out = try args.required(.onnxOut, "--out FILE.onnx is required")
        let model: TrainedModel
        let source: String
        if let path = args[.model] {
            guard args.positionals.isEmpty else { throw UsageError(message: "give either VERSION or --model FILE, not both", command: "export-model") }
            source = path
            do throws(LearningError) { model = try TrainedModel.read(path: path) } catch {
                throw FileManager.default.fileExists(atPath: path) ? PredictError.modelInvalid(error) : .modelMissing(error)
            }
        } else {
            let version = try VersionStore(layout: args.layout).resolve(args.positionals.first ?? "latest")
            source = "version \(version.shortID)"
            do { model = try StageOutputs.trainedModel(of: version, layout: args.layout) } catch let e as LearningError { throw PredictError.modelInvalid(e) }
        }
        let bytes: [UInt8]
        do throws(LearningError) { bytes = try ONNXExport.encode(model) } catch { throw PredictError.modelInvalid(error) }
        try AtomicFile.write(bytes, to: out)
        print("wrote \(out) (\(bytes.count) bytes): the model of \(source), \(model.members.count) member(s), input features [N, \(model.inputSize)] (raw, normalisation \(model.normalization.method.rawValue) in the graph), output probabilities [N, \(model.classes.count)]: \(model.classes.joined(separator: ", "))")
    })
