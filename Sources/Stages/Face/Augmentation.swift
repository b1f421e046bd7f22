import Basics
import Foundation
import Formats

/// The ranges and probabilities of the image augmentations; each op is drawn on its own.
public struct AugmentationSettings: Sendable, Equatable {
    public var flipProbability = 0.5
    public var rotateProbability = 0.5
    /// Rotation angle is uniform in ±maxDegrees.
    public var maxDegrees = 10.0
    public var scaleProbability = 0.5
    /// Scale factor is uniform in 1 ± maxScale.
    public var maxScale = 0.1
    public var translateProbability = 0.5
    /// Shift is uniform in ±maxTranslate of the image size, per axis.
    public var maxTranslate = 0.1
    public var brightnessProbability = 0.5
    /// Brightness factor is uniform in 1 ± maxBrightness.
    public var maxBrightness = 0.2
    public var contrastProbability = 0.5
    /// Contrast factor is uniform in 1 ± maxContrast.
    public var maxContrast = 0.2
    public var noiseProbability = 0.3
    /// Gaussian noise standard deviation (grey levels) is uniform in 0 ... maxNoise.
    public var maxNoise = 8.0

    public init() {}
}

/// One drawn augmentation: what is applied to one image. Its description is stored with
/// every augmented row, so a row says exactly how it was made.
public struct AugmentationRecipe: Sendable, Equatable, CustomStringConvertible {
    public var flip = false
    public var degrees = 0.0
    public var scale = 1.0
    /// Shift in pixels.
    public var shiftX = 0.0
    public var shiftY = 0.0
    public var brightness = 1.0
    public var contrast = 1.0
    public var noiseSigma = 0.0
    public var noiseSeed: UInt64 = 0

    /// Draws a recipe. Every op consumes the same random numbers whether or not it fires,
    /// so changing one probability never shifts the values of the others.
    public static func draw(_ s: AugmentationSettings, width: Int, height: Int, rng: inout SeededRandom) -> AugmentationRecipe {
        var r = AugmentationRecipe()
        func op(_ p: Double) -> (Bool, Double) { let fire = rng.unit() < p; return (fire, rng.unit() * 2 - 1) }
        let flip = op(s.flipProbability), rot = op(s.rotateProbability), scale = op(s.scaleProbability)
        let tx = op(s.translateProbability), ty = rng.unit() * 2 - 1
        let bright = op(s.brightnessProbability), contrast = op(s.contrastProbability)
        let noise = op(s.noiseProbability)
        let noiseSeed = rng.next()
        r.flip = flip.0
        if rot.0 { r.degrees = rot.1 * s.maxDegrees }
        if scale.0 { r.scale = 1 + scale.1 * s.maxScale }
        if tx.0 {
            r.shiftX = tx.1 * s.maxTranslate * Double(width)
            r.shiftY = ty * s.maxTranslate * Double(height)
        }
        if bright.0 { r.brightness = 1 + bright.1 * s.maxBrightness }
        if contrast.0 { r.contrast = 1 + contrast.1 * s.maxContrast }
        if noise.0 {
            r.noiseSigma = (noise.1 + 1) / 2 * s.maxNoise
            r.noiseSeed = noiseSeed
        }
        return r
    }

    /// Whether the recipe changes nothing (its description is "identity"), without
    /// formatting the description.
    public var isIdentity: Bool {
        !flip && degrees == 0 && scale == 1 && shiftX == 0 && shiftY == 0 && brightness == 1 && contrast == 1 && noiseSigma == 0
    }

    public var description: String {
        var parts: [String] = []
        if flip { parts.append("flip") }
        if degrees != 0 { parts.append(String(format: "rotate=%+.3f", degrees)) }
        if scale != 1 { parts.append(String(format: "scale=%.4f", scale)) }
        if shiftX != 0 || shiftY != 0 { parts.append(String(format: "shift=%+.3f,%+.3f", shiftX, shiftY)) }
        if brightness != 1 { parts.append(String(format: "brightness=%.4f", brightness)) }
        if contrast != 1 { parts.append(String(format: "contrast=%.4f", contrast)) }
        if noiseSigma != 0 { parts.append(String(format: "noise=%.3f", noiseSigma)) }
        return parts.isEmpty ? "identity" : parts.joined(separator: ";")
    }

    /// Applies the recipe: flip, rotation, scale and shift about the image centre in one
    /// bilinear resampling (edge pixels extend outward), then brightness, contrast around
    /// the image mean, and noise; rounded and clamped to 0...255.
    public func apply(to pixels: ArraySlice<UInt8>, width: Int, height: Int, channels: Int) -> [UInt8] {
        let n = width * height * channels
        var out = [Float](repeating: 0, count: n)
        let cx = Double(width - 1) / 2, cy = Double(height - 1) / 2
        let theta = -degrees * .pi / 180   // inverse map
        let cosT = cos(theta) / scale, sinT = sin(theta) / scale
        let base = pixels.startIndex
        for y in 0..<height {
            for x in 0..<width {
                // Inverse of: p' = c + shift + scale * R(degrees) * flip(p - c).
                let dx = Double(x) - cx - shiftX, dy = Double(y) - cy - shiftY
                var sx = cosT * dx - sinT * dy
                let sy = sinT * dx + cosT * dy + cy
                if flip { sx = -sx }
                sx += cx
                let fx = min(max(sx, 0), Double(width - 1)), fy = min(max(sy, 0), Double(height - 1))
                let x0 = Int(fx), y0 = Int(fy)
                let x1 = min(x0 + 1, width - 1), y1 = min(y0 + 1, height - 1)
                let ax = Float(fx - Double(x0)), ay = Float(fy - Double(y0))
                for c in 0..<channels {
                    let p00 = Float(pixels[base + (y0 * width + x0) * channels + c])
                    let p01 = Float(pixels[base + (y0 * width + x1) * channels + c])
                    let p10 = Float(pixels[base + (y1 * width + x0) * channels + c])
                    let p11 = Float(pixels[base + (y1 * width + x1) * channels + c])
                    let top = p00 + (p01 - p00) * ax, bottom = p10 + (p11 - p10) * ax
                    out[(y * width + x) * channels + c] = top + (bottom - top) * ay
                }
            }
        }
        var mean: Float = 0
        for v in out { mean += v }
        mean /= Float(max(n, 1))
        var noiseRNG = SeededRandom(seed: noiseSeed)
        let b = Float(brightness), k = Float(contrast), sigma = Float(noiseSigma)
        var result = [UInt8](repeating: 0, count: n)
        for i in 0..<n {
            var v = ((out[i] * b) - mean * b) * k + mean * b
            if sigma > 0 { v += sigma * Float(noiseRNG.normal()) }
            result[i] = UInt8(min(max(v.rounded(), 0), 255))
        }
        return result
    }
}

extension SeededRandom {
    /// The generator for copy `copy` of item `item`: independent of how many copies are
    /// made and of the order items are processed in.
    static func forItem(_ item: String, copy: Int, seed: UInt64) -> SeededRandom {
        let d = SHA256.digest("\(item)#\(copy)").bytes
        var stream: UInt64 = 0
        for i in 0..<8 { stream = stream << 8 | UInt64(d[i]) }
        return SeededRandom(seed: seed, stream: stream)
    }
}
