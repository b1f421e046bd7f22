import Foundation
import Basics
import Formats
import Inference
import Learning
import Pipeline
import Stages

// `blendset predict` on images, and on the CSV that `blendset extract` writes.

extension OptionSpec {
    static let faceModel = OptionSpec(name: "--face-model", valueName: "FILE", help: "images: face_landmarker.task (default: ../shared/models/face_landmarker.task)")
}

/// Images that could not be read or decoded: reported on their own lines, the run goes on,
/// and main.swift turns this into exit code 65 at the end.
struct ImageReadFailures: Error, CustomStringConvertible {
    var failed: Int
    var total: Int
    var description: String { "\(failed) of \(total) image(s) could not be read; each is reported above" }
}

enum PredictImages {
    static let help = """

        Images: with --model FILE and no --input, every IMAGE_OR_FOLDER is classified: PNG or JPEG,
        any size, gray, RGB or RGBA (folders are walked in sorted order for *.png, *.jpg, *.jpeg).
        Each goes through the native face landmarker (--face-model, default
        ../shared/models/face_landmarker.task) to the 52 blendshapes and the model's geometry
        features, then to the model. Prints a CSV header and one line per image: path, face
        (yes, no or error), the face box in pixels (box_x, box_y, box_width, box_height: the
        landmarks' bounding box), class ("no face" without a face) and p_<class> per class.
        --json prints one JSON object per image instead (JSON Lines): {"path", "face", "box":
        {"x", "y", "width", "height"}, "class", "probabilities": {CLASS: p}}, or {"path", "face":
        null, "error"}. An image that cannot be read is reported on its own line (and on stderr)
        and the run goes on; the exit code is then 65. No face is not a failure (exit 0). The
        output is the same for any --jobs (default: the number of cores).
        The CSV of 'blendset extract' (id, row, detected, the 52 blendshapes) is read as it is by
        --input: rows with detected 0 print class "no face" and no probabilities, and the id
        column is carried through: row,id,class,p_<class>...; in --json each row also has "id"
        and "face" (probabilities null without a face).
        """
    /// Runs `predict` when it is given images (no --input) or an extract CSV (one with an
    /// `id` or `detected` column). Returns false for a plain feature CSV, which the original
    /// predict code handles unchanged.
    static func run(_ args: ParsedArguments) throws -> Bool {
        if let input = args[.input] {
            guard let bytes = try? readFileBytes(atPath: input) else { return false }
            let csv = try TableCSV.decode(bytes, source: input)
            guard csv.header.contains("id") || csv.header.contains("detected") else { return false }
            guard args.positionals.count <= 1 else {
                throw UsageError(message: "give images or --input FILE.csv, not both", command: "predict")
            }
            let (model, modelPath) = try loadModel(args)
            try extractCSV(csv, source: input, model: model, modelPath: modelPath, json: args.flag(.json))
            return true
        }
        guard !args.positionals.isEmpty else { return false }
        guard args[.model] != nil else {
            throw UsageError(message: "predict on images needs --model FILE.blsmodel (from 'blendset metrics --save DIR')", command: "predict")
        }
        let (model, modelPath) = try loadModel(args)
        try images(args.positionals, model: model, modelPath: modelPath, args: args)
        return true
    }

    private static func loadModel(_ args: ParsedArguments) throws -> (FaceExpressionModel, String) {
        let trained: TrainedModel, path: String
        if let p = args[.model] {
            guard args[.input] == nil || args.positionals.isEmpty else {
                throw UsageError(message: "give either VERSION or --model FILE, not both", command: "predict")
            }
            path = p
            do throws(LearningError) { trained = try TrainedModel.read(path: p) } catch {
                throw FileManager.default.fileExists(atPath: p) ? PredictError.modelInvalid(error) : .modelMissing(error)
            }
        } else {
            let version = try VersionStore(layout: args.layout).resolve(args.positionals.first ?? "latest")
            path = "version \(version.shortID) (\(args.layout.root))"
            do { trained = try StageOutputs.trainedModel(of: version, layout: args.layout) } catch let e as LearningError { throw PredictError.modelInvalid(e) }
        }
        do throws(LearningError) { return (try FaceExpressionModel(model: trained, source: path), path) } catch {
            throw PredictError.modelInvalid(error)
        }
    }

