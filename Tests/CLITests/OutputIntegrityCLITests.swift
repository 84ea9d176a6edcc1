// Every byte accounted for, through the real executable: outputs that cannot be written fail
// the command (standard output and files alike), outputs are checked before the first image,
// messages say what was done and why, arguments and layouts are read as documented, and
// interrupted or concurrent runs leave nothing behind that the next one can trip on.
import Foundation
import XCTest
@testable import GaussianAD
#if canImport(Glibc)
import Glibc
#endif

final class OutputIntegrityCLITests: CLITestCase {
    /// /dev/full, opened for writing; a system without it fails the test (never crashes the run).
    func devFull() throws -> FileHandle {
        guard isCharacterDevice("/dev/full") else { XCTFail("/dev/full is not a character device"); throw CocoaError(.fileNoSuchFile) }
        return try XCTUnwrap(FileHandle(forWritingAtPath: "/dev/full"), "cannot open /dev/full")
    }

    /// A model fitted on the small MVTec tree (levels 0-3, 2 folds).
    func fitModel(_ cells: URL, _ name: String = "m.gad", extra: [String] = []) throws -> URL {
        let model = work.appendingPathComponent(name)
        let r = try run(["fit", cells.path, "-o", model.path, "--folds", "2", "--levels", "0-3"] + extra)
        XCTAssertEqual(r.code, 0, r.err)
        return model
    }

    func assertNoFrameworkDump(_ err: String, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        for dump in ["NSCocoaErrorDomain", "Error Domain", "UserInfo", "error 256"] {
            XCTAssertFalse(err.contains(dump), "\(what): \(err)", file: file, line: line)
        }
    }

    func isCharacterDevice(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFCHR
    }

    /// Standard output on a full device: every subcommand exits non-zero and says so.
    func testEveryCommandFailsWhenStandardOutputIsFull() throws {
        _ = try devFull()
        let root = try makeMVTec()
        let cells = root.appendingPathComponent("cells")
        let model = try fitModel(cells)
        let w = { (n: String) in self.work.appendingPathComponent(n).path }
        let common = ["--folds", "2", "--levels", "0-3"]
        XCTAssertEqual(try run(["fit", cells.path, "--shard", "0/1", "-o", w("m0.gadpart")] + common).code, 0)
        XCTAssertEqual(try run(["merge", w("m0.gadpart"), "-o", w("state.gad")]).code, 0)
        XCTAssertEqual(try run(["calibrate", w("state.gad"), cells.path, "--shard", "0/1", "-o", w("c0.gadpart")]).code, 0)
        XCTAssertEqual(try run(["fit", cells.path, "--shard", "0/1", "--pca", "0.99", "-o", w("p0.gadpart")] + common).code, 0)
        XCTAssertEqual(try run(["merge", w("p0.gadpart"), "-o", w("pstate.gad")]).code, 0)
        let img = Self.fixtures.appendingPathComponent("chelsea.png").path
        let cases: [[String]] = [
            ["--help"], ["--version"], ["fit", "--help"],
            ["info", model.path], ["info", model.path, "--json"], ["info", w("state.gad")],
            ["classify", img], ["score", model.path, img], ["score", model.path, img, "--json"],
            ["evaluate", root.path] + common,
            ["fit", cells.path, "-o", w("f.gad")] + common,
            ["fit", cells.path, "--shard", "0/1", "-o", w("f.gadpart")] + common,
            ["merge", w("m0.gadpart"), "-o", w("s2.gad")],
            ["calibrate", w("state.gad"), cells.path, "--shard", "0/1", "-o", w("c1.gadpart")],
            ["project", w("pstate.gad"), cells.path, "--shard", "0/1", "-o", w("pp.gadpart")],
            ["merge", w("state.gad"), w("c0.gadpart"), "-o", w("done.gad")],
            ["tune", "--formula-weights", "--batch", "1", "--threads", "1", "--seconds", "1", "--file", w("t.json")],
        ]
        for c in cases {
            let r = try run(c, stdout: try devFull())
            XCTAssertNotEqual(r.code, 0, "\(c): exit 0 with its output lost")
            XCTAssertTrue(r.err.contains("standard output") && r.err.contains("No space left on device"), "\(c): \(r.err)")
            assertNoFrameworkDump(r.err, "\(c)")
        }
    }

