// The training images a fit finds improbable: the robust z of their out-of-fold scores, the
// documented cut (docs/METHOD.md 8), and the summary `fit --json` writes.
import Foundation

/// A training image whose out-of-fold score is improbable for a normal image.
public struct Suspect: Sendable, Equatable, Codable {
    /// Path relative to the dataset's category folder, as the dataset lists it.
    public var path: String
    /// Its out-of-fold combined score.
    public var score: Double
    /// Robust z of the score: (score - median) / (1.4826 MAD) of every training image's
    /// out-of-fold score.
    public var z: Double
    /// One-sided normal tail probability of `z`: 0.5 erfc(z / sqrt 2).
    public var p: Double
}

/// The documented cut over out-of-fold scores.
public enum Suspects {
    /// Robust z above which an image is a suspect.
    public static let cut = 3.5

    /// Median and 1.4826 x MAD of the finite values of `scores` (nil: fewer than 2 values or
    /// no spread, when nothing can be called improbable).
    public static func location(_ scores: [Double]) -> (median: Double, scale: Double)? {
        let v = scores.filter(\.isFinite)
        guard v.count >= 2 else { return nil }
        let med = median(v)
        let scale = 1.4826 * median(v.map { abs($0 - med) })
        guard scale > 0, scale.isFinite else { return nil }
        return (med, scale)
    }

    /// The suspects among images `paths` with out-of-fold `scores`, most suspect first. The
    /// robust z is taken about the median and MAD of all the scores (robust to the suspects
    /// themselves, up to half of them). `rule` nil or `.auto`: every image with z above `cut`;
    /// `.fraction(F)`: the round(F n) highest scores. A score that is not finite is always a
    /// suspect (z infinite, p 0).
    public static func find(paths: [String], scores: [Double], rule: Contamination? = nil) -> [Suspect] {
        let loc = location(scores)
        let all = zip(paths, scores).map { path, s -> Suspect in
            let z = !s.isFinite ? Double.infinity : loc.map { (s - $0.median) / $0.scale } ?? 0
            return Suspect(path: path, score: s, z: z, p: z.isFinite ? 0.5 * erfc(z / 2.0.squareRoot()) : 0)
        }
        let ranked = all.sorted { a, b in
            a.z != b.z ? a.z > b.z : Array(a.path.utf8).lexicographicallyPrecedes(Array(b.path.utf8))
        }
        switch rule {
        case .fraction(let f):
            let n = Int((f * Double(all.count)).rounded())
            return Array(ranked.prefix(n))
        case .auto, nil:
            return ranked.filter { $0.z > cut }
        }
    }

    static func median(_ v: [Double]) -> Double {
        let s = v.sorted(), n = s.count
        return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2
    }
}

/// What a fit reports of its training images: `fit --json FILE` writes it.
public struct FitSummary: Sendable, Equatable, Codable {
    /// Normal training images the fit was given.
    public var images: Int
    /// Images the final model was fitted on (images minus excluded).
    public var kept: Int
    /// The working point's threshold on the combined score.
    public var threshold: Double
    /// The target false-positive rate it was set for.
    public var targetFPR: Double
    /// The robust fit's rule (nil: a plain fit, nothing excluded).
    public var contamination: String?
    /// Fit rounds: 1 for a plain fit, one more for every concentration step.
    public var rounds: Int
    /// Every image past the documented cut (or the fraction's), most suspect first.
    public var suspects: [Suspect]
    /// The images the final model left out, sorted.
    public var excluded: [String]

    enum CodingKeys: String, CodingKey {
        case images, kept, threshold, targetFPR = "target_fpr", contamination, rounds, suspects, excluded
    }

    /// The summary as pretty-printed JSON with sorted keys.
    public func json() throws -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try e.encode(self)
    }
}
