// The anomaly maps on synthetic defects over ELPV normal cells (a model fitted on other normal
// cells), against the NumPy / SciPy / scikit-learn reference of the same formula
// (Fixtures/maps/reference.json, scripts/maps-reference): pixel AUROC, AUPRO, the share of
// defect images whose map peaks on the defect, and map values; slow (runs the network).
import Foundation
import XCTest
@testable import GaussianAD

final class SyntheticDefectMapsTests: KernelLevelTestCase {
    func testMapsMatchTheReferenceOnSyntheticDefects() throws {
        let elpv = Fixtures.cache.elpvData
        guard FileManager.default.fileExists(atPath: elpv.appendingPathComponent("labels.csv").path) else {
            throw XCTSkip("SKIPPED: ELPV data not at \(elpv.path); run scripts/setup")
        }
        guard FileManager.default.fileExists(atPath: Fixtures.cache.weights(for: .efficientNetLite0).path) else {
            throw XCTSkip("SKIPPED: Lite0 weights missing; run scripts/setup")
        }
        let ref = try Fixtures.json("maps/reference.json") as! [String: Any]
        let levels = ref["levels"] as! [Int]
        // The tree gaussian-ad-bench defects writes, which the reference read.
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("gad-defects-\(UUID())")
        defer { try? FileManager.default.removeItem(at: root) }
        let mono = try XCTUnwrap(try Dataset.open(elpv).categories.first { $0.name == "mono" })
        try SyntheticDefects.makeTree(normals: mono.items.filter { $0.label == 0 }.map(\.url), at: root, seed: 1)
        let cat = try XCTUnwrap(try Dataset.open(root).categories.first)
        XCTAssertTrue(cat.hasMasks)
        XCTAssertEqual(cat.items.filter { $0.isTrain }.count, 348)
        let net = try Backbone.load(.efficientNetLite0, cache: Fixtures.cache)
        let feats = try FeatureExtractor(backbone: net, mapLevels: levels).extract(cat.items.map(\.url))
        let maps = try XCTUnwrap(feats.maps)
        let train = cat.items.indices.filter { cat.items[$0].isTrain }
        let grids = ref["grids"] as! [String: [String: Any]]
        for (name, grid) in [("1x1", MapGrid.cells(1)), ("position", .perPosition)] {
            let want = try XCTUnwrap(grids[name])
            let settings = try MapSettings(levels: levels, grid: grid, backbone: .efficientNetLite0)
            var o = EvaluationOptions()
            o.folds = 1
            o.levels = [0, 4, 8]
            o.maps = settings
            let r = try Evaluation.evaluate(category: cat, features: feats, options: o)
            // The same formula on the same images: equal up to the network's rounding on this
            // machine's kernels (the reference read taps of the AVX-512 build).
            for (key, got) in [("pixel_auroc", r.pixelAUROC), ("pixel_aupro", r.pixelAUPRO), ("peak_hit", r.peakHit)] {
                let g = try XCTUnwrap(got, key), w = want[key] as! Double
                XCTAssertGreaterThanOrEqual(g, w - 2e-3, "\(name) \(key): \(g) against the reference's \(w)")
                XCTAssertEqual(g, w, accuracy: 1e-2, "\(name) \(key)")
            }
            // Map values at the reference's sample pixels, from the fold's model built alone.
            var acc = try SpatialAccumulator(settings: settings, levelShapes: net.levelShapes, inputSize: 224)
            try acc.add(maps, images: train)
            var model = try acc.finalize()
            var norm = NormalizerAccumulator(shapes: model.shapes)
            for i in train { norm.add(model.distanceMaps(maps, image: i)) }
            model.normalizer = try norm.finalize()
            for s in want["samples"] as! [[String: Any]] {
                let i = try XCTUnwrap(cat.items.firstIndex { $0.relativePath == s["path"] as! String })
                let size = maps.sizes[i]
                let m = model.anomalyMap(maps, image: i, height: size.height, width: size.width)
                for (p, v) in zip(s["pixels"] as! [Int], s["values"] as! [Double]) {
                    XCTAssertEqual(Double(m.values[p]), v, accuracy: 1e-3 * max(1, abs(v)), "\(name) \(s["path"]!) pixel \(p)")
                }
            }
        }
    }
}
