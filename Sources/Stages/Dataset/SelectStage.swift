import Formats
import Pipeline

/// Maps FER2013 emotions to the classes of the dataset, in an explicit order, and drops
/// the rows of every other emotion. Several emotions may form one class, e.g.
/// happy / sad / unknown with every other emotion mapped to unknown.
public struct SelectStage: Stage {
    public static let kind = "select"
    public static let version = 1
    public static let summary = "map emotion ids to class labels; drop other emotions"
    public static let inputCount = 1...1
    public static let parameters: [ParameterSpec] = [
        ParameterSpec("classes", default: .array([
            .object([("name", .string("happy")), ("emotions", .array([.int(3)]))]),
            .object([("name", .string("sad")), ("emotions", .array([.int(4)]))]),
            .object([("name", .string("neutral")), ("emotions", .array([.int(6)]))]),
        ]), "ordered list of {\"name\", \"emotions\"}; emotions by id 0-6 or name (angry, disgust, fear, happy, sad, surprise, neutral); label = position in this list"),
    ]

    public struct ClassSpec: Sendable, Equatable {
        public var name: String
        public var emotions: [Int]
    }

    public let classes: [ClassSpec]

    public init(parameters: StageParameters) throws(PipelineError) {
        let v = try parameters.value("classes")
        let bad = { (m: String) in parameters.invalid("classes", m) }
        guard let list = v.arrayValue, !list.isEmpty else {
            throw bad("expected a non-empty array of {\"name\": …, \"emotions\": […]}")
        }
        var seen: [Int: String] = [:]
        var result: [ClassSpec] = []
        for item in list {
            guard let name = item["name"]?.stringValue, !name.isEmpty else { throw bad("each class needs a \"name\" string") }
            guard let ems = item["emotions"]?.arrayValue, !ems.isEmpty else { throw bad("class '\(name)' needs a non-empty \"emotions\" array") }
            if let extra = item.objectValue?.first(where: { $0.key != "name" && $0.key != "emotions" }) {
                throw bad("class '\(name)' has an unknown key \"\(extra.key)\"; expected \"name\" and \"emotions\"")
            }
            if result.contains(where: { $0.name == name }) { throw bad("two classes are named '\(name)'") }
            var ids: [Int] = []
            for e in ems {
                let id: Int
                if let i = e.intValue, (0...6).contains(i) {
                    id = i
                } else if let s = e.stringValue, let i = Emotion.names.firstIndex(of: s.lowercased()) {
                    id = i
                } else {
                    throw bad("class '\(name)': \(e.canonical) is not an emotion; expected 0-6 or one of \(Emotion.names.joined(separator: ", "))")
                }
                if let other = seen[id] { throw bad("emotion \(id) (\(Emotion.names[id])) is in both '\(other)' and '\(name)'") }
                seen[id] = name
                ids.append(id)
            }
            result.append(ClassSpec(name: name, emotions: ids))
        }
        classes = result
    }

    public func run(_ context: StageContext) throws -> StageResult {
        let input = try context.input.table()
        let emotions = try input.int32(ColumnName.emotion)
        var labelOf = [Int32](repeating: -1, count: 7)
        for (label, c) in classes.enumerated() { for e in c.emotions { labelOf[e] = Int32(label) } }
        var keep: [Int] = []
        var labels: [Int32] = []
        for (i, e) in emotions.enumerated() where e >= 0 && e < 7 && labelOf[Int(e)] >= 0 {
            keep.append(i)
            labels.append(labelOf[Int(e)])
        }
        var table = try input.gathering(keep).setting(Column(name: ColumnName.label, data: .int32(labels)))
        table.metadata[MetadataKey.classes] = jsonNames(classes.map(\.name))
        let stats = JSONValue.object([
            ("classes", .array(classes.map { .string($0.name) })),
            ("rows", countsBySplitAndClass(splits: nil, labels: labels, classes: classes.map(\.name))),
            ("dropped", .int(emotions.count - keep.count)),
        ])
        return StageResult(artifacts: [tableArtifact: table.encoded()], forwarded: context.forwardedImages, rowsIn: emotions.count, rowsOut: keep.count, stats: stats)
    }
}
