// Chi-square (SciPy), ROC/AUROC (scikit-learn) and the stable split (kfold.json).
import Foundation
import XCTest
@testable import GaussianAD

final class MetricsTests: KernelLevelTestCase {
    func testChiSquareQuantiles() throws {
        let j = try Fixtures.json("chi2.json") as! [String: [[String: Any]]]
        for e in j["ppf"]! {
            let k = e["k"] as! Double, p = e["p"] as! Double, x = e["x"] as! Double
            XCTAssertEqual(ChiSquare.ppf(p, k: k), x, accuracy: 1e-9 * x, "ppf(\(p), \(k))")
        }
        for e in j["isf_sigma"]! {
            let k = e["k"] as! Double, s = e["sigma"] as! Double, q = e["upper_tail"] as! Double, x = e["x"] as! Double
            XCTAssertEqual(ChiSquare.sigmaTail(s), q, accuracy: 1e-12 * q, "tail of \(s) sigma")
            XCTAssertEqual(ChiSquare.isf(q, k: k), x, accuracy: 1e-9 * x, "isf(\(q), \(k))")
            XCTAssertEqual(ChiSquare.distanceThreshold(falsePositiveRate: q, dimension: Int(k)),
                           e["threshold_distance"] as! Double, accuracy: 1e-9 * x)
        }
    }

    func testChiSquareCDFAndSF() throws {
        let j = try Fixtures.json("chi2.json") as! [String: [[String: Any]]]
        for e in j["cdf"]! {
            let k = e["k"] as! Double, x = e["x"] as! Double
            for (got, want, name) in [(ChiSquare.cdf(x, k: k), e["cdf"] as! Double, "cdf"), (ChiSquare.sf(x, k: k), e["sf"] as! Double, "sf")] {
                let ok = abs(got - want) <= 1e-12 || abs(got - want) <= 1e-9 * abs(want)
                XCTAssertTrue(ok, "\(name)(\(x), \(k)) = \(got), expected \(want)")
            }
        }
    }

    func testAUROCAndCurve() throws {
        let cases = try Fixtures.json("auroc.json") as! [[String: Any]]
        XCTAssertFalse(cases.isEmpty)
        for c in cases {
            let roc = try ROC(scores: (c["scores"] as! [NSNumber]).map(\.doubleValue), labels: c["labels"] as! [Int])
            XCTAssertEqual(roc.auc, c["auroc"] as! Double, accuracy: 1e-12)
            let fpr = c["roc_fpr"] as! [Double], tpr = c["roc_tpr"] as! [Double]
            XCTAssertEqual(roc.fpr.count, fpr.count)
            for (a, b) in zip(roc.fpr, fpr) { XCTAssertEqual(a, b, accuracy: 1e-11) }
            for (a, b) in zip(roc.tpr, tpr) { XCTAssertEqual(a, b, accuracy: 1e-11) }
        }
        XCTAssertThrowsError(try ROC(scores: [1, 2], labels: [0, 0]))
    }

    func testStableSplit() throws {
        let j = try Fixtures.json("kfold.json") as! [String: Any]
        for (p, h) in j["fnv1a64"] as! [String: String] {
            XCTAssertEqual(String(StableSplit.fnv1a64(p.utf8), radix: 16).leftPad(16), h, p)
        }
        for (x, h) in j["splitmix64"] as! [String: String] {
            XCTAssertEqual(String(StableSplit.splitmix64(UInt64(x)!), radix: 16).leftPad(16), h, x)
        }
        let cases = j["fold_of"] as! [[String: Any]]
        XCTAssertFalse(cases.isEmpty)
        for c in cases {
            let k = c["k"] as! Int, seed = UInt64(c["seed"] as! Int)
            let paths = c["paths"] as! [String]
            let got = StableSplit.folds(of: paths, k: k, seed: seed)
            if let folds = c["folds"] as? [Int] {
                XCTAssertEqual(paths.map { got[$0]! }, folds, "k \(k) seed \(seed)")
            } else if let m = c["folds"] as? [String: Int] {
                XCTAssertEqual(got, m, "k \(k) seed \(seed)")
            } else {
                XCTFail("kfold.json fold_of entry has no folds: \(c.keys)")
            }
        }
    }

    func testSummary() {
        XCTAssertEqual(Summary.mean([1, 2, 3, 4]), 2.5)
        XCTAssertEqual(Summary.sem([1, 2, 3, 4]), (5.0 / 3).squareRoot() / 2, accuracy: 1e-15)
    }
}

private extension String {
    func leftPad(_ n: Int) -> String { String(repeating: "0", count: max(0, n - count)) + self }
}
