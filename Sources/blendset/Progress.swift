import Foundation
import Pipeline

/// Draws build progress on stderr: on a terminal, one updating line for the stages that
/// are running plus a permanent line per finished stage; elsewhere, plain lines.
final class ProgressPrinter: BuildObserver, @unchecked Sendable {  // all mutable state is read and written under `lock`
    private let lock = NSLock()
    private let isTerminal: Bool
    private let quiet: Bool
    private var running: [(name: String, started: Date, estimator: ProgressEstimator, estimate: ProgressEstimator.Estimate?, unit: String)] = []
    private var lastDraw = Date.distantPast
    private var lastPlain: [String: Date] = [:]

    init(quiet: Bool = false) {
        isTerminal = isatty(2) == 1
        self.quiet = quiet
    }

    private func write(_ s: String) { writeError(s) }

    private func clearLine() { if isTerminal { write("\r\u{1B}[K") } }

    private func redraw(force: Bool = false) {
        guard isTerminal, !quiet else { return }
        let now = Date()
        guard force || now.timeIntervalSince(lastDraw) > 0.1 else { return }
        lastDraw = now
        let parts = running.map { r -> String in
            guard let e = r.estimate, e.total > 0, e.done > 0 else { return "\(r.name) \(ProgressEstimator.seconds(now.timeIntervalSince(r.started)))" }
            return "\(r.name) \(e.text(unit: r.unit))"
        }
        clearLine()
        if !parts.isEmpty { write("  ⋯ " + parts.joined(separator: "  |  ")) }
    }

    func waitingForLock(holder: String) {
        write("blendset: the cache is locked by another build (\(holder)); waiting for it to finish… (use --no-wait to fail instead)\n")
    }

    func stageStarted(_ stage: String, kind: String) {
        lock.lock(); defer { lock.unlock() }
        running.append((stage, Date(), ProgressEstimator(), nil, "rows"))
        if isTerminal { redraw(force: true) } else if !quiet { write("  run    \(stage) (\(kind))\n") }
    }

    func stageFinishingEstimate(_ stage: String, secondsPerItem: Double) {
        lock.lock(); defer { lock.unlock() }
        guard let i = running.firstIndex(where: { $0.name == stage }) else { return }
        running[i].estimator.finishingSecondsPerItem = secondsPerItem
    }

    func stageProgress(_ stage: String, done: Int, total: Int, unit: String, fromMemo: Int) {
        lock.lock(); defer { lock.unlock() }
        guard let i = running.firstIndex(where: { $0.name == stage }) else { return }
        let now = Date()
        let before = running[i].estimate.map { 4 * $0.done / max($0.total, 1) }
        running[i].estimate = running[i].estimator.update(time: now.timeIntervalSince(running[i].started), done: done, total: total, fromMemo: fromMemo, pass: unit)
        running[i].unit = unit
        if isTerminal {
            // Each quarter is drawn even when reports come faster than the redraw interval.
            redraw(force: before != 4 * done / max(total, 1))
        } else if !quiet, total > 0, done > 0, now.timeIntervalSince(lastPlain[stage] ?? .distantPast) > 5 {
            lastPlain[stage] = now
            write("  …      \(stage): \(running[i].estimate!.text(unit: unit))\n")
        }
    }

    func stageWarning(_ stage: String, _ message: String) {
        lock.lock(); defer { lock.unlock() }
        clearLine()
        write("  warning: \(stage): \(message)\n")
        redraw(force: true)
    }

    /// Ends a task that is not a pipeline stage (e.g. `extract`), clearing its line.
    func end(_ name: String) {
        lock.lock(); defer { lock.unlock() }
        running.removeAll { $0.name == name }
        clearLine()
        redraw(force: true)
    }

    func stageFinished(_ report: StageReport) {
        lock.lock(); defer { lock.unlock() }
        running.removeAll { $0.name == report.name }
        guard !quiet else { return }
        clearLine()
        let rows = report.rowsOut.map { " \(report.rowsIn.map(String.init) ?? "-") → \($0) rows" } ?? ""
        let time = report.status == .ran ? String(format: " in %.2f s", report.seconds) : ""
        write("  \(report.status == .ran ? "ran   " : "cached") \(report.name)\(rows)\(time)\n")
        redraw(force: true)
    }
}

