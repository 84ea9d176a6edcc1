// Streaming, mergeable moments of one level about a fixed shift (count, mean, scatter, 4th moment).
import CKernels
import Foundation

/// Running sums of one level's vectors about a fixed shift `a` (the first batch's mean), from
/// which the mean, the empirical covariance and the Ledoit-Wolf fourth-moment term follow
/// exactly. Two accumulators with different shifts merge exactly (the sums are re-expressed
/// about one shift before adding), so a fit in shards equals a one-pass fit.
public struct MomentAccumulator: Sendable {
    /// Dimension.
    public let dimension: Int
    /// Vectors seen.
    public private(set) var count = 0
    var shift: [Double] = []
    var sumZ: [Double]
    /// sum z z^T, row-major; only the lower triangle is kept up to date by `add`.
    var scatter: [Double]
    var sumQZ: [Double]
    var sumQ = 0.0
    var sumQ2 = 0.0

    /// An empty accumulator for vectors of `dimension`.
    public init(dimension: Int) {
        self.dimension = dimension
        sumZ = [Double](repeating: 0, count: dimension)
        scatter = [Double](repeating: 0, count: dimension * dimension)
        sumQZ = sumZ
    }

    /// Adds `n` rows of `x` (row-major, leading dimension `ldx`); BLAS runs on `threads`
    /// threads (nil: every core) where the batch is large enough (`blasParallelFlops`).
    public mutating func add(_ x: UnsafePointer<Double>, rows n: Int, ld ldx: Int, threads: Int? = nil) {
        guard n > 0 else { return }
        let d = dimension
        if count == 0 {
            shift = [Double](repeating: 0, count: d)
            for t in 0..<n { for j in 0..<d { shift[j] += x[t * ldx + j] } }
            for j in 0..<d { shift[j] /= Double(n) }
        }
        var work = [Double](repeating: 0, count: n * d + n)
        var sums = [sumQ, sumQ2]
        ck_f64_moments_update(n, d, x, ldx, shift, &sumZ, &scatter, &sumQZ, &sums, &work,
                              blasThreads(threads, flops: Double(n) * Double(d) * Double(d)))
        sumQ = sums[0]
        sumQ2 = sums[1]
        count += n
    }

    /// Adds the rows of a contiguous `rows x dimension` array.
    public mutating func add(_ x: [Double], threads: Int? = nil) {
        let n = dimension == 0 ? 0 : x.count / dimension
        guard n > 0 else { return }
        x.withUnsafeBufferPointer { buf in
            if let p = buf.baseAddress { add(p, rows: n, ld: dimension, threads: threads) }
        }
    }

    /// Sets the sums read back from a file (the scatter's lower triangle is set by the caller).
    mutating func restore(count: Int, shift: [Double], sumZ: [Double], sumQZ: [Double], sumQ: Double, sumQ2: Double) {
        self.count = count
        self.shift = shift
        self.sumZ = sumZ
        self.sumQZ = sumQZ
        self.sumQ = sumQ
        self.sumQ2 = sumQ2
    }

    /// The full symmetric scatter matrix (lower triangle mirrored).
    func fullScatter() -> [Double] {
        var s = scatter
        let d = dimension
        s.withUnsafeMutableBufferPointer { s in
            for i in 0..<d { for j in (i + 1)..<max(i + 1, d) { s[i * d + j] = s[j * d + i] } }
        }
        return s
    }

