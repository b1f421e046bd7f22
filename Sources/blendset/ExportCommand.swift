import Formats
import Pipeline
import Stages

extension OptionSpec {
    static let format = OptionSpec(name: "--format", valueName: "npz|csv|png", help: "the output format")
    static let exportOut = OptionSpec(name: "--out", valueName: "PATH", help: "the .npz file, or the folder for csv and png")
    static let stage = OptionSpec(name: "--stage", valueName: "STAGE", help: "png: the stage whose images to write")
    static let exportRows = OptionSpec(name: "--rows", valueName: "N", help: "png: how many images (default 100)")
    static let augmented = OptionSpec(name: "--augmented", help: "png: only rows made by augmentation")
}

let exportCommand = CommandSpec(
    name: "export",
    summary: "write a dataset version as NumPy .npz, CSV, or a stage's images as PNG",
    usage: "blendset export [VERSION] --format npz|csv|png --out PATH [--stage STAGE] [--rows N] [--augmented] [--cache DIR] [--pipeline FILE]",
    details: """
        VERSION defaults to latest.
          npz  --out FILE.npz: X_train, y_train, emotion_train, X_val, y_val, emotion_val, X_test,
               y_test, emotion_test, feature_names, label_names and emotion_names as plain .npy
               members; loads with numpy.load(f), no allow_pickle. X is float32 (rows, features);
               y is the float32 one-hot (rows, classes); emotion is each row's source FER2013
               emotion (int32, 0-6, named by emotion_names). A version without features exports
               its images as uint8 X (rows, height, width) instead.
          csv  --out DIR: train.csv, val.csv, test.csv with a header: provenance, label, label_name,
               emotion, emotion_name, one column per feature (or a 'pixels' column), onehot_<class>.
          png  --out DIR --stage STAGE: the images of an image-carrying stage (e.g. augment) as PNG
               files <row>-<class>-<item>.png, plus index.csv (with each row's augmentation recipe);
               --rows N limits them (default 100), --augmented keeps only augmented rows.
        Files are written atomically; an output that exists as a symlink, FIFO or device is refused (exit 73).
        """,
    options: [.pipeline, .cache, .format, .exportOut, .stage, .exportRows, .augmented],
    positionals: 0...1,
    run: { args in
        let format = try args.required(.format, "--format is required (npz, csv or png)")
        guard ["npz", "csv", "png"].contains(format) else { throw UsageError(message: "--format expects npz, csv or png, found '\(format)'", command: "export") }
        let out = try args.required(.exportOut, "--out is required (a .npz file for npz, a folder for csv and png)")
        if format != "png" && (args[.stage] != nil || args[.exportRows] != nil || args.flag(.augmented)) {
            throw UsageError(message: "--stage, --rows and --augmented apply to --format png only", command: "export")
        }
        if format == "png" && args[.stage] == nil {
            throw UsageError(message: "--format png needs --stage STAGE (a stage with images, e.g. ingest or augment)", command: "export")
        }
        let layout = args.layout
        let version = try VersionStore(layout: layout).resolve(args.positionals.first ?? "latest")
        switch format {
        case "npz":
            let data = try VersionDataset(version: version, layout: layout)
            let bytes = try DatasetExport.npz(data, layout: layout)
            try AtomicFile.write(bytes, to: out)
            let shapes = data.rowsBySplit.enumerated().map { "\(data.splits[$0.offset]) \($0.element.count)" }.joined(separator: ", ")
            print("wrote \(out) (\(bytes.count) bytes): version \(version.shortID), rows \(shapes), \(data.featureNames.count) features, \(data.classes.count) labels")
        case "csv":
            let data = try VersionDataset(version: version, layout: layout)
            for (split, bytes) in try DatasetExport.csv(data, layout: layout) {
                try AtomicFile.write(bytes, to: out + "/\(split).csv")
                print("wrote \(out)/\(split).csv (\(bytes.count) bytes)")
            }
        default:
            let name = args[.stage]!
            guard let stage = version.stage(name) else {
                throw VersionError.unknownStage(stage: name, version: version.shortID, stages: version.stages.map(\.name))
            }
            let rows = try args.int(.exportRows, in: 1...10_000_000) ?? 100
            let files = try DatasetExport.png(stage: stage, of: version, layout: layout, rows: rows, augmentedOnly: args.flag(.augmented))
            for (file, bytes) in files { try AtomicFile.write(bytes, to: out + "/" + file) }
            print("wrote \(files.count - 1) PNG image(s) of stage '\(name)' and index.csv to \(out)")
        }
    })
