// Per-fold accumulators: shards merged in any order give the one-pass fits, for the model of
// all images and for every out-of-fold model; the calibrated threshold is the refit one.
import Foundation
import XCTest
@testable import GaussianAD

/// The 400 training vectors of the Gaussian fixture.
func gaussianFixtureFeatures() throws -> FeatureMatrix {
    let exp = try Fixtures.json("gaussian/expected.json") as! [String: Any]
    let tr = try Fixtures.float32s("gaussian/train_400x2096.f32").map(Double.init)
    return try FeatureMatrix(rows: 400, levelDims: exp["level_dims"] as! [Int], values: tr)
}

/// Means, Cholesky factors, sd and shrinkage equal within 1e-9 relative.
func assertSameModel(_ a: GaussianModel, _ b: GaussianModel, _ what: String) {
    XCTAssertEqual(a.levels.map(\.level), b.levels.map(\.level), what)
    XCTAssertEqual(a.trainingCount, b.trainingCount, what)
    for (x, y) in zip(a.levels, b.levels) {
        // A projected level's mean is zero up to rounding: it is measured against the spread.
        let spread = y.sd.map(abs).max() ?? 1
        for (name, u, v) in [("mean", x.mean, y.mean), ("cholesky", x.cholesky, y.cholesky), ("sd", x.sd, y.sd)] {
            let scale = max(v.map(abs).max() ?? 1, name == "mean" ? spread : 0, 1e-300)
            let worst = zip(u, v).map { abs($0 - $1) }.max() ?? 0
            XCTAssertLessThanOrEqual(worst / scale, 1e-9, "\(what) level \(x.level) \(name)")
        }
        XCTAssertEqual(x.shrinkage, y.shrinkage, accuracy: 1e-9 * max(1, y.shrinkage), "\(what) level \(x.level)")
    }
}

final class FoldedAccumulatorTests: KernelLevelTestCase {
    func testShardsMergedInAnyOrderEqualOnePassFits() throws {
        let all = try gaussianFixtureFeatures()
        let levels = [0, 3, 8]
        let k = 5
        let fold = (0..<all.rows).map { ($0 * 7 + 3) % k }
        // Three uneven shards, each added in uneven batches, merged in a shuffled order.
        let cuts = [0, 37, 251, 400]
        var shards: [FoldedAccumulator] = []
        for s in 0..<3 {
            var acc = try FoldedAccumulator(levelDims: all.levelDims, levels: levels, folds: k, threads: 1)
            var r = cuts[s]
            var size = 13
            while r < cuts[s + 1] {
                let rows = Array(r..<min(cuts[s + 1], r + size))
                try acc.add(batch: all.selecting(rows: rows), folds: rows.map { fold[$0] })
                r += rows.count
                size = size * 3 % 41 + 5
            }
            shards.append(acc)
        }
        var merged = shards[2]
        try merged.merge(shards[0])
        try merged.merge(shards[1])
        XCTAssertEqual(merged.count, 400)
        let opts = GaussianOptions(levels: levels, threads: 1)
        assertSameModel(try merged.model(), try GaussianModel.fit(all, options: opts), "all images")
        for f in 0..<k {
            let train = fold.indices.filter { fold[$0] != f }
            assertSameModel(try merged.model(excludingFold: f), try GaussianModel.fit(all.selecting(rows: train), options: opts), "without fold \(f)")
        }
        XCTAssertThrowsError(try merged.add(batch: all.selecting(rows: [0]), folds: [k]))
    }

    /// The threshold of the fit's passes (fold models merged from per-fold moments) equals the
    /// one from refitting every fold on its own rows, with and without NPCA.
    func testCalibratedThresholdEqualsRefitting() throws {
        let all = try gaussianFixtureFeatures()
        let paths = (0..<all.rows).map { String(format: "good/%03d.png", $0) }
        for reduction in [Reduction.none, .npca(0.99)] {
            let opts = GaussianOptions(levels: [2, 5, 8], reduction: reduction, threads: 1)
            let plan = try FitPlan(backbone: .efficientNetLite0, weightsSHA256: "", levelDims: all.levelDims, options: opts,
                                   folds: 5, seed: 0, category: "c", paths: paths)
            let fit = try FitRunner.fit(FitState(plan: plan), paths: paths, targetFPR: 0.05, threads: 1) { try $0(all, paths) }
            let (model, wp) = (fit.model, fit.workingPoint)
            let assignment = StableSplit.folds(of: paths, k: 5, seed: 0)
            let fold = paths.map { assignment[$0]! }
            var oof: [Double] = []
            for f in 0..<5 {
                let train = fold.indices.filter { fold[$0] != f }, test = fold.indices.filter { fold[$0] == f }
                oof += try GaussianModel.fit(all.selecting(rows: train), options: opts).score(all.selecting(rows: test)).combined
            }
            let ref = try WorkingPoint.calibrate(normalScores: oof, targetFPR: 0.05, levelDimensions: model.levels.map(\.dimension))
            XCTAssertEqual(wp.threshold, ref.threshold, accuracy: 1e-9 * ref.threshold, "\(reduction)")
            XCTAssertEqual(wp.calibrationCount, 400)
            let direct = try GaussianModel.fit(all, options: opts)
            if reduction == .none {
                assertSameModel(model, direct, "full model")
            } else {
                // Projected parameters depend on the eigenvectors chosen; scores do not.
                let test = try FeatureMatrix(rows: 60, levelDims: all.levelDims,
                                             values: try Fixtures.float32s("gaussian/test_60x2096.f32").map(Double.init))
                let a = try model.score(test).combined, b = try direct.score(test).combined
                for (x, y) in zip(a, b) { XCTAssertEqual(x, y, accuracy: 1e-9 * max(1, abs(y)), "\(reduction) scores") }
            }
        }
    }
}
