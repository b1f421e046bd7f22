#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The one seedable generator of blendset (SplitMix64). Every random choice (split,
/// balance, augmentation, initial weights, shuffles, dropout, `tune --random`) comes from
/// one of these, seeded from a parameter, so the same seed gives the same bytes on every
/// machine and with every Swift release: bounded integers, floats and the shuffle are
/// written out here and never delegate to the standard library's algorithms.
///
/// It deliberately does not conform to `RandomNumberGenerator`, so no standard-library
/// algorithm (`shuffle(using:)`, `Int.random(in:using:)`) can use it by accident.
public struct SeededRandom: Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    /// A generator for a sub-task (one item, one epoch, one layer), independent of the
    /// order in which sub-tasks run. Nest for more levels:
    /// `SeededRandom(seed: SeededRandom.streamSeed(seed, a), stream: b)`.
    public init(seed: UInt64, stream: UInt64) {
        state = SeededRandom.streamSeed(seed, stream)
    }

    /// The seed of stream `stream` of `seed`: the one derivation every sub-stream uses.
    public static func streamSeed(_ seed: UInt64, _ stream: UInt64) -> UInt64 {
        var mix = SeededRandom(seed: seed ^ (stream &* 0x9E37_79B9_7F4A_7C15))
        return mix.next()
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in 0..<n without modulo bias (Lemire's nearly divisionless method; the same
    /// values the Swift 6 standard library's `next(upperBound:)` gives, but fixed here).
    public mutating func below(_ n: Int) -> Int {
        precondition(n > 0, "below(n) needs n > 0, found \(n)")
        return Int(truncatingIfNeeded: below(UInt64(n)))
    }

    /// Uniform in 0..<n without modulo bias.
    public mutating func below(_ n: UInt64) -> UInt64 {
        precondition(n > 0, "below(n) needs n > 0")
        var m = next().multipliedFullWidth(by: n)
        if m.low < n {
            let threshold = (0 &- n) % n
            while m.low < threshold { m = next().multipliedFullWidth(by: n) }
        }
        return m.high
    }

    /// Uniform in [0, 1) with 53 random bits.
    public mutating func unit() -> Double { Double(next() >> 11) * 0x1p-53 }

    /// Standard normal (Box–Muller; one value from exactly two draws per call keeps the
    /// stream simple). Augmentation noise depends on these exact values.
    public mutating func normal() -> Double {
        let u1 = max(unit(), 1e-300), u2 = unit()
        return (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
    }

    /// Fisher–Yates from the back: position i swaps with `below(i + 1)`.
    public mutating func shuffle<C: MutableCollection & RandomAccessCollection>(_ a: inout C) {
        guard a.count > 1 else { return }
        var i = a.count - 1
        while i > 0 {
            let j = below(i + 1)
            a.swapAt(a.index(a.startIndex, offsetBy: i), a.index(a.startIndex, offsetBy: j))
            i -= 1
        }
    }
}
