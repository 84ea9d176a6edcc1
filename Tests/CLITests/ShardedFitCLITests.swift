// A fit run as three processes per pass, merged in a shuffled order, equals the one-machine
// `fit` (with and without NPCA); incomplete merges and unfinished models are refused by name.
import Foundation
import XCTest
@testable import GaussianAD

final class ShardedFitCLITests: CLITestCase {
    func testThreeShardProcessesEqualOneMachineFit() throws {
        let cells = try makeMVTec().appendingPathComponent("cells")
        for extra in [[String](), ["--npca", "0.99"]] {
            let opts = ["--folds", "3", "--levels", "0-4"] + extra
            let one = work.appendingPathComponent("one.gad"), sharded = work.appendingPathComponent("sharded.gad")
            try? FileManager.default.removeItem(at: sharded)
            XCTAssertEqual(try run(["fit", cells.path, "-o", one.path, "--fpr", "0.1"] + opts).code, 0)
            func parts(_ prefix: String, _ args: (Int) -> [String]) throws -> [String] {
                try (0..<3).map { i in
                    let p = work.appendingPathComponent("\(prefix)\(i).gadpart").path
                    let r = try run(args(i) + ["--shard", "\(i)/3", "-o", p])
                    XCTAssertEqual(r.code, 0, r.err)
                    return p
                }
            }
            let m = try parts("m") { _ in ["fit", cells.path] + opts }
            // Merged in a shuffled order; a missing shard is named, and nothing is written.
            let missing = try run(["merge", m[2], m[0], "-o", sharded.path])
            XCTAssertEqual(missing.code, 1)
            XCTAssertTrue(missing.err.contains("shards 1/3 of the moments pass are missing"), missing.err)
            XCTAssertFalse(FileManager.default.fileExists(atPath: sharded.path))
            var merge = try run(["merge", m[2], m[0], m[1], "-o", sharded.path])
            XCTAssertEqual(merge.code, 0, merge.err)
            if !extra.isEmpty {
                XCTAssertTrue(merge.out.contains("gaussian-ad project"), merge.out)
                let p = try parts("p") { _ in ["project", sharded.path, cells.path] }
                merge = try run(["merge", sharded.path, p[1], p[2], p[0], "-o", sharded.path])
                XCTAssertEqual(merge.code, 0, merge.err)
            }
            XCTAssertTrue(merge.out.contains("gaussian-ad calibrate"), merge.out)
            // Not a model yet: score names the pass that is missing.
            let early = try run(["score", sharded.path, cells.appendingPathComponent("test").path])
            XCTAssertEqual(early.code, 1)
            XCTAssertTrue(early.err.contains("waiting for its calibration pass"), early.err)
            let c = try parts("c") { _ in ["calibrate", sharded.path, cells.path] }
            merge = try run(["merge", sharded.path, c[0], c[2], c[1], "-o", sharded.path, "--fpr", "0.1"])
            XCTAssertEqual(merge.code, 0, merge.err)
            try assertSameModel(sharded, one, "\(extra)")
            let left = try FileManager.default.contentsOfDirectory(atPath: work.path).filter { $0.contains(".tmp-") }
            XCTAssertEqual(left, [], "temporary files left behind")
        }
    }
}
