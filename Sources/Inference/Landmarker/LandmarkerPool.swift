import Basics

/// Runs per-image work on several threads, each with its own `FaceLandmarker` (they are
/// not thread-safe; the models are shared). Results come back in index order, so the
/// output never depends on the number of threads or on scheduling.
public enum LandmarkerPool {
    /// Calls `body(landmarker, i)` for every i in 0..<count on up to `jobs` threads.
    /// `progress` is called with the number of finished items now and then, from a
    /// worker thread. The first error stops the work and is rethrown.
    public static func map<T>(count: Int, jobs: Int, models: FaceModels, options: FaceLandmarkerOptions = .init(),
                              kernelPath: KernelPath = .preferred,
                              progress: (@Sendable (Int) -> Void)? = nil,
                              _ body: @escaping @Sendable (FaceLandmarker, Int) throws -> T) throws -> [T] {
        // Each worker thread keeps the 16 MiB stack the landmarker has always run with.
        try ParallelLoop.map(count: count, jobs: jobs, stackSize: 16 << 20, progress: progress,
                             makeWorker: { () throws -> FaceLandmarker in
                                 try FaceLandmarker(models: models, options: options, kernelPath: kernelPath)
                             }) { (landmarker: inout FaceLandmarker, i: Int) throws -> T in
            try body(landmarker, i)
        }
    }
}