    /// Files on a full device: the command fails naming the file and the cause, and the device
    /// is written through, never replaced.
    func testEveryFileWriteFailsOnAFullDevice() throws {
        _ = try devFull()
        let root = try makeMVTec()
        let cells = root.appendingPathComponent("cells")
        let common = ["--folds", "2", "--levels", "0-3"]
        let part = work.appendingPathComponent("m0.gadpart").path
        XCTAssertEqual(try run(["fit", cells.path, "--shard", "0/1", "-o", part] + common).code, 0)
        let cases: [[String]] = [
            ["fit", cells.path, "-o", "/dev/full"] + common,
            ["fit", cells.path, "--shard", "0/1", "-o", "/dev/full"] + common,
            ["evaluate", root.path, "--json", "/dev/full"] + common,
            ["evaluate", root.path, "--report", "/dev/full"] + common,
            ["merge", part, "-o", "/dev/full"],
            ["tune", "--formula-weights", "--batch", "1", "--threads", "1", "--seconds", "1", "--file", "/dev/full"],
        ]
        for c in cases {
            let r = try run(c)
            XCTAssertEqual(r.code, 1, "\(c): \(r.err)")
            XCTAssertTrue(r.err.contains("cannot write /dev/full") && r.err.contains("No space left on device"), "\(c): \(r.err)")
            let failure = r.err.split(separator: "\n").last { $0.contains(": error: ") } ?? ""
            XCTAssertTrue(failure.contains("cannot write /dev/full") && !failure.contains("cannot read"), "\(c): \(r.err)")
            assertNoFrameworkDump(r.err, "\(c)")
            XCTAssertTrue(isCharacterDevice("/dev/full"), "\(c) replaced /dev/full")
        }
    }

