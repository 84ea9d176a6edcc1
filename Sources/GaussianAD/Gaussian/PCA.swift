// PCA and NPCA per level with a variance threshold (docs/METHOD.md 4), via LAPACK dsyevd.
import CKernels
import Foundation

/// Dimensionality reduction applied to each level before the Gaussian is fitted.
public enum Reduction: Sendable, Equatable, Codable {
    /// No reduction: the Gaussian is fitted on the pooled features.
    case none
    /// Keep the leading components up to the first whose cumulative variance ratio exceeds t.
    case pca(Double)
    /// Negated PCA: keep the low-variance components from `max(last - 1, 0)` on (the paper's finding).
    case npca(Double)
}

/// A level's projection: centre with `mean`, multiply by `components` (d x k, row-major).
public struct Projection: Sendable, Equatable {
    /// Input dimension d.
    public let inputDimension: Int
    /// Kept components k.
    public let outputDimension: Int
    /// Training mean subtracted before projecting.
    public let mean: [Double]
    /// d x k, column j the j-th kept eigenvector.
    public let components: [Double]

    /// Projects `n` rows (n x d) to n x k; BLAS on `threads` threads (nil: every core).
    public func apply(_ x: [Double], rows n: Int, threads: Int? = nil) -> [Double] {
        let d = inputDimension, k = outputDimension
        var c = x
        for r in 0..<n { for j in 0..<d { c[r * d + j] -= mean[j] } }
        var out = [Double](repeating: 0, count: n * k)
        ck_f64_gemm(n, k, d, 1, c, d, components, k, 0, &out, k,
                    blasThreads(threads, flops: 2 * Double(n) * Double(d) * Double(k)))
        return out
    }

    /// Chooses the components of one level from its mean and empirical covariance (divisor n).
    static func make(mean: [Double], covariance S: [Double], dimension d: Int, count n: Int,
                     reduction: Reduction, level: Int, threads: Int? = nil) throws -> Projection? {
        let t: Double
        switch reduction {
        case .none: return nil
        case .pca(let v), .npca(let v): t = v
        }
        guard t > 0, t < 1 else { throw GaussianADError.invalidArgument("PCA/NPCA threshold must be in (0, 1), got \(t)") }
        guard n >= 2 else { throw GaussianADError.invalidArgument("PCA needs at least 2 training images, got \(n)") }
        var a = S.map { $0 * Double(n) / Double(n - 1) }   // divisor n - 1
        var w = [Double](repeating: 0, count: d)
        let info = ck_f64_eigh(d, &a, d, &w, blasThreads(threads, flops: 9 * pow(Double(d), 3)))
        guard info == 0 else { throw GaussianADError.numerical("level \(level): eigen-decomposition failed (LAPACK info \(info))") }
        let rank = min(n - 1, d)
        // Decreasing order: eigh returns ascending eigenvalues.
        let order = (0..<d).reversed().prefix(rank).map { $0 }
        let vals = order.map { w[$0] }
        let total = vals.reduce(0, +)
        var cum = 0.0, last = 0
        var found = false
        for (j, v) in vals.enumerated() {
            cum += v
            if cum / total > t { last = j; found = true; break }
        }
        if !found { last = 0 }
        let keep: [Int]
        if case .pca = reduction { keep = Array(order[0...last]) } else { keep = Array(order[max(last - 1, 0)..<rank]) }
        let k = keep.count
        var comp = [Double](repeating: 0, count: d * k)
        for (c, col) in keep.enumerated() {
            // An eigenvector's sign is arbitrary; fix it (largest-magnitude entry positive) so
            // that fits of equal data, merged from shards or not, project the same way.
            var big = 0
            for i in 0..<d where abs(a[i * d + col]) > abs(a[big * d + col]) { big = i }
            let sign: Double = a[big * d + col] < 0 ? -1 : 1
            for i in 0..<d { comp[i * k + c] = sign * a[i * d + col] }
        }
        return Projection(inputDimension: d, outputDimension: k, mean: mean, components: comp)
    }
}