    /// Adds another accumulator's sums (any shift) to this one.
    /// - Throws: when the dimensions differ.
    public mutating func merge(_ other: MomentAccumulator) throws {
        guard other.dimension == dimension else {
            throw GaussianADError.invalidArgument("cannot merge moments of dimension \(other.dimension) into \(dimension)")
        }
        guard other.count > 0 else { return }
        guard count > 0 else { self = other; return }
        let d = dimension, n = Double(other.count)
        // Re-express the other's sums about our shift: z' = z + u with u = b - a.
        var u = [Double](repeating: 0, count: d)
        for j in 0..<d { u[j] = other.shift[j] - shift[j] }
        // Z u from the lower triangle of the other's scatter (Z is symmetric), row by row.
        var Zu = [Double](repeating: 0, count: d)
        var eu = 0.0, zu = 0.0, qzu = 0.0, uZu = 0.0
        other.scatter.withUnsafeBufferPointer { Z in
            u.withUnsafeBufferPointer { u in
                Zu.withUnsafeMutableBufferPointer { Zu in
                    for i in 0..<d {
                        let row = Z.baseAddress! + i * d, ui = u[i]
                        var acc = 0.0
                        for j in 0..<i {
                            acc += row[j] * u[j]
                            Zu[j] += row[j] * ui
                        }
                        Zu[i] += acc + row[i] * ui
                    }
                }
            }
        }
        for i in 0..<d {
            eu += u[i] * u[i]
            zu += other.sumZ[i] * u[i]
            qzu += other.sumQZ[i] * u[i]
        }
        for i in 0..<d { uZu += u[i] * Zu[i] }
        // Order matters: every right-hand side uses the other's untransformed sums.
        sumQ2 += other.sumQ2 + 4 * uZu + n * eu * eu + 4 * qzu + 2 * eu * other.sumQ + 4 * eu * zu
        sumQ += other.sumQ + 2 * zu + n * eu
        for i in 0..<d {
            sumQZ[i] += other.sumQZ[i] + 2 * Zu[i] + eu * other.sumZ[i] + other.sumQ * u[i] + 2 * zu * u[i] + n * eu * u[i]
        }
        other.scatter.withUnsafeBufferPointer { Z in
            u.withUnsafeBufferPointer { u in
                other.sumZ.withUnsafeBufferPointer { z in
                    scatter.withUnsafeMutableBufferPointer { S in
                        for i in 0..<d {
                            let ui = u[i], zi = z[i], o = i * d
                            for j in 0...i { S[o + j] += Z[o + j] + ui * z[j] + zi * u[j] + n * ui * u[j] }
                        }
                    }
                }
            }
        }
        for j in 0..<d { sumZ[j] += other.sumZ[j] + n * u[j] }
        count += other.count
    }

    /// Mean, empirical covariance (divisor n, full symmetric) and sum_t ||x_t - mean||^4.
    public func moments() -> (mean: [Double], covariance: [Double], sumFourth: Double) {
        let d = dimension, n = Double(count)
        var delta = [Double](repeating: 0, count: d)
        for j in 0..<d { delta[j] = sumZ[j] / n }
        var mean = shift
        for j in 0..<d { mean[j] += delta[j] }
        // S = (Z - n delta delta^T) / n in place of a full copy of the scatter, and delta^T Z delta.
        var S = fullScatter()
        var e = 0.0, dZd = 0.0, qzd = 0.0
        for i in 0..<d {
            e += delta[i] * delta[i]
            qzd += sumQZ[i] * delta[i]
        }
        S.withUnsafeMutableBufferPointer { S in
            delta.withUnsafeBufferPointer { delta in
                for i in 0..<d {
                    let row = S.baseAddress! + i * d, di = delta[i]
                    var acc = 0.0
                    for j in 0..<d {
                        acc += row[j] * delta[j]
                        row[j] = (row[j] - n * di * delta[j]) / n
                    }
                    dZd += di * acc
                }
            }
        }
        // ||c||^2 = q - 2 z.delta + e, summed squares expanded; sum z = n delta.
        let fourth = sumQ2 + 4 * dZd - 3 * n * e * e - 4 * qzd + 2 * e * sumQ
        return (mean, S, fourth)
    }
}

/// A float64 BLAS / LAPACK call runs on more than one thread only from this much arithmetic
/// (about 0.2 s on one core): below it, BLAS's threads save less than they then burn spinning
/// (OpenBLAS's threads spin about 0.1 s after each call before they sleep) on the cores the
/// network needs for its next batch.
let blasParallelFlops = 1e10

/// The thread count of a float64 BLAS / LAPACK call of `flops` operations: `threads` (nil:
/// every core) from `blasParallelFlops` on, else one.
func blasThreads(_ threads: Int?, flops: Double) -> Int32 {
    flops < blasParallelFlops ? 1 : Int32(clamping: max(1, threads ?? ProcessInfo.processInfo.activeProcessorCount))
}
