// `fit --contamination` and the suspects of `fit --json` on a training folder with two crops of
// a defective cell among twelve normal ones: one machine and three shard processes agree, and
// bad values are refused by name.
import Foundation
import XCTest
@testable import GaussianAD

final class ContaminationCLITests: CLITestCase {
    let planted = ["train/good/planted-000.png", "train/good/planted-001.png"]

    func plantedCells() throws -> URL {
        let cells = try makeMVTec().appendingPathComponent("cells")
        let tmp = work.appendingPathComponent("planted")
        try crops(of: "elpv_cell0001_defect.png", count: 2, into: tmp, seed: 3)
        for i in 0..<2 {
            try FileManager.default.moveItem(at: tmp.appendingPathComponent(String(format: "%03d.png", i)),
                                             to: cells.appendingPathComponent(planted[i]))
        }
        return cells
    }

    func summary(_ url: URL) throws -> [String: Any] {
        try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
    }

    func testSuspectsNamedAndDroppedOnOneMachineAndInShards() throws {
        let cells = try plantedCells()
        let opts = ["--folds", "3", "--levels", "0-4", "--fpr", "0.1"]
        // A plain fit names the suspects and changes nothing else.
        let plain = work.appendingPathComponent("plain.gad"), plainJSON = work.appendingPathComponent("plain.json")
        var r = try run(["fit", cells.path, "-o", plain.path, "--json", plainJSON.path] + opts)
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertTrue(r.out.contains("suspects") && r.out.contains(planted[0]), r.out)
        var j = try summary(plainJSON)
        XCTAssertEqual(j["images"] as? Int, 14)
        XCTAssertEqual(j["excluded"] as? [String], [])
        let plainSuspects = (j["suspects"] as! [[String: Any]]).map { $0["path"] as! String }
        XCTAssertTrue(Set(planted).isSubset(of: plainSuspects), "\(plainSuspects)")
        for s in j["suspects"] as! [[String: Any]] {
            XCTAssertNotNil(s["score"] as? Double)
            XCTAssertLessThan(try XCTUnwrap(s["p"] as? Double), 0.5 * erfc(3.5 / 2.0.squareRoot()))
        }
        XCTAssertEqual(try XCTUnwrap(j["threshold"] as? Double), try XCTUnwrap(ModelFile.load(from: plain).workingPoint).threshold)
        XCTAssertNil(try ModelFile.load(from: plain).metadata["excluded"])

        // The robust fit leaves them out, says so, and `info` shows it.
        let one = work.appendingPathComponent("one.gad"), oneJSON = work.appendingPathComponent("one.json")
        r = try run(["fit", cells.path, "-o", one.path, "--json", oneJSON.path, "--contamination", "auto"] + opts)
        XCTAssertEqual(r.code, 0, r.err)
        j = try summary(oneJSON)
        let excluded = try XCTUnwrap(j["excluded"] as? [String])
        XCTAssertTrue(Set(planted).isSubset(of: excluded), "\(excluded)")
        XCTAssertEqual(j["kept"] as? Int, 14 - excluded.count)
        XCTAssertEqual(try ModelFile.load(from: one).model.trainingCount, 14 - excluded.count)
        let info = try run(["info", one.path])
        XCTAssertTrue(info.out.contains("excluded") && info.out.contains("\(excluded.count) of 14 training images"), info.out)

        // Three shard processes a pass, rounds driven by what merge says comes next.
        let sharded = work.appendingPathComponent("sharded.gad"), shardedJSON = work.appendingPathComponent("sharded.json")
        func parts(_ prefix: String, _ args: [String]) throws -> [String] {
            try (0..<3).map { i in
                let p = work.appendingPathComponent("\(prefix)\(i).gadpart").path
                let r = try run(args + ["--shard", "\(i)/3", "-o", p])
                XCTAssertEqual(r.code, 0, r.err)
                return p
            }
        }
        var merge = try run(["merge"] + (try parts("m", ["fit", cells.path, "--contamination", "auto"] + opts)).reversed() + ["-o", sharded.path])
        XCTAssertEqual(merge.code, 0, merge.err)
        var steps: [String] = []
        while !merge.out.contains("the finished model"), steps.count < 12 {
            guard let cmd = ["calibrate", "project", "refit"].first(where: { merge.out.contains("gaussian-ad \($0) ") }) else {
                XCTFail("merge names no next step: \(merge.out)")
                return
            }
            steps.append(cmd)
            let ps = try parts("\(cmd)\(steps.count)", [cmd, sharded.path, cells.path])
            merge = try run(["merge", sharded.path] + ps.reversed() + ["-o", sharded.path, "--fpr", "0.1", "--json", shardedJSON.path])
            XCTAssertEqual(merge.code, 0, merge.err)
        }
        print("robust fit: excluded \(excluded), sharded steps \(steps)")
        XCTAssertEqual(steps.first, "calibrate")
        XCTAssertEqual(steps.filter { $0 == "refit" }.count, (j["rounds"] as! Int) - 1, "\(steps)")
        try assertSameModel(sharded, one, "robust")
        XCTAssertEqual(try summary(shardedJSON)["excluded"] as? [String], excluded)
    }

    func testEvaluateWithRobustFoldsListsTheSuspects() throws {
        let root = try plantedCells().deletingLastPathComponent()
        let json = work.appendingPathComponent("e.json"), report = work.appendingPathComponent("e.html")
        let r = try run(["evaluate", root.path, "--folds", "2", "--levels", "0-4", "--contamination", "auto",
                         "--json", json.path, "--report", report.path])
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertTrue(r.out.contains("robust fit (--contamination auto)"), r.out)
        let j = try summary(json)
        XCTAssertEqual(j["contamination"] as? String, "auto")
        let cat = try XCTUnwrap((j["categories"] as? [[String: Any]])?.first)
        let suspects = try XCTUnwrap(cat["suspects"] as? [[String: Any]]).map { $0["path"] as! String }
        XCTAssertTrue(Set(planted).isSubset(of: suspects), "\(suspects)")
        XCTAssertTrue(Set(planted).isSubset(of: try XCTUnwrap(cat["excluded"] as? [String])))
        // Normal crops against another cell: the robust folds still separate them completely.
        XCTAssertEqual(cat["auroc_mean"] as! Double, 1.0, accuracy: 1e-9)
        let html = try String(contentsOf: report, encoding: .utf8)
        XCTAssertTrue(html.contains("Suspect training images") && html.contains("planted-000.png"))
    }

    func testBadContaminationIsRefusedByName() throws {
        let cells = try plantedCells()
        let out = work.appendingPathComponent("m.gad"), json = work.appendingPathComponent("m.json")
        for bad in ["0.5", "most", "0"] {
            let r = try run(["fit", cells.path, "-o", out.path, "--json", json.path, "--contamination", bad])
            XCTAssertEqual(r.code, 2, r.err)
            XCTAssertTrue(r.err.contains("--contamination") && r.err.contains(bad), r.err)
        }
        let shard = try run(["fit", cells.path, "-o", out.path, "--shard", "0/2", "--json", json.path])
        XCTAssertEqual(shard.code, 2)
        XCTAssertTrue(shard.err.contains("--json"), shard.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: json.path))
    }
}
