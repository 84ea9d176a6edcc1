// The anomaly maps' model: a sharded fit equals the one-machine fit, model files with maps
// round-trip and refuse hostile values by name, version 1 files still load and score.
import Foundation
import XCTest
@testable import GaussianAD

final class MapsTests: KernelLevelTestCase {
    /// Map levels 1 and 2 of Lite0's layout on small made-up maps: 5 x 5 x 16 and 3 x 4 x 24.
    let shapes = [MapShape(h: 5, w: 5, c: 16), MapShape(h: 3, w: 4, c: 24)]

    /// The pooled fixture features with made-up maps: each position a mix of a few shared
    /// factors (so covariances are full) and of the image's own pooled levels.
    func features() throws -> FeatureMatrix {
        var f = try gaussianFixtureFeatures()
        var rng = TestRNG(state: 9)
        let per = shapes.reduce(0) { $0 + $1.count }
        var v = [Float](repeating: 0, count: f.rows * per)
        for i in 0..<f.rows {
            var o = i * per
            for s in shapes {
                for p in 0..<s.positions {
                    let a = Float(rng.below(1000)) / 1000, b = Float(rng.below(1000)) / 1000
                    for c in 0..<s.c {
                        let noise = Float(rng.below(2000)) / 1000 - 1
                        v[o] = noise + a * Float(c % 3) + b * Float(p % 4) + Float(f.values[i * f.dimension + c]) * 0.1
                        o += 1
                    }
                }
            }
        }
        var maps = try FeatureMaps(levels: [1, 2], shapes: shapes, count: f.rows, values: v)
        maps.sizes = (0..<f.rows).map { PixelSize(width: 40 + $0 % 3, height: 30 + $0 % 5) }
        f.maps = maps
        return f
    }

    func plan(_ grid: MapGrid, paths: [String], levelDims: [Int]) throws -> FitPlan {
        let settings = try MapSettings(levels: [1, 2], grid: grid, pixelFPR: 0.01, backbone: .efficientNetLite0)
        return try FitPlan(backbone: .efficientNetLite0, weightsSHA256: "ab", levelDims: levelDims,
                           options: GaussianOptions(levels: [1, 4, 8], threads: 1), folds: 5, seed: 0, category: "c", paths: paths,
                           maps: MapPlan(settings: settings, shapes: shapes, inputSize: 224))
    }

    func assertSameMaps(_ a: SpatialModel, _ b: SpatialModel, _ what: String) throws {
        XCTAssertEqual(a.settings, b.settings, what)
        for (x, y) in zip(a.levels, b.levels) {
            XCTAssertEqual(x.cells.count, y.cells.count, what)
            for (p, q) in zip(x.cells, y.cells) {
                XCTAssertEqual(p.count, q.count, what)
                for (name, u, v) in [("mean", p.mean, q.mean), ("cholesky", p.cholesky, q.cholesky)] {
                    let scale = max(v.map(abs).max() ?? 1, 1e-300)
                    XCTAssertLessThanOrEqual((zip(u, v).map { abs($0 - $1) }.max() ?? 0) / scale, 1e-9, "\(what) level \(x.level) \(name)")
                }
            }
        }
        let (na, nb) = (try XCTUnwrap(a.normalizer), try XCTUnwrap(b.normalizer))
        XCTAssertEqual(na.images, nb.images, what)
        for l in na.mean.indices {
            for (u, v) in [(na.mean[l], nb.mean[l]), (na.sd[l], nb.sd[l])] {
                XCTAssertLessThanOrEqual(zip(u, v).map { abs($0 - $1) / max(abs($1), 1e-300) }.max() ?? 0, 1e-9, "\(what) normaliser")
            }
        }
        let (ta, tb) = (try XCTUnwrap(a.pixelThreshold), try XCTUnwrap(b.pixelThreshold))
        XCTAssertEqual(ta, tb, accuracy: 1e-9 * abs(tb), what)
        XCTAssertEqual(a.calibrationImages, b.calibrationImages, what)
    }

