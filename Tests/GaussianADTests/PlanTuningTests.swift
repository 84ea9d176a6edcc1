// The machine's facts, the heuristic plan derived from them, the tuning file (an untrusted
// input: corrupt, foreign and stale files are ignored with a warning) and a short tuning run.
import Foundation
import XCTest
@testable import GaussianAD

final class PlanTuningTests: KernelLevelTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        try super.setUpWithError()
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("gad-tuning-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    /// The level the run asked for (GAUSSIAN_AD_KERNELS, as scripts/test sets it for the
    /// portable pass) is the level the kernels run at; once chosen it cannot change.
    func testKernelLevelIsTheOneAskedForAndChosenOnce() throws {
        let cpu = Kernels.cpuLevel
        let active = try XCTUnwrap(Kernels.Level(rawValue: Kernels.activeLevel))
        if let asked = try Kernels.cap(fromEnvironment: ProcessInfo.processInfo.environment) {
            XCTAssertEqual(active, min(asked, cpu))
        } else {
            XCTAssertEqual(active, cpu)
        }
        XCTAssertEqual(try Kernels.select(cap: active), active)
        for other in Kernels.Level.allCases where min(other, cpu) != active {
            XCTAssertThrowsError(try Kernels.select(cap: other)) { e in
                XCTAssertTrue("\(e)".contains("already run at \(active.rawValue)"), "\(e)")
            }
        }
        XCTAssertEqual(Kernels.activeLevel, active.rawValue)
    }

    /// GAUSSIAN_AD_KERNELS: the three level names in any case; unset or empty is no cap;
    /// anything else is an error naming the variable.
    func testKernelCapFromEnvironment() throws {
        XCTAssertEqual(try Kernels.cap(fromEnvironment: ["GAUSSIAN_AD_KERNELS": "AVX2"]), .avx2)
        XCTAssertEqual(try Kernels.cap(fromEnvironment: ["GAUSSIAN_AD_KERNELS": "portable"]), .portable)
        XCTAssertEqual(try Kernels.cap(fromEnvironment: ["GAUSSIAN_AD_KERNELS": "avx512f"]), .avx512f)
        XCTAssertNil(try Kernels.cap(fromEnvironment: ["GAUSSIAN_AD_KERNELS": ""]))
        XCTAssertNil(try Kernels.cap(fromEnvironment: [:]))
        XCTAssertThrowsError(try Kernels.cap(fromEnvironment: ["GAUSSIAN_AD_KERNELS": "sse9"])) { e in
            XCTAssertTrue("\(e)".contains("GAUSSIAN_AD_KERNELS") && "\(e)".contains("'sse9'"), "\(e)")
        }
        XCTAssertLessThan(Kernels.Level.portable, .avx2)
        XCTAssertLessThan(Kernels.Level.avx2, .avx512f)
    }

    /// The cache folder: GAUSSIAN_AD_HOME where set and not empty, else ~/.cache/gaussian-ad;
    /// the set-up's layout beneath it.
    func testCacheFolderFromEnvironment() {
        let home = FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/gaussian-ad")
        XCTAssertEqual(CacheFolder.fromEnvironment([:]).url.path, home.path)
        XCTAssertEqual(CacheFolder.fromEnvironment(["GAUSSIAN_AD_HOME": ""]).url.path, home.path)
        let c = CacheFolder.fromEnvironment(["GAUSSIAN_AD_HOME": "/data/gad"])
        XCTAssertEqual(c.url.path, "/data/gad")
        XCTAssertEqual(c.tuningFile.path, "/data/gad/tuning.json")
        XCTAssertEqual(c.elpvData.path, "/data/gad/elpv/data")
        XCTAssertEqual(c.weights(for: .efficientNetLite0).path, "/data/gad/weights/efficientnet-lite0-57934424.pth")
    }

    /// CPUID's cache sizes agree with what Linux reports in sysfs (independent of CPUID).
    func testMachineFactsAgreeWithSysfs() throws {
        let m = MachineFacts.current
        XCTAssertEqual(m.cores, ProcessInfo.processInfo.activeProcessorCount)
        XCTAssertTrue(["portable", "avx2", "avx512f"].contains(m.isa), m.isa)
        XCTAssertEqual(m.kernels, Kernels.activeLevel)
        let sys = MachineFacts.sysfsCaches()
        if let l1 = sys["L1d"], let l2 = sys["L2"] {
            XCTAssertEqual(m.l1dBytes, l1, m.summary)
            XCTAssertEqual(m.l2Bytes, l2, m.summary)
        } else {
            // No sysfs: on x86 CPUID alone must have given the sizes.
            #if arch(x86_64)
            XCTAssertGreaterThan(m.l1dBytes, 0, m.summary)
            XCTAssertGreaterThan(m.l2Bytes, 0, m.summary)
            #endif
        }
        XCTAssertFalse(m.model.isEmpty)
    }

    /// The heuristic plan scales with the caches: a 512 KiB L2 fuses more blocks and uses smaller
    /// bands than a 2 MiB one (with nothing known it assumes 256 KiB); the GEMM prefetch follows L1d.
    func testHeuristicPlanFollowsTheCaches() {
        func facts(_ l2: Int) -> MachineFacts {
            MachineFacts(model: "test", isa: "avx2", kernels: "avx2", l1dBytes: 32 << 10, l2Bytes: l2, l3Bytes: 32 << 20, cores: 2)
        }
        let small = PlanOptions.heuristic(for: facts(512 << 10)), large = PlanOptions.heuristic(for: facts(2 << 20))
        XCTAssertEqual(small.fuseMinBytes, 512 << 10)
        XCTAssertEqual(large.fuseMinBytes, 2 << 20)
        XCTAssertEqual(small.fuseScratchBytes, 192 << 10)
        XCTAssertEqual(small.gemmPanelBudget, 256 << 10)
        // Streamed GEMM panels of at most half of L1d prefetch the next.
        XCTAssertEqual(small.gemmPrefetchBytes, 16 << 10)
        XCTAssertLessThan(small.winogradBandBytes, large.winogradBandBytes)
        XCTAssertEqual(PlanOptions.heuristic(for: facts(0)).fuseMinBytes, 256 << 10)
        XCTAssertTrue(small.isValid && large.isValid)
    }

    /// Options round-trip through their JSON, and an entry written before a knob existed reads
    /// as what it measured: F(2x2, 3x3) Winograd and im2col stems.
    func testOptionsWrittenBeforeAKnobReadAsWhatTheyMeasured() throws {
        var o = PlanOptions.heuristic(for: .current)
        XCTAssertTrue(o.interleaveRows)
        XCTAssertEqual(try JSONDecoder().decode(PlanOptions.self, from: JSONEncoder().encode(o)), o)
        o.interleaveRows = false
        XCTAssertEqual(try JSONDecoder().decode(PlanOptions.self, from: JSONEncoder().encode(o)), o)
        let old = #"{"fuseMinBytes": 1048576, "fuseScratchBytes": 393216, "im2colChunkBytes": 98304, "winogradBandBytes": 524288,"#
            + #" "gemmPanelBudget": 524288, "gemmPrefetchBytes": 0, "winograd": true, "spreadImages": true, "subBatchBytes": 0}"#
        let read = try JSONDecoder().decode(PlanOptions.self, from: Data(old.utf8))
        XCTAssertEqual(read.winogradTile, 2)
        XCTAssertFalse(read.interleaveRows)
        XCTAssertEqual(read.fuseMinBytes, 1 << 20)
    }

    func entry(machine: MachineFacts = .current, batch: Int = 16, options: PlanOptions? = nil) -> TuningEntry {
        var o = PlanOptions.heuristic(for: machine)
        o.fuseMinBytes = 0
        return TuningEntry(machine: machine, backbone: BackboneKind.efficientNetLite0.rawValue, inputSize: 224, batch: batch,
                           threads: 2, options: options ?? o, imagesPerSecond: 100, heuristicImagesPerSecond: 90)
    }

    func testEntriesAreFoundOnlyForTheirMachineBatchAndThreads() throws {
        let url = dir.appendingPathComponent("tuning.json")
        var file = TuningFile()
        file.record(entry())
        var other = MachineFacts.current
        other.l2Bytes += 1 << 20
        var foreign = entry(machine: other)
        foreign.options.fuseScratchBytes = 64 << 10
        file.record(foreign)
        file.record(entry())        // replaces, does not duplicate
        XCTAssertEqual(file.entries.count, 2)
        try file.write(to: url)
        let (options, warning) = TuningFile.options(for: .efficientNetLite0, batch: 16, threads: 2, url: url)
        XCTAssertNil(warning)
        XCTAssertEqual(options, entry().options)
        XCTAssertNil(TuningFile.options(for: .efficientNetLite0, batch: 4, threads: 2, url: url).options)
        XCTAssertNil(TuningFile.options(for: .efficientNetLite0, batch: 16, threads: 1, url: url).options)
        XCTAssertNil(TuningFile.options(for: .efficientNetLite1, batch: 16, threads: 2, url: url).options)
        // No file: no plan and no warning.
        let none = TuningFile.options(for: .efficientNetLite0, batch: 16, threads: 2, url: dir.appendingPathComponent("absent.json"))
        XCTAssertNil(none.options)
        XCTAssertNil(none.warning)
    }

    /// Corrupt, foreign, stale, oversized or out-of-range files cost speed, never an error.
    func testUnusableFilesAreIgnoredWithAWarningNamingThem() throws {
        let url = dir.appendingPathComponent("tuning.json")
        var good = TuningFile()
        good.record(entry())
        let enc = JSONEncoder()
        var stale = good
        stale.version = TuningFile.version - 1
        var newer = good
        newer.version = TuningFile.version + 1
        var foreign = good
        foreign.format = "something else"
        let cases: [(String, Data)] = [
            ("corrupt", Data("{\"format\": \"gaussian-ad tuning\", \"vers".utf8)),
            ("not a tuning file", Data("[1, 2, 3]".utf8)),
            ("stale", try enc.encode(stale)),
            ("newer", try enc.encode(newer)),
            ("format", try enc.encode(foreign)),
            ("bytes", Data(count: TuningFile.maxBytes + 1)),
        ]
        for (why, data) in cases {
            try data.write(to: url)
            let (options, warning) = TuningFile.options(for: .efficientNetLite0, batch: 16, threads: 2, url: url)
            XCTAssertNil(options, why)
            let w = try XCTUnwrap(warning, why)
            XCTAssertTrue(w.contains(url.path) && w.contains(why) && !w.contains("\n"), "\(why): \(w)")
        }
        // A directory in its place.
        try FileManager.default.removeItem(at: url)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        XCTAssertNotNil(TuningFile.options(for: .efficientNetLite0, batch: 16, threads: 2, url: url).warning)
        try FileManager.default.removeItem(at: url)
        // Values out of range: the entry is not used.
        var bad = entry()
        bad.options.gemmPanelBudget = -5
        var file = TuningFile()
        file.record(bad)
        try file.write(to: url)
        XCTAssertNil(TuningFile.options(for: .efficientNetLite0, batch: 16, threads: 2, url: url).options)
        var hugeGroups = entry()
        hugeGroups.options.subBatchBytes = -1
        file = TuningFile()
        file.record(hugeGroups)
        try file.write(to: url)
        XCTAssertNil(TuningFile.options(for: .efficientNetLite0, batch: 16, threads: 2, url: url).options)
    }

    /// A short tuning run returns an entry for this machine whose plan gives the same levels as
    /// the heuristic plan's.
    func testTuningFindsAPlanThatComputesTheSameLevels() throws {
        let ckpt = FormulaWeights.checkpoint(.efficientNetLite0)
        let e = try Tuner.tune(.efficientNetLite0, checkpoint: ckpt, batch: 2, threads: 2, budgetSeconds: 3)
        XCTAssertTrue(e.matches(.efficientNetLite0, batch: 2, threads: 2, machine: .current))
        XCTAssertTrue(e.options.isValid)
        XCTAssertGreaterThan(e.imagesPerSecond, 0)
        XCTAssertGreaterThanOrEqual(e.imagesPerSecond, e.heuristicImagesPerSecond)
        let input = FormulaWeights.input(.efficientNetLite0, count: 2)
        let tuned = try Backbone.load(.efficientNetLite0, checkpoint: ckpt, weightsSHA256: "f", threads: 2, plan: e.options)
        let heuristic = try Backbone.load(.efficientNetLite0, checkpoint: ckpt, weightsSHA256: "f", threads: 2)
        let a = try tuned.run(inputs: input, count: 2).0.values, b = try heuristic.run(inputs: input, count: 2).0.values
        let scale = b.map(abs).max() ?? 1
        XCTAssertLessThanOrEqual(zip(a, b).map { abs($0 - $1) }.max() ?? 1, 1e-5 * max(scale, 1))
    }
}
