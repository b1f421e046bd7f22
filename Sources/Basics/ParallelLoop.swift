import Foundation

/// The one way blendset runs a loop on several threads. Workers claim indices in order;
/// every result is stored by its index, never by completion order, so output never
/// depends on the number of threads or on scheduling.
public enum ParallelLoop {
    /// Calls `body(i)` for every i in 0..<count on up to `jobs` threads (the calling
    /// thread included); with one job, in order on the calling thread. `body` must give
    /// each index its own memory.
    public static func run(count: Int, jobs: Int, _ body: (Int) -> Void) {
        let workers = max(1, min(jobs, count))
        if workers == 1 {
            for i in 0..<count { body(i) }
            return
        }
        withoutActuallyEscaping(body) { body in
            let shared = ClosureBox(body)
            defer { shared.release() }
            let next = IndexClaim(count: count)
            DispatchQueue.concurrentPerform(iterations: workers) { _ in
                while let i = next.claim() { shared.call(i) }
            }
        }
    }

    /// Maps 0..<count to results on up to `jobs` threads, each with its own `Worker` made by
    /// `makeWorker` (for state that is not thread-safe, e.g. an interpreter). With
    /// `stackSize`, the workers are threads with that stack. `progress` is called now and
    /// then, from a worker thread, with the number of finished items. The first error stops
    /// the work and is rethrown.
    public static func map<Worker, Result, Failure: Error>(
        count: Int, jobs: Int, stackSize: Int? = nil,
        progress: ((Int) -> Void)? = nil,
        makeWorker: () throws(Failure) -> Worker,
        _ body: (inout Worker, Int) throws(Failure) -> Result
    ) throws(Failure) -> [Result] {
        guard count > 0 else { return [] }
        let workers = max(1, min(jobs, count))
        let results = ResultSlots<Result, Failure>(count: count)
        func work() {
            do throws(Failure) {
                var worker = try makeWorker()
                while let i = results.claim() {
                    let done = results.store(i, try body(&worker, i))
                    if done % 64 == 0 || done == count { progress?(done) }
                }
            } catch {
                results.fail(error)
            }
        }
        withoutActuallyEscaping(work) { work in
            let shared = ClosureBox(work)
            // Threads may keep their block after it ran: drop the closure before returning.
            defer { shared.release() }
            if let stackSize {
                let finished = Countdown(workers)
                for _ in 0..<workers {
                    let thread = Thread {
                        shared.call(())
                        finished.done()
                    }
                    thread.stackSize = stackSize
                    thread.start()
                }
                finished.wait()
            } else if workers == 1 {
                shared.call(())
            } else {
                DispatchQueue.concurrentPerform(iterations: workers) { _ in shared.call(()) }
            }
        }
        if let error = results.error { throw error }
        return results.values.map { $0! }
    }
}

// @unchecked: the loops above hand one closure to several threads; each index gets its
// own memory, and `release` runs only after every thread is done with the closure.
private final class ClosureBox<Argument>: @unchecked Sendable {
    private var body: ((Argument) -> Void)?
    init(_ body: @escaping (Argument) -> Void) { self.body = body }
    func call(_ argument: Argument) { body!(argument) }
    func release() { body = nil }
}

// @unchecked: `next` is only touched with `lock` held.
private final class IndexClaim: @unchecked Sendable {
    private let lock = NSLock()
    private let count: Int
    private var next = 0

    init(count: Int) { self.count = count }

    func claim() -> Int? {
        lock.lock()
        defer { lock.unlock() }
        guard next < count else { return nil }
        next += 1
        return next - 1
    }
}

// @unchecked: every field is only touched with `lock` held.
private final class ResultSlots<Result, Failure: Error>: @unchecked Sendable {
    private let lock = NSLock()
    private let count: Int
    private var next = 0
    private var completed = 0
    private var slots: [Result?]
    private var firstError: Failure?

    init(count: Int) {
        self.count = count
        slots = Array(repeating: nil, count: count)
    }

    func claim() -> Int? {
        lock.lock()
        defer { lock.unlock() }
        guard firstError == nil, next < count else { return nil }
        next += 1
        return next - 1
    }

    func store(_ i: Int, _ value: Result) -> Int {
        lock.lock()
        defer { lock.unlock() }
        slots[i] = value
        completed += 1
        return completed
    }

    func fail(_ e: Failure) {
        lock.lock()
        if firstError == nil { firstError = e }
        lock.unlock()
    }

    var error: Failure? { lock.lock(); defer { lock.unlock() }; return firstError }
    var values: [Result?] { lock.lock(); defer { lock.unlock() }; return slots }
}

// @unchecked: `remaining` is only touched with `condition` locked.
private final class Countdown: @unchecked Sendable {
    private let condition = NSCondition()
    private var remaining: Int

    init(_ n: Int) { remaining = n }

    func done() {
        condition.lock()
        remaining -= 1
        condition.signal()
        condition.unlock()
    }

    func wait() {
        condition.lock()
        while remaining > 0 { condition.wait() }
        condition.unlock()
    }
}
