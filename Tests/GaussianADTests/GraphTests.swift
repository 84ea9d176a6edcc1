// The layer graph's ops, each on its own, against a plain float64 evaluation written out here:
// k x k convolution with stride and asymmetric padding and a residual, depthwise, squeeze-
// excitation, max and average pooling, add, every activation, taps (pooled and spatial), the
// classifier; through the planner and the engine with 1 to 3 threads and batches of 1 to 4, and
// a network whose last stage runs in sub-batches.
import Foundation
import XCTest
@testable import GaussianAD

final class GraphTests: KernelLevelTestCase {
    var rng = UInt64(99)
    func rand() -> Float {
        rng = rng &* 6364136223846793005 &+ 1442695040888963407
        return Float(Int64(bitPattern: rng >> 11) % 2000) / 1000 - 1
    }
    func rands(_ n: Int) -> [Float] { (0..<n).map { _ in rand() } }

    // ---- the reference: one image, NHWC, float64 ----
    struct T { var h: Int, w: Int, c: Int, v: [Double] }

    func act(_ x: Double, _ a: Activation) -> Double {
        switch a {
        case .none: return x
        case .relu: return max(0, x)
        case .relu6: return min(6, max(0, x))
        case .swish: return x / (1 + exp(-x))
        case .sigmoid: return 1 / (1 + exp(-x))
        }
    }

    func refConv(_ x: T, _ w: ConvWeights, residual: T?, _ a: Activation) -> T {
        let oh = (x.h + w.padding.top + w.padding.bottom - w.kernel) / w.stride + 1
        let ow = (x.w + w.padding.left + w.padding.right - w.kernel) / w.stride + 1
        var out = T(h: oh, w: ow, c: w.cout, v: [Double](repeating: 0, count: oh * ow * w.cout))
        for oy in 0..<oh { for ox in 0..<ow { for o in 0..<w.cout {
            var acc = Double(w.bias[o])
            for ky in 0..<w.kernel { for kx in 0..<w.kernel {
                let iy = oy * w.stride + ky - w.padding.top, ix = ox * w.stride + kx - w.padding.left
                guard iy >= 0, iy < x.h, ix >= 0, ix < x.w else { continue }
                for c in 0..<w.cin { acc += x.v[(iy * x.w + ix) * x.c + c] * Double(w.weights[((ky * w.kernel + kx) * w.cin + c) * w.cout + o]) }
            } }
            let i = (oy * ow + ox) * w.cout + o
            out.v[i] = act(acc + (residual?.v[i] ?? 0), a)
        } } }
        return out
    }

    func refDepthwise(_ x: T, _ w: DepthwiseWeights, _ a: Activation) -> T {
        let oh = (x.h + w.padding.top + w.padding.bottom - w.kernel) / w.stride + 1
        let ow = (x.w + w.padding.left + w.padding.right - w.kernel) / w.stride + 1
        var out = T(h: oh, w: ow, c: x.c, v: [Double](repeating: 0, count: oh * ow * x.c))
        for oy in 0..<oh { for ox in 0..<ow { for c in 0..<x.c {
            var acc = Double(w.bias[c])
            for ky in 0..<w.kernel { for kx in 0..<w.kernel {
                let iy = oy * w.stride + ky - w.padding.top, ix = ox * w.stride + kx - w.padding.left
                guard iy >= 0, iy < x.h, ix >= 0, ix < x.w else { continue }
                acc += x.v[(iy * x.w + ix) * x.c + c] * Double(w.weights[(ky * w.kernel + kx) * x.c + c])
            } }
            out.v[(oy * ow + ox) * x.c + c] = act(acc, a)
        } } }
        return out
    }

    func refMean(_ x: T) -> [Double] {
        (0..<x.c).map { c in (0..<(x.h * x.w)).reduce(0.0) { $0 + x.v[$1 * x.c + c] } / Double(x.h * x.w) }
    }

