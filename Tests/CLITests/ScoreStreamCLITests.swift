// Streamed scoring through the real executable: paths from standard input, one JSON line per
// image, error lines that do not stop the run, shards that partition the inputs, resume after
// a killed run.
import Foundation
import XCTest
@testable import GaussianAD

final class ScoreStreamCLITests: CLITestCase {
    func lines(_ out: String) throws -> [[String: Any]] {
        try out.split(separator: "\n").map { try XCTUnwrap(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
    }

    func byPath(_ rows: [[String: Any]]) -> [String: [String: Any]] {
        Dictionary(rows.map { ($0["path"] as! String, $0) }, uniquingKeysWith: { a, _ in a })
    }

    func testStdinShardsErrorsAndResume() throws {
        let root = try makeMVTec()
        let cells = root.appendingPathComponent("cells")
        let model = work.appendingPathComponent("m.gad")
        XCTAssertEqual(try run(["fit", cells.path, "-o", model.path, "--folds", "2", "--levels", "0-4"]).code, 0)
        var paths = try FileManager.default.subpathsOfDirectory(atPath: cells.appendingPathComponent("test").path)
            .filter { $0.hasSuffix(".png") }.sorted().map { cells.appendingPathComponent("test/" + $0).path }
        let corrupt = work.appendingPathComponent("corrupt.png")
        try Data([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]).write(to: corrupt)
        paths.insert(corrupt.path, at: 3)
        let list = paths.joined(separator: "\n") + "\n"

        // One machine: one line per input, the corrupt image's error in its place, exit 1.
        let one = try run(["score", model.path, "-", "--json", "--batch", "3"], stdin: list)
        XCTAssertEqual(one.code, 1, one.err)
        let all = try lines(one.out)
        XCTAssertEqual(all.map { $0["path"] as! String }, paths)
        XCTAssertEqual(all[3]["error"].map { "\($0)" }?.contains("corrupt.png"), true, "\(all[3])")
        XCTAssertEqual(all.filter { $0["error"] != nil }.count, 1)
        let reference = byPath(all)

        // Three shards as separate processes: together exactly one line per input, same scores.
        var union: [[String: Any]] = []
        for i in 0..<3 {
            let r = try run(["score", model.path, "-", "--json", "--shard", "\(i)/3"], stdin: list)
            union += try lines(r.out)
        }
        XCTAssertEqual(union.count, paths.count)
        XCTAssertEqual(Set(union.map { $0["path"] as! String }), Set(paths))
        for row in union {
            let p = row["path"] as! String
            guard let s = row["score"] as? Double else { XCTAssertNotNil(row["error"], p); continue }
            let want = try XCTUnwrap(reference[p]?["score"] as? Double)
            XCTAssertEqual(s, want, accuracy: 1e-6 * max(1, abs(want)), p)
        }
        XCTAssertEqual(try run(["score", model.path, "-", "--shard", "3/3"], stdin: list).code, 2)

        // Killed after its first lines, then resumed into the same file: no duplicate, none missing.
        let out = work.appendingPathComponent("scores.jsonl")
        let p = Process()
        p.executableURL = tool
        p.arguments = ["score", model.path, "-", "--json", "--batch", "1"]
        let i = Pipe(), o = Pipe()
        p.standardInput = i
        p.standardOutput = o
        p.standardError = FileHandle.nullDevice
        try p.run()
        try i.fileHandleForWriting.write(contentsOf: Data(list.utf8))
        try i.fileHandleForWriting.close()
        var got = Data()
        while got.filter({ $0 == UInt8(ascii: "\n") }).count < 3 {
            let chunk = o.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            got.append(chunk)
        }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        got.append(o.fileHandleForReading.readDataToEndOfFile())
        try got.write(to: out)
        let before = try lines(String(decoding: got, as: UTF8.self)).count
        XCTAssertLessThan(before, paths.count, "the run was not cut short")
        let resumed = try run(["score", model.path, "-", "--json", "--resume", out.path], stdin: list)
        try (got + Data(resumed.out.utf8)).write(to: out)
        let final = try lines(String(decoding: try Data(contentsOf: out), as: UTF8.self))
        XCTAssertEqual(final.count, paths.count)
        XCTAssertEqual(Set(final.map { $0["path"] as! String }), Set(paths))

        // A kill in the middle of a line: the fragment is ended and ignored, its image scored again.
        let cut = got + Data("{\"path\":\"\(paths[5])\",\"sco".utf8)
        try cut.write(to: out)
        let again = try run(["score", model.path, "-", "--json", "--resume", out.path], stdin: list)
        XCTAssertTrue(again.out.hasPrefix("\n"), again.out)
        let whole = String(decoding: cut + Data(again.out.utf8), as: UTF8.self).split(separator: "\n")
            .compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        XCTAssertEqual(whole.map { $0["path"] as! String }.sorted(), paths.sorted())
    }
}
