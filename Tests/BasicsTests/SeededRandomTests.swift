import Testing
import Basics

/// Lets the standard library's `next(upperBound:)` draw from our generator, to compare.
private struct StandardLibraryView: RandomNumberGenerator {
    var random: SeededRandom
    mutating func next() -> UInt64 { random.next() }
}

@Suite struct SeededRandomTests {
    // Fixed values: a change here changes every dataset built with a seed.
    @Test func firstOutputsOfSeed42() {
        var r = SeededRandom(seed: 42)
        #expect([r.next(), r.next(), r.next()] == [0xBDD7_3226_2FEB_6E95, 0x28EF_E333_B266_F103, 0x4752_6757_130F_9F52])
    }

    @Test func boundedIntegersOfSeed42() {
        var r = SeededRandom(seed: 42)
        #expect((0..<10).map { _ in r.below(10) } == [7, 1, 2, 3, 0, 8, 2, 8, 3, 6])
        var s = SeededRandom(seed: 1)
        #expect((0..<8).map { _ in s.below(3) } == [1, 2, 2, 1, 1, 2, 2, 1])
    }

    @Test func shuffleOfSeed7() {
        var r = SeededRandom(seed: 7)
        var a = Array(0..<10)
        r.shuffle(&a)
        #expect(a == [9, 5, 8, 6, 1, 2, 4, 7, 0, 3])
    }

    @Test func streamDerivation() {
        var r = SeededRandom(seed: 42, stream: 5)
        #expect(r.next() == 0x60DE_20D7_F080_AB4D)
        #expect(SeededRandom.streamSeed(42, 5) != SeededRandom.streamSeed(42, 6))
        #expect(SeededRandom.streamSeed(42, 5) != SeededRandom.streamSeed(43, 5))
    }

    /// Datasets built before `below` was written out used the standard library's
    /// `next(upperBound:)`; the two must agree so those bytes do not change.
    @Test(arguments: [0, 1, 42, 0xDEAD_BEEF, UInt64.max])
    func belowAgreesWithStandardLibrary(seed: UInt64) {
        let bounds: [UInt64] = [1, 2, 3, 5, 7, 10, 100, 1000, 7500, 22_500, 1 << 31, (1 << 32) + 1,
                                0x5555_5555_5555_5555, (1 << 63) + 1, UInt64.max]
        for n in bounds {
            var ours = SeededRandom(seed: seed &+ n)
            var theirs = StandardLibraryView(random: SeededRandom(seed: seed &+ n))
            for _ in 0..<200 {
                #expect(ours.below(n) == theirs.next(upperBound: n), "seed \(seed), n \(n)")
            }
        }
        for n in 1...300 {
            var ours = SeededRandom(seed: seed, stream: UInt64(n))
            var theirs = StandardLibraryView(random: SeededRandom(seed: seed, stream: UInt64(n)))
            for _ in 0..<20 { #expect(ours.below(n) == Int(theirs.next(upperBound: UInt64(n)))) }
        }
    }

    @Test func belowStaysInRangeAndCoversIt() {
        var r = SeededRandom(seed: 3)
        var seen = Set<Int>()
        for _ in 0..<1000 {
            let v = r.below(6)
            #expect((0..<6).contains(v))
            seen.insert(v)
        }
        #expect(seen.count == 6)
    }

    @Test func unitAndNormal() {
        var r = SeededRandom(seed: 9)
        let units = (0..<10_000).map { _ in r.unit() }
        #expect(units.allSatisfy { $0 >= 0 && $0 < 1 })
        let normals = (0..<10_000).map { _ in r.normal() }
        let mean = normals.reduce(0, +) / Double(normals.count)
        let variance = normals.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(normals.count)
        #expect(abs(mean) < 0.05)
        #expect(abs(variance - 1) < 0.05)
    }

    @Test func shuffleIsAPermutationAndWorksOnSlices() {
        var r = SeededRandom(seed: 11)
        var a = Array(0..<100)
        r.shuffle(&a)
        #expect(a.sorted() == Array(0..<100))
        #expect(a != Array(0..<100))
        var b = Array(0..<10)
        r.shuffle(&b[5...])
        #expect(Array(b[..<5]) == [0, 1, 2, 3, 4])
        #expect(b[5...].sorted() == [5, 6, 7, 8, 9])
    }
}
