// Hand-built hostile files (Tests/Fuzz/hostile, made by make.py): each refused with an error
// naming the file and saying what is wrong; plus the limits, the validation and the verdict.
import Foundation
import XCTest
@testable import GaussianAD

final class HostileFileTests: KernelLevelTestCase {
    static let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz/hostile")

    static func manifest() throws -> [(name: String, target: String, message: String)] {
        let j = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("expected.json")))
        let m = try XCTUnwrap(j as? [String: [String: String]])
        return m.keys.sorted().map { (name: $0, target: m[$0]!["target"]!, message: m[$0]!["message"]!) }
    }

    /// Loads `url` with the reader for `target`, with the default limits.
    static func load(_ url: URL, as target: String) throws {
        switch target {
        case "checkpoint", "safetensors": _ = try Checkpoint.load(contentsOf: url, limits: .builtIn)
        case "modelfile": _ = try ModelFile.load(from: url, limits: .builtIn)
        default: _ = try Image.decode(contentsOf: url, limits: .builtIn)
        }
    }

    func testEveryHostileFileIsRefusedWithAMessageNamingIt() throws {
        let files = try Self.manifest()
        XCTAssertGreaterThanOrEqual(files.count, 30)
        XCTAssertEqual(Set(files.map(\.target)), ["checkpoint", "safetensors", "modelfile", "image"])
        for f in files {
            let url = Self.dir.appendingPathComponent(f.name)
            XCTAssertThrowsError(try Self.load(url, as: f.target), "\(f.name) was accepted") { err in
                let msg = "\(err)"
                XCTAssertTrue(msg.contains(url.path), "\(f.name): the message does not name the file: \(msg)")
                XCTAssertTrue(msg.contains(f.message), "\(f.name): expected '\(f.message)' in: \(msg)")
            }
        }
    }

    func testLimitsComeFromTheEnvironmentAndRejectNonsense() throws {
        let l = try InputLimits.fromEnvironment(["GAUSSIAN_AD_MAX_IMAGE_PIXELS": "1_000", "GAUSSIAN_AD_MAX_PICKLE_DEPTH": "7"])
        XCTAssertEqual(l.maxImagePixels, 1000)
        XCTAssertEqual(l.maxPickleDepth, 7)
        XCTAssertEqual(l.maxTensorBytes, InputLimits.builtIn.maxTensorBytes)
        XCTAssertEqual(InputLimits.builtIn.maxImagePixels, 89_478_485)
        for bad in ["0", "-5", "lots", "1e9"] {
            XCTAssertThrowsError(try InputLimits.fromEnvironment(["GAUSSIAN_AD_MAX_TENSOR_BYTES": bad])) {
                XCTAssertTrue("\($0)".contains("GAUSSIAN_AD_MAX_TENSOR_BYTES"), "\($0)")
            }
        }
    }

    func testImageOverThePixelLimitSaysHowToRaiseIt() throws {
        var l = InputLimits.builtIn
        l.maxImagePixels = 1000
        let url = Fixtures.url("images/small_rgb.png")
        XCTAssertThrowsError(try Image.decode(contentsOf: url, limits: l)) { err in
            let msg = "\(err)"
            XCTAssertTrue(msg.contains(url.path) && msg.contains("over the limit of 1000"), msg)
            XCTAssertTrue(msg.contains("--max-image-pixels") && msg.contains("GAUSSIAN_AD_MAX_IMAGE_PIXELS"), msg)
        }
        l.maxImagePixels = 1 << 20
        XCTAssertNoThrow(try Image.decode(contentsOf: url, limits: l))
    }

    func testPickleDepthLimitIsTheUsersToRaise() throws {
        let url = Self.dir.appendingPathComponent("deep_lists.pth")
        var l = InputLimits.builtIn
        l.maxPickleDepth = 10_000
        // Past the nesting limit the file is still no state dict, but it is parsed that far.
        XCTAssertThrowsError(try Checkpoint.load(contentsOf: url, limits: l)) {
            XCTAssertTrue("\($0)".contains("not a state dict"), "\($0)")
        }
    }

    func testAZeroStrideViewWithinTheCapsIsMaterialised() throws {
        // Not hostile: 1024 copies of one stored 1.0 (stride 0) load as 1024 values.
        let ckpt = try Checkpoint.load(contentsOf: Self.dir.appendingPathComponent("zero_stride_ok.pth"))
        let w = try XCTUnwrap(ckpt["w"])
        XCTAssertEqual(w.shape, [1024])
        XCTAssertEqual(w.floats(), [Float](repeating: 1, count: 1024))
    }

    func testNonFiniteScoresAreNeverNormal() {
        let wp = WorkingPoint(targetFPR: 0.01, threshold: 10, calibrationCount: 100, observedFPR: 0.01, levelThresholds: [1])
        XCTAssertEqual(wp.verdict(9.9), .normal)
        XCTAssertEqual(wp.verdict(10.1), .anomalous)
        for s in [Double.nan, .infinity, -.infinity] {
            XCTAssertEqual(wp.verdict(s), .notFinite)
            XCTAssertTrue(wp.verdict(s).isAnomalous)
        }
    }

    func testModelWithNonPositiveCholeskyDiagonalBuiltInMemoryIsRefused() throws {
        // The same check through the encoder, independent of make.py's re-sealing.
        let d = 32
        var chol = [Double](repeating: 0, count: d * d)
        for i in 0..<d { chol[i * d + i] = 1 }
        chol[5 * d + 5] = 0
        let g = LevelGaussian(level: 0, dimension: d, count: 10, shrinkage: 0.1, mean: [Double](repeating: 0, count: d),
                              cholesky: chol, sd: [Double](repeating: 1, count: d), projection: nil)
        let m = GaussianModel(levelDims: BackboneKind.efficientNetLite0.levelDims, levels: [g], reduction: .none)
        let bytes = try ModelFile(backbone: .efficientNetLite0, weightsSHA256: "w", model: m).encoded()
        XCTAssertThrowsError(try ModelFile.decode(bytes, name: "m.gad")) {
            XCTAssertTrue("\($0)".contains("m.gad") && "\($0)".contains("diagonal 0.0 at 5"), "\($0)")
        }
        chol[5 * d + 5] = 1
        let ok = LevelGaussian(level: 0, dimension: d, count: 10, shrinkage: 0.1, mean: g.mean, cholesky: chol, sd: g.sd, projection: nil)
        let good = try ModelFile(backbone: .efficientNetLite0, weightsSHA256: "w",
                                 model: GaussianModel(levelDims: m.levelDims, levels: [ok], reduction: .none)).encoded()
        XCTAssertNoThrow(try ModelFile.decode(good, name: "m.gad"))
    }

    /// Writes `tensors` (float32) as a safetensors file.
    static func safetensors(_ tensors: [(String, [Int], [Float])], to url: URL) throws {
        var header: [String: Any] = [:]
        var data = Data()
        for (name, shape, values) in tensors {
            header[name] = ["dtype": "F32", "shape": shape, "data_offsets": [data.count, data.count + values.count * 4]]
            values.withUnsafeBytes { data.append(contentsOf: $0) }
        }
        let h = try JSONSerialization.data(withJSONObject: header)
        var out = Data()
        withUnsafeBytes(of: UInt64(h.count).littleEndian) { out.append(contentsOf: $0) }
        try (out + h + data).write(to: url)
    }

    /// Real Lite0 weights whose stem kernel is 0 x 0: refused before any graph is built, naming
    /// the file, the tensor and the shape expected.
    func testZeroSizedWeightsAreRefusedByName() throws {
        let src = Fixtures.cache.weights(for: .efficientNetLite0)
        guard FileManager.default.fileExists(atPath: src.path) else { throw XCTSkip("SKIPPED: Lite0 weights not at \(src.path); run scripts/setup") }
        let ckpt = try Checkpoint.load(contentsOf: src)
        let tensors = ckpt.names.map { n -> (String, [Int], [Float]) in
            n == "_conv_stem.weight" ? (n, [32, 3, 0, 0], []) : (n, ckpt[n]!.shape, ckpt[n]!.floats())
        }
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("gad-zero-\(UUID()).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try Self.safetensors(tensors, to: url)
        XCTAssertThrowsError(try Backbone.load(.efficientNetLite0, weights: url)) { err in
            XCTAssertTrue("\(err)".contains(url.path) && "\(err)".contains("_conv_stem.weight")
                          && "\(err)".contains("expects [32, 3, 3, 3]"), "\(err)")
        }
    }

    func testLevelDimsFollowTheArchitecture() throws {
        let j = try Fixtures.json("lite/lite_backbones.json") as! [String: Any]
        let b = j["backbones"] as! [String: [String: Any]]
        for k in BackboneKind.allCases where k.family == .efficientNetLite {
            XCTAssertEqual(k.levelDims, b[k.rawValue]!["level_dims"] as! [Int], k.rawValue)
        }
    }
}
