import Formats

/// An input-file parameter resolved by the engine: where the file is and what it holds.
public struct InputFile: Sendable, Hashable {
    public var path: String          // absolute
    public var digest: ContentDigest // SHA-256 of the content
    public init(path: String, digest: ContentDigest) {
        self.path = path
        self.digest = digest
    }
}

extension StageContext {
    /// The resolved input file of an `inputPath` parameter.
    public func inputFile(_ parameter: String) throws(PipelineError) -> InputFile {
        guard let file = inputFiles[parameter] else {
            let known = inputFiles.keys.sorted()
            throw .stageFailed(stage: stage, message: "'\(parameter)' is not an input-file parameter of this stage; its input files are: \(known.isEmpty ? "none" : known.joined(separator: ", "))")
        }
        return file
    }
}
