// Fit and scoring time of the Gaussian model on synthetic features (Lite0 layout by default).
import Dispatch
import Foundation
import GaussianAD

enum GaussianBench {
    static func run() throws {
        let n = Int(arg("--images", "10000")) ?? 10000
        let dims = [32, 16, 24, 40, 80, 112, 192, 320, 1280]
        let D = dims.reduce(0, +)
        let batch = Int(arg("--batch", "256")) ?? 256
        let threads = Int(arg("--threads", "2")) ?? 2
        // Correlated synthetic features: a few shared factors plus noise, per level.
        var rng = UInt64(42)
        func gauss() -> Double {
            rng = rng &* 6364136223846793005 &+ 1442695040888963407
            let u1 = Double(rng >> 11) / Double(1 << 53) + 1e-12
            rng = rng &* 6364136223846793005 &+ 1442695040888963407
            let u2 = Double(rng >> 11) / Double(1 << 53)
            return (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
        }
        var values = [Double](repeating: 0, count: n * D)
        for r in 0..<n {
            let f = (0..<8).map { _ in gauss() }
            for j in 0..<D { values[r * D + j] = 0.5 * f[j % 8] + gauss() + Double(j % 13) }
        }
        let all = try FeatureMatrix(rows: n, levelDims: dims, values: values)
        let batches = stride(from: 0, to: n, by: batch).map { all.selecting(rows: Array($0..<min(n, $0 + batch))) }
        var t0 = now()
        var acc = try GaussianAccumulator(levelDims: dims, threads: threads)
        for b in batches { try acc.add(batch: b) }
        let tAccumulate = now() - t0
        t0 = now()
        let model = try acc.finalize()
        let tFinalize = now() - t0
        t0 = now()
        var sink = 0.0
        for b in batches { sink += try model.score(b, threads: threads).combined.reduce(0, +) }
        let tScore = now() - t0
        print(String(format: "gaussian: %d images x %d features (9 levels), batches of %d", n, D, batch))
        print(String(format: "  fit: accumulate %.2f s (%.0f images/s), finalize (Ledoit-Wolf + Cholesky) %.3f s", tAccumulate, Double(n) / tAccumulate, tFinalize))
        print(String(format: "  score: %.2f s (%.0f images/s)  [checksum %.3e]", tScore, Double(n) / tScore, sink))
        writeJSON(["images": n, "features": D, "accumulate_s": tAccumulate, "finalize_s": tFinalize, "score_s": tScore])
    }
}
