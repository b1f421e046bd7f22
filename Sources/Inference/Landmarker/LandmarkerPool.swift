import Foundation

/// Runs per-image work on several threads, each with its own `FaceLandmarker` (they are
/// not thread-safe; the models are shared). Results come back in index order, so the
/// output never depends on the number of threads or on scheduling.
public enum LandmarkerPool {
    /// Calls `body(landmarker, i)` for every i in 0..<count on up to `jobs` threads.
    /// `progress` is called with the number of finished items now and then, from a
    /// worker thread. The first error stops the work and is rethrown.
    public static func map<T>(count: Int, jobs: Int, models: FaceModels, options: FaceLandmarkerOptions = .init(),
                              progress: (@Sendable (Int) -> Void)? = nil,
                              _ body: @escaping @Sendable (FaceLandmarker, Int) throws -> T) throws -> [T] {
        guard count > 0 else { return [] }
        let work = WorkQueue<T>(count: count)
        let workers = max(1, min(jobs, count))
        for _ in 0..<workers {
            let thread = Thread {
                do {
                    let landmarker = try FaceLandmarker(models: models, options: options)
                    while let i = work.claim() {
                        let done = work.store(i, try body(landmarker, i))
                        if done % 64 == 0 || done == count { progress?(done) }
                    }
                } catch {
                    work.fail(error)
                }
                work.finish()
            }
            thread.stackSize = 16 << 20
            thread.start()
        }
        work.waitFor(workers: workers)
        if let error = work.error { throw error }
        return work.values.map { $0! }
    }
}

/// Hands out indices and collects results for the pool's threads.
private final class WorkQueue<T>: @unchecked Sendable {
    private let condition = NSCondition()
    private let count: Int
    private var next = 0
    private var completed = 0
    private var finishedWorkers = 0
    private(set) var values: [T?]
    private(set) var error: (any Error)?

    init(count: Int) {
        self.count = count
        values = Array(repeating: nil, count: count)
    }

    func claim() -> Int? {
        condition.lock()
        defer { condition.unlock() }
        guard error == nil, next < count else { return nil }
        next += 1
        return next - 1
    }

    func store(_ i: Int, _ value: T) -> Int {
        condition.lock()
        defer { condition.unlock() }
        values[i] = value
        completed += 1
        return completed
    }

    func fail(_ e: any Error) {
        condition.lock()
        if error == nil { error = e }
        condition.unlock()
    }

    func finish() {
        condition.lock()
        finishedWorkers += 1
        condition.signal()
        condition.unlock()
    }

    func waitFor(workers n: Int) {
        condition.lock()
        while finishedWorkers < n { condition.wait() }
        condition.unlock()
    }
}