    /// Three shards a pass, their parts and the states between passes through files, merged in
    /// a shuffled order: the same spatial Gaussians, normaliser, pixel threshold and maps as the
    /// one-machine fit (1e-9 relative), for one shared cell and one cell per position.
    func testShardedMapsThroughFilesEqualOneMachine() throws {
        let all = try features()
        let paths = (0..<all.rows).map { String(format: "good/%03d.png", $0) }
        for grid in [MapGrid.cells(1), .perPosition] {
            let p = try plan(grid, paths: paths, levelDims: all.levelDims)
            let one = try FitRunner.fit(FitState(plan: p), paths: paths, targetFPR: 0.05, threads: 1) { try $0(all, paths) }
            let model = try XCTUnwrap(one.maps)
            var state = FitState(plan: p)
            var finished: SpatialModel? = nil
            while finished == nil {
                var parts = try (0..<3).map { s -> FitPart in
                    let shard = Shard(index: s, count: 3)!
                    let rows = paths.indices.filter { shard.contains(paths[$0]) }
                    let part = try FitRunner.pass(state, shard: shard, paths: paths, threads: 1) { body in
                        var i = 0
                        while i < rows.count {
                            let r = Array(rows[i..<min(rows.count, i + 11)])
                            try body(all.selecting(rows: r), r.map { paths[$0] })
                            i += r.count
                        }
                    }
                    return try FitPart.decode(try part.encoded(), name: "part \(s)")
                }
                parts = [parts[1], parts[2], parts[0]]
                switch try state.advance(merging: parts, targetFPR: 0.05) {
                case .next(let n): state = try FitState.decode(try n.encoded(), name: "state")
                case .done(let r): finished = r.maps
                }
            }
            let sharded = try XCTUnwrap(finished)
            try assertSameMaps(sharded, model, "\(grid)")
            // The maps themselves: every value of a few images' maps at their own sizes.
            let maps = try XCTUnwrap(all.maps)
            for i in [0, 7, 123] {
                let s = maps.sizes[i]
                let a = sharded.anomalyMap(maps, image: i, height: s.height, width: s.width)
                let b = model.anomalyMap(maps, image: i, height: s.height, width: s.width)
                XCTAssertEqual(a.width, s.width)
                XCTAssertEqual(a.height, s.height)
                let worst = zip(a.values, b.values).map { abs($0 - $1) / max(abs($1), 1) }.max() ?? 0
                XCTAssertLessThanOrEqual(worst, 1e-6, "\(grid) image \(i)")
            }
            XCTAssertEqual(model.calibrationImages, 400)
            XCTAssertEqual(model.levels.map(\.cells.count), grid == .perPosition ? [25, 12] : [1, 1])
        }
    }

