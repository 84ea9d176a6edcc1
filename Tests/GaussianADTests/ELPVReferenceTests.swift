// METHOD.md 6 on the ELPV data from set-up, against reference_auroc.json (slow: runs the networks).
import Foundation
import XCTest
@testable import GaussianAD

final class ELPVReferenceTests: KernelLevelTestCase {
    func dataset() throws -> Dataset {
        let url = Fixtures.cache.elpvData
        guard FileManager.default.fileExists(atPath: url.appendingPathComponent("labels.csv").path) else {
            throw XCTSkip("SKIPPED: ELPV data not at \(url.path); run scripts/setup")
        }
        return try Dataset.open(url)
    }

    func reference(_ run: String) throws -> [[String: Any]] {
        let j = try Fixtures.json("reference_auroc.json") as! [String: Any]
        let runs = j["runs"] as! [String: Any]
        return (runs[run] as! [String: Any])["categories"] as! [[String: Any]]
    }

    /// Extracts each category once, then evaluates it under every option set given.
    func check(_ kind: BackboneKind, runs: [(String, Reduction)]) throws {
        let ds = try dataset()
        guard FileManager.default.fileExists(atPath: Fixtures.cache.weights(for: kind).path) else {
            throw XCTSkip("SKIPPED: \(kind.rawValue) weights missing; run scripts/setup")
        }
        let fx = FeatureExtractor(backbone: try Backbone.load(kind, cache: Fixtures.cache))
        XCTAssertEqual(ds.categories.map(\.name), ["mono", "poly"])
        XCTAssertEqual(ds.categories.reduce(0) { $0 + $1.items.count }, 2223)
        for cat in ds.categories {
            let feats = try fx.extract(cat.items.map(\.url))
            for (run, red) in runs {
                var o = EvaluationOptions()
                o.reduction = red
                o.baselines = red == .none
                let r = try Evaluation.evaluate(category: cat, features: feats, options: o)
                let ref = try XCTUnwrap(try reference(run).first { ($0["name"] as! String) == cat.name })
                XCTAssertEqual(r.normalCount, ref["n_normal"] as! Int)
                XCTAssertEqual(r.anomalousCount, ref["n_anomalous"] as! Int)
                let folds = ref["auroc_folds"] as! [Double]
                XCTAssertEqual(r.aurocFolds.count, folds.count)
                for (a, b) in zip(r.aurocFolds, folds) { XCTAssertEqual(a, b, accuracy: 0.002, "\(run) \(cat.name) fold") }
                XCTAssertEqual(r.aurocMean, ref["auroc_mean"] as! Double, accuracy: 0.001, "\(run) \(cat.name) mean")
                for (a, b) in zip(r.levelAUROC, ref["level_auroc"] as! [Double]) { XCTAssertEqual(a, b, accuracy: 0.002, "\(run) \(cat.name) level") }
                if let l2 = ref["l2_auroc_mean"] as? Double { XCTAssertEqual(try XCTUnwrap(r.l2AUROC), l2, accuracy: 0.001) }
                if let sed = ref["sed_auroc_mean"] as? Double { XCTAssertEqual(try XCTUnwrap(r.sedAUROC), sed, accuracy: 0.001) }
                // Streamed in uneven batches, last rows first: the same result.
                let streamed = try Evaluation.evaluate(category: cat, batches: { body in
                    var end = feats.rows, size = 5
                    while end > 0 {
                        let rows = Array(max(0, end - size)..<end)
                        try body(feats.selecting(rows: rows), rows)
                        end -= rows.count
                        size = size * 7 % 97 + 3
                    }
                }, options: o)
                XCTAssertEqual(streamed.aurocFolds.count, r.aurocFolds.count)
                for (a, b) in zip(streamed.aurocFolds + streamed.levelAUROC, r.aurocFolds + r.levelAUROC) { XCTAssertEqual(a, b, accuracy: 1e-12) }
                XCTAssertEqual(try XCTUnwrap(streamed.workingPoint).threshold, try XCTUnwrap(r.workingPoint).threshold, accuracy: 1e-9)
                print("ELPV \(run) \(cat.name): AUROC \(r.aurocMean) (reference \(ref["auroc_mean"] as! Double))")
            }
        }
    }

    func testLite0WithPCAAndNPCA() throws {
        try check(.efficientNetLite0, runs: [("efficientnet-lite0", .none), ("efficientnet-lite0 --pca 0.99", .pca(0.99)),
                                             ("efficientnet-lite0 --npca 0.99", .npca(0.99))])
    }
    func testLite1() throws { try check(.efficientNetLite1, runs: [("efficientnet-lite1", .none)]) }
    func testLite2() throws { try check(.efficientNetLite2, runs: [("efficientnet-lite2", .none)]) }
}
