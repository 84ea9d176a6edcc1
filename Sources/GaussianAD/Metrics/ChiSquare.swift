// Chi-square distribution: CDF, survival function and their inverses, natively (docs/METHOD.md 5).
import Foundation

/// The chi-square distribution with `k` degrees of freedom, through the regularised incomplete
/// gamma function P(a, x) / Q(a, x) (series and Lentz continued fraction) and a safeguarded
/// Newton inverse on the log of the smaller tail, accurate down to tail probabilities ~1e-300.
public enum ChiSquare {
    /// P(X <= x).
    public static func cdf(_ x: Double, k: Double) -> Double { x <= 0 ? 0 : gammaP(k / 2, x / 2) }

    /// P(X > x).
    public static func sf(_ x: Double, k: Double) -> Double { x <= 0 ? 1 : gammaQ(k / 2, x / 2) }

    /// The x with cdf(x) = p.
    public static func ppf(_ p: Double, k: Double) -> Double {
        if p <= 0 { return 0 }
        if p >= 1 { return .infinity }
        return p < 0.5 ? invert(target: p, k: k, lowerTail: true) : invert(target: 1 - p, k: k, lowerTail: false)
    }

    /// The x with sf(x) = q (inverse survival function).
    public static func isf(_ q: Double, k: Double) -> Double {
        if q <= 0 { return .infinity }
        if q >= 1 { return 0 }
        return q < 0.5 ? invert(target: q, k: k, lowerTail: false) : invert(target: 1 - q, k: k, lowerTail: true)
    }

    /// Upper-tail probability of k sigma of a normal: erfc(k / sqrt 2).
    public static func sigmaTail(_ sigma: Double) -> Double { erfc(sigma / 2.0.squareRoot()) }

    /// The Mahalanobis-distance threshold for a false-positive rate q in d dimensions:
    /// sqrt(isf(q, d)).
    public static func distanceThreshold(falsePositiveRate q: Double, dimension d: Int) -> Double {
        isf(q, k: Double(d)).squareRoot()
    }

    // MARK: - incomplete gamma

    /// log of x^a e^-x / Gamma(a).
    private static func logPrefactor(_ a: Double, _ x: Double) -> Double { a * log(x) - x - lgamma(a) }

    static func gammaP(_ a: Double, _ x: Double) -> Double {
        if x <= 0 { return 0 }
        return x < a + 1 ? series(a, x) : 1 - continuedFraction(a, x)
    }

    static func gammaQ(_ a: Double, _ x: Double) -> Double {
        if x <= 0 { return 1 }
        return x < a + 1 ? 1 - series(a, x) : continuedFraction(a, x)
    }

    /// P(a, x) by its power series.
    private static func series(_ a: Double, _ x: Double) -> Double {
        var term = 1 / a, sum = term, ap = a
        for _ in 0..<100_000 {
            ap += 1
            term *= x / ap
            sum += term
            if abs(term) < abs(sum) * 1e-17 { break }
        }
        return exp(logPrefactor(a, x)) * sum
    }

    /// Q(a, x) by the modified Lentz continued fraction.
    private static func continuedFraction(_ a: Double, _ x: Double) -> Double {
        let tiny = 1e-300
        var b = x + 1 - a, c = 1 / tiny, d = 1 / b, h = d
        for i in 1..<100_000 {
            let an = -Double(i) * (Double(i) - a)
            b += 2
            d = an * d + b
            if abs(d) < tiny { d = tiny }
            c = b + an / c
            if abs(c) < tiny { c = tiny }
            d = 1 / d
            let delta = d * c
            h *= delta
            if abs(delta - 1) < 1e-16 { break }
        }
        return exp(logPrefactor(a, x)) * h
    }

    /// log of the chi-square density at x.
    private static func logPDF(_ x: Double, k: Double) -> Double {
        (k / 2 - 1) * log(x) - x / 2 - (k / 2) * log(2.0) - lgamma(k / 2)
    }

    /// Solves tail(x) = target for the lower (cdf) or upper (sf) tail, target <= 0.5.
    private static func invert(target: Double, k: Double, lowerTail: Bool) -> Double {
        let logTarget = log(target)
        func g(_ x: Double) -> Double { log(lowerTail ? cdf(x, k: k) : sf(x, k: k)) - logTarget }
        // Bracket: g is increasing in x for the lower tail, decreasing for the upper.
        var lo = 0.0, hi = max(k, 1.0)
        let sign: Double = lowerTail ? 1 : -1
        while sign * g(hi) < 0 { lo = hi; hi *= 2; if hi > 1e300 { return .infinity } }
        // Wilson-Hilferty start, clamped into the bracket.
        let z = lowerTail ? -normalQuantileUpper(target) : normalQuantileUpper(target)
        let h = 2 / (9 * k)
        var x = k * pow(max(1 - h + z * h.squareRoot(), 1e-3), 3)
        if !(x > lo && x < hi) { x = (lo + hi) / 2 }
        for _ in 0..<200 {
            let gx = g(x)
            if gx.isNaN { x = (lo + hi) / 2; continue }
            if sign * gx < 0 { lo = x } else { hi = x }
            // d/dx log tail = +-pdf / tail.
            let tail = lowerTail ? cdf(x, k: k) : sf(x, k: k)
            let dg = sign * exp(logPDF(x, k: k) - log(tail))
            var next = x - gx / dg
            if !(next > lo && next < hi) || !next.isFinite { next = (lo + hi) / 2 }
            if abs(next - x) <= 1e-15 * x { return next }
            x = next
            if hi - lo <= 1e-15 * hi { return x }
        }
        return x
    }

    /// Upper-tail quantile of the standard normal (rough; only a starting point).
    private static func normalQuantileUpper(_ q: Double) -> Double {
        let t = (-2 * log(max(q, 1e-300))).squareRoot()
        return t - (2.515517 + 0.802853 * t + 0.010328 * t * t) / (1 + 1.432788 * t + 0.189269 * t * t + 0.001308 * t * t * t)
    }
}
