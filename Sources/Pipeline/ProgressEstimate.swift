/// The rate and time left of a per-item stage, taken from the items it actually computes.
///
/// Items found in a memo finish at once: counted as throughput they make a stage that
/// computes for minutes look seconds from done. So the clock starts at the first report
/// (after the memo look-ups) and counts only computed items (`done - fromMemo`) from there.
/// A stage that reports several passes (augment: its copies, then fill batches) starts a new
/// pass with a new total or a smaller count; the clock restarts there. A pure value: the
/// caller passes the time, so tests need no clock.
///
/// The time after the last item (encoding and storing the output) is not in any pass: with
/// `finishingSecondsPerItem` (measured on the stage kind's last run), the ETA adds it.
public struct ProgressEstimator: Sendable {
    /// Expected seconds after the last item, per item of the pass total; nil when unknown.
    public var finishingSecondsPerItem: Double?

    /// Time and computed count of the pass's first report; the rate is measured from here.
    private var start: (time: Double, computed: Int)?
    private var last: (done: Int, total: Int, pass: String)?

    public init() {}

    public struct Estimate: Sendable, Equatable {
        public var done: Int
        public var total: Int
        public var fromMemo: Int
        /// Computed items per second; nil until one has been computed after the first report.
        public var rate: Double?
        /// Seconds until the stage ends: the items left at `rate`, plus the finishing time when
        /// known; nil while unknown.
        public var secondsLeft: Double?
    }

    /// Records a report at `time` (seconds from any fixed origin) and estimates from it.
    /// A report naming another `pass` (the progress unit, e.g. memo look-ups, then images)
    /// restarts the clock too.
    public mutating func update(time: Double, done: Int, total: Int, fromMemo: Int, pass: String = "") -> Estimate {
        let computed = max(0, done - fromMemo)
        if let last, last.total != total || done < last.done || last.pass != pass { start = nil }
        last = (done, total, pass)
        if start == nil { start = (time, computed) }
        var e = Estimate(done: done, total: total, fromMemo: fromMemo, rate: nil, secondsLeft: nil)
        let finishing = (finishingSecondsPerItem ?? 0) * Double(total)
        let n = computed - start!.computed, dt = time - start!.time
        if n > 0, dt > 0 { e.rate = Double(n) / dt }
        if done >= total {
            if finishingSecondsPerItem != nil { e.secondsLeft = finishing }
        } else if let rate = e.rate {
            e.secondsLeft = Double(total - done) / rate + finishing
        }
        return e
    }
}

extension ProgressEstimator.Estimate {
    /// `5000/21264 images (23%, 12,400 from memo, 95 images/s computed, ETA 2m51s)`: the
    /// rate and ETA count computed items only; the ETA is `?` until one has been computed.
    public func text(unit: String) -> String {
        var parts = ["\(100 * done / max(total, 1))%"]
        if fromMemo > 0 { parts.append("\(ProgressEstimator.grouped(fromMemo)) from memo") }
        if let rate {
            parts.append((rate >= 100 ? String(Int(rate.rounded())) : String(Double(Int(rate * 10)) / 10)) + " \(unit)/s" + (fromMemo > 0 ? " computed" : ""))
        }
        if done < total || secondsLeft != nil { parts.append("ETA " + (secondsLeft.map(ProgressEstimator.seconds) ?? "?")) }
        return "\(done)/\(total) \(unit) (\(parts.joined(separator: ", ")))"
    }
}

extension ProgressEstimator {
    /// `42s`, `2m51s`, `1h05m`.
    public static func seconds(_ s: Double) -> String {
        guard s.isFinite else { return "?" }
        let n = Int(s.rounded())
        if n < 60 { return "\(n)s" }
        func two(_ k: Int) -> String { k < 10 ? "0\(k)" : "\(k)" }
        if n < 3600 { return "\(n / 60)m\(two(n % 60))s" }
        return "\(n / 3600)h\(two(n % 3600 / 60))m"
    }

    /// `12,400`.
    static func grouped(_ n: Int) -> String {
        let digits = String(n.magnitude)
        var out = n < 0 ? "-" : ""
        for (i, c) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(c)
        }
        return out
    }
}