    func refSE(_ x: T, _ se: SqueezeExcitation) -> T {
        let m = refMean(x)
        let hidden = (0..<se.reduced).map { r in act(Double(se.reduceBias[r]) + (0..<se.channels).reduce(0.0) { $0 + m[$1] * Double(se.reduceWeights[$1 * se.reduced + r]) }, se.activation) }
        let gate = (0..<se.channels).map { c in act(Double(se.expandBias[c]) + (0..<se.reduced).reduce(0.0) { $0 + hidden[$1] * Double(se.expandWeights[$1 * se.channels + c]) }, .sigmoid) }
        var out = x
        for i in 0..<out.v.count { out.v[i] *= gate[i % x.c] }
        return out
    }

    func refPool(_ x: T, _ p: Pooling) -> T {
        let oh = (x.h + p.padding.top + p.padding.bottom - p.kernel) / p.stride + 1
        let ow = (x.w + p.padding.left + p.padding.right - p.kernel) / p.stride + 1
        var out = T(h: oh, w: ow, c: x.c, v: [Double](repeating: 0, count: oh * ow * x.c))
        for oy in 0..<oh { for ox in 0..<ow { for c in 0..<x.c {
            var vals: [Double] = []
            for ky in 0..<p.kernel { for kx in 0..<p.kernel {
                let iy = oy * p.stride + ky - p.padding.top, ix = ox * p.stride + kx - p.padding.left
                if iy >= 0, iy < x.h, ix >= 0, ix < x.w { vals.append(x.v[(iy * x.w + ix) * x.c + c]) }
            } }
            out.v[(oy * ow + ox) * x.c + c] = p.kind == .max ? vals.max()! : vals.reduce(0, +) / Double(vals.count)
        } } }
        return out
    }

    /// Runs `plan` on 1 to 3 threads for each batch size over the first images of `inputs`
    /// and checks every image's levels, logits (10 classes) and level `mapLevel`'s map against the
    /// reference, within 1e-5 of each vector's largest magnitude (at least 1).
    func checkEngine(_ plan: ExecutionPlan, inputs: [Float], batches: [Int], levels refLevels: [[Double]],
                     logits refLogits: [[Double]], map mapLevel: Int, spatial refSpatial: [[Double]]) throws {
        for threads in [1, 2, 3] {
            let engine = try Engine(plan: plan, threads: threads)
            for batch in batches {
                var levels = [Float](repeating: .nan, count: batch * plan.featureDim)
                var logits = [Float](repeating: .nan, count: batch * 10)
                let mapFloats = plan.levelShapes[mapLevel].count
                var spatial = [Float](repeating: .nan, count: batch * mapFloats)
                inputs.withUnsafeBufferPointer { inp in
                    spatial.withUnsafeMutableBufferPointer { sp in
                        let maps = Engine.MapOutput(pointer: sp.baseAddress!, stride: mapFloats,
                                                    offsets: plan.levelDims.indices.map { $0 == mapLevel ? 0 : -1 })
                        engine.run(count: batch, input: inp.baseAddress!, levels: &levels, logits: &logits, maps: maps)
                    }
                }
                for i in 0..<batch {
                    func close(_ got: ArraySlice<Float>, _ want: [Double], _ what: String) {
                        let scale = max(1, want.map(abs).max() ?? 1)
                        for (a, b) in zip(got, want) where !(abs(Double(a) - b) <= 1e-5 * scale) {
                            XCTFail("threads \(threads) batch \(batch) image \(i) \(what): \(a) vs \(b)"); return
                        }
                    }
                    close(levels[(i * plan.featureDim)..<((i + 1) * plan.featureDim)], refLevels[i], "levels")
                    close(logits[(i * 10)..<((i + 1) * 10)], refLogits[i], "logits")
                    close(spatial[(i * mapFloats)..<((i + 1) * mapFloats)], refSpatial[i], "level \(mapLevel) map")
                }
            }
        }
    }

    func conv(_ k: Int, _ s: Int, _ pad: Padding, _ cin: Int, _ cout: Int) -> ConvWeights {
        ConvWeights(kernel: k, stride: s, padding: pad, cin: cin, cout: cout, weights: rands(k * k * cin * cout).map { $0 * 0.5 }, bias: rands(cout))
    }

