// Model file round trip (bit-identical scores) and mutation robustness.
import Foundation
import XCTest
@testable import GaussianAD

final class ModelFileTests: KernelLevelTestCase {
    func fixtureModel(_ r: Reduction = .none) throws -> (GaussianModel, FeatureMatrix) {
        let exp = try Fixtures.json("gaussian/expected.json") as! [String: Any]
        let dims = exp["level_dims"] as! [Int]
        let tr = try Fixtures.float32s("gaussian/train_400x2096.f32").map(Double.init)
        let te = try Fixtures.float32s("gaussian/test_60x2096.f32").map(Double.init)
        let train = try FeatureMatrix(rows: 400, levelDims: dims, values: tr)
        let model = try GaussianModel.fit(train, options: GaussianOptions(levels: [0, 2, 5, 8], reduction: r))
        return (model, try FeatureMatrix(rows: 60, levelDims: dims, values: te))
    }

    func tempURL() -> URL { FileManager.default.temporaryDirectory.appendingPathComponent("gad-test-\(UUID()).gad") }

    func testRoundTripScoresAreBitIdentical() throws {
        for r in [Reduction.none, .npca(0.95)] {
            let (model, test) = try fixtureModel(r)
            let wp = try WorkingPoint.calibrate(normalScores: try model.score(test).combined, targetFPR: 0.05, levelDimensions: model.levels.map(\.dimension))
            let file = ModelFile(backbone: .efficientNetLite0, weightsSHA256: String(repeating: "a", count: 64), model: model,
                                 workingPoint: wp, metadata: ["category": "mono"])
            let url = tempURL()
            defer { try? FileManager.default.removeItem(at: url) }
            try file.save(to: url)
            let back = try ModelFile.load(from: url, expecting: .efficientNetLite0)
            XCTAssertEqual(back, file)
            let a = try model.score(test), b = try back.model.score(test)
            XCTAssertEqual(a.combined.map(\.bitPattern), b.combined.map(\.bitPattern))
            XCTAssertEqual(a.sed.map(\.bitPattern), b.sed.map(\.bitPattern))
            XCTAssertThrowsError(try ModelFile.load(from: url, expecting: .efficientNetLite2)) { err in
                XCTAssertTrue("\(err)".contains(url.path) && "\(err)".contains("lite0"), "\(err)")
            }
        }
    }

    func testMutatedModelFilesAlwaysFail() throws {
        let (model, _) = try fixtureModel(.pca(0.95))
        let bytes = try ModelFile(backbone: .efficientNetLite1, weightsSHA256: "x", model: model).encoded()
        XCTAssertNoThrow(try ModelFile.decode(bytes, name: "m.gad"))
        let r = mutate(bytes, copies: 3000, seed: 7) { b in (try? ModelFile.decode(b, name: "m.gad")) != nil }
        XCTAssertEqual(r.ok, 0, "a corrupted model file was accepted")
        var wrongVersion = bytes
        wrongVersion[8] = 99
        XCTAssertThrowsError(try ModelFile.decode(wrongVersion, name: "v.gad")) { XCTAssertTrue("\($0)".contains("version 99"), "\($0)") }
    }

    func testLoadAlongsideGetsTheFilesBackboneAndReportsTheFileFirst() throws {
        struct WorkFailed: Error {}
        let (model, _) = try fixtureModel()
        let file = ModelFile(backbone: .efficientNetLite1, weightsSHA256: "w", model: model)
        let url = tempURL(), bad = tempURL()
        defer { try? FileManager.default.removeItem(at: url); try? FileManager.default.removeItem(at: bad) }
        try file.save(to: url)
        var kinds: [BackboneKind] = []
        let (back, kind) = try ModelFile.load(from: url) { k in kinds.append(k); return k }
        XCTAssertEqual(back, file)
        XCTAssertEqual(kind, .efficientNetLite1)
        XCTAssertEqual(kinds, [.efficientNetLite1], "the work ran more than once for a readable header")
        // A corrupt array section: the header still names lite1, the work runs and fails, and
        // the error reported is the file's.
        var bytes = try file.encoded()
        bytes[bytes.count - 40] ^= 0x55
        try Data(bytes).write(to: bad)
        XCTAssertThrowsError(try ModelFile.load(from: bad) { _ in throw WorkFailed() }) { err in
            XCTAssertFalse(err is WorkFailed)
            XCTAssertTrue("\(err)".contains(bad.path) && "\(err)".contains("checksum"), "\(err)")
        }
        // A header that cannot be read ahead: the work runs once, after the checked load (here
        // the load fails, so not at all).
        kinds = []
        try Data(Array(bytes.prefix(12)) + [UInt8](repeating: 0xff, count: 40)).write(to: bad)
        XCTAssertThrowsError(try ModelFile.load(from: bad) { k in kinds.append(k); return k })
        XCTAssertEqual(kinds, [])
    }

    func testSaveIsAtomicAndLeavesNoTemporaryFiles() throws {
        let (model, _) = try fixtureModel()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gad-atomic-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("m.gad")
        try ModelFile(backbone: .efficientNetLite0, weightsSHA256: "s", model: model).save(to: url)
        try ModelFile(backbone: .efficientNetLite0, weightsSHA256: "t", model: model).save(to: url)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["m.gad"])
        XCTAssertEqual(try ModelFile.load(from: url).weightsSHA256, "t")
        XCTAssertThrowsError(try ModelFile(backbone: .efficientNetLite0, weightsSHA256: "s", model: model)
            .save(to: URL(fileURLWithPath: "/nonexistent-dir/m.gad")))
    }
}
