import Foundation
import Formats
import Inference
import Pipeline
import Stages

extension OptionSpec {
    static let extractInput = OptionSpec(name: "--input", valueName: "FILE", help: "FER2013 CSV, plain or .zst")
    static let extractOut = OptionSpec(name: "--out", valueName: "FILE", help: "the CSV to write (atomically)")
    static let extractModel = OptionSpec(name: "--model", valueName: "FILE", help: "face_landmarker.task (default: ../shared/models/face_landmarker.task)")
    static let extractRows = OptionSpec(name: "--rows", valueName: "A-B", help: "only data rows A through B (0-based, inclusive)")
    static let emotions = OptionSpec(name: "--emotions", valueName: "LIST", help: "only rows of these emotion ids, e.g. 3,4,6")
}

let extractCommand = CommandSpec(
    name: "extract",
    summary: "run the native face landmarker over a FER2013 CSV and write the 52 blendshapes per row",
    usage: "blendset extract --input FILE.csv[.zst] --out FILE.csv [--model FILE] [--rows A-B] [--emotions 3,4,6] [--jobs N]",
    details: """
        Writes one line per input row, in input order: row,detected,<the 52 blendshape names>. The scores
        are empty when no face is found; row is the 0-based data row of the input file (header excluded).
        The output is byte-identical for any --jobs. Progress (done/total, images/s, ETA) goes to stderr.
        """,
    options: [.extractInput, .extractOut, .extractModel, .extractRows, .emotions, .jobs],
    run: { args in
        let input = try args.required(.extractInput, "--input FILE is required")
        let out = try args.required(.extractOut, "--out FILE is required")
        try OutputPath.check(out)  // before the long extraction, not after it
        let modelPath = args[.extractModel] ?? "../shared/models/face_landmarker.task"
        let jobs = try args.int(.jobs, in: 1...256) ?? ProcessInfo.processInfo.activeProcessorCount
        var range: ClosedRange<Int>?
        if let text = args[.extractRows] {
            let parts = text.split(separator: "-", maxSplits: 1).map { Int($0) }
            guard parts.count == 2, let a = parts[0], let b = parts[1], a >= 0, a <= b else {
                throw UsageError(message: "--rows expects A-B with 0 <= A <= B, e.g. 0-999; found '\(text)'", command: "extract")
            }
            range = a...b
        }
        var emotions: Set<UInt8>?
        if let text = args[.emotions] {
            let ids = text.split(separator: ",").map { UInt8($0.trimmingCharacters(in: .whitespaces)) }
            guard !ids.isEmpty, ids.allSatisfy({ $0 != nil && $0! <= 6 }) else {
                throw UsageError(message: "--emotions expects ids 0-6 separated by commas, e.g. 3,4,6; found '\(text)'", command: "extract")
            }
            emotions = Set(ids.map { $0! })
        }
        guard FileManager.default.fileExists(atPath: modelPath) else {
            throw PipelineError.missingInput(stage: "extract", parameter: "--model", path: modelPath,
                                             hint: "Get face_landmarker.task from MediaPipe's Face Landmarker model page and pass --model FILE.")
        }
        guard FileManager.default.fileExists(atPath: input) else {
            throw PipelineError.missingInput(stage: "extract", parameter: "--input", path: input, hint: "Pass a FER2013 CSV (emotion,pixels,Usage), plain or .zst.")
        }
        let csv = try FER2013CSV.read(path: input)
        let rows = csv.dataRows.indices.filter {
            (range?.contains(Int(csv.dataRows[$0])) ?? true) && (emotions?.contains(csv.emotions[$0]) ?? true)
        }
        let models: FaceModels
        do { models = try FaceModels(taskPath: modelPath) } catch {
            throw PipelineError.io("cannot load the face model \(modelPath): \(error)")
        }
        let printer = ProgressPrinter()
        printer.stageStarted("extract", kind: "extract")
        let started = Date()
        let (text, faces) = try BlendshapeExtraction.csv(csv, rows: rows, models: models, jobs: jobs) { done in
            printer.stageProgress("extract", done: done, total: rows.count, unit: "images", fromMemo: 0)
        }
        let seconds = Date().timeIntervalSince(started)
        try AtomicFile.write(Array(text.utf8), to: out)
        printer.end("extract")
        writeError(String(format: "blendset: %d images, %d with a face, %.1f s, %.1f images/s → %@\n",
                          rows.count, faces, seconds, Double(rows.count) / max(seconds, 1e-9), out))
    })
