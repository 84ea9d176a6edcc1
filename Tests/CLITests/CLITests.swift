// End-to-end tests of the gaussian-ad executable on small datasets built from fixture images.
import Foundation
import XCTest
@testable import GaussianAD

/// Shared set-up of the CLI tests: the built tool, a scratch folder, fixture datasets.
class CLITestCase: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("GaussianADTests/Fixtures/images")
    var work: URL!

    /// The built executable, beside the test bundle.
    var tool: URL {
        let b = Bundle(for: CLITestCase.self).bundleURL
        let candidates = [b, b.deletingLastPathComponent(), b.appendingPathComponent("release"), b.appendingPathComponent("debug")]
            .map { $0.appendingPathComponent("gaussian-ad") }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates[0]
    }

    override func setUpWithError() throws {
        guard FileManager.default.fileExists(atPath: CacheFolder.fromEnvironment(ProcessInfo.processInfo.environment).weights(for: .efficientNetLite0).path) else {
            throw XCTSkip("SKIPPED: Lite0 weights missing; run scripts/setup")
        }
        guard FileManager.default.isExecutableFile(atPath: tool.path) else {
            XCTFail("\(tool.path) is not built: swift build --build-tests builds it with the tests")
            throw CocoaError(.fileNoSuchFile)
        }
        work = FileManager.default.temporaryDirectory.appendingPathComponent("gad-cli-\(UUID())")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { if let w = work { try? FileManager.default.removeItem(at: w) } }

    @discardableResult
    func run(_ args: [String], environment: [String: String] = [:], executable: URL? = nil, stdin: String? = nil,
             stdout: FileHandle? = nil, in directory: URL? = nil) throws -> (code: Int32, out: String, err: String) {
        let p = Process()
        p.executableURL = executable ?? tool
        p.arguments = args
        if let directory { p.currentDirectoryURL = directory }
        if !environment.isEmpty { p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        if let text = stdin {
            let i = Pipe()
            p.standardInput = i
            try i.fileHandleForWriting.write(contentsOf: Data(text.utf8))
            try i.fileHandleForWriting.close()
        }
        let o = Pipe(), e = Pipe()
        p.standardOutput = stdout ?? o
        p.standardError = e
        try p.run()
        if stdout != nil { try o.fileHandleForWriting.close() }
        let od = o.fileHandleForReading.readDataToEndOfFile(), ed = e.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: od, as: UTF8.self), String(decoding: ed, as: UTF8.self))
    }

    /// Writes `count` crops of a fixture image (shifted, some mirrored) as PNGs into `dir`.
    func crops(of name: String, count: Int, into dir: URL, seed: Int) throws {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let img = try Image.decode(contentsOf: Self.fixtures.appendingPathComponent(name))
        let rgb = img.rgbPixels
        let side = min(img.width, img.height) - 40
        for i in 0..<count {
            let dx = (i * 7 + seed * 3) % 40, dy = (i * 13 + seed) % 40
            var px = [Float](repeating: 0, count: side * side * 3)
            for y in 0..<side {
                for x in 0..<side {
                    let sx = i % 2 == 0 ? x + dx : side - 1 - x + dx
                    for c in 0..<3 { px[(y * side + x) * 3 + c] = rgb[((y + dy) * img.width + sx) * 3 + c] }
                }
            }
            let png = PNGEncoder.encode(width: side, height: side, rgb: px)
            try Data(png).write(to: dir.appendingPathComponent(String(format: "%03d.png", i)))
        }
    }

    func makeMVTec() throws -> URL {
        let cat = work.appendingPathComponent("mvtec/cells")
        try crops(of: "elpv_cell0004_normal.png", count: 12, into: cat.appendingPathComponent("train/good"), seed: 0)
        try crops(of: "elpv_cell0004_normal.png", count: 4, into: cat.appendingPathComponent("test/good"), seed: 5)
        try crops(of: "elpv_cell0001_defect.png", count: 4, into: cat.appendingPathComponent("test/crack"), seed: 1)
        try crops(of: "elpv_cell0001_defect.png", count: 4, into: cat.appendingPathComponent("ground_truth/crack"), seed: 1)
        return work.appendingPathComponent("mvtec")
    }

    /// Means, Cholesky factors (hence covariances) and thresholds within 1e-9 relative; the same
    /// `info --json` apart from metadata.
    func assertSameModel(_ a: URL, _ b: URL, _ what: String) throws {
        let x = try ModelFile.load(from: a), y = try ModelFile.load(from: b)
        XCTAssertEqual(x.model.levels.map(\.level), y.model.levels.map(\.level), what)
        for (p, q) in zip(x.model.levels, y.model.levels) {
            XCTAssertEqual(p.dimension, q.dimension, what)
            XCTAssertEqual(p.count, q.count, what)
            let spread = q.sd.max() ?? 1
            for (name, u, v) in [("mean", p.mean, q.mean), ("cholesky", p.cholesky, q.cholesky)] {
                let scale = max(v.map(abs).max() ?? 1, name == "mean" ? spread : 0)
                let worst = zip(u, v).map { abs($0 - $1) }.max() ?? 0
                XCTAssertLessThanOrEqual(worst / scale, 1e-9, "\(what) level \(p.level) \(name)")
            }
        }
        XCTAssertEqual(x.maps == nil, y.maps == nil, what)
        if let ma = x.maps, let mb = y.maps {
            XCTAssertEqual(ma.settings, mb.settings, what)
            for (p, q) in zip(ma.levels.flatMap(\.cells), mb.levels.flatMap(\.cells)) {
                for (name, u, v) in [("map mean", p.mean, q.mean), ("map cholesky", p.cholesky, q.cholesky)] {
                    let worst = zip(u, v).map { abs($0 - $1) }.max() ?? 0
                    XCTAssertLessThanOrEqual(worst / max(v.map(abs).max() ?? 1, 1e-300), 1e-9, "\(what) \(name)")
                }
            }
            let (na, nb) = (try XCTUnwrap(ma.normalizer), try XCTUnwrap(mb.normalizer))
            for (u, v) in zip(na.mean + na.sd, nb.mean + nb.sd) {
                XCTAssertLessThanOrEqual(zip(u, v).map { abs($0 - $1) / max(abs($1), 1e-300) }.max() ?? 0, 1e-9, "\(what) map normaliser")
            }
            let (ta, tb) = (try XCTUnwrap(ma.pixelThreshold), try XCTUnwrap(mb.pixelThreshold))
            XCTAssertEqual(ta, tb, accuracy: 1e-9 * abs(tb), "\(what) pixel threshold")
        }
        let (wa, wb) = (try XCTUnwrap(x.workingPoint), try XCTUnwrap(y.workingPoint))
        XCTAssertEqual(wa.threshold, wb.threshold, accuracy: 1e-9 * wb.threshold, what)
        XCTAssertEqual(wa.calibrationCount, wb.calibrationCount, what)
        XCTAssertEqual(wa.observedFPR, wb.observedFPR, what)
        func info(_ u: URL) throws -> [String: Any] {
            let r = try run(["info", u.path, "--json"])
            XCTAssertEqual(r.code, 0, r.err)
            var j = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any])
            j["metadata"] = nil
            j["threshold"] = nil
            if var m = j["maps"] as? [String: Any] {
                m["pixelThreshold"] = nil
                j["maps"] = m
            }
            j["levels"] = (j["levels"] as? [[String: Any]])?.map { l -> [String: Any] in
                var l = l
                l["shrinkage"] = (((l["shrinkage"] as? Double) ?? -1) * 1e8).rounded() / 1e8
                return l
            }
            return j
        }
        XCTAssertEqual(NSDictionary(dictionary: try info(a)), NSDictionary(dictionary: try info(b)), what)
    }

}