    /// A missing output folder is found before the first image is read: the data hold a
    /// corrupt image that a run reading images first would stop on instead.
    func testOutputsAreCheckedBeforeTheFirstImage() throws {
        let root = try makeMVTec()
        let cells = root.appendingPathComponent("cells")
        let common = ["--folds", "2", "--levels", "0-3"]
        let part = work.appendingPathComponent("m0.gadpart").path, state = work.appendingPathComponent("state.gad").path
        XCTAssertEqual(try run(["fit", cells.path, "--shard", "0/1", "-o", part] + common).code, 0)
        XCTAssertEqual(try run(["merge", part, "-o", state]).code, 0)
        let corrupt = cells.appendingPathComponent("train/good/000.png")
        try Data([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]).write(to: corrupt)
        let missing = work.appendingPathComponent("missing")
        let m = { (n: String) in missing.appendingPathComponent(n).path }
        let cases: [[String]] = [
            ["fit", cells.path, "-o", m("m.gad")] + common,
            ["fit", cells.path, "--shard", "0/1", "-o", m("p.gadpart")] + common,
            ["evaluate", root.path, "--json", m("e.json")] + common,
            ["evaluate", root.path, "--report", m("r.html")] + common,
            ["calibrate", state, cells.path, "--shard", "0/1", "-o", m("c.gadpart")],
            ["merge", part, "-o", m("s.gad")],
            ["tune", "--formula-weights", "--batch", "1", "--threads", "1", "--seconds", "1", "--file", m("t.json")],
        ]
        for c in cases {
            let r = try run(c)
            XCTAssertEqual(r.code, 1, "\(c): \(r.err)")
            XCTAssertTrue(r.err.contains("cannot write \(missing.path)/") && r.err.contains("does not exist"), "\(c): \(r.err)")
            XCTAssertFalse(r.err.contains("000.png") || r.out.contains("tuned"), "\(c) ran before checking its output: \(r.err)")
        }
        // An output that is a folder is refused the same way.
        let r = try run(["fit", cells.path, "-o", work.path] + common)
        XCTAssertEqual(r.code, 1, r.err)
        XCTAssertTrue(r.err.contains("cannot write \(work.path)") && r.err.contains("folder"), r.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: missing.path))
    }

    /// Messages name the file, what was being done and why, in words.
    func testMessagesNameTheFileAndTheCause() throws {
        let loop = work.appendingPathComponent("loop.png")
        try FileManager.default.createSymbolicLink(atPath: loop.path, withDestinationPath: loop.path)
        let folder = work.appendingPathComponent("x.png")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for (path, why) in [(loop.path, "symbolic links"), (folder.path, "a folder")] {
            let r = try run(["classify", path])
            XCTAssertEqual(r.code, 1, r.err)
            XCTAssertTrue(r.err.contains("cannot read \(path)") && r.err.contains(why), r.err)
            assertNoFrameworkDump(r.err, path)
        }
        // A model file cut short anywhere before its checksum is called truncated.
        let root = try makeMVTec()
        let model = try fitModel(root.appendingPathComponent("cells"))
        let bytes = try Data(contentsOf: model)
        for n in [8, 20, 63] {
            let cut = work.appendingPathComponent("cut\(n).gad")
            try bytes.prefix(n).write(to: cut)
            let r = try run(["info", cut.path])
            XCTAssertEqual(r.code, 1, r.err)
            XCTAssertTrue(r.err.contains(cut.path) && r.err.contains("truncated") && !r.err.contains("not a model"), "\(n) bytes: \(r.err)")
        }
        let sc = try run(["score", model.path, loop.path, "--json"])
        XCTAssertEqual(sc.code, 1, sc.err)
        XCTAssertTrue(sc.out.contains("symbolic links"), sc.out)
        assertNoFrameworkDump(sc.out + sc.err, "score")
    }

    /// `--levels`: open ranges run to the last level as documented; signs and empty parts are refused.
    func testLevelsOpenRangesAndSigns() throws {
        let root = try makeMVTec()
        let cells = root.appendingPathComponent("cells")
        let out = work.appendingPathComponent("l.gad")
        for bad in ["-3", "+3", "-1", "3-+5", "1--2", "5-3", "a", "", "3,", ",3", "2-4,4", "9-", "0-9"] {
            let r = try run(["fit", cells.path, "-o", out.path, "--folds", "2", "--levels", bad])
            XCTAssertEqual(r.code, 2, "--levels '\(bad)': \(r.err)")
            XCTAssertTrue(r.err.contains("--levels") || r.err.contains("level 9"), "--levels '\(bad)': \(r.err)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: out.path))
        }
        let r = try run(["fit", cells.path, "-o", out.path, "--folds", "2", "--levels", "5-"])
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertEqual(try ModelFile.load(from: out).model.levels.map(\.level), [5, 6, 7, 8])
        let e = try run(["evaluate", root.path, "--folds", "2", "--levels", "1,7-"])
        XCTAssertEqual(e.code, 0, e.err)
        XCTAssertTrue(e.out.contains("levels 1,7,8"), e.out)
    }

    /// `score -` takes each line as a path, only its terminator (LF or CRLF) removed.
    func testStandardInputLinesAreTakenAsTheyAre() throws {
        let root = try makeMVTec()
        let model = try fitModel(root.appendingPathComponent("cells"))
        let src = root.appendingPathComponent("cells/test/good/000.png")
        for name in [" lead.png", "trail.png ", "crlf.png"] {
            try FileManager.default.copyItem(at: src, to: work.appendingPathComponent(name))
        }
        let r = try run(["score", model.path, "-", "--json"], stdin: " lead.png\ntrail.png \r\ncrlf.png\r\n\n", in: work)
        XCTAssertEqual(r.code, 0, r.out + r.err)
        let rows = r.out.split(separator: "\n").map { try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        XCTAssertEqual(rows.map { $0["path"] as? String }, [" lead.png", "trail.png ", "crlf.png"])
        XCTAssertTrue(rows.allSatisfy { $0["error"] == nil && $0["score"] != nil }, r.out)
    }

    /// `fit` reads only the normal training images: an MVTec tree without test/ and a plain
    /// folder of good images are enough; `evaluate` says what it misses. Entries that are not
    /// image files are skipped with a warning naming them.
    func testFitNeedsOnlyTheTrainingImages() throws {
        let trainOnly = work.appendingPathComponent("trainonly/widget")
        let good = trainOnly.appendingPathComponent("train/good")
        try crops(of: "elpv_cell0004_normal.png", count: 12, into: good, seed: 0)
        try FileManager.default.createDirectory(at: good.appendingPathComponent("dir.png"), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: good.appendingPathComponent("gone.png").path, withDestinationPath: "nowhere.png")
        let model = work.appendingPathComponent("t.gad")
        var r = try run(["fit", trainOnly.path, "-o", model.path, "--folds", "2", "--levels", "0-3"])
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertTrue(r.err.contains(good.appendingPathComponent("dir.png").path) && r.err.contains(good.appendingPathComponent("gone.png").path)
                      && r.err.contains("skipped"), r.err)
        XCTAssertEqual(try ModelFile.load(from: model).model.levels.first?.count, 12)
        r = try run(["evaluate", trainOnly.path, "--folds", "2", "--levels", "0-3"])
        XCTAssertEqual(r.code, 1, r.err)
        XCTAssertTrue(r.err.contains(trainOnly.appendingPathComponent("test").path) && r.err.contains("evaluate needs"), r.err)

        let plain = work.appendingPathComponent("plain")
        try crops(of: "elpv_cell0004_normal.png", count: 10, into: plain, seed: 1)
        let pm = work.appendingPathComponent("p.gad")
        r = try run(["fit", plain.path, "-o", pm.path, "--folds", "2", "--levels", "0-3"])
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertEqual(try ModelFile.load(from: pm).model.levels.first?.count, 10)
        r = try run(["evaluate", plain.path, "--folds", "2", "--levels", "0-3"])
        XCTAssertEqual(r.code, 1, r.err)
        XCTAssertTrue(r.err.contains(plain.path) && r.err.contains("anomalous"), r.err)

        // score over a folder skips the same entries with the same warning.
        let sc = try run(["score", model.path, good.path, "--json"])
        XCTAssertEqual(sc.code, 0, sc.out + sc.err)
        XCTAssertEqual(sc.out.split(separator: "\n").count, 12, sc.out)
        XCTAssertTrue(sc.err.contains("dir.png") && sc.err.contains("skipped"), sc.err)
    }

    /// A run stopped by SIGINT or SIGTERM between writing its output and renaming it into place
    /// removes its temporary file; a later write to the same place removes those of dead processes.
    func testInterruptedWritesLeaveNoTemporaryFile() throws {
        let root = try makeMVTec()
        let cells = root.appendingPathComponent("cells")
        let outDir = work.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: outDir, withIntermediateDirectories: true)
        let model = outDir.appendingPathComponent("m.gad")
        func temporaries() -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: outDir.path)) ?? []).filter { $0.hasPrefix(".m.gad.tmp") }
        }
        // The output's own temporary, not the probe that checks the folder at start.
        func outputTemporaries() -> [String] { temporaries().filter { !$0.hasSuffix("-probe") } }
        for sig in [SIGTERM, SIGINT] {
            let p = Process()
            p.executableURL = tool
            p.arguments = ["fit", cells.path, "-o", model.path, "--folds", "2", "--levels", "0-3"]
            p.environment = ProcessInfo.processInfo.environment.merging(["GAUSSIAN_AD_TEST_PAUSE_BEFORE_RENAME": "60"]) { $1 }
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            let deadline = Date().addingTimeInterval(120)
            while outputTemporaries().isEmpty && p.isRunning && Date() < deadline { usleep(20_000) }
            XCTAssertFalse(outputTemporaries().isEmpty, "no temporary file appeared")
            kill(p.processIdentifier, sig)
            p.waitUntilExit()
            XCTAssertEqual(p.terminationReason, .uncaughtSignal, "signal \(sig)")
            XCTAssertEqual(temporaries(), [], "signal \(sig) left a temporary file")
            XCTAssertFalse(FileManager.default.fileExists(atPath: model.path))
        }
        // Stale temporaries: one of a process that has exited is removed, one of a live process kept.
        let gone = Process()
        gone.executableURL = URL(fileURLWithPath: "/bin/true")
        try gone.run()
        gone.waitUntilExit()
        let dead = outDir.appendingPathComponent(".m.gad.tmp-\(gone.processIdentifier)-1")
        let live = outDir.appendingPathComponent(".m.gad.tmp-\(getpid())-2")
        try Data(count: 1000).write(to: dead)
        try Data(count: 1000).write(to: live)
        let r = try run(["fit", cells.path, "-o", model.path, "--folds", "2", "--levels", "0-3"])
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertEqual(temporaries(), [live.lastPathComponent])
        XCTAssertNoThrow(try ModelFile.load(from: model))
    }

    /// `--resume` needs --json, compares normalised paths, and refuses a second process on the same file.
    func testResumeCannotBeFooled() throws {
        let root = try makeMVTec()
        let model = try fitModel(root.appendingPathComponent("cells"))
        let d = work.appendingPathComponent("d")
        try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: root.appendingPathComponent("cells/test/good/000.png"), to: d.appendingPathComponent("x.png"))
        let out = work.appendingPathComponent("out.jsonl")
        var r = try run(["score", model.path, "./d/x.png", "--resume", out.path], in: work)
        XCTAssertEqual(r.code, 2, r.err)
        XCTAssertTrue(r.err.contains("--resume") && r.err.contains("--json"), r.err)
        r = try run(["score", model.path, "./d/x.png", "--json"], in: work)
        XCTAssertEqual(r.code, 0, r.err)
        try Data(r.out.utf8).write(to: out)
        r = try run(["score", model.path, "d//x.png", d.appendingPathComponent("x.png").path, "d/../d/x.png", "--json", "--resume", "out.jsonl"], in: work)
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertEqual(r.out, "", "an image already in the resume file was scored again")
        // A second process on the same resume file is refused while the first holds it.
        let fd = open(out.path, O_RDONLY)
        XCTAssertGreaterThanOrEqual(fd, 0)
        XCTAssertEqual(flock(fd, LOCK_EX | LOCK_NB), 0)
        r = try run(["score", model.path, root.appendingPathComponent("cells/test").path, "--json", "--resume", out.path])
        flock(fd, LOCK_UN)
        close(fd)
        XCTAssertEqual(r.code, 1, r.err)
        XCTAssertTrue(r.err.contains(out.path) && r.err.contains("in use"), r.err)
        XCTAssertEqual(r.out, "")
    }

    /// `--version`, and the table counting the images tested, not those fitted on.
    func testVersionAndTestedCounts() throws {
        for args in [["--version"], ["version"]] {
            let r = try run(args)
            XCTAssertEqual(r.code, 0, r.err)
            XCTAssertEqual(r.out, "gaussian-ad \(GaussianADVersion.string)\n")
        }
        let root = try makeMVTec()
        let json = work.appendingPathComponent("e.json")
        let r = try run(["evaluate", root.path, "--folds", "1", "--levels", "0-3", "--json", json.path])
        XCTAssertEqual(r.code, 0, r.err)
        let row = try XCTUnwrap(r.out.split(separator: "\n").first { $0.hasPrefix("cells") })
        XCTAssertEqual(row.split(separator: " ").prefix(3).map(String.init), ["cells", "4", "4"], String(row))
        let cat = ((try JSONSerialization.jsonObject(with: Data(contentsOf: json)) as! [String: Any])["categories"] as! [[String: Any]])[0]
        XCTAssertEqual(cat["n_normal"] as? Int, 4)
        XCTAssertEqual(cat["n_anomalous"] as? Int, 4)
    }
}
