import Foundation

/// Snedecor's F distribution, for the p-value of a one-way ANOVA F statistic.
public enum FDistribution {
    /// P(F > f) for `d1` numerator and `d2` denominator degrees of freedom (SciPy's
    /// `stats.f.sf`). Computed as I_x(d2/2, d1/2) with x = d2 / (d2 + d1·f), so small
    /// p-values keep their relative precision.
    public static func survival(_ f: Double, d1: Double, d2: Double) -> Double {
        guard d1 > 0, d2 > 0, !f.isNaN else { return .nan }
        guard f > 0 else { return 1 }
        guard f.isFinite else { return 0 }
        return regularizedIncompleteBeta(a: d2 / 2, b: d1 / 2, x: d2 / (d2 + d1 * f))
    }

    /// The regularised incomplete beta function I_x(a, b) (SciPy's `special.betainc`), by
    /// the continued fraction of Numerical Recipes §6.4 evaluated with Lentz's method.
    public static func regularizedIncompleteBeta(a: Double, b: Double, x: Double) -> Double {
        guard a > 0, b > 0, !x.isNaN else { return .nan }
        if x <= 0 { return 0 }
        if x >= 1 { return 1 }
        let logFront = lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x)
        // The fraction converges fast for x below the mean; above it, use I_x(a,b) = 1 - I_{1-x}(b,a).
        if x < (a + 1) / (a + b + 2) {
            return exp(logFront) * continuedFraction(a: a, b: b, x: x) / a
        }
        return 1 - exp(logFront) * continuedFraction(a: b, b: a, x: 1 - x) / b
    }

    static func continuedFraction(a: Double, b: Double, x: Double) -> Double {
        let tiny = 1e-300, epsilon = 1e-16
        let qab = a + b, qap = a + 1, qam = a - 1
        var c = 1.0, d = 1 - qab * x / qap
        if abs(d) < tiny { d = tiny }
        d = 1 / d
        var h = d
        // Convergence takes O(√max(a, b)) terms; the cap only guards against a runaway loop.
        for step in 1...100_000 {
            let m = Double(step), m2 = 2 * m
            var aa = m * (b - m) * x / ((qam + m2) * (a + m2))
            d = 1 + aa * d; if abs(d) < tiny { d = tiny }
            c = 1 + aa / c; if abs(c) < tiny { c = tiny }
            d = 1 / d
            h *= d * c
            aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
            d = 1 + aa * d; if abs(d) < tiny { d = tiny }
            c = 1 + aa / c; if abs(c) < tiny { c = tiny }
            d = 1 / d
            let delta = d * c
            h *= delta
            if abs(delta - 1) < epsilon { break }
        }
        return h
    }
}