/// Writes `checkpoint` as a .safetensors file (float32 tensors), as a user's weight file.
func writeSafetensors(_ checkpoint: Checkpoint, to url: URL) throws {
    var header: [String: Any] = [:], data = [UInt8]()
    for name in checkpoint.names {
        let t = checkpoint[name]!
        header[name] = ["dtype": "F32", "shape": t.shape, "data_offsets": [data.count, data.count + t.bytes.count]]
        data += t.bytes
    }
    var json = [UInt8](try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys]))
    while json.count % 8 != 0 { json.append(0x20) }
    var out = [UInt8]()
    for i in 0..<8 { out.append(UInt8(truncatingIfNeeded: UInt64(json.count) >> (8 * UInt64(i)))) }
    try Data(out + json + data).write(to: url)
}

final class CLITests: CLITestCase {
    /// The paper's B4 through every command, with a formula-weight file (published weights are
    /// not at hand); a file of another architecture, or other weights at scoring, are refused.
    func testEfficientNetB4FormulaWeightsEndToEnd() throws {
        let data = work.appendingPathComponent("parts")
        try crops(of: "elpv_cell0004_normal.png", count: 12, into: data.appendingPathComponent("good"), seed: 0)
        try crops(of: "elpv_cell0001_defect.png", count: 4, into: data.appendingPathComponent("crack"), seed: 1)
        let weights = work.appendingPathComponent("b4-formula.safetensors")
        try writeSafetensors(FormulaWeights.checkpoint(.efficientNetB4), to: weights)
        let common = ["--backbone", "b4", "--weights", weights.path, "--levels", "0-5"]
        let json = work.appendingPathComponent("r.json")
        let ev = try run(["evaluate", data.path, "--folds", "2", "--json", json.path] + common)
        XCTAssertEqual(ev.code, 0, ev.err)
        let j = try JSONSerialization.jsonObject(with: Data(contentsOf: json)) as! [String: Any]
        XCTAssertEqual(j["backbone"] as? String, "efficientnet-b4")
        let model = work.appendingPathComponent("b4.gad")
        let fit = try run(["fit", data.path, "-o", model.path, "--folds", "3"] + common)
        XCTAssertEqual(fit.code, 0, fit.err)
        let info = try JSONSerialization.jsonObject(with: Data(try run(["info", model.path, "--json"]).out.utf8)) as! [String: Any]
        XCTAssertEqual(info["backbone"] as? String, "efficientnet-b4")
        XCTAssertEqual(info["inputSize"] as? Int, 380)
        XCTAssertEqual((info["levels"] as? [[String: Any]])?.map { $0["dimension"] as? Int }, [48, 24, 32, 56, 112, 160])
        let sc = try run(["score", model.path, data.appendingPathComponent("crack").path, "--json", "--weights", weights.path])
        XCTAssertEqual(sc.code, 0, sc.err)
        XCTAssertEqual(sc.out.split(separator: "\n").count, 4)
        // A B4 file read as B0 is refused naming its first tensor; other B4 weights at scoring too.
        let wrong = try run(["fit", data.path, "-o", work.appendingPathComponent("x.gad").path, "--backbone", "b0", "--weights", weights.path])
        XCTAssertEqual(wrong.code, 1)
        XCTAssertTrue(wrong.err.contains("b4-formula.safetensors") && wrong.err.contains("_conv_stem.weight")
                      && wrong.err.contains("[32, 3, 3, 3]"), wrong.err)
        var other = FormulaWeights.checkpoint(.efficientNetB4).tensors
        let fc = other["_fc.bias"]!
        other["_fc.bias"] = Tensor(float32: fc.floats().map { $0 + 1 }, shape: fc.shape)
        let otherURL = work.appendingPathComponent("b4-other.safetensors")
        try writeSafetensors(Checkpoint(entries: FormulaWeights.checkpoint(.efficientNetB4).names.map { ($0, other[$0]!) }), to: otherURL)
        let refused = try run(["score", model.path, data.appendingPathComponent("crack").path, "--weights", otherURL.path])
        XCTAssertEqual(refused.code, 1)
        XCTAssertTrue(refused.err.contains("b4.gad") && refused.err.contains("weights"), refused.err)
        // A weights file that is not there, and published weights not yet downloaded.
        let image = data.appendingPathComponent("good/000.png").path
        let none = try run(["classify", image, "--backbone", "resnet50", "--weights", work.appendingPathComponent("none.pth").path])
        XCTAssertEqual(none.code, 1)
        XCTAssertTrue(none.err.contains("none.pth") && none.err.contains("no such weights file"), none.err)
        let absent = try run(["classify", image, "--backbone", "resnet50"], environment: ["GAUSSIAN_AD_HOME": work.path])
        XCTAssertEqual(absent.code, 1)
        XCTAssertTrue(absent.err.contains("resnet50-0676ba61.pth") && absent.err.contains("docs/METHOD.md"), absent.err)
        // A kernel level that does not exist is refused where the tool starts, naming the variable.
        let level = try run(["classify", image], environment: ["GAUSSIAN_AD_KERNELS": "sse9"])
        XCTAssertEqual(level.code, 2)
        XCTAssertTrue(level.err.contains("GAUSSIAN_AD_KERNELS") && level.err.contains("'sse9'"), level.err)
    }

