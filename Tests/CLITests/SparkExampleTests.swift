// The PySpark jobs of examples/spark in local[2] mode: their model and their scores equal the
// one-machine `fit` and `score`. Needs Java 17 and the PySpark venv that scripts/setup makes.
import Foundation
import XCTest
@testable import GaussianAD

final class SparkExampleTests: CLITestCase {
    static let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("examples/spark")

    var python: URL {
        let home = ProcessInfo.processInfo.environment["GAUSSIAN_AD_HOME"].map { URL(fileURLWithPath: $0) }
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/gaussian-ad")
        return home.appendingPathComponent("venv-spark/bin/python")
    }

    func spark(_ script: String, _ args: [String]) throws -> (code: Int32, out: String, err: String) {
        guard FileManager.default.isExecutableFile(atPath: python.path) else {
            throw XCTSkip("SKIPPED: no PySpark venv at \(python.path); run scripts/setup --spark")
        }
        return try run([Self.examples.appendingPathComponent(script).path, "--master", "local[2]", "--tool", tool.path] + args,
                       executable: python)
    }

    func testSparkFitAndScoreEqualOneMachine() throws {
        let cells = try makeMVTec().appendingPathComponent("cells")
        for extra in [[String](), ["--npca", "0.99"]] {
            let one = work.appendingPathComponent("one.gad"), viaSpark = work.appendingPathComponent("spark.gad")
            let opts = ["--folds", "3", "--levels", "0-4"] + extra
            XCTAssertEqual(try run(["fit", cells.path, "-o", one.path, "--fpr", "0.1"] + opts).code, 0)
            let fit = try spark("fit_model.py", ["--data", cells.path, "--out", viaSpark.path, "--shards", "3", "--fpr", "0.1", "--"] + opts)
            XCTAssertEqual(fit.code, 0, fit.err)
            try assertSameModel(viaSpark, one, "spark \(extra)")
        }
        // Scores: one line per input, equal to the one-machine ones, with their maps; a corrupt
        // image's error line.
        let model = work.appendingPathComponent("one.gad")
        var paths = try FileManager.default.subpathsOfDirectory(atPath: cells.appendingPathComponent("test").path)
            .filter { $0.hasSuffix(".png") }.sorted().map { cells.appendingPathComponent("test/" + $0).path }
        let corrupt = work.appendingPathComponent("corrupt.png")
        try Data([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 9, 9]).write(to: corrupt)
        paths.insert(corrupt.path, at: 2)
        let list = work.appendingPathComponent("paths.txt")
        try (paths.joined(separator: "\n") + "\n").write(to: list, atomically: true, encoding: .utf8)
        let reference = try run(["score", model.path, "-", "--json"], stdin: paths.joined(separator: "\n") + "\n")
        XCTAssertEqual(reference.code, 1)
        let out = work.appendingPathComponent("scores.jsonl")
        let mapsDir = work.appendingPathComponent("maps")
        let sc = try spark("score_images.py", ["--model", model.path, "--images", list.path, "--out", out.path, "--partitions", "2",
                                               "--maps", mapsDir.path])
        XCTAssertEqual(sc.code, 1, sc.err)
        XCTAssertTrue(sc.out.contains("scored \(paths.count - 1) images, 1 could not be read"), sc.out)
        func rows(_ text: String) throws -> [String: [String: Any]] {
            let all = try text.split(separator: "\n").map { try XCTUnwrap(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
            XCTAssertEqual(all.count, paths.count, "one line per input")
            return Dictionary(all.map { ($0["path"] as! String, $0) }, uniquingKeysWith: { a, _ in a })
        }
        let mine = try rows(try String(contentsOf: out, encoding: .utf8)), ref = try rows(reference.out)
        XCTAssertEqual(Set(mine.keys), Set(paths))
        for p in paths {
            if p == corrupt.path {
                XCTAssertNotNil(mine[p]?["error"], "\(mine[p] ?? [:])")
                continue
            }
            let a = try XCTUnwrap(mine[p]?["score"] as? Double), b = try XCTUnwrap(ref[p]?["score"] as? Double)
            XCTAssertEqual(a, b, accuracy: 1e-6 * abs(b), p)
            XCTAssertEqual(mine[p]?["verdict"] as? String, ref[p]?["verdict"] as? String, p)
            // Each image's map and overlay, in the folder given.
            let map = try XCTUnwrap(mine[p]?["map"] as? String), overlay = try XCTUnwrap(mine[p]?["overlay"] as? String)
            XCTAssertTrue(map.hasPrefix(mapsDir.path) && FileManager.default.fileExists(atPath: map), map)
            XCTAssertTrue(FileManager.default.fileExists(atPath: overlay), overlay)
            XCTAssertNotNil(mine[p]?["regions"] as? [[String: Any]])
        }
    }
}
