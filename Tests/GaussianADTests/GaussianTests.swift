// The Gaussian model against scikit-learn / NumPy values on real Lite0 ELPV features.
import Foundation
import XCTest
@testable import GaussianAD

final class GaussianTests: KernelLevelTestCase {
    static var exp: [String: Any] = [:]
    static var train: FeatureMatrix!
    static var test: FeatureMatrix!
    static var labels: [Int] = []

    override class func setUp() {
        super.setUp()
        exp = (try? Fixtures.json("gaussian/expected.json")) as? [String: Any] ?? [:]
        let dims = exp["level_dims"] as? [Int] ?? []
        let tr = (try? Fixtures.float32s("gaussian/train_400x2096.f32")) ?? []
        let te = (try? Fixtures.float32s("gaussian/test_60x2096.f32")) ?? []
        train = try? FeatureMatrix(rows: 400, levelDims: dims, values: tr.map(Double.init))
        test = try? FeatureMatrix(rows: 60, levelDims: dims, values: te.map(Double.init))
        labels = exp["test_labels"] as? [Int] ?? []
    }

    func assertRel(_ a: [Double], _ b: [Double], _ tol: Double, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, what, file: file, line: line)
        var worst = 0.0
        for (x, y) in zip(a, b) { worst = max(worst, abs(x - y) / max(abs(y), 1e-300)) }
        XCTAssertLessThanOrEqual(worst, tol, what, file: file, line: line)
    }

    /// Relative to the vector's scale where entries can be ~0 (covariance rows).
    func assertScaled(_ a: [Double], _ b: [Double], _ tol: Double, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        let scale = b.map(abs).max() ?? 1
        var worst = 0.0
        for (x, y) in zip(a, b) { worst = max(worst, abs(x - y) / scale) }
        XCTAssertLessThanOrEqual(worst, tol, what, file: file, line: line)
    }

    func levelsExp() -> [[String: Any]] { Self.exp["levels"] as! [[String: Any]] }

    func testLedoitWolfMeanAndCovariance() throws {
        let model = try GaussianModel.fit(Self.train)
        for (l, e) in levelsExp().enumerated() {
            let g = model.levels[l]
            let d = e["dim"] as! Int
            XCTAssertEqual(g.dimension, d)
            let s = e["shrinkage"] as! Double
            XCTAssertEqual(g.shrinkage, s, accuracy: 1e-9 * abs(s), "shrinkage level \(l)")
            assertScaled(g.mean, e["mean"] as! [Double], 1e-9, "mean level \(l)")
            // C = L L^T: diagonal and first row.
            let L = g.cholesky
            var diag = [Double](repeating: 0, count: d), row0 = diag
            for i in 0..<d {
                for k in 0...i { diag[i] += L[i * d + k] * L[i * d + k] }
                row0[i] = L[0] * L[i * d]
            }
            assertRel(diag, e["cov_diag"] as! [Double], 1e-9, "cov diag level \(l)")
            assertScaled(row0, e["cov_row0"] as! [Double], 1e-9, "cov row0 level \(l)")
        }
    }

    func testDistancesBaselinesAndAUROC() throws {
        let model = try GaussianModel.fit(Self.train)
        let s = try model.score(Self.test)
        for (l, e) in levelsExp().enumerated() {
            assertRel(s.perLevel[l], e["maha"] as! [Double], 1e-7, "maha level \(l)")
            assertRel(s.l2PerLevel[l], e["l2"] as! [Double], 1e-7, "l2 level \(l)")
            assertRel(s.sedPerLevel[l], e["sed"] as! [Double], 1e-7, "sed level \(l)")
            XCTAssertEqual(try ROC.auroc(scores: s.perLevel[l], labels: Self.labels), e["auroc"] as! Double, accuracy: 1e-12, "auroc level \(l)")
            XCTAssertEqual(try ROC.auroc(scores: s.l2PerLevel[l], labels: Self.labels), e["auroc_l2"] as! Double, accuracy: 1e-12)
            XCTAssertEqual(try ROC.auroc(scores: s.sedPerLevel[l], labels: Self.labels), e["auroc_sed"] as! Double, accuracy: 1e-12)
        }
        assertRel(s.combined, Self.exp["combined"] as! [Double], 1e-7, "combined")
        XCTAssertEqual(try ROC.auroc(scores: s.combined, labels: Self.labels), Self.exp["auroc_combined"] as! Double, accuracy: 1e-12)
    }

    func checkReduction(_ key: String, _ r: Reduction) throws {
        let e = Self.exp[key] as! [String: Any]
        let model = try GaussianModel.fit(Self.train, options: GaussianOptions(reduction: r))
        XCTAssertEqual(model.levels.map(\.dimension), e["kept"] as! [Int], key)
        let s = try model.score(Self.test)
        let maha = e["maha"] as! [[Double]]
        for l in 0..<9 { assertRel(s.perLevel[l], maha[l], 1e-6, "\(key) maha level \(l)") }
        assertRel(s.combined, e["combined"] as! [Double], 1e-6, key)
        XCTAssertEqual(try ROC.auroc(scores: s.combined, labels: Self.labels), e["auroc_combined"] as! Double, accuracy: 1e-12, key)
    }

    func testPCA() throws { try checkReduction("pca_0.95", .pca(0.95)) }
    func testNPCA() throws { try checkReduction("npca_0.95", .npca(0.95)) }

    /// Four uneven shards merged equal the one-pass fit to 1e-9.
    func testShardedFitEqualsOnePass() throws {
        let one = try GaussianModel.fit(Self.train)
        var shards: [GaussianAccumulator] = []
        for (lo, hi) in [(0, 7), (7, 150), (150, 163), (163, 400)] {
            var acc = try GaussianAccumulator(levelDims: Self.train.levelDims)
            // Uneven batches inside a shard too.
            var i = lo
            while i < hi {
                let j = min(hi, i + 1 + (i * 7) % 50)
                try acc.add(batch: Self.train.selecting(rows: Array(i..<j)))
                i = j
            }
            shards.append(acc)
        }
        var merged = shards[2]
        try merged.merge(shards[0])
        try merged.merge(shards[3])
        try merged.merge(shards[1])
        let m = try merged.finalize()
        for (a, b) in zip(m.levels, one.levels) {
            XCTAssertEqual(a.count, 400)
            XCTAssertEqual(a.shrinkage, b.shrinkage, accuracy: 1e-9 * max(abs(b.shrinkage), 1e-12))
            assertScaled(a.mean, b.mean, 1e-9, "merged mean")
            assertScaled(a.cholesky, b.cholesky, 1e-9, "merged cholesky")
        }
        assertRel(try m.score(Self.test).combined, try one.score(Self.test).combined, 1e-9, "merged scores")
    }

    func testTooFewImagesIsAClearError() throws {
        XCTAssertThrowsError(try GaussianModel.fit(Self.train.selecting(rows: []))) { err in
            XCTAssertTrue("\(err)".contains("no training images"), "\(err)")
        }
    }
}
