/// The feature flags the kernel reports for this CPU (the `flags` line of `/proc/cpuinfo`,
/// e.g. "avx512f", "sha_ni"), read once per process. Empty where that file does not exist,
/// so every caller falls back to its portable code.
public enum CPUFlags {
    public static let current: Set<String> = {
        #if os(Linux)
        guard let info = try? FileBytes.read(atPath: "/proc/cpuinfo") else { return [] }
        // Every core lists the same flags; the first core's block is enough.
        let text = String(decoding: info.prefix(1 << 16), as: UTF8.self)
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") }),
              let colon = line.firstIndex(of: ":") else { return [] }
        return Set(line[line.index(after: colon)...].split(separator: " ").map(String.init))
        #else
        return []
        #endif
    }()
}