    func testMVTecEvaluateFitScoreInfo() throws {
        let root = try makeMVTec()
        let json = work.appendingPathComponent("r.json"), report = work.appendingPathComponent("r.html")
        let ev = try run(["evaluate", root.path, "--folds", "2", "--baselines", "--json", json.path, "--report", report.path])
        XCTAssertEqual(ev.code, 0, ev.err)
        XCTAssertTrue(ev.out.contains("cells"), ev.out)
        let j = try JSONSerialization.jsonObject(with: Data(contentsOf: json)) as! [String: Any]
        XCTAssertEqual(j["backbone"] as? String, "efficientnet-lite0")
        let cats = j["categories"] as! [[String: Any]]
        XCTAssertEqual(cats.map { $0["name"] as! String }, ["cells"])
        XCTAssertEqual((cats[0]["auroc_folds"] as! [Double]).count, 2)
        XCTAssertEqual((cats[0]["level_auroc"] as! [Double]).count, 9)
        // A different solar cell is an obvious anomaly: every crop of it must outscore the normals.
        XCTAssertEqual(cats[0]["auroc_mean"] as! Double, 1.0, accuracy: 1e-9)
        XCTAssertGreaterThan(j["images_per_second"] as! Double, 0)
        // The paper's MVTec setting: one model on all of train/good, tested on test/.
        let one = work.appendingPathComponent("one.json")
        let ev1 = try run(["evaluate", root.path, "--folds", "1", "--json", one.path])
        XCTAssertEqual(ev1.code, 0, ev1.err)
        let c1 = (try JSONSerialization.jsonObject(with: Data(contentsOf: one)) as! [String: Any])["categories"] as! [[String: Any]]
        XCTAssertEqual((c1[0]["auroc_folds"] as! [Double]), [1.0])
        let html = try String(contentsOf: report, encoding: .utf8)
        XCTAssertTrue(html.contains("<svg") && html.contains("data:image/png;base64,") && !html.contains("http://cdn"))

        let model = work.appendingPathComponent("m.gad")
        let fit = try run(["fit", root.appendingPathComponent("cells").path, "-o", model.path, "--folds", "3", "--fpr", "0.1"])
        XCTAssertEqual(fit.code, 0, fit.err)
        let info = try run(["info", model.path])
        XCTAssertEqual(info.code, 0, info.err)
        XCTAssertTrue(info.out.contains("efficientnet-lite0") && info.out.contains("12 images"), info.out)
        let infoJSON = try run(["info", model.path, "--json"])
        XCTAssertEqual(infoJSON.code, 0, infoJSON.err)
        let summary = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(infoJSON.out.utf8)) as? [String: Any])
        XCTAssertEqual(summary["trainingCount"] as? Int, 12)
        XCTAssertEqual((summary["levels"] as? [Any])?.count, 9)
        let threshold = try XCTUnwrap(summary["threshold"] as? Double)
        XCTAssertTrue(info.out.contains(String(format: "threshold    %.6f", threshold)), info.out)
        let sc = try run(["score", model.path, root.appendingPathComponent("cells/test").path, "--json"])
        XCTAssertEqual(sc.code, 0, sc.err)
        let rows = sc.out.split(separator: "\n").map { try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        XCTAssertEqual(rows.count, 8)
        for r in rows where (r["path"] as! String).contains("/crack/") { XCTAssertEqual(r["anomalous"] as? Bool, true, "\(r)") }
        for r in rows { XCTAssertEqual(r["threshold"] as? Double, threshold) }
        XCTAssertEqual((rows[0]["levels"] as! [String: Double]).count, 9)
    }

    /// Under a memory budget too small to keep any feature, fit and evaluate run the network
    /// once a pass and give the results of the in-memory runs.
    func testTinyMemoryBudgetGivesTheSameResults() throws {
        let root = try makeMVTec()
        for extra in [[String](), ["--npca", "0.99"]] {
            var out: [[String: Any]] = []
            for budget in [[String](), ["--max-memory", "1K"]] {
                let json = work.appendingPathComponent("e.json")
                let ev = try run(["evaluate", root.path, "--folds", "2", "--levels", "0-5", "--json", json.path] + extra + budget)
                XCTAssertEqual(ev.code, 0, ev.err)
                let cat = (try JSONSerialization.jsonObject(with: Data(contentsOf: json)) as! [String: Any])["categories"] as! [[String: Any]]
                out.append(cat[0])
            }
            for key in ["auroc_folds", "level_auroc"] {
                let a = out[0][key] as! [Double], b = out[1][key] as! [Double]
                XCTAssertEqual(a.count, b.count)
                for (x, y) in zip(a, b) { XCTAssertEqual(x, y, accuracy: 1e-12, "\(key) \(extra)") }
            }
            let model = work.appendingPathComponent("m.gad"), small = work.appendingPathComponent("s.gad")
            let cells = root.appendingPathComponent("cells").path
            // The maps' Gaussians need about a MiB whatever the budget: refused by name under 1K.
            let none = work.appendingPathComponent("refused.gad")
            let refused = try run(["fit", cells, "-o", none.path, "--folds", "3", "--max-memory", "1K"] + extra)
            XCTAssertEqual(refused.code, 2)
            XCTAssertTrue(refused.err.contains("the anomaly maps of a 1x1 grid") && refused.err.contains("--max-memory"), refused.err)
            XCTAssertFalse(FileManager.default.fileExists(atPath: none.path))
            XCTAssertEqual(try run(["fit", cells, "-o", model.path, "--folds", "3", "--levels", "0-5", "--no-maps"] + extra).code, 0)
            let fit = try run(["fit", cells, "-o", small.path, "--folds", "3", "--levels", "0-5", "--max-memory", "1K", "--no-maps"] + extra)
            XCTAssertEqual(fit.code, 0, fit.err)
            XCTAssertTrue(fit.out.contains(extra.isEmpty ? "2 passes over the images" : "3 passes over the images"), fit.out)
            let a = try ModelFile.load(from: model), b = try ModelFile.load(from: small)
            XCTAssertEqual(try XCTUnwrap(a.workingPoint).threshold, try XCTUnwrap(b.workingPoint).threshold, accuracy: 1e-9)
            for (p, q) in zip(a.model.levels, b.model.levels) {
                for (u, v) in zip(p.cholesky, q.cholesky) { XCTAssertEqual(u, v, accuracy: 1e-9 * max(1, abs(v))) }
            }
        }
    }

    func testFolderLayoutEvaluate() throws {
        let root = work.appendingPathComponent("folder")
        try crops(of: "elpv_cell0004_normal.png", count: 15, into: root.appendingPathComponent("good"), seed: 2)
        try crops(of: "elpv_cell0001_defect.png", count: 6, into: root.appendingPathComponent("crack"), seed: 3)
        let ev = try run(["evaluate", root.path, "--folds", "3", "--levels", "4-8", "--npca", "0.99"])
        XCTAssertEqual(ev.code, 0, ev.err)
        XCTAssertTrue(ev.out.contains("folder") && ev.out.contains("levels 4,5,6,7,8"), ev.out)
    }

    func testBadInputs() throws {
        let root = try makeMVTec()
        // A corrupt image in train/good: named, exit 1, no output written.
        let bad = root.appendingPathComponent("cells/train/good/999.png")
        try Data([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]).write(to: bad)
        let model = work.appendingPathComponent("half.gad")
        var r = try run(["fit", root.appendingPathComponent("cells").path, "-o", model.path])
        XCTAssertEqual(r.code, 1)
        XCTAssertTrue(r.err.contains(bad.path), r.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: model.path))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: work.path).filter { $0.contains("half") }, [])
        try FileManager.default.removeItem(at: bad)

        // An empty category.
        let empty = work.appendingPathComponent("empty/widget")
        try FileManager.default.createDirectory(at: empty.appendingPathComponent("train/good"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: empty.appendingPathComponent("test/good"), withIntermediateDirectories: true)
        r = try run(["evaluate", empty.path])
        XCTAssertEqual(r.code, 1)
        XCTAssertTrue(r.err.contains("empty category") && r.err.contains("train/good"), r.err)

        // A category without train/good.
        let notrain = work.appendingPathComponent("notrain/widget")
        try FileManager.default.createDirectory(at: notrain.appendingPathComponent("test/good"), withIntermediateDirectories: true)
        r = try run(["evaluate", notrain.path])
        XCTAssertEqual(r.code, 1)
        XCTAssertTrue(r.err.contains("train/good") && r.err.contains("missing"), r.err)

        // Model files: truncated, another version, another backbone's weights.
        let good = work.appendingPathComponent("ok.gad")
        XCTAssertEqual(try run(["fit", root.appendingPathComponent("cells").path, "-o", good.path, "--folds", "2", "--levels", "0-3"]).code, 0)
        let bytes = try Data(contentsOf: good)
        let trunc = work.appendingPathComponent("trunc.gad")
        try bytes.prefix(bytes.count / 2).write(to: trunc)
        r = try run(["info", trunc.path])
        XCTAssertEqual(r.code, 1)
        XCTAssertTrue(r.err.contains(trunc.path) && r.err.contains("truncated or corrupt"), r.err)
        var v = [UInt8](bytes)
        v[8] = 7
        let ver = work.appendingPathComponent("v7.gad")
        try Data(v).write(to: ver)
        r = try run(["score", ver.path, Self.fixtures.appendingPathComponent("chelsea.png").path])
        XCTAssertEqual(r.code, 1)
        XCTAssertTrue(r.err.contains(ver.path) && r.err.contains("version 7"), r.err)
        if FileManager.default.fileExists(atPath: CacheFolder.fromEnvironment(ProcessInfo.processInfo.environment).weights(for: .efficientNetLite1).path) {
            r = try run(["score", good.path, "--weights", CacheFolder.fromEnvironment(ProcessInfo.processInfo.environment).weights(for: .efficientNetLite1).path,
                         Self.fixtures.appendingPathComponent("chelsea.png").path])
            XCTAssertEqual(r.code, 1)
            XCTAssertTrue(r.err.contains(good.path) || r.err.contains("lite1"), r.err)
        }
        // Unreadable image given to score; usage errors exit 2.
        r = try run(["score", good.path, work.appendingPathComponent("nope.png").path])
        XCTAssertEqual(r.code, 1)
        XCTAssertTrue(r.err.contains("nope.png"), r.err)
        XCTAssertEqual(try run(["evaluate", "--bogus"]).code, 2)
        XCTAssertEqual(try run(["fit", root.path]).code, 2)
        let help = try run(["evaluate", "--help"])
        XCTAssertEqual(help.code, 0)
        XCTAssertTrue(help.out.contains("--npca"))
    }

    func testClassifyChelsea() throws {
        let r = try run(["classify", Self.fixtures.appendingPathComponent("chelsea.png").path])
        XCTAssertEqual(r.code, 0, r.err)
        let first = r.out.split(separator: "\n").dropFirst().first ?? ""
        XCTAssertTrue(first.contains("Egyptian cat"), r.out)
    }
}
