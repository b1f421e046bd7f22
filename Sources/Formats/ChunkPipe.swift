import Foundation

/// Reads a `ByteStream` on a background thread into a few recycled buffers, so decompressing
/// a `.zst` file and parsing it run on two cores at once.
///
/// The caller sees exactly the bytes of the file, in order; only the timing changes.
// @unchecked: the queues and flags are only touched with `condition` locked, and a buffer
// is written by the producer only while it is in `free`, read by the consumer only while
// it is handed out: never both at once.
final class ChunkPipe: @unchecked Sendable {
    private let condition = NSCondition()
    private let buffers: [UnsafeMutableRawBufferPointer]
    private var free: [Int]
    private var full: [(index: Int, count: Int)] = []
    private var lent: Int?
    private var finished = false
    private var failure: FormatError?
    private var cancelled = false

    /// Starts reading `path` in the background into `depth` buffers of `chunkSize` bytes.
    init(path: String, chunkSize: Int, depth: Int = 3) {
        buffers = (0..<depth).map { _ in .allocate(byteCount: chunkSize, alignment: 64) }
        free = Array(0..<depth)
        let thread = Thread { [self] in produce(path: path) }
        thread.name = "blendset.read"
        thread.start()
    }

    deinit {
        for buffer in buffers { buffer.deallocate() }
    }

    private func produce(path: String) {
        do throws(FormatError) {
            let stream = try ByteStream(path: path, chunkSize: 1 << 16)
            while true {
                condition.lock()
                while free.isEmpty && !cancelled { condition.wait() }
                let slot = cancelled ? nil : free.removeFirst()
                condition.unlock()
                guard let slot else { break }
                let count = try stream.read(into: buffers[slot])
                condition.lock()
                if count > 0 { full.append((slot, count)) } else { free.append(slot) }
                condition.broadcast()
                condition.unlock()
                if count == 0 { break }
            }
        } catch {
            condition.lock()
            failure = error
            condition.unlock()
        }
        condition.lock()
        finished = true
        condition.broadcast()
        condition.unlock()
    }

    /// The next chunk, nil at the end of the file; the reader's error comes after the bytes
    /// read before it. The chunk is valid until the next call.
    func next() throws(FormatError) -> UnsafeRawBufferPointer? {
        condition.lock()
        defer { condition.unlock() }
        if let lent {
            free.append(lent)
            self.lent = nil
            condition.broadcast()
        }
        while full.isEmpty && !finished { condition.wait() }
        if !full.isEmpty {
            let (index, count) = full.removeFirst()
            lent = index
            return UnsafeRawBufferPointer(rebasing: buffers[index][0..<count])
        }
        if let failure { throw failure }
        return nil
    }

    /// Stops the reader and waits until it has closed the file. Call exactly once.
    func close() {
        condition.lock()
        cancelled = true
        condition.broadcast()
        while !finished { condition.wait() }
        condition.unlock()
    }
}