    private static func probabilityFields(_ model: TrainedModel, _ p: [Float]?) -> [String] {
        p.map { $0.map { String(format: "%.6f", $0) } } ?? Array(repeating: "", count: model.classes.count)
    }

    private static func probabilityJSON(_ model: TrainedModel, _ p: [Float]?) -> JSONValue {
        guard let p else { return .null }
        return .object(model.classes.indices.map { (model.classes[$0], .number(Double(p[$0]))) })
    }

    // MARK: extract CSV

    /// Rows of `blendset extract`'s CSV (or any CSV with `id` and/or `detected`): rows with
    /// detected 0 are "no face" (no probabilities), the rest go through the model; `id` is
    /// carried through.
    private static func extractCSV(_ csv: TableCSV.Records, source: String, model face: FaceExpressionModel,
                                   modelPath: String, json: Bool) throws {
        let model = face.model
        let idColumn = csv.header.firstIndex(of: "id"), detectedColumn = csv.header.firstIndex(of: "detected")
        var hasFace: [Bool] = []
        var faceRows = csv
        faceRows.rows = []
        for (line, fields) in csv.rows {
            var found = true
            if let d = detectedColumn {
                let value = d < fields.count ? fields[d] : ""
                guard value == "0" || value == "1" else {
                    throw FormatError(file: source, line: line, message: "'detected' is '\(value)'; expected 0 (no face) or 1")
                }
                found = value == "1"
            }
            hasFace.append(found)
            if found { faceRows.rows.append((line, fields)) }
        }
        // Extract writes the landmarker's full-precision scores: cut them as the train features were.
        let x = face.truncated(try TrainResults.featureRows(faceRows, features: model.featureNames, source: source))
        let probs = faceRows.rows.isEmpty ? [] : try model.predict(rawFeatures: x, threads: ProcessInfo.processInfo.activeProcessorCount)
        let warnings = model.rangeWarning(rawFeatures: x).map { [$0] } ?? []
        for w in warnings { writeError("blendset: warning: \(w)\n") }
        let k = model.classes.count
        var next = 0
        var items: [(row: Int, id: String?, p: [Float]?)] = []
        for (r, (_, fields)) in csv.rows.enumerated() {
            let id = idColumn.map { $0 < fields.count ? fields[$0] : "" }
            if hasFace[r] {
                items.append((r + 1, id, Array(probs[(next * k)..<((next + 1) * k)])))
                next += 1
            } else {
                items.append((r + 1, id, nil))
            }
        }
        if json {
            printJSON(.object([
                ("model", .string(modelPath)), ("classes", .array(model.classes.map { .string($0) })),
                // As for a feature CSV: the rule that picked each "class" (argmax when none is stored).
                ("decision", TrainStage.decisionJSON(model.decision, classes: model.classes, testArgmax: nil)),
                ("warnings", .array(warnings.map { .string($0) })),
                ("rows", .array(items.map { item in
                    .object([("row", .int(item.row))] + (item.id.map { [("id", JSONValue.string($0))] } ?? [])
                        + [("face", .bool(item.p != nil)),
                           ("class", .string(item.p.map { model.classes[face.decide($0)] } ?? "no face")),
                           ("probabilities", probabilityJSON(model, item.p))])
                })),
            ]))
            return
        }
        print((["row"] + (idColumn == nil ? [] : ["id"]) + ["class"] + model.classes.map { "p_\($0)" }).joined(separator: ","))
        for item in items {
            let label = item.p.map { model.classes[face.decide($0)] } ?? "no face"
            let id = item.id.map { [BlendshapeExtraction.csvField($0)] } ?? []
            print(([String(item.row)] + id + [label] + probabilityFields(model, item.p)).joined(separator: ","))
        }
    }

