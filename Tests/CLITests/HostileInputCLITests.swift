// Hostile files through the real executable: exit 1, a message naming the file, nothing
// written; the limits' option and environment variable; the fuzz corpus replayed.
import Foundation
import XCTest
@testable import GaussianAD

final class HostileInputCLITests: CLITestCase {
    static let fuzzDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz")

    func manifest() throws -> [String: [String: String]] {
        let j = try JSONSerialization.jsonObject(with: Data(contentsOf: Self.fuzzDir.appendingPathComponent("hostile/expected.json")))
        return try XCTUnwrap(j as? [String: [String: String]])
    }

    func testHostileFilesExitOneNamingTheFile() throws {
        let chelsea = Self.fixtures.appendingPathComponent("chelsea.png").path
        for (name, e) in try manifest().sorted(by: { $0.key < $1.key }) {
            let path = Self.fuzzDir.appendingPathComponent("hostile/\(name)").path
            let r: (code: Int32, out: String, err: String)
            switch e["target"]! {
            case "checkpoint", "safetensors": r = try run(["classify", chelsea, "--weights", path])
            case "modelfile": r = try run(["info", path])
            default: r = try run(["classify", path])
            }
            XCTAssertEqual(r.code, 1, "\(name): \(r.err)")
            XCTAssertTrue(r.err.contains(path) && r.err.contains(e["message"]!), "\(name): \(r.err)")
        }
    }

    func testNothingIsWrittenWhenTheWeightsOrModelAreHostile() throws {
        let root = try makeMVTec()
        let out = work.appendingPathComponent("out.gad")
        let weights = Self.fuzzDir.appendingPathComponent("hostile/zero_stride_huge.pth").path
        let r = try run(["fit", root.appendingPathComponent("cells").path, "-o", out.path, "--weights", weights])
        XCTAssertEqual(r.code, 1, r.err)
        XCTAssertTrue(r.err.contains(weights), r.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: work.path), ["mvtec"])
        let model = Self.fuzzDir.appendingPathComponent("hostile/negative_cholesky_diagonal.gad").path
        let s = try run(["score", model, Self.fixtures.appendingPathComponent("chelsea.png").path, "--json"])
        XCTAssertEqual(s.code, 1, s.err)
        XCTAssertTrue(s.out.isEmpty, "a hostile model scored images: \(s.out)")
        XCTAssertTrue(s.err.contains(model), s.err)
    }

    func testPixelLimitFromOptionAndEnvironment() throws {
        let img = Self.fixtures.appendingPathComponent("chelsea.png").path
        var r = try run(["classify", img, "--max-image-pixels", "1000"])
        XCTAssertEqual(r.code, 1, r.err)
        XCTAssertTrue(r.err.contains(img) && r.err.contains("over the limit of 1000"), r.err)
        r = try run(["classify", img], environment: ["GAUSSIAN_AD_MAX_IMAGE_PIXELS": "1000"])
        XCTAssertEqual(r.code, 1, r.err)
        XCTAssertTrue(r.err.contains("GAUSSIAN_AD_MAX_IMAGE_PIXELS"), r.err)
        r = try run(["classify", img], environment: ["GAUSSIAN_AD_MAX_IMAGE_PIXELS": "many"])
        XCTAssertEqual(r.code, 1, r.err)
        XCTAssertTrue(r.err.contains("GAUSSIAN_AD_MAX_IMAGE_PIXELS must be a positive whole number"), r.err)
        XCTAssertEqual(try run(["classify", img, "--max-image-pixels", "-3"]).code, 2)
        // The option overrides the environment.
        r = try run(["classify", img, "--max-image-pixels", "200000"], environment: ["GAUSSIAN_AD_MAX_IMAGE_PIXELS": "1000"])
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertTrue(r.out.contains("Egyptian cat"), r.out)
    }

    /// The committed corpus, every regression input and every hostile file, replayed through the fuzz targets' own code.
    func testFuzzCorpusReplaysWithoutACrash() throws {
        let fuzz = tool.deletingLastPathComponent().appendingPathComponent("gaussian-ad-fuzz")
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: fuzz.path), "\(fuzz.path) is not built")
        let hostile = try manifest()
        for target in ["checkpoint", "safetensors", "modelfile", "png", "jpeg"] {
            var inputs = [Self.fuzzDir.appendingPathComponent("corpus/\(target)").path]
            let regressions = Self.fuzzDir.appendingPathComponent("regressions/\(target)")
            if FileManager.default.fileExists(atPath: regressions.path) { inputs.append(regressions.path) }
            let kind = target == "png" || target == "jpeg" ? "image" : target
            inputs += hostile.filter { $0.value["target"] == kind }.keys.sorted()
                .map { Self.fuzzDir.appendingPathComponent("hostile/\($0)").path }
            let r = try run([target] + inputs, executable: fuzz)
            XCTAssertEqual(r.code, 0, "\(target): \(r.out) \(r.err)")
            XCTAssertTrue(r.out.contains("none crashed"), r.out)
        }
    }
}
