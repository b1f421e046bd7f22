import Foundation
import Basics
import Formats
import Inference
import Pipeline
import Stages

extension OptionSpec {
    static let extractInput = OptionSpec(name: "--input", valueName: "FILE", help: "FER2013 CSV, plain or .zst (or an image or folder, like PATH)")
    static let extractOut = OptionSpec(name: "--out", valueName: "FILE", help: "the CSV to write (atomically)")
    static let extractModel = OptionSpec(name: "--model", valueName: "FILE", help: "face_landmarker.task (default: ../shared/models/face_landmarker.task)")
    static let extractRows = OptionSpec(name: "--rows", valueName: "A-B", help: "only data rows A through B (0-based, inclusive)")
    static let emotions = OptionSpec(name: "--emotions", valueName: "LIST", help: "FER2013 CSV: only rows of these emotion ids, e.g. 3,4,6")
}

/// Whether `path` is read as a FER2013 CSV (by its name) rather than as an image or folder.
private func isFER2013CSV(_ path: String) -> Bool {
    let lower = path.lowercased()
    return lower.hasSuffix(".csv") || lower.hasSuffix(".csv.zst")
}

let extractCommand = CommandSpec(
    name: "extract",
    summary: "run the native face landmarker over a FER2013 CSV or images and write the 52 blendshapes per row",
    usage: "blendset extract [--input FILE.csv[.zst] | IMAGE_OR_FOLDER...] --out FILE.csv [--model FILE] [--rows A-B] [--emotions 3,4,6] [--jobs N]",
    details: """
        The input is one FER2013 CSV (--input or a PATH ending in .csv or .csv.zst), or any number of
        PNG and JPEG images and folders (any size, gray, RGB or RGBA; folders are walked in sorted
        order for *.png, *.jpg, *.jpeg). Writes one line per row or image, in input order:
        id,row,detected,<the 52 blendshape names>. id is the 0-based data row of the CSV (header
        excluded), or the image's path as walked; row is the data row, or the image's 0-based
        position in the walk. detected is 1 or 0; the scores are empty when no face is found.
        'blendset predict --model M --input FILE.csv' reads this file as it is.
        An image that cannot be read is reported on stderr and left out; the CSV is still written,
        and the exit code is then 65. --rows selects data rows of a CSV (the file is read no
        further than row B), or positions of images.
        The output is byte-identical for any --jobs. Progress (done/total, images/s, ETA) goes to stderr.
        """,
    options: [.extractInput, .extractOut, .extractModel, .extractRows, .emotions, .jobs],
    positionals: 0...1_000_000,
    run: { args in
        let inputs = (args[.extractInput].map { [$0] } ?? []) + args.positionals
        guard !inputs.isEmpty else {
            throw UsageError(message: "give a FER2013 CSV (--input FILE.csv) or images and folders to read", command: "extract")
        }
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
        let csvInputs = inputs.filter(isFER2013CSV)
        if !csvInputs.isEmpty && inputs.count > 1 {
            throw UsageError(message: "give one FER2013 CSV, or images and folders, not both or several CSVs (found \(inputs.count) inputs)", command: "extract")
        }
        var emotions: Set<UInt8>?
        if let text = args[.emotions] {
            guard !csvInputs.isEmpty else { throw UsageError(message: "--emotions applies to a FER2013 CSV only", command: "extract") }
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
        let models: FaceModels
        let printer = ProgressPrinter()
        let started = Date()
        let text: String, faces: Int, count: Int
        var failures: [BlendshapeExtraction.ImageFailure] = []
        if let input = csvInputs.first {
            guard FileManager.default.fileExists(atPath: input) else {
                throw PipelineError.missingInput(stage: "extract", parameter: "--input", path: input, hint: "Pass a FER2013 CSV (emotion,pixels,Usage), plain or .zst.")
            }
            let csv = try FER2013CSV.read(path: input, throughDataRow: range?.upperBound)
            let rows = csv.dataRows.indices.filter {
                (range?.contains(Int(csv.dataRows[$0])) ?? true) && (emotions?.contains(csv.emotions[$0]) ?? true)
            }
            models = try loadFaceModels(modelPath)
            printer.stageStarted("extract", kind: "extract")
            (text, faces) = try BlendshapeExtraction.csv(csv, rows: rows, models: models, jobs: jobs) { done in
                printer.stageProgress("extract", done: done, total: rows.count, unit: "images", fromMemo: 0)
            }
            count = rows.count
        } else {
            let walked = ImageFile.walk(inputs)
            let paths = range.map { r in walked.indices.filter(r.contains).map { walked[$0] } } ?? walked
            models = try loadFaceModels(modelPath)
            printer.stageStarted("extract", kind: "extract")
            (text, faces, failures) = try BlendshapeExtraction.csv(images: paths, firstRow: range.map { min($0.lowerBound, walked.count) } ?? 0, models: models, jobs: jobs) { done in
                printer.stageProgress("extract", done: done, total: paths.count, unit: "images", fromMemo: 0)
            }
            count = paths.count
        }
        let seconds = Date().timeIntervalSince(started)
        try AtomicFile.write(Array(text.utf8), to: out)
        printer.end("extract")
        for f in failures { writeError("blendset: error: \(MessageText.sanitized(f.message))\n") }
        writeError(String(format: "blendset: %d images, %d with a face, %.1f s, %.1f images/s → %@\n",
                          count, faces, seconds, Double(count) / max(seconds, 1e-9), out))
        if !failures.isEmpty { throw ImageReadFailures(failed: failures.count, total: count) }
    })

private func loadFaceModels(_ path: String) throws -> FaceModels {
    do { return try FaceModels(taskPath: path) } catch {
        throw PipelineError.io("cannot load the face model \(path): \(error)")
    }
}
