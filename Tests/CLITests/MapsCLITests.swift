// The anomaly maps from the command line: fit models them by default, score --maps writes a
// NumPy map and an overlay per image and adds them to its lines, evaluate --maps grades them
// against masks (the same numbers as the written maps give), old models are refused by name.
import Foundation
import XCTest
@testable import GaussianAD

final class MapsCLITests: CLITestCase {
    /// An MVTec-layout category: 12 normal crops to train on, 4 normal test crops, 4 crops with
    /// synthetic blobs and scratches and their masks (ground_truth/defect/NNN_mask.png).
    func makeDefects() throws -> URL {
        let cat = work.appendingPathComponent("defects/cells")
        try crops(of: "elpv_cell0004_normal.png", count: 12, into: cat.appendingPathComponent("train/good"), seed: 0)
        try crops(of: "elpv_cell0004_normal.png", count: 4, into: cat.appendingPathComponent("test/good"), seed: 5)
        let raw = work.appendingPathComponent("raw")
        try crops(of: "elpv_cell0004_normal.png", count: 4, into: raw, seed: 9)
        for d in ["test/defect", "ground_truth/defect"] {
            try FileManager.default.createDirectory(at: cat.appendingPathComponent(d), withIntermediateDirectories: true)
        }
        for i in 0..<4 {
            let name = String(format: "%03d", i)
            let img = try Image.decode(contentsOf: raw.appendingPathComponent(name + ".png"))
            let (d, mask) = SyntheticDefects.apply(i % 2 == 0 ? .blob : .scratch, to: img, contrast: 1, seed: UInt64(i + 1))
            try Data(PNGEncoder.encode(width: d.width, height: d.height, rgb: d.rgbPixels))
                .write(to: cat.appendingPathComponent("test/defect/\(name).png"))
            try Data(PNGEncoder.encode(width: d.width, height: d.height, rgb8: mask.flatMap { $0 != 0 ? [255, 255, 255] : [0, 0, 0] }))
                .write(to: cat.appendingPathComponent("ground_truth/defect/\(name)_mask.png"))
        }
        return cat
    }

    /// The float32 values and shape of a .npy file (format 1.0, little-endian, C order).
    func npy(_ url: URL) throws -> (shape: [Int], values: [Float]) {
        let b = [UInt8](try Data(contentsOf: url))
        XCTAssertEqual(Array(b[0..<8]), [0x93] + Array("NUMPY".utf8) + [1, 0])
        let n = Int(b[8]) | Int(b[9]) << 8
        let header = String(decoding: b[10..<(10 + n)], as: UTF8.self)
        XCTAssertTrue(header.contains("'descr': '<f4'") && header.contains("'fortran_order': False"), header)
        XCTAssertEqual((10 + n) % 64, 0, "the data starts on a 64-byte boundary")
        let dims = header.split(separator: "(")[1].split(separator: ")")[0].split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        let values = stride(from: 10 + n, to: b.count, by: 4).map { i in
            Float(bitPattern: UInt32(b[i]) | UInt32(b[i + 1]) << 8 | UInt32(b[i + 2]) << 16 | UInt32(b[i + 3]) << 24)
        }
        return (dims, values)
    }