    func testEveryOpAgainstThePlainEvaluation() throws {
        Kernels.ensureInitialised()
        let S = 13
        var g = Graph(inputSize: S)
        // conv 3x3 stride 2 with asymmetric ("same") padding, ReLU6.
        let c1 = conv(3, 2, Padding(top: 0, left: 1, bottom: 1, right: 1), 3, 17)
        let x1 = try g.conv(c1, g.input, activation: .relu6)
        g.tap(x1)
        // 1x1 expand with swish, depthwise 5x5 stride 1, SE, 1x1 project with the residual.
        let e = conv(1, 1, Padding(), 17, 40)
        let x2 = try g.conv(e, x1, activation: .swish)
        let dw = DepthwiseWeights(kernel: 5, stride: 1, padding: Padding(top: 2, left: 2, bottom: 2, right: 2), channels: 40,
                                  weights: rands(25 * 40), bias: rands(40))
        let x3 = try g.depthwise(dw, x2, activation: .relu)
        let se = SqueezeExcitation(channels: 40, reduced: 5, reduceWeights: rands(200), reduceBias: rands(5),
                                   expandWeights: rands(200), expandBias: rands(40), activation: .swish)
        let x4 = try g.squeezeExcite(se, x3)
        let p = conv(1, 1, Padding(), 40, 17)
        let x5 = try g.conv(p, x4, residual: x1, activation: .none)
        g.tap(x5)
        // Depthwise stride 2 with sigmoid, max pool 3x3/2, 1x1 stride-2 convolution (im2col path),
        // average pool, add with ReLU.
        let dw2 = DepthwiseWeights(kernel: 3, stride: 2, padding: Padding(top: 0, left: 1, bottom: 1, right: 1), channels: 17,
                                   weights: rands(9 * 17), bias: rands(17))
        let x6 = try g.depthwise(dw2, x5, activation: .sigmoid)
        let mp = Pooling(kind: .max, kernel: 3, stride: 2, padding: Padding(top: 1, left: 1, bottom: 1, right: 1))
        let x7 = try g.pool(mp, x5)
        let ds = conv(1, 2, Padding(), 17, 17)
        let x8 = try g.conv(ds, x5, activation: .none)
        let ap = Pooling(kind: .average, kernel: 3, stride: 1, padding: Padding(top: 1, left: 1, bottom: 1, right: 1))
        let x9 = try g.pool(ap, x7)
        let x10 = try g.add(x9, x8, activation: .relu)
        let x11 = try g.add(x10, x6, activation: .none)
        g.tap(x11)
        let fcW = rands(17 * 10), fcB = rands(10)
        try g.classifier(x11, weights: fcW, bias: fcB)
        // Inverted-residual chains the planner can fuse: expand -> depthwise -> project with the
        // residual; stride 2 with asymmetric padding; depthwise -> project without an expand.
        let e1 = conv(1, 1, Padding(), 17, 48), p1 = conv(1, 1, Padding(), 48, 17)
        let d1 = DepthwiseWeights(kernel: 3, stride: 1, padding: Padding(top: 1, left: 1, bottom: 1, right: 1), channels: 48,
                                  weights: rands(9 * 48), bias: rands(48))
        let x14 = try g.conv(p1, try g.depthwise(d1, try g.conv(e1, x11, activation: .relu6), activation: .relu6), residual: x11, activation: .none)
        let e2 = conv(1, 1, Padding(), 17, 32), p2 = conv(1, 1, Padding(), 32, 24)
        let d2 = DepthwiseWeights(kernel: 5, stride: 2, padding: Padding(top: 1, left: 2, bottom: 2, right: 1), channels: 32,
                                  weights: rands(25 * 32), bias: rands(32))
        let x17 = try g.conv(p2, try g.depthwise(d2, try g.conv(e2, x14, activation: .swish), activation: .swish), activation: .none)
        let d3 = DepthwiseWeights(kernel: 3, stride: 1, padding: Padding(top: 1, left: 1, bottom: 1, right: 1), channels: 24,
                                  weights: rands(9 * 24), bias: rands(24))
        let p3 = conv(1, 1, Padding(), 24, 24)
        let x19 = try g.conv(p3, try g.depthwise(d3, x17, activation: .relu), residual: x17, activation: .none)
        g.tap(x19)
        // 3x3 stride-1 convolutions wide enough for Winograd F(2x2, 3x3) on an odd-sized map: with
        // ReLU6, with the residual and ReLU, with asymmetric padding.
        let w1 = conv(3, 1, Padding(top: 1, left: 1, bottom: 1, right: 1), 17, 20)
        let w2 = conv(3, 1, Padding(top: 1, left: 1, bottom: 1, right: 1), 20, 20)
        let w3 = conv(3, 1, Padding(top: 0, left: 1, bottom: 2, right: 1), 20, 16)
        let x20 = try g.conv(w1, x5, activation: .relu6)
        let x22 = try g.conv(w3, try g.conv(w2, x20, residual: x20, activation: .relu), activation: .none)
        g.tap(x22)

        // The heuristic plan (nothing this small is fused), every inverted-residual block fused
        // over row bands (one-row bands too), without Winograd, every op split over the
        // threads, and the smallest chunks, bands and GEMM panel budgets: the candidates the
        // tuner chooses among must all compute the same features.
        let base = PlanOptions.heuristic(for: .current)
        var variants: [PlanOptions] = [base]
        var fuseAll = base; fuseAll.fuseMinBytes = 0; variants.append(fuseAll)
        var oneRowBands = fuseAll; oneRowBands.fuseScratchBytes = 4 << 10; variants.append(oneRowBands)
        var noWinograd = base; noWinograd.winograd = false; variants.append(noWinograd)
        var im2colStem = base; im2colStem.interleaveRows = false; variants.append(im2colStem)
        var split = fuseAll; split.spreadImages = false; variants.append(split)
        var small = base
        small.im2colChunkBytes = 1 << 10; small.winogradBandBytes = 4 << 10; small.gemmPanelBudget = 1 << 10
        variants.append(small)
        for options in variants {
        let plan = ExecutionPlan(g, options: options)
        XCTAssertEqual(plan.levelDims, [17, 17, 17, 24, 16])
        XCTAssertEqual(plan.steps.contains { if case .fused = $0 { return true } else { return false } }, options.fuseMinBytes == 0)
        XCTAssertEqual(plan.steps.filter { if case .winograd = $0 { return true } else { return false } }.count, options.winograd ? 3 : 0)
        let n = 4
        let inputs = rands(n * S * S * 3)
        // The reference, per image.
        var refLevels: [[Double]] = [], refSpatial: [[Double]] = [], refLogits: [[Double]] = []
        for i in 0..<n {
            let x = T(h: S, w: S, c: 3, v: inputs[(i * S * S * 3)..<((i + 1) * S * S * 3)].map(Double.init))
            let r1 = refConv(x, c1, residual: nil, .relu6)
            let r3 = refDepthwise(refConv(r1, e, residual: nil, .swish), dw, .relu)
            let r5 = refConv(refSE(r3, se), p, residual: r1, .none)
            let r6 = refDepthwise(r5, dw2, .sigmoid)
            let r9 = refPool(refPool(r5, mp), ap)
            let r8 = refConv(r5, ds, residual: nil, .none)
            var r11 = r9
            for j in 0..<r11.v.count { r11.v[j] = max(0, r9.v[j] + r8.v[j]) + r6.v[j] }
            let pooled = refMean(r11)
            let r14 = refConv(refDepthwise(refConv(r11, e1, residual: nil, .relu6), d1, .relu6), p1, residual: r11, .none)
            let r17 = refConv(refDepthwise(refConv(r14, e2, residual: nil, .swish), d2, .swish), p2, residual: nil, .none)
            let r19 = refConv(refDepthwise(r17, d3, .relu), p3, residual: r17, .none)
            let r20 = refConv(r5, w1, residual: nil, .relu6)
            let r22 = refConv(refConv(r20, w2, residual: r20, .relu), w3, residual: nil, .none)
            refLevels.append(refMean(r1) + refMean(r5) + pooled + refMean(r19) + refMean(r22))
            refSpatial.append(r5.v)
            refLogits.append((0..<10).map { o in Double(fcB[o]) + (0..<17).reduce(0.0) { $0 + pooled[$1] * Double(fcW[$1 * 10 + o]) } })
        }
        try checkEngine(plan, inputs: inputs, batches: [1, 3, 4], levels: refLevels, logits: refLogits, map: 1, spatial: refSpatial)
        }
    }

