// The working point: a calibrated threshold on the combined score (docs/METHOD.md 5).
import Foundation

/// A decision threshold with the false-positive rate it was set for and what was observed.
public struct WorkingPoint: Sendable, Codable, Equatable {
    /// Target false-positive rate q.
    public var targetFPR: Double
    /// Threshold on the combined score: scores above it are anomalous.
    public var threshold: Double
    /// Held-out normal images it was calibrated on.
    public var calibrationCount: Int
    /// Fraction of those calibration scores above the threshold.
    public var observedFPR: Double
    /// Per-level distance thresholds from the chi-square law at q: sqrt(chi2_isf(q, d)).
    public var levelThresholds: [Double]

    /// The verdict for a combined score. A score that is not finite (NaN or infinite, from a
    /// broken input or model) is never normal: it is `.notFinite`, which counts as anomalous.
    public func verdict(_ score: Double) -> Verdict {
        guard score.isFinite else { return .notFinite }
        return score > threshold ? .anomalous : .normal
    }

    /// Calibrates on held-out normal scores: the (1 - q) quantile (linear interpolation).
    public static func calibrate(normalScores: [Double], targetFPR q: Double, levelDimensions: [Int]) throws -> WorkingPoint {
        guard !normalScores.isEmpty else { throw GaussianADError.invalidArgument("no held-out normal scores to calibrate the threshold on") }
        guard q > 0, q < 1 else { throw GaussianADError.invalidArgument("target false-positive rate must be in (0, 1), got \(q)") }
        let s = normalScores.sorted()
        let pos = (1 - q) * Double(s.count - 1)
        let lo = Int(pos.rounded(.down)), hi = min(lo + 1, s.count - 1)
        let t = s[lo] + (s[hi] - s[lo]) * (pos - Double(lo))
        let observed = Double(s.filter { $0 > t }.count) / Double(s.count)
        return WorkingPoint(targetFPR: q, threshold: t, calibrationCount: s.count, observedFPR: observed,
                            levelThresholds: levelDimensions.map { ChiSquare.distanceThreshold(falsePositiveRate: q, dimension: $0) })
    }
}

/// What a working point says of one image.
public enum Verdict: String, Sendable, Codable {
    /// At or below the threshold.
    case normal
    /// Above the threshold.
    case anomalous
    /// The score is NaN or infinite: not trusted as normal, treated as anomalous.
    case notFinite = "not-finite"

    /// True unless the image is judged normal.
    public var isAnomalous: Bool { self != .normal }
}