    func testScoreMapsWritesMapsAndOverlaysAndEvaluateGradesThem() throws {
        let cat = try makeDefects()
        let model = work.appendingPathComponent("m.gad")
        var r = try run(["fit", cat.path, "--folds", "3", "-o", model.path])
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertTrue(r.out.contains("anomaly maps: levels [3, 4, 5], grid 1x1, pixel threshold"), r.out)
        // Two images of one name in two folders get two pairs of files.
        let other = work.appendingPathComponent("other")
        try FileManager.default.createDirectory(at: other, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: cat.appendingPathComponent("test/defect/001.png"), to: other.appendingPathComponent("000.png"))
        let out = work.appendingPathComponent("maps")
        let inputs = [cat.appendingPathComponent("test/defect").path, other.path]
        r = try run(["score", model.path] + inputs + ["--maps", out.path, "--json"])
        XCTAssertEqual(r.code, 0, r.err)
        let lines = r.out.split(separator: "\n").map { try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        XCTAssertEqual(lines.count, 5)
        var names = Set<String>()
        for l in lines {
            let map = URL(fileURLWithPath: try XCTUnwrap(l["map"] as? String)), overlay = URL(fileURLWithPath: try XCTUnwrap(l["overlay"] as? String))
            names.insert(map.lastPathComponent)
            XCTAssertEqual(map.deletingLastPathComponent().path, out.path)
            let img = try Image.decode(contentsOf: URL(fileURLWithPath: l["path"] as! String))
            let (shape, values) = try npy(map)
            XCTAssertEqual(shape, [img.height, img.width])
            XCTAssertEqual(values.count, img.height * img.width)
            let ov = try Image.decode(contentsOf: overlay)
            XCTAssertEqual([ov.width, ov.height], [img.width, img.height])
            let peak = try XCTUnwrap(l["peak"] as? [Int])
            let best = values.indices.max { values[$0] < values[$1] }!
            XCTAssertEqual(peak, [best % img.width, best / img.width])
            XCTAssertEqual(l["peak_value"] as! Double, Double(values[best]), accuracy: 1e-6)
            let regions = try XCTUnwrap(l["regions"] as? [[String: Any]])
            for g in regions {
                let box = g["box"] as! [Int]
                XCTAssertTrue(box[2] > 0 && box[3] > 0 && box[0] + box[2] <= img.width && box[1] + box[3] <= img.height, "\(box)")
                XCTAssertGreaterThan(g["area"] as! Int, 0)
            }
        }
        XCTAssertEqual(names.count, 5, "map names collide: \(names)")
        // The defects stand out: each defect image has a region, its first on the defect's mask.
        for l in lines.prefix(4) {
            XCTAssertFalse((l["regions"] as! [[String: Any]]).isEmpty, "\(l["path"]!)")
        }
        // Text lines name the peak and the regions.
        r = try run(["score", model.path, inputs[0], "--maps", out.path])
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertTrue(r.out.contains("peak (") && r.out.contains("pixel threshold"), r.out)

        // evaluate --maps: pixel metrics in the table, the JSON and the report, equal to those of
        // the maps score --maps writes with a model of the same images.
        let json = work.appendingPathComponent("e.json"), report = work.appendingPathComponent("e.html")
        r = try run(["evaluate", cat.deletingLastPathComponent().path, "--folds", "1", "--maps", "--json", json.path, "--report", report.path])
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertTrue(r.out.contains("pixels: AUROC"), r.out)
        let e = try JSONSerialization.jsonObject(with: Data(contentsOf: json)) as! [String: Any]
        let c = (e["categories"] as! [[String: Any]])[0]
        let (auroc, aupro) = (try XCTUnwrap(c["pixel_auroc"] as? Double), try XCTUnwrap(c["pixel_aupro"] as? Double))
        XCTAssertNotNil(c["peak_hit"] as? Double)
        let html = try String(contentsOf: report, encoding: .utf8)
        XCTAssertTrue(html.contains("Anomaly maps") && html.contains("Most anomalous test images") && html.contains("Errors at the working point"))
        let tests = try FileManager.default.contentsOfDirectory(atPath: cat.appendingPathComponent("test/good").path).sorted().map { "test/good/" + $0 }
            + (0..<4).map { String(format: "test/defect/%03d.png", $0) }
        r = try run(["score", model.path] + tests.map { cat.appendingPathComponent($0).path } + ["--maps", out.path, "--json"])
        XCTAssertEqual(r.code, 0, r.err)
        var px = PixelMetrics()
        for (t, line) in zip(tests, r.out.split(separator: "\n")) {
            let l = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            let (shape, values) = try npy(URL(fileURLWithPath: l["map"] as! String))
            var mask = [UInt8](repeating: 0, count: values.count)
            if t.hasPrefix("test/defect") {
                let m = try Image.decode(contentsOf: cat.appendingPathComponent("ground_truth/defect/" + (t as NSString).lastPathComponent
                    .replacingOccurrences(of: ".png", with: "_mask.png")))
                for i in mask.indices where m.pixels[i * m.channels] > 0.5 { mask[i] = 1 }
            }
            try px.add(map: values, mask: mask, width: shape[1], height: shape[0])
        }
        let (a, p) = try px.compute()
        XCTAssertEqual(a, auroc, accuracy: 1e-6)
        XCTAssertEqual(p, aupro, accuracy: 1e-6)
    }

    func testOldModelsAndBadFoldersAreRefusedByName() throws {
        let v1 = CLITestCase.fixtures.deletingLastPathComponent().appendingPathComponent("models/v1-lite0-levels0-2.gad")
        let img = CLITestCase.fixtures.appendingPathComponent("elpv_cell0004_normal.png")
        var r = try run(["score", v1.path, img.path])
        XCTAssertEqual(r.code, 0, r.err)
        let out = work.appendingPathComponent("maps")
        r = try run(["score", v1.path, img.path, "--maps", out.path])
        XCTAssertEqual(r.code, 1)
        XCTAssertTrue(r.err.contains(v1.path) && r.err.contains("fit it again"), r.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path), "a refused model leaves no folder")
        // A file in the way of the folder, and a folder inside a missing one.
        let file = work.appendingPathComponent("file")
        try Data("x".utf8).write(to: file)
        r = try run(["score", v1.path, img.path, "--maps", file.path])
        XCTAssertEqual(r.code, 1)
        XCTAssertTrue(r.err.contains(file.path) && r.err.contains("not a folder"), r.err)
        r = try run(["score", v1.path, img.path, "--maps", work.appendingPathComponent("no/such").path])
        XCTAssertEqual(r.code, 1)
        XCTAssertTrue(r.err.contains("does not exist"), r.err)
        // Map options without --maps, and bad grids, are usage errors.
        r = try run(["evaluate", work.path, "--map-grid", "7"])
        XCTAssertEqual(r.code, 2)
        XCTAssertTrue(r.err.contains("give --maps too"), r.err)
        r = try run(["fit", work.path, "-o", work.appendingPathComponent("x.gad").path, "--map-grid", "0"])
        XCTAssertEqual(r.code, 2)
        XCTAssertTrue(r.err.contains("--map-grid"), r.err)
    }
}
