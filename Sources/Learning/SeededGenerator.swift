import Foundation

/// SplitMix64: a small, fast, seedable generator. Every random choice in training
/// (initial weights, shuffling, dropout masks) comes from one of these, so the same seed
/// gives the same model on every machine.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    /// A generator for one purpose derived from a seed, so streams (init, shuffle of epoch
    /// 7, dropout of sample 123) never overlap whatever order they are used in.
    public init(seed: UInt64, stream: UInt64, index: UInt64 = 0) {
        var g = SeededGenerator(seed: seed ^ 0x5851_F42D_4C95_7F2D)
        var s = g.next() ^ (stream &* 0x9E37_79B9_7F4A_7C15)
        var mixer = SeededGenerator(seed: s)
        s = mixer.next() ^ (index &* 0xBF58_476D_1CE4_E5B9)
        g = SeededGenerator(seed: s)
        state = g.next()
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 53 random bits.
    public mutating func unit() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// Standard normal (Box–Muller; one value per call keeps the stream simple).
    public mutating func normal() -> Double {
        var u1 = unit()
        while u1 <= 0 { u1 = unit() }
        let u2 = unit()
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }

    /// Uniform integer in 0..<n without modulo bias.
    public mutating func below(_ n: Int) -> Int {
        precondition(n > 0)
        return Int(next(upperBound: UInt64(n)))
    }
}

