// One level's fitted Gaussian: mean, Cholesky factor, per-feature sd, optional projection.
import CKernels
import Foundation

/// The Gaussian of one level, ready to score (docs/METHOD.md 3).
public struct LevelGaussian: Sendable, Equatable {
    /// Level index in the backbone.
    public let level: Int
    /// Dimension the Gaussian lives in (after projection).
    public let dimension: Int
    /// Training images.
    public let count: Int
    /// Ledoit-Wolf shrinkage used.
    public let shrinkage: Double
    /// Mean (dimension).
    public let mean: [Double]
    /// Lower Cholesky factor of the shrunk covariance, dimension x dimension row-major.
    public let cholesky: [Double]
    /// Per-feature standard deviation (divisor n - 1), for the SED baseline.
    public let sd: [Double]
    /// PCA / NPCA projection applied first, if any.
    public let projection: Projection?

    /// Fits from accumulated moments (in the projected space if `projection` is set).
    init(level: Int, moments acc: MomentAccumulator, projection: Projection?, threads: Int? = nil) throws {
        let d = acc.dimension, n = acc.count
        guard n >= 1 else { throw GaussianADError.invalidArgument("level \(level): no training vectors") }
        let (mean, S, fourth) = acc.moments()
        let s = LedoitWolf.shrinkage(covariance: S, dimension: d, count: n, sumFourth: fourth)
        var C = LedoitWolf.shrunk(S, dimension: d, shrinkage: s)
        let info = ck_f64_cholesky(d, &C, d, blasThreads(threads, flops: pow(Double(d), 3) / 3))
        guard info == 0 else {
            throw GaussianADError.numerical("level \(level): the covariance is not positive definite (\(n) images for \(d) features, shrinkage \(s)); use more training images or fewer levels")
        }
        self.level = level
        dimension = d
        count = n
        shrinkage = s
        self.mean = mean
        cholesky = C
        sd = (0..<d).map { n > 1 ? (S[$0 * d + $0] * Double(n) / Double(n - 1)).squareRoot() : 0 }
        self.projection = projection
    }

    init(level: Int, dimension: Int, count: Int, shrinkage: Double, mean: [Double], cholesky: [Double],
         sd: [Double], projection: Projection?) {
        self.level = level
        self.dimension = dimension
        self.count = count
        self.shrinkage = shrinkage
        self.mean = mean
        self.cholesky = cholesky
        self.sd = sd
        self.projection = projection
    }

    /// Distances of the `n` rows of this level's raw features at `raw` (leading dimension
    /// `ld`), read in place unless a projection needs them contiguous.
    func distances(_ raw: UnsafePointer<Double>, ld: Int, rows n: Int, threads: Int? = nil) -> (maha: [Double], l2: [Double], sed: [Double]) {
        if let p = projection {
            var x = [Double](repeating: 0, count: n * p.inputDimension)
            for r in 0..<n { for j in 0..<p.inputDimension { x[r * p.inputDimension + j] = raw[r * ld + j] } }
            let y = p.apply(x, rows: n, threads: threads)
            return y.withUnsafeBufferPointer { distances(projected: $0.baseAddress!, ld: dimension, rows: n, threads: threads) }
        }
        return distances(projected: raw, ld: ld, rows: n, threads: threads)
    }

    private func distances(projected y: UnsafePointer<Double>, ld: Int, rows n: Int, threads: Int?) -> (maha: [Double], l2: [Double], sed: [Double]) {
        let d = dimension
        var maha = [Double](repeating: 0, count: n)
        guard n > 0 else { return ([], [], []) }
        var work = [Double](repeating: 0, count: n * d)
        ck_f64_mahalanobis(n, d, y, ld, mean, cholesky, d, &work, &maha,
                           blasThreads(threads, flops: Double(n) * Double(d) * Double(d)))
        var l2 = [Double](repeating: 0, count: n), sed = l2
        let live = sd.indices.filter { sd[$0] > 0 }
        for r in 0..<n {
            var a = 0.0, b = 0.0
            for j in 0..<d { let v = y[r * ld + j] - mean[j]; a += v * v }
            for j in live { let v = (y[r * ld + j] - mean[j]) / sd[j]; b += v * v }
            l2[r] = (a / Double(max(d, 1))).squareRoot()
            sed[r] = live.isEmpty ? 0 : (b / Double(live.count)).squareRoot()
        }
        return (maha, l2, sed)
    }
}
