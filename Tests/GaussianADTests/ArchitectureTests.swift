// The paper's backbones on the layer graph, verified with formula weights (architectures.json):
// the state dict each builder reads, and the pooled levels and logits of the formula input.
import Foundation
import XCTest
@testable import GaussianAD

final class ArchitectureTests: KernelLevelTestCase {
    func fixture() throws -> [String: [String: Any]] {
        try XCTUnwrap((try Fixtures.json("architectures.json") as? [String: Any])?["architectures"] as? [String: [String: Any]])
    }

    func testStateDictsMatchTheFixtureForEveryArchitecture() throws {
        let archs = try fixture()
        XCTAssertEqual(archs.count, 11)
        for (name, a) in archs {
            let kind = try XCTUnwrap(BackboneKind(name: name), name)
            let want = try XCTUnwrap(a["state_dict"] as? [[Any]], name)
            let got = kind.stateDict
            XCTAssertEqual(got.count, want.count, name)
            for (g, w) in zip(got, want) {
                XCTAssertEqual(g.name, w[0] as? String, name)
                XCTAssertEqual(g.shape, w[1] as? [Int], "\(name) \(g.name)")
            }
            XCTAssertEqual(kind.inputSize, a["input_size"] as? Int, name)
            if let levels = a["formula_levels"] as? [[[Double]]] {
                XCTAssertEqual(kind.levelDims, levels[0].map(\.count), name)
            }
        }
    }

    /// Levels and logits of the formula input under formula weights, within 1e-4 of the
    /// fixture relative to each vector's largest magnitude.
    func check(_ kind: BackboneKind, plan: PlanOptions? = nil, threads: Int = 2) throws {
        let a = try XCTUnwrap(try fixture()[kind.rawValue])
        let levels = try XCTUnwrap(a["formula_levels"] as? [[[Double]]])
        let logits = try XCTUnwrap(a["formula_logits"] as? [[Double]])
        let net = try Backbone.load(kind, checkpoint: FormulaWeights.checkpoint(kind), weightsSHA256: "formula", threads: threads, plan: plan)
        XCTAssertEqual(net.levelDims, kind.levelDims)
        if let plan { XCTAssertEqual(net.planOptions, plan) }
        let n = levels.count
        let (feats, lg) = try net.run(inputs: FormulaWeights.input(kind, count: n), count: n, logits: true)
        let out = try XCTUnwrap(lg)
        func close<F: BinaryFloatingPoint>(_ got: [F], _ want: [Double], _ what: String) {
            XCTAssertEqual(got.count, want.count, what)
            let scale = max(want.map(abs).max() ?? 0, 1e-30)
            let worst = zip(got, want).map { abs(Double($0) - $1) }.max() ?? 0
            XCTAssertLessThanOrEqual(worst / scale, 1e-4, what)
        }
        for i in 0..<n {
            for l in 0..<kind.levelCount { close(Array(feats.level(l, of: i)), levels[i][l], "\(kind.rawValue) image \(i) level \(l)") }
            close(Array(out[(i * net.classCount)..<((i + 1) * net.classCount)]), logits[i], "\(kind.rawValue) image \(i) logits")
        }
    }

    func testEfficientNetB0() throws { try check(.efficientNetB0) }
    func testEfficientNetB4() throws { try check(.efficientNetB4) }
    func testResNet18() throws { try check(.resnet18) }
    func testResNet50() throws { try check(.resnet50) }

    /// The plans the tuner chooses among give the fixture's features too: every block fused
    /// with small bands and every op split over the threads (B0), none fused and the smallest
    /// GEMM panel budget (B0), im2col instead of Winograd and split ops, Winograd F(2x2, 3x3)
    /// instead of F(4x4, 3x3) (ResNet-18).
    func testOtherPlansGiveTheSameFeatures() throws {
        let base = PlanOptions.heuristic(for: .current)
        var fusedSplit = base
        fusedSplit.fuseMinBytes = 0; fusedSplit.fuseScratchBytes = 64 << 10; fusedSplit.spreadImages = false
        try check(.efficientNetB0, plan: fusedSplit)
        var unfused = base
        unfused.fuseMinBytes = PlanOptions.never; unfused.gemmPanelBudget = 4 << 10; unfused.im2colChunkBytes = 4 << 10
        try check(.efficientNetB0, plan: unfused)
        var im2col = base
        im2col.winograd = false; im2col.spreadImages = false
        try check(.resnet18, plan: im2col)
        var f23 = base
        f23.winogradTile = 2
        try check(.resnet18, plan: f23)
    }

    /// Sub-batches: on one thread every fixture image runs the last stage together (Winograd
    /// bands and GEMMs over all of them, squeeze-excitation and taps image by image), and
    /// without sub-batches: the fixture's features either way.
    func testSubBatchedLastStageGivesTheSameFeatures() throws {
        let n = try XCTUnwrap(try fixture()["resnet18"]?["formula_levels"] as? [[[Double]]]).count
        XCTAssertGreaterThanOrEqual(n, 2, "the fixture needs two images for a sub-batch")
        var grouped = PlanOptions.heuristic(for: .current)
        grouped.subBatchBytes = 1 << 30
        for kind in [BackboneKind.resnet18, .efficientNetB0] {
            let plan = ExecutionPlan(try Backbone.graph(kind, checkpoint: FormulaWeights.checkpoint(kind), path: "formula"), options: grouped)
            XCTAssertGreaterThanOrEqual(plan.groupImages, 2, kind.rawValue)
            XCTAssertLessThan(plan.groupStart, plan.steps.count, kind.rawValue)
            try check(kind, plan: grouped, threads: 1)
        }
        var alone = grouped
        alone.subBatchBytes = 0
        XCTAssertEqual(ExecutionPlan(try Backbone.graph(.resnet18, checkpoint: FormulaWeights.checkpoint(.resnet18), path: "formula"),
                                     options: alone).groupImages, 1)
        try check(.resnet18, plan: alone, threads: 1)
    }

    /// A weight file of another architecture is refused naming the first tensor that differs.
    func testMismatchedWeightsAreNamed() throws {
        let b0 = FormulaWeights.checkpoint(.efficientNetB0)
        for (kind, tensor) in [(BackboneKind.efficientNetB4, "_conv_stem.weight"), (.efficientNetLite0, "_blocks.0._se_reduce.weight"),
                               (.resnet18, "conv1.weight")] {
            XCTAssertThrowsError(try Backbone.load(kind, checkpoint: b0, weightsSHA256: "x")) { e in
                guard case GaussianADError.weightsMismatch(_, let t, let why) = e else { return XCTFail("\(e)") }
                XCTAssertEqual(t, tensor, "\(kind) \(why)")
            }
        }
        // A deeper variant's file for a shallower one: named by its first extra block.
        XCTAssertThrowsError(try Backbone.load(.resnet18, checkpoint: FormulaWeights.checkpoint(.resnet34), weightsSHA256: "x")) { e in
            XCTAssertTrue("\(e)".contains("layer1.2.conv1.weight") && "\(e)".contains("deeper"), "\(e)")
        }
    }
}
