import Foundation

/// Decimal truncation of features, as the truncate stage applies it: a model trained on
/// features cut to 4 decimals must see features from images cut the same way, or its
/// figures on images drift from its figures on the dataset.
public enum FeatureDigits {
    /// The truncations a model file may record.
    public static let range = 0...9

    /// The float32 nearest to trunc(x · 10^digits) / 10^digits, so the result prints
    /// with at most `digits` decimals. A float32 that already stands for k / 10^digits
    /// (it may lie just below it, like 0.0003) keeps k: truncation is idempotent.
    public static func truncate(_ x: Float, digits: Int) -> Float {
        let scale = pow(10.0, Double(digits))
        var k = (Double(x) * scale).rounded(.towardZero)
        let next = k + (x < 0 ? -1 : 1)
        if Float(next / scale) == x { k = next }
        return Float(k / scale)
    }

    /// The fewest decimals (up to 6) that every value already has, i.e. the truncation the
    /// values went through; nil when they have more (they were not truncated) or are empty.
    public static func detect(_ values: [Float]) -> Int? {
        guard !values.isEmpty else { return nil }
        for digits in 0...6 where values.allSatisfy({ !$0.isFinite || truncate($0, digits: digits) == $0 }) {
            return digits
        }
        return nil
    }
}
