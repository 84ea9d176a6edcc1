// Ledoit-Wolf shrinkage exactly as scikit-learn's LedoitWolf (docs/METHOD.md 3).
import Foundation

/// Ledoit-Wolf shrinkage of an empirical covariance.
public enum LedoitWolf {
    /// The shrinkage s from the empirical covariance `S` (d x d, divisor n), the count `n` and
    /// `sumFourth` = sum_t ||x_t - mean||^4. d = 1 gives 0.
    public static func shrinkage(covariance S: [Double], dimension d: Int, count n: Int, sumFourth: Double) -> Double {
        guard d > 1, n > 0 else { return 0 }
        var trace = 0.0, fro2 = 0.0
        for i in 0..<d { trace += S[i * d + i] }
        for v in S { fro2 += v * v }
        let mu = trace / Double(d)
        var beta = (sumFourth / Double(n) - fro2) / (Double(d) * Double(n))
        let delta = (fro2 - Double(d) * mu * mu) / Double(d)
        beta = min(beta, delta)
        return beta == 0 ? 0 : beta / delta
    }

    /// The shrunk covariance `(1 - s) S + s mu I`.
    public static func shrunk(_ S: [Double], dimension d: Int, shrinkage s: Double) -> [Double] {
        var trace = 0.0
        for i in 0..<d { trace += S[i * d + i] }
        let mu = trace / Double(max(d, 1))
        var C = S.map { $0 * (1 - s) }
        for i in 0..<d { C[i * d + i] += s * mu }
        return C
    }
}
