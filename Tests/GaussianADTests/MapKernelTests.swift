// The arithmetic of anomaly maps against independent references (SciPy, NumPy, scikit-learn,
// MVTec AD's evaluation), from Fixtures/maps/kernels.json (scripts/maps-reference --kernels).
import CKernels
import Foundation
import XCTest
@testable import GaussianAD

final class MapKernelTests: KernelLevelTestCase {
    func kernels() throws -> [String: Any] { try Fixtures.json("maps/kernels.json") as! [String: Any] }

    /// ck_f64_gaussian_filter equals scipy.ndimage.gaussian_filter (mode reflect, truncate 4),
    /// a radius beyond the map's size and an axis left alone included; ck_f64_resize_bilinear_add
    /// equals PyTorch's bilinear (align_corners false), up and down.
    func testGaussianFilterAndBilinearMatchSciPyAndNumPy() throws {
        for g in try kernels()["gaussian"] as! [[String: Any]] {
            let h = g["h"] as! Int, w = g["w"] as! Int, sy = g["sigma_y"] as! Double, sx = g["sigma_x"] as! Double
            var a = g["input"] as! [Double]
            let want = g["output"] as! [Double]
            var scratch = [Double](repeating: .nan, count: ck_f64_gaussian_filter_scratch(h, w, sy, sx))
            ck_f64_gaussian_filter(h, w, &a, sy, sx, &scratch)
            for i in a.indices { XCTAssertEqual(a[i], want[i], accuracy: 1e-12, "gaussian \(h)x\(w) sigma \(sy),\(sx) [\(i)]") }
        }
        for b in try kernels()["bilinear"] as! [[String: Any]] {
            let h = b["h"] as! Int, w = b["w"] as! Int, H = b["out_h"] as! Int, W = b["out_w"] as! Int
            let input = b["input"] as! [Double], want = b["output"] as! [Double]
            var out = [Double](repeating: 1, count: H * W), scratch = [Double](repeating: .nan, count: h * W)
            ck_f64_resize_bilinear_add(h, w, input, H, W, 2, &scratch, &out)
            for i in out.indices { XCTAssertEqual(out[i], 1 + 2 * want[i], accuracy: 1e-12, "bilinear \(h)x\(w) -> \(H)x\(W) [\(i)]") }
        }
    }

    /// The map's operator (ck_f64_upsample_smooth_matrix, ck_f64_map_apply) equals the bilinear
    /// resize then the Gaussian smoothing it stands for, up and down, with radii beyond the map.
    func testResizeAndSmoothMatricesEqualTheirTwoSteps() throws {
        var rng = TestRNG(state: 5)
        for (h, w, H, W, sy, sx) in [(28, 28, 300, 300, 5.36, 5.36), (14, 9, 41, 66, 2.5, 0.0), (7, 7, 5, 3, 1.5, 8.0), (3, 4, 96, 64, 30.0, 7.0)] {
            let z = (0..<(h * w)).map { _ in Double(rng.below(20_000)) / 1000 - 10 }
            var want = [Double](repeating: 0.5, count: H * W), scratch = [Double](repeating: 0, count: h * W)
            ck_f64_resize_bilinear_add(h, w, z, H, W, 0.25, &scratch, &want)
            var fs = [Double](repeating: 0, count: ck_f64_gaussian_filter_scratch(H, W, sy, sx))
            // The two steps smooth the whole sum: compare on the level's part alone.
            for i in want.indices { want[i] -= 0.5 }
            ck_f64_gaussian_filter(H, W, &want, sy, sx, &fs)
            func matrix(_ n: Int, _ m: Int, _ sigma: Double) -> ([Double], [Int], [Int]) {
                var a = [Double](repeating: .nan, count: m * n), lo = [Int](repeating: 0, count: m), hi = lo
                var k = [Double](repeating: 0, count: 2 * ck_gaussian_radius(sigma) + 1)
                ck_f64_upsample_smooth_matrix(n, m, sigma, &a, &lo, &hi, &k)
                return (a, lo, hi)
            }
            let (ay, ylo, yhi) = matrix(h, H, sy), (ax, xlo, xhi) = matrix(w, W, sx)
            var got = [Double](repeating: 0, count: H * W), t = [Double](repeating: 0, count: h * W)
            ck_f64_map_apply(h, w, z, H, W, ay, ylo, yhi, ax, xlo, xhi, 0.25, &t, &got)
            for i in got.indices { XCTAssertEqual(got[i], want[i], accuracy: 1e-12, "\(h)x\(w) -> \(H)x\(W) sigma \(sy),\(sx) [\(i)]") }
        }
    }