    /// Sub-batches: a network whose every op after the first is on its smallest map runs that
    /// stage for groups of images together (pointwise GEMMs with a residual, Winograd with a
    /// residual, depthwise, squeeze-excitation, pooling, add, a spatial tap, the classifier),
    /// with full and partial groups, images spread over 1 to 3 threads and a remainder split
    /// over them: against the float64 evaluation of each image alone.
    func testSubBatchedStageAgainstThePlainEvaluation() throws {
        Kernels.ensureInitialised()
        let S = 8
        var g = Graph(inputSize: S)
        let c1 = conv(3, 2, Padding(top: 1, left: 1, bottom: 1, right: 1), 3, 16)
        let x1 = try g.conv(c1, g.input, activation: .relu)
        let e = conv(1, 1, Padding(), 16, 24)
        let x2 = try g.conv(e, x1, activation: .swish)
        let dw = DepthwiseWeights(kernel: 3, stride: 1, padding: Padding(top: 1, left: 1, bottom: 1, right: 1), channels: 24,
                                  weights: rands(9 * 24), bias: rands(24))
        let x3 = try g.depthwise(dw, x2, activation: .relu6)
        let se = SqueezeExcitation(channels: 24, reduced: 4, reduceWeights: rands(96), reduceBias: rands(4),
                                   expandWeights: rands(96), expandBias: rands(24), activation: .swish)
        let x4 = try g.squeezeExcite(se, x3)
        let p = conv(1, 1, Padding(), 24, 16)
        let x5 = try g.conv(p, x4, residual: x1, activation: .none)
        g.tap(x5)
        let w = conv(3, 1, Padding(top: 1, left: 1, bottom: 1, right: 1), 16, 16)
        let x6 = try g.conv(w, x5, residual: x5, activation: .relu)
        let mp = Pooling(kind: .max, kernel: 3, stride: 1, padding: Padding(top: 1, left: 1, bottom: 1, right: 1))
        let x7 = try g.pool(mp, x6)
        let x8 = try g.add(x7, x6, activation: .relu)
        g.tap(x8)
        let fcW = rands(16 * 10), fcB = rands(10)
        try g.classifier(x8, weights: fcW, bias: fcB)

        var options = PlanOptions.heuristic(for: .current)
        options.subBatchBytes = 3 * 4 * 4 * 24 * 4      // three images of the stage's largest tensor
        let plan = ExecutionPlan(g, options: options)
        XCTAssertEqual(plan.groupImages, 3)
        XCTAssertEqual(plan.groupStart, 1, "every step after the first convolution is in the stage")
        XCTAssertTrue(plan.steps.contains { if case .winograd = $0 { return true } else { return false } })
        let n = 7
        let inputs = rands(n * S * S * 3)
        var refLevels: [[Double]] = [], refSpatial: [[Double]] = [], refLogits: [[Double]] = []
        for i in 0..<n {
            let x = T(h: S, w: S, c: 3, v: inputs[(i * S * S * 3)..<((i + 1) * S * S * 3)].map(Double.init))
            let r1 = refConv(x, c1, residual: nil, .relu)
            let r5 = refConv(refSE(refDepthwise(refConv(r1, e, residual: nil, .swish), dw, .relu6), se), p, residual: r1, .none)
            let r6 = refConv(r5, w, residual: r5, .relu)
            var r8 = refPool(r6, mp)
            for j in 0..<r8.v.count { r8.v[j] = max(0, r8.v[j] + r6.v[j]) }
            let pooled = refMean(r8)
            refLevels.append(refMean(r5) + pooled)
            refSpatial.append(r5.v)
            refLogits.append((0..<10).map { o in Double(fcB[o]) + (0..<16).reduce(0.0) { $0 + pooled[$1] * Double(fcW[$1 * 10 + o]) } })
        }
        try checkEngine(plan, inputs: inputs, batches: [1, 3, 4, 7], levels: refLevels, logits: refLogits, map: 0, spatial: refSpatial)
    }