    // MARK: images

    private enum Outcome: Sendable {
        case failed(String)
        case noFace
        case face(FaceReading, [Float])
    }

    private static func images(_ inputs: [String], model: FaceExpressionModel, modelPath: String, args: ParsedArguments) throws {
        let jobs = try args.int(.jobs, in: 1...256) ?? ProcessInfo.processInfo.activeProcessorCount
        let facePath = args[.faceModel] ?? "../shared/models/face_landmarker.task"
        guard FileManager.default.fileExists(atPath: facePath) else {
            throw PipelineError.missingInput(stage: "predict", parameter: "--face-model", path: facePath,
                                             hint: "Get face_landmarker.task from MediaPipe's Face Landmarker model page and pass --face-model FILE.")
        }
        let faceModels: FaceModels
        do { faceModels = try FaceModels(taskPath: facePath) } catch {
            throw PipelineError.io("cannot load the face model \(facePath): \(error)")
        }
        let paths = ImageFile.walk(inputs)
        let printer = ProgressPrinter()
        printer.stageStarted("predict", kind: "predict")
        let outcomes = try LandmarkerPool.map(count: paths.count, jobs: jobs, models: faceModels, progress: { done in
            printer.stageProgress("predict", done: done, total: paths.count, unit: "images", fromMemo: 0)
        }) { landmarker, i -> Outcome in
            let image: PixelImage
            do { image = try ImageFile.decodeFile(atPath: paths[i]) } catch { return .failed("\(error)") }
            guard let reading = try FaceReading.read(image, landmarker: landmarker) else { return .noFace }
            return .face(reading, try model.probabilities(of: reading))
        }
        printer.end("predict")
        let classes = model.model.classes
        let json = args.flag(.json)
        if !json {
            print((["path", "face", "box_x", "box_y", "box_width", "box_height", "class"] + classes.map { "p_\($0)" }).joined(separator: ","))
        }
        var failed = 0
        for (path, outcome) in zip(paths, outcomes) {
            switch outcome {
            case .failed(let message):
                failed += 1
                writeError("blendset: error: \(MessageText.sanitized(message))\n")
                if json {
                    printJSONLine(.object([("path", .string(path)), ("face", .null), ("error", .string(message))]))
                } else {
                    print(([BlendshapeExtraction.csvField(path), "error", "", "", "", "", "error"] + probabilityFields(model.model, nil)).joined(separator: ","))
                }
            case .noFace:
                if json {
                    printJSONLine(.object([("path", .string(path)), ("face", .bool(false)), ("box", .null),
                                           ("class", .string("no face")), ("probabilities", .null)]))
                } else {
                    print(([BlendshapeExtraction.csvField(path), "no", "", "", "", "", "no face"] + probabilityFields(model.model, nil)).joined(separator: ","))
                }
            case .face(let reading, let p):
                let b = reading.box, label = classes[model.decide(p)]
                if json {
                    printJSONLine(.object([
                        ("path", .string(path)), ("face", .bool(true)),
                        ("box", .object([("x", .number(b.x)), ("y", .number(b.y)), ("width", .number(b.width)), ("height", .number(b.height))])),
                        ("class", .string(label)), ("probabilities", probabilityJSON(model.model, p)),
                    ]))
                } else {
                    let box = [b.x, b.y, b.width, b.height].map { String(format: "%.1f", $0) }
                    print(([BlendshapeExtraction.csvField(path), "yes"] + box + [label] + probabilityFields(model.model, p)).joined(separator: ","))
                }
            }
        }
        if failed > 0 { throw ImageReadFailures(failed: failed, total: paths.count) }
    }

    private static func printJSONLine(_ value: JSONValue) {
        print(value.canonical)
    }
}