    /// ck_f64_mahalanobis_inverse_f32 (the maps' distances, eight rows a step, by the inverse
    /// factor) equals ck_f64_mahalanobis (the triangular solve), over row and dimension tails.
    func testMapDistancesEqualTheTriangularSolve() throws {
        var rng = TestRNG(state: 8)
        for d in [1, 3, 4, 5, 40] {
            // A covariance L L^T with a well-conditioned lower factor.
            var l = [Double](repeating: 0, count: d * d)
            for i in 0..<d { for j in 0...i { l[i * d + j] = i == j ? 1 + Double(rng.below(100)) / 100 : Double(rng.below(200)) / 1000 - 0.1 } }
            var inv = [Double](repeating: .nan, count: d * d)
            ck_f64_lower_inverse(d, l, &inv)
            let m = (0..<d).map { _ in Double(rng.below(1000)) / 500 - 1 }
            for n in [1, 7, 8, 9, 37] {
                let y = (0..<(n * d)).map { _ in Float(rng.below(4000)) / 1000 - 2 }
                var want = [Double](repeating: 0, count: n), got = want, work = [Double](repeating: 0, count: n * d)
                ck_f64_mahalanobis(n, d, y.map(Double.init), d, m, l, d, &work, &want, 1)
                var w8 = [Double](repeating: .nan, count: 8 * d)
                ck_f64_mahalanobis_inverse_f32(n, d, y, d, m, inv, &w8, &got)
                for t in 0..<n { XCTAssertEqual(got[t], want[t], accuracy: 1e-10 * max(1, want[t]), "d \(d) n \(n) row \(t)") }
            }
        }
    }

    /// ck_u8_label8 numbers the 8-connected components as scipy.ndimage.label with a 3 x 3
    /// structure of ones does.
    func testLabelsMatchSciPy() throws {
        let l = try kernels()["label"] as! [String: Any]
        let h = l["h"] as! Int, w = l["w"] as! Int
        let mask = (l["mask"] as! [Int]).map(UInt8.init)
        var labels = [Int32](repeating: -7, count: h * w), scratch = [Int32](repeating: -7, count: ck_regions8_scratch(h, w))
        XCTAssertEqual(ck_u8_label8(h, w, mask, &labels, &scratch), l["count"] as! Int)
        XCTAssertEqual(labels.map(Int.init), l["labels"] as! [Int])
    }

    /// A map's defect regions (ck_f32_regions8 through AnomalyMap.regions) are scipy.ndimage.label's
    /// components of the map above the threshold, with their boxes, areas and peaks (the first
    /// pixel of the largest value), on smooth fields with rings and U shapes, one row and one column.
    func testRegionsMatchSciPy() throws {
        for r in try kernels()["regions"] as! [[String: Any]] {
            let h = r["h"] as! Int, w = r["w"] as! Int, t = r["threshold"] as! Double
            let map = AnomalyMap(width: w, height: h, values: (r["map"] as! [Double]).map(Float.init))
            let want = (r["regions"] as! [[String: Any]]).enumerated().sorted {
                (($0.1["peak"] as! Double), $1.0) > (($1.1["peak"] as! Double), $0.0)
            }.map(\.1)
            let got = map.regions(above: t)
            XCTAssertEqual(got.count, want.count, "\(h)x\(w)")
            for (g, e) in zip(got, want) {
                XCTAssertEqual([g.x, g.y, g.width, g.height], e["box"] as! [Int], "\(h)x\(w)")
                XCTAssertEqual(g.area, e["area"] as! Int, "\(h)x\(w)")
                XCTAssertEqual(g.peak, Float(e["peak"] as! Double), "\(h)x\(w)")
                XCTAssertEqual(g.peakY * w + g.peakX, e["peak_at"] as! Int, "\(h)x\(w)")
            }
        }
    }

