// A fit run as shards, through its files (parts and states encoded and read back), merged in a
// shuffled order, equals the one-machine fit; merges of incomplete or foreign parts are refused.
import Foundation
import XCTest
@testable import GaussianAD

final class ShardedFitTests: KernelLevelTestCase {
    func plan(_ reduction: Reduction, paths: [String], seed: UInt64 = 0, levelDims: [Int]) throws -> FitPlan {
        try FitPlan(backbone: .efficientNetLite0, weightsSHA256: "ab", levelDims: levelDims,
                    options: GaussianOptions(levels: [1, 4, 8], reduction: reduction, threads: 1),
                    folds: 5, seed: seed, category: "c", paths: paths)
    }

    /// One pass of `state` over shard `s` of `n`, in uneven batches, as the bytes of its part file.
    func partBytes(_ state: FitState, shard s: Int, of n: Int, all: FeatureMatrix, paths: [String]) throws -> [UInt8] {
        let shard = Shard(index: s, count: n)!
        let rows = paths.indices.filter { shard.contains(paths[$0]) }
        let part = try FitRunner.pass(state, shard: shard, paths: paths, threads: 1) { body in
            var i = 0, size = 7
            while i < rows.count {
                let r = Array(rows[i..<min(rows.count, i + size)])
                try body(all.selecting(rows: r), r.map { paths[$0] })
                i += r.count
                size = size * 5 % 31 + 3
            }
        }
        return try part.encoded()
    }

    func testShardedPassesThroughFilesEqualOneMachine() throws {
        let all = try gaussianFixtureFeatures()
        let paths = (0..<all.rows).map { String(format: "good/%03d.png", $0) }
        for reduction in [Reduction.none, .npca(0.99)] {
            let p = try plan(reduction, paths: paths, levelDims: all.levelDims)
            let fit = try FitRunner.fit(FitState(plan: p), paths: paths, targetFPR: 0.05, threads: 1) { try $0(all, paths) }
            let (model, wp) = (fit.model, fit.workingPoint)
            var state = FitState(plan: p)
            var passes: [FitPass] = []
            var finished: (GaussianModel, WorkingPoint)? = nil
            while finished == nil {
                passes.append(state.nextPass)
                var parts = try (0..<3).map { try FitPart.decode(try partBytes(state, shard: $0, of: 3, all: all, paths: paths), name: "part \($0)") }
                parts = [parts[2], parts[0], parts[1]]
                switch try state.advance(merging: parts, targetFPR: 0.05) {
                case .next(let n): state = try FitState.decode(try n.encoded(), name: "state")
                case .done(let r): finished = (r.model, r.workingPoint)
                }
            }
            XCTAssertEqual(passes, reduction == .none ? [.moments, .calibration] : [.moments, .projection, .calibration])
            let (m, w) = try XCTUnwrap(finished)
            assertSameModel(m, model, "\(reduction)")
            for (a, b) in zip(m.levels, model.levels) {
                XCTAssertEqual(a.dimension, b.dimension)
                if let pa = a.projection, let pb = b.projection {
                    let worst = zip(pa.components, pb.components).map { abs($0 - $1) }.max() ?? 0
                    XCTAssertLessThanOrEqual(worst, 1e-9, "level \(a.level) projection")
                }
            }
            XCTAssertEqual(w.threshold, wp.threshold, accuracy: 1e-9 * wp.threshold, "\(reduction)")
            XCTAssertEqual(w.calibrationCount, 400)
            XCTAssertEqual(w.observedFPR, wp.observedFPR)
        }
    }

    func testMergeRefusesIncompleteForeignAndCorruptParts() throws {
        let all = try gaussianFixtureFeatures()
        let paths = (0..<all.rows).map { String(format: "good/%03d.png", $0) }
        let p = try plan(.none, paths: paths, levelDims: all.levelDims)
        let state = FitState(plan: p)
        let bytes = try (0..<3).map { try partBytes(state, shard: $0, of: 3, all: all, paths: paths) }
        let parts = try bytes.enumerated().map { try FitPart.decode($1, name: "m\($0).gadpart") }
        func refusal(_ ps: [FitPart], _ names: [String]) -> String {
            do { _ = try state.advance(merging: ps, names: names, targetFPR: 0.01); return "merged" } catch { return "\(error)" }
        }
        XCTAssertTrue(refusal([parts[0], parts[2]], ["a", "b"]).contains("shards 1/3 of the moments pass are missing"))
        XCTAssertTrue(refusal([parts[0], parts[1], parts[1], parts[2]], ["a", "b", "c", "d"]).contains("c repeats shard 1/3"))
        // A part of another fit (another seed) is named.
        let other = try FitPart.decode(try partBytes(FitState(plan: try plan(.none, paths: paths, seed: 1, levelDims: all.levelDims)),
                                                     shard: 1, of: 3, all: all, paths: paths), name: "x")
        XCTAssertTrue(refusal([parts[0], other, parts[2]], ["a", "b", "c"]).contains("b belongs to another fit: 5 folds, seed 1"))
        // A pass over other images is refused before it starts.
        XCTAssertThrowsError(try state.pass(shard: Shard.all, paths: Array(paths.dropLast())))
        // Corrupt and truncated files name the file; a state is not a part.
        var flipped = bytes[0]
        flipped[flipped.count / 2] ^= 1
        for (b, why) in [(flipped, "checksum"), (Array(bytes[0].prefix(100)), "checksum"), (try state.encoded(), "fit in progress, not a fit part")] {
            XCTAssertThrowsError(try FitPart.decode(b, name: "bad.gadpart")) { e in
                XCTAssertTrue("\(e)".contains("bad.gadpart") && "\(e)".contains(why), "\(e)")
            }
        }
        // The calibration pass needs the state the parts were computed on.
        guard case .next(let calib) = try state.advance(merging: parts, targetFPR: 0.01) else { return XCTFail("one pass finished the fit") }
        XCTAssertEqual(calib.nextPass, FitPass.calibration)
        XCTAssertTrue(refusal(parts, ["a", "b", "c"]).contains("merged"))
        do {
            _ = try calib.advance(merging: parts, names: ["m0", "m1", "m2"], targetFPR: 0.01)
            XCTFail("a moments part merged into the calibration pass")
        } catch { XCTAssertTrue("\(error)".contains("m0 is a part of the moments pass"), "\(error)") }
    }
}