    /// Winograd F(4x4, 3x3) on a 13 x 13 map (a partial last tile, with ReLU6, with a residual
    /// and ReLU, with asymmetric padding) and F(2x2, 3x3) on the same: one-image and sub-batched
    /// runs, whole and one-row bands, images spread or every op split over the threads, against
    /// the float64 evaluation.
    func testWinogradTilesAgainstThePlainEvaluation() throws {
        Kernels.ensureInitialised()
        let S = 26
        var g = Graph(inputSize: S)
        let c1 = conv(3, 2, Padding(top: 0, left: 1, bottom: 1, right: 0), 3, 17)
        let x1 = try g.conv(c1, g.input, activation: .relu)
        let w1 = conv(3, 1, Padding(top: 1, left: 1, bottom: 1, right: 1), 17, 20)
        let w2 = conv(3, 1, Padding(top: 1, left: 1, bottom: 1, right: 1), 20, 20)
        let w3 = conv(3, 1, Padding(top: 0, left: 1, bottom: 2, right: 1), 20, 16)
        let x2 = try g.conv(w1, x1, activation: .relu6)
        g.tap(x2)
        let x4 = try g.conv(w3, try g.conv(w2, x2, residual: x2, activation: .relu), activation: .none)
        g.tap(x4)
        let fcW = rands(16 * 10), fcB = rands(10)
        try g.classifier(x4, weights: fcW, bias: fcB)

        let n = 5
        let inputs = rands(n * S * S * 3)
        var refLevels: [[Double]] = [], refSpatial: [[Double]] = [], refLogits: [[Double]] = []
        for i in 0..<n {
            let x = T(h: S, w: S, c: 3, v: inputs[(i * S * S * 3)..<((i + 1) * S * S * 3)].map(Double.init))
            let r2 = refConv(refConv(x, c1, residual: nil, .relu), w1, residual: nil, .relu6)
            let r4 = refConv(refConv(r2, w2, residual: r2, .relu), w3, residual: nil, .none)
            let pooled = refMean(r4)
            refLevels.append(refMean(r2) + pooled)
            refSpatial.append(r4.v)
            refLogits.append((0..<10).map { o in Double(fcB[o]) + (0..<16).reduce(0.0) { $0 + pooled[$1] * Double(fcW[$1 * 10 + o]) } })
        }
        let base = PlanOptions.heuristic(for: .current)
        XCTAssertEqual(base.winogradTile, 4)
        var f23 = base; f23.winogradTile = 2
        var oneRow = base; oneRow.winogradBandBytes = 4 << 10
        var split = base; split.spreadImages = false
        var alone = base; alone.subBatchBytes = 0
        for options in [base, f23, oneRow, split, alone] {
            let plan = ExecutionPlan(g, options: options)
            let tiles = plan.steps.compactMap { if case .winograd(let wc) = $0 { return wc.tile } else { return nil } }
            XCTAssertEqual(tiles, [options.winogradTile, options.winogradTile, options.winogradTile])
            try checkEngine(plan, inputs: inputs, batches: [1, 2, 5], levels: refLevels, logits: refLogits, map: 1, spatial: refSpatial)
        }
        // On a 7 x 7 map F(4x4, 3x3) would have 4 tiles an image: F(2x2, 3x3) is used there.
        var small = Graph(inputSize: 13)
        let y = try small.conv(w1, try small.conv(c1, small.input, activation: .relu), activation: .relu6)
        small.tap(y)
        XCTAssertEqual(ExecutionPlan(small, options: base).steps.compactMap { if case .winograd(let wc) = $0 { return wc.tile } else { return nil } }, [2])
    }

    /// The arena is smaller than the sum of the tensors: lifetimes let buffers be reused.
    func testPlannerReusesBuffers() throws {
        var g = Graph(inputSize: 16)
        var x = g.input
        var total = 0
        for i in 0..<6 {
            x = try g.conv(conv(1, 1, Padding(), i == 0 ? 3 : 8, 8), x, activation: .relu)
            total += 16 * 16 * 8
        }
        g.tap(x)
        let plan = ExecutionPlan(g)
        XCTAssertLessThanOrEqual(plan.arenaFloats, 2 * 16 * 16 * 8 + 32)
        XCTAssertLessThan(plan.arenaFloats, total)
    }
}
