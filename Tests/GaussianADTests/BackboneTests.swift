// EfficientNet-Lite0/1/2 with the published weights against PyTorch (lite_backbones.json).
import Foundation
import XCTest
@testable import GaussianAD

final class BackboneTests: KernelLevelTestCase {
    static let images = ["chelsea.png", "coffee.png", "rocket.jpg", "elpv_cell0004_normal.png", "elpv_cell0001_defect.png"]

    func loadOrSkip(_ kind: BackboneKind) throws -> Backbone {
        let url = Fixtures.cache.weights(for: kind)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw XCTSkip("SKIPPED: \(kind.rawValue) weights not at \(url.path); run scripts/setup")
        }
        return try Backbone.load(kind, cache: Fixtures.cache)
    }

    func relErr<F: BinaryFloatingPoint>(_ got: ArraySlice<F>, _ ref: [Double]) -> Double {
        let scale = ref.map(abs).max() ?? 1
        var worst = 0.0
        for (g, r) in zip(got, ref) { worst = max(worst, abs(Double(g) - r)) }
        return worst / max(scale, 1e-30)
    }

    func check(_ kind: BackboneKind) throws {
        let net = try loadOrSkip(kind)
        let all = try Fixtures.json("lite/lite_backbones.json") as! [String: Any]
        let ref = (all["backbones"] as! [String: Any])[kind.rawValue] as! [String: Any]
        XCTAssertEqual(net.levelDims, ref["level_dims"] as! [Int])
        XCTAssertEqual(net.weightsSHA256, ref["weights_sha256"] as! String)
        let imgs = try Self.images.map { try Image.decode(contentsOf: Fixtures.url("images/" + $0)) }
        let (feats, logitsOpt) = try net.run(inputs: net.preprocess(imgs), count: imgs.count, logits: true)
        let logits = try XCTUnwrap(logitsOpt)
        for (j, per) in (ref["per_image"] as! [[String: Any]]).enumerated() {
            let levels = per["levels"] as! [[Double]]
            for (l, lref) in levels.enumerated() {
                let e = relErr(feats.level(l, of: j), lref)
                XCTAssertLessThanOrEqual(e, 1e-4, "\(kind.rawValue) image \(Self.images[j]) level \(l)")
            }
            let lg = logits[(j * net.classCount)..<((j + 1) * net.classCount)]
            XCTAssertLessThanOrEqual(relErr(lg, per["logits"] as! [Double]), 1e-4, "\(kind.rawValue) logits \(Self.images[j])")
            let top5 = lg.indices.sorted { lg[$0] > lg[$1] }.prefix(5).map { $0 - j * net.classCount }
            XCTAssertEqual(Array(top5), per["top5"] as! [Int], "\(kind.rawValue) top-5 \(Self.images[j])")
        }
    }

    func testLite0MatchesPyTorch() throws { try check(.efficientNetLite0) }
    func testLite1MatchesPyTorch() throws { try check(.efficientNetLite1) }
    func testLite2MatchesPyTorch() throws { try check(.efficientNetLite2) }

    /// An image's levels do not depend on the batch it is in or on the thread count (images
    /// spread over threads, or one image split over all of them): within 1e-6 relative.
    func testLevelsIndependentOfBatchAndThreads() throws {
        _ = try loadOrSkip(.efficientNetLite0)
        let imgs = try Self.images.map { try Image.decode(contentsOf: Fixtures.url("images/" + $0)) }
        let one = try Backbone.load(.efficientNetLite0, cache: Fixtures.cache, threads: 1)
        let ref = try imgs.map { try one.levels(for: [$0]) }
        for threads in [1, 2, 3] {
            let net = try Backbone.load(.efficientNetLite0, cache: Fixtures.cache, threads: threads)
            for batch in [1, 2, 5] {
                let feats = try net.levels(for: Array(imgs.prefix(batch)))
                for j in 0..<batch {
                    let row = feats.values[(j * feats.dimension)..<((j + 1) * feats.dimension)]
                    XCTAssertLessThanOrEqual(relErr(row, ref[j].values), 1e-6, "threads \(threads) batch \(batch) image \(j)")
                }
            }
        }
    }

    /// Images streamed from files in long runs (each prepared in its thread's own slot, the
    /// run's last images split over the threads), with an unreadable file among them: every
    /// readable image's levels equal those of the image run alone, within 1e-6 relative, in
    /// order, and the unreadable one is reported at its place. Both thread layouts of a plan.
    func testStreamedRunsMatchImagesRunAlone() throws {
        _ = try loadOrSkip(.efficientNetLite0)
        let urls = Self.images.map { Fixtures.url("images/" + $0) }
        let one = try Backbone.load(.efficientNetLite0, cache: Fixtures.cache, threads: 1)
        let ref = try urls.map { try one.levels(for: [try Image.decode(contentsOf: $0)]).values }
        // 67 files: a run of 64 and a last run of 3 (one image per thread, then one split).
        var list = (0..<67).map { urls[$0 % urls.count] }
        list[40] = URL(fileURLWithPath: "/nonexistent/gaussian-ad-test.png")
        for spread in [true, false] {
            var plan = PlanOptions.heuristic(for: MachineFacts.current)
            plan.spreadImages = spread
            let net = try Backbone.load(.efficientNetLite0, cache: Fixtures.cache, threads: 2, plan: plan)
            let fx = FeatureExtractor(backbone: net, batchSize: 4)
            XCTAssertEqual(fx.imagesPerRun, spread ? 64 : 4)
            let (feats, errors) = fx.extractEach(list)
            XCTAssertEqual(errors.count, list.count)
            XCTAssertEqual(errors.indices.filter { errors[$0] != nil }, [40])
            XCTAssertEqual(feats.rows, list.count - 1)
            let d = feats.dimension
            var row = 0
            for i in list.indices where errors[i] == nil {
                let got = feats.values[(row * d)..<((row + 1) * d)].map(Float.init)
                XCTAssertLessThanOrEqual(relErr(got[...], ref[i % urls.count]), 1e-6, "spread \(spread) image \(i)")
                row += 1
            }
        }
    }

    func testWrongWeightsFileIsNamed() throws {
        XCTAssertThrowsError(try Backbone.load(.efficientNetLite0, weights: Fixtures.url("torch_formats/zip.pth"))) { err in
            XCTAssertTrue("\(err)".contains("zip.pth") && "\(err)".contains("_conv_stem"), "\(err)")
        }
    }
}
