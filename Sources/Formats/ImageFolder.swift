import Foundation

extension ImageFile {
    /// The image files of `inputs`, in order: a file is taken as it is (whatever its name);
    /// a folder is walked depth first, each level in sorted name order, for `*.png`, `*.jpg`
    /// and `*.jpeg` (hidden entries skipped, at most 32 levels deep, so a symlink loop ends).
    /// A path that does not exist is kept, so that its failure is reported in its place.
    public static func walk(_ inputs: [String]) -> [String] {
        var out: [String] = []
        for input in inputs { collect(input, depth: 0, top: true, into: &out) }
        return out
    }

    private static func collect(_ path: String, depth: Int, top: Bool, into out: inout [String]) {
        var isDirectory: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
        guard exists, isDirectory.boolValue else {
            if top || hasImageExtension(path) { out.append(path) }
            return
        }
        guard depth < 32 else { return }
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
        let base = path.hasSuffix("/") ? path : path + "/"
        for name in names { collect(base + name, depth: depth + 1, top: false, into: &out) }
    }
}