    /// Overlays (the kernel of the level under test) are the NumPy formula's bytes (within one:
    /// float32 against float64 rounding), on grey and colour images whose sizes leave vector
    /// tails, with the regions' outline.
    func testOverlayMatchesItsFormula() throws {
        for o in try kernels()["overlay"] as! [[String: Any]] {
            let h = o["h"] as! Int, w = o["w"] as! Int, ch = o["channels"] as! Int
            let image = Image(width: w, height: h, channels: ch, pixels: (o["image"] as! [Double]).map(Float.init))
            let map = AnomalyMap(width: w, height: h, values: (o["map"] as! [Double]).map(Float.init))
            let got = Overlay.rgb8(image: image, map: map, low: Float(o["low"] as! Double), high: Float(o["high"] as! Double),
                                   threshold: o["threshold"] as? Double)
            let want = o["rgb"] as! [Int]
            XCTAssertEqual(got.count, want.count)
            for i in want.indices { XCTAssertLessThanOrEqual(abs(Int(got[i]) - want[i]), 1, "\(h)x\(w)x\(ch) byte \(i)") }
        }
    }

    /// Pixel AUROC equals scikit-learn's roc_auc_score and AUPRO MVTec AD's compute_pro and
    /// trapezoid to 0.3, on maps with tied values and masks of several regions.
    func testPixelMetricsMatchScikitLearnAndMVTecAD() throws {
        let p = try kernels()["pixel"] as! [String: Any]
        let h = p["h"] as! Int, w = p["w"] as! Int
        var px = PixelMetrics()
        for (m, k) in zip(p["maps"] as! [[Double]], p["masks"] as! [[Int]]) {
            try px.add(map: m.map(Float.init), mask: k.map(UInt8.init), width: w, height: h)
        }
        let (auroc, aupro) = try px.compute()
        XCTAssertEqual(auroc, p["auroc"] as! Double, accuracy: 1e-12)
        XCTAssertEqual(aupro, p["aupro"] as! Double, accuracy: 1e-12)
        // Without defect pixels there is nothing to grade.
        var none = PixelMetrics()
        try none.add(map: [1, 2, 3, 4], mask: [0, 0, 0, 0], width: 2, height: 2)
        XCTAssertThrowsError(try none.compute())
    }

    /// The pixel quantile from the largest values alone equals the quantile of all of them, and
    /// shards merged give the same.
    func testPixelQuantileEqualsTheFullQuantile() throws {
        var rng = TestRNG(state: 3)
        let values = (0..<20_000).map { _ in Float(rng.below(10_000)) / 977 }
        for q in [0.001, 0.01, 0.3] {
            var one = PixelQuantile(q: q, total: values.count)
            one.add(values)
            var a = PixelQuantile(q: q, total: values.count), b = a
            a.add(values[..<7_000])
            b.add(values[7_000...])
            try a.merge(b)
            let s = values.map(Double.init).sorted()
            let pos = (1 - q) * Double(s.count - 1), lo = Int(pos.rounded(.down))
            let want = s[lo] + (s[min(lo + 1, s.count - 1)] - s[lo]) * (pos - Double(lo))
            XCTAssertEqual(try one.quantile(), want, accuracy: 1e-12, "q \(q)")
            XCTAssertEqual(try a.quantile(), want, accuracy: 1e-12, "q \(q) merged")
        }
    }
}
