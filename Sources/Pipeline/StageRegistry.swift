/// The stage kinds a build can use, by kind name.
public struct StageRegistry: Sendable {
    public private(set) var kinds: [String: any Stage.Type] = [:]
    public init(_ types: [any Stage.Type]) {
        for t in types { kinds[t.kind] = t }
    }
    public var names: [String] { kinds.keys.sorted() }
}
