import Foundation
import Formats

/// How long each stage kind took after its last progress report (encoding and storing its
/// output, summarising), per item of that report's total, as last measured in this cache.
///
/// Progress passes count items, but a stage whose items all come from a memo spends most of
/// its time after the last item: an ETA from the items alone says "0s" with seconds to go.
/// This file lets the next run add that tail. It only feeds the ETA, so a missing, damaged
/// or implausible file just means no tail is added.
public enum FinishingTimes {
    static let plausible: ClosedRange<Double> = 0...10

    /// Seconds per item by stage kind.
    public static func load(_ path: String) -> [String: Double] {
        guard let data = try? Data(contentsOf: URL(fileURLWithPath: path)),
              let decoded = try? JSONDecoder().decode([String: Double].self, from: data) else { return [:] }
        return decoded.filter { $0.value.isFinite && plausible.contains($0.value) }
    }

    /// Records a kind's tail; a failure to write is ignored (the next run just has no tail).
    static func record(_ kind: String, secondsPerItem: Double, at path: String) {
        guard secondsPerItem.isFinite, plausible.contains(secondsPerItem) else { return }
        var times = load(path)
        times[kind] = secondsPerItem
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let data = try? encoder.encode(times) else { return }
        try? AtomicFile.write(Array(data), to: path)
    }
}