    /// The model file with maps reads back equal; a file whose map section holds hostile values
    /// is refused with a reason naming the maps.
    func testModelFileWithMapsRoundTripsAndRefusesHostileValues() throws {
        let all = try features()
        let paths = (0..<all.rows).map { String(format: "good/%03d.png", $0) }
        let fit = try FitRunner.fit(FitState(plan: try plan(.cells(2), paths: paths, levelDims: all.levelDims)), paths: paths,
                                    targetFPR: 0.05, threads: 1) { try $0(all, paths) }
        let file = ModelFile(backbone: .efficientNetLite0, weightsSHA256: "ab", model: fit.model, workingPoint: fit.workingPoint,
                             maps: fit.maps)
        let bytes = try file.encoded()
        XCTAssertEqual(try ModelFile.decode(bytes, name: "m.gad"), file)
        // Re-encode the file with its header changed (and its checksum made right).
        func tampered(_ change: (inout ModelFile.Header, inout [Double]) -> Void) throws -> [UInt8] {
            var (h, reader) = try Container.decode(bytes, magic: Container.modelMagic, version: ModelFile.version, what: "model",
                                                   limits: .default, header: ModelFile.Header.self) { .badModelFile(path: "x", reason: $0) }
            var arrays = try reader.take(reader.remaining, "arrays")
            change(&h, &arrays)
            h.arrayCount = arrays.count
            return try Container.encode(magic: Container.modelMagic, version: ModelFile.version, header: h, arrays: arrays)
        }
        // The map section starts after the image-level model's arrays.
        var imageLevel: [Double] = []
        _ = ModelCodec.encode(fit.model, into: &imageLevel)
        let mapStart = imageLevel.count
        let cases: [(String, (inout ModelFile.Header, inout [Double]) -> Void, String)] = [
            ("grid", { h, _ in h.maps!.settings.grid = .cells(-3) }, "map grid of -3 cells"),
            ("level", { h, _ in h.maps!.settings.levels = [1, 9] }, "map levels [1, 9]"),
            ("channels", { h, _ in h.maps!.levels[0].shape = MapShape(h: 5, w: 5, c: 17) }, "map level 1 has shape 5 x 5 x 17"),
            ("cells", { h, _ in h.maps!.levels[1].cells.removeLast() }, "map level 2 has 3 cells"),
            ("shrinkage", { h, _ in h.maps!.levels[0].cells[0].shrinkage = 2 }, "map level 1 cell 0 has count"),
            ("pixel FPR", { h, _ in h.maps!.settings.pixelFPR = 1.5 }, "map pixel FPR 1.5"),
            ("mean", { _, a in a[mapStart] = .nan }, "map level 1 cell 0 mean holds a non-finite value"),
            ("cholesky", { _, a in a[mapStart + 16] = -1 }, "map level 1 cell 0 Cholesky factor has diagonal -1"),
            ("normaliser", { _, a in a[a.count - 1] = 0 }, "map level 2 normaliser standard deviation 0.0 at position 11"),
            ("truncated", { _, a in a.removeLast() }, "arrays shorter than the header says"),
        ]
        for (what, change, reason) in cases {
            XCTAssertThrowsError(try ModelFile.decode(try tampered(change), name: "m.gad"), what) { e in
                XCTAssertTrue("\(e)".hasPrefix("m.gad: not a usable gaussian-ad model file:"), "\(what): \(e)")
                XCTAssertTrue("\(e)".contains(reason), "\(what): \(e)")
            }
        }
    }

    /// A model file of version 1 (written by the build before maps) still loads, has no maps,
    /// scores, and a detector asked for maps says to fit it again, naming it.
    func testVersionOneModelLoadsAndScoresWithoutMaps() throws {
        let url = Fixtures.url("models/v1-lite0-levels0-2.gad")
        let file = try ModelFile.load(from: url)
        XCTAssertEqual(file.formatVersion, 1)
        XCTAssertNil(file.maps)
        XCTAssertEqual(file.model.levels.map(\.level), [0, 1, 2])
        let feats = try gaussianFixtureFeatures()
        let s = try file.model.score(feats.selecting(rows: [0, 1, 2]))
        XCTAssertEqual(s.combined.count, 3)
        XCTAssertTrue(s.combined.allSatisfy(\.isFinite))
        guard FileManager.default.fileExists(atPath: Fixtures.cache.weights(for: .efficientNetLite0).path) else {
            throw XCTSkip("SKIPPED: Lite0 weights missing; run scripts/setup")
        }
        let net = try Backbone.load(.efficientNetLite0, cache: Fixtures.cache, threads: 1)
        XCTAssertNoThrow(try Detector(model: file, modelPath: url.path, backbone: net))
        XCTAssertThrowsError(try Detector(model: file, modelPath: url.path, backbone: net, maps: true)) { e in
            XCTAssertTrue("\(e)".contains(url.path) && "\(e)".contains("fit it again"), "\(e)")
        }
    }
}
