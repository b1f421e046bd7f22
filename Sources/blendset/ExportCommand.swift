import Formats
import Pipeline
import Stages

extension OptionSpec {
    static let format = OptionSpec(name: "--format", valueName: "npz|csv|png", help: "the output format")
    static let exportOut = OptionSpec(name: "--out", valueName: "PATH", help: "the .npz file, or the folder for csv and png")
    static let stage = OptionSpec(name: "--stage", valueName: "STAGE", help: "png: the stage whose images to write")
    static let exportRows = OptionSpec(name: "--rows", valueName: "N", help: "png: how many images (default 100)")
    static let augmented = OptionSpec(name: "--augmented", help: "png: only rows made by augmentation")
    static let exportSplit = OptionSpec(name: "--split", valueName: "train|val|test", help: "png: only rows of this split")
    static let order = OptionSpec(name: "--order", valueName: "shuffled|source", help: "row order: seeded shuffle per split (default) or the stored order")
    static let exportSeed = OptionSpec(name: "--seed", valueName: "S", help: "the seed of --order shuffled (default \(DatasetExport.Order.defaultSeed))")
}

let exportCommand = CommandSpec(
    name: "export",
    summary: "write a dataset version as NumPy .npz, CSV, or a stage's images as PNG",
    usage: "blendset export [VERSION] --format npz|csv|png --out PATH [--order shuffled|source] [--seed S] [--stage STAGE] [--rows N] [--augmented] [--split train|val|test] [--cache DIR] [--pipeline FILE]",
    details: """
        VERSION defaults to latest.
          npz  --out FILE.npz: X_train, y_train, emotion_train, X_val, y_val, emotion_val, X_test,
               y_test, emotion_test, feature_names, label_names and emotion_names as plain .npy
               members; loads with numpy.load(f), no allow_pickle. X is float32 (rows, features);
               y is the float32 one-hot (rows, classes); emotion is each row's source FER2013
               emotion (int32, 0-6, named by emotion_names). A version without features exports
               its images as uint8 X (rows, height, width) instead. Also: order (["shuffled"] or
               ["source"]), seed (int64, empty for source) and index_<split> (int64: each row's
               position in the stored order; X_train[np.argsort(d["index_train"])] is it).
          csv  --out DIR: train.csv, val.csv, test.csv with a header: provenance, label, label_name,
               emotion, emotion_name, one column per feature (or a 'pixels' column), onehot_<class>;
               and export.json with the version, the order, the seed and the rows per split.
          png  --out DIR --stage STAGE: the images of an image-carrying stage (e.g. augment) as PNG
               files <row>-<class>-<item>.png, plus index.csv (with each row's augmentation recipe)
               and export.json; --rows N limits them (default 100), --augmented keeps only
               augmented rows, --split keeps only one split's rows (e.g. the test images, for
               'blendset predict --model M.blsmodel DIR').
        --order: a version stores its rows grouped by class, and Keras' validation_split takes the last
        rows, so by default every split is written in a seeded shuffled order (--seed S, default
        \(DatasetExport.Order.defaultSeed); the same seed gives the same bytes). --order source writes the stored order.
        For png, the order picks which --rows N images are written.
        Files are written atomically; an output that exists as a symlink, FIFO or device is refused (exit 73).
        """,
    options: [.pipeline, .cache, .format, .exportOut, .order, .exportSeed, .stage, .exportRows, .augmented, .exportSplit],
    positionals: 0...1,
    run: { args in
        let format = try args.required(.format, "--format is required (npz, csv or png)")
        guard ["npz", "csv", "png"].contains(format) else { throw UsageError(message: "--format expects npz, csv or png, found '\(format)'", command: "export") }
        let out = try args.required(.exportOut, "--out is required (a .npz file for npz, a folder for csv and png)")
        if format != "png" && (args[.stage] != nil || args[.exportRows] != nil || args.flag(.augmented) || args[.exportSplit] != nil) {
            throw UsageError(message: "--stage, --rows, --augmented and --split apply to --format png only", command: "export")
        }
        if let split = args[.exportSplit], Split(name: split) == nil {
            throw UsageError(message: "--split expects train, val or test, found '\(split)'", command: "export")
        }
        if format == "png" && args[.stage] == nil {
            throw UsageError(message: "--format png needs --stage STAGE (a stage with images, e.g. ingest or augment)", command: "export")
        }
        let orderName = args[.order] ?? "shuffled"
        guard ["shuffled", "source"].contains(orderName) else {
            throw UsageError(message: "--order expects shuffled or source, found '\(orderName)'", command: "export")
        }
        if orderName == "source" && args[.exportSeed] != nil {
            throw UsageError(message: "--seed applies to --order shuffled only", command: "export")
        }
        let seed = try args.int(.exportSeed, in: 0...Int.max).map(UInt64.init) ?? DatasetExport.Order.defaultSeed
        let order: DatasetExport.Order = orderName == "source" ? .source : .shuffled(seed: seed)
        let layout = args.layout
        let version = try VersionStore(layout: layout).resolve(args.positionals.first ?? "latest")
        func writeRecord(_ rows: [(String, Int)]) throws {
            try AtomicFile.write(Array((DatasetExport.record(version: version, format: format, order: order, rows: rows).pretty() + "\n").utf8), to: out + "/export.json")
        }
        switch format {
        case "npz":
            let data = try VersionDataset(version: version, layout: layout)
            let bytes = try DatasetExport.npz(data, layout: layout, order: order)
            try AtomicFile.write(bytes, to: out)
            let shapes = data.rowsBySplit.enumerated().map { "\(data.splits[$0.offset]) \($0.element.count)" }.joined(separator: ", ")
            print("wrote \(out) (\(bytes.count) bytes): version \(version.shortID), rows \(shapes), \(data.featureNames.count) features, \(data.classes.count) labels, order \(order)")
        case "csv":
            let data = try VersionDataset(version: version, layout: layout)
            for (split, bytes) in try DatasetExport.csv(data, layout: layout, order: order) {
                try AtomicFile.write(bytes, to: out + "/\(split).csv")
                print("wrote \(out)/\(split).csv (\(bytes.count) bytes)")
            }
            try writeRecord(data.rowsBySplit.enumerated().map { (data.splits[$0.offset], $0.element.count) })
            print("wrote \(out)/export.json: version \(version.shortID), order \(order)")
        default:
            let name = args[.stage]!
            guard let stage = version.stage(name) else {
                throw VersionError.unknownStage(stage: name, version: version.shortID, stages: version.stages.map(\.name))
            }
            let rows = try args.int(.exportRows, in: 1...10_000_000) ?? 100
            let files = try DatasetExport.png(stage: stage, of: version, layout: layout, rows: rows, augmentedOnly: args.flag(.augmented), split: args[.exportSplit], order: order)
            for (file, bytes) in files { try AtomicFile.write(bytes, to: out + "/" + file) }
            try writeRecord([("images", files.count - 1)])
            print("wrote \(files.count - 1) PNG image(s) of stage '\(name)', index.csv and export.json to \(out), order \(order)")
        }
    })
