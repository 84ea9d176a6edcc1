// Every SIMD kernel against its portable reference twin over edge sizes (XNNPACK-style testers).
import CKernels
import XCTest

final class KernelTwinTests: XCTestCase {
    var rng = UInt64(12345)
    func rand() -> Float {
        rng = rng &* 6364136223846793005 &+ 1442695040888963407
        return Float(Int64(bitPattern: rng >> 11) % 2000) / 1000 - 1
    }
    func randArray(_ n: Int) -> [Float] { (0..<n).map { _ in rand() } }

    /// The variants of `op` in the kernel list that this CPU runs, the portable reference first,
    /// cast to the op's function type.
    func variants<F>(_ op: String, as type: F.Type) -> [(name: String, isa: ck_isa, fn: F)] {
        (0..<ck_ukernel_count()).compactMap { i -> (name: String, isa: ck_isa, fn: F)? in
            guard let u = ck_ukernel_at(i)?.pointee, String(cString: u.op) == op, u.isa.rawValue <= ck_cpu_isa().rawValue,
                  let fn = u.fn else { return nil }
            return (String(cString: u.name), u.isa, unsafeBitCast(fn, to: F.self))
        }
    }

    /// The ops of the kernel list: each entry point of the dispatch table.
    static let ops = ["dwconv", "mean_pool", "scale_channels", "winograd23_input", "winograd23_output", "winograd43_input",
                      "winograd43_output", "gaussian_filter", "mahalanobis_inverse_f32", "overlay_inferno", "map_apply"]

    /// The list is what the dispatch relies on: every op of the table has its lines together, the
    /// portable reference first, then levels strictly increasing (the dispatch takes the last
    /// line at or below its level), each function named for its op and level.
    func testKernelListIsOrderedByOpAndLevel() {
        let entries = (0..<ck_ukernel_count()).compactMap { ck_ukernel_at($0)?.pointee }
        XCTAssertNil(ck_ukernel_at(ck_ukernel_count()))
        var seen: [String] = []
        for e in entries {
            let op = String(cString: e.op), name = String(cString: e.name)
            XCTAssertNotNil(e.fn, name)
            if seen.last != op {
                XCTAssertFalse(seen.contains(op), "\(op)'s lines are not together")
                XCTAssertEqual(e.isa, CK_ISA_PORTABLE, "\(op) does not start with its portable reference")
                seen.append(op)
            }
            XCTAssertTrue(name.contains(op.replacingOccurrences(of: "dwconv", with: "dwconv_nhwc")
                                          .replacingOccurrences(of: "mean_pool", with: "mean_pool_nhwc")), name)
            XCTAssertTrue(name.hasSuffix("__" + String(cString: ck_isa_name(e.isa))), name)
        }
        XCTAssertEqual(Set(seen), Set(Self.ops))
        for op in Self.ops {
            let levels = entries.filter { String(cString: $0.op) == op }.map { $0.isa.rawValue }
            XCTAssertEqual(levels, levels.sorted(), op)
            XCTAssertEqual(Set(levels).count, levels.count, op)
            // On an x86 CPU with AVX2 every op has a SIMD twin to compare with its reference.
            let runnable = entries.filter { String(cString: $0.op) == op && $0.isa.rawValue <= ck_cpu_isa().rawValue }
            if ck_cpu_isa() != CK_ISA_PORTABLE { XCTAssertGreaterThanOrEqual(runnable.count, 2, op) }
        }
    }

    func testDispatchHonoursTheCap() {
        let previous = ck_active_isa()
        defer { ck_dispatch_init(previous) }
        XCTAssertEqual(ck_dispatch_init(CK_ISA_PORTABLE), CK_ISA_PORTABLE)
        XCTAssertEqual(ck_active_isa(), CK_ISA_PORTABLE)
        let best = ck_dispatch_init(CK_ISA_AVX512)
        XCTAssertEqual(best, ck_cpu_isa())
        print("kernel level on this CPU: \(String(cString: ck_isa_name(best)))")
    }

    /// Every registered depthwise kernel against the portable reference, computing the output
    /// in two row ranges as two threads would.
    func testDepthwiseKernelsMatchReference() {
        let kernels = variants("dwconv", as: ck_dwconv_fn.self)
        XCTAssertGreaterThanOrEqual(kernels.count, 2)
        for (h, w) in [(1, 1), (5, 7), (8, 8), (13, 11), (9, 20), (6, 14), (3, 29)] {
            for c in [1, 3, 8, 15, 16, 17, 33, 96] {
                for k in [3, 5] {
                    for s in [1, 2] {
                        for (pt, pl, pb, pr) in [(0, 0, 0, 0), (1, 1, 1, 1), (2, 1, 2, 2), (k - 1, 0, 0, k - 1), (0, 2, 1, 0)] {
                            let oh = (h + pt + pb - k) / s + 1, ow = (w + pl + pr - k) / s + 1
                            guard h + pt + pb >= k, w + pl + pr >= k else { continue }
                            var g = ck_conv2d_geom(in_h: h, in_w: w, channels: c, kernel: k, stride: s, pad_top: pt, pad_left: pl, out_h: oh, out_w: ow)
                            let inp = randArray(h * w * c), wt = randArray(k * k * c), b = randArray(c)
                            for act in [CK_ACT_NONE, CK_ACT_RELU, CK_ACT_RELU6, CK_ACT_SWISH, CK_ACT_SIGMOID] {
                                var ref = [Float](repeating: 0, count: oh * ow * c)
                                ck_f32_dwconv_nhwc__portable(&g, inp, 0, wt, b, act, &ref, 0, 0, oh)
                                for kern in kernels {
                                    var out = [Float](repeating: .nan, count: oh * ow * c)
                                    let split = oh / 2
                                    kern.fn(&g, inp, 0, wt, b, act, &out, 0, 0, split)
                                    kern.fn(&g, inp, 0, wt, b, act, &out, 0, split, oh)
                                    // The same rows read from a ring of input rows and written
                                    // one band at a time into a band buffer.
                                    let ring = min(h, (k - 1) + 2 * s + 1)
                                    var banded = [Float](repeating: .nan, count: oh * ow * c)
                                    var ringBuf = [Float](repeating: .nan, count: ring * w * c)
                                    var band = [Float](repeating: .nan, count: 2 * ow * c)
                                    var y = 0
                                    while y < oh {
                                        let y2 = min(oh, y + 2)
                                        let lo = max(0, y * s - pt), hi = min(h, (y2 - 1) * s - pt + k)
                                        for r in lo..<hi { for j in 0..<(w * c) { ringBuf[(r % ring) * w * c + j] = inp[r * w * c + j] } }
                                        kern.fn(&g, ringBuf, ring, wt, b, act, &band, y, y, y2)
                                        for j in 0..<((y2 - y) * ow * c) { banded[y * ow * c + j] = band[j] }
                                        y = y2
                                    }
                                    XCTAssertEqual(banded, out, "\(kern.name) ring")
                                    for i in 0..<out.count where !(abs(out[i] - ref[i]) <= 1e-5 * max(1, abs(ref[i]))) {
                                        XCTFail("\(kern.name) h\(h) w\(w) c\(c) k\(k) s\(s) pad \(pt),\(pl),\(pb),\(pr) act \(act): [\(i)] \(out[i]) vs \(ref[i])")
                                        return
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Every registered GEMM micro-kernel, through packing and the threaded driver, against the
    /// float64 reference: tails in m, n and k, every activation, with and without a residual,
    /// split over 1 to 3 threads.
    func testGemmKernelsMatchReference() {
        let kernels = (0..<ck_gemm_ukernel_count()).compactMap { ck_gemm_ukernel_at($0) }
            .filter { $0.pointee.isa.rawValue <= ck_cpu_isa().rawValue }
        XCTAssertGreaterThanOrEqual(kernels.count, 2)
        for m in [1, 5, 12, 13, 37] {
            for n in [1, 7, 16, 17, 24, 32, 33, 40, 96] {
                for k in [1, 3, 16, 27, 97] {
                    let a = randArray(m * k), b = randArray(k * n), bias = randArray(n), res = randArray(m * n)
                    for act in [CK_ACT_NONE, CK_ACT_RELU, CK_ACT_RELU6, CK_ACT_SWISH, CK_ACT_SIGMOID] {
                        for useRes in [false, true] {
                            var ref = [Float](repeating: 0, count: m * n)
                            ck_f32_gemm_ref(m, n, k, a, k, b, n, bias, useRes ? res : nil, n, &ref, n, act)
                            for uk in kernels {
                                var packed = [Float](repeating: .nan, count: ck_f32_gemm_packed_size(uk.pointee.nr, k, n))
                                ck_f32_gemm_pack(uk.pointee.nr, k, n, b, n, bias, &packed)
                                for nth in 1...3 {
                                    var out = [Float](repeating: .nan, count: m * n)
                                    // Two threads loop panels outside (no panel budget) prefetching
                                    // the next panel, three without, one row tiles.
                                    let budget = nth == 1 ? 1 << 30 : 0, prefetch = nth == 2 ? 1 << 30 : 0
                                    for ith in 0..<nth {
                                        ck_f32_gemm_run(uk, m, n, k, a, k, packed, useRes ? res : nil, n, &out, n, act, ith, nth, budget, prefetch)
                                    }
                                    for i in 0..<out.count where !(abs(out[i] - ref[i]) <= 2e-5 * max(1, abs(ref[i]))) {
                                        XCTFail("\(String(cString: uk.pointee.name)) m\(m) n\(n) k\(k) act \(act) res \(useRes) nth \(nth): [\(i)] \(out[i]) vs \(ref[i])")
                                        return
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// The dispatched choice for n columns is a kernel of the active ISA.
    func testGemmKernelChoiceFollowsDispatch() {
        for m in [1, 49, 196, 784, 12544] {
            for n in [1, 16, 24, 40, 144, 1000] {
                let uk = ck_gemm_ukernel_for(CK_ISA_AVX512, m, n)!.pointee
                XCTAssertEqual(uk.isa, ck_active_isa(), "m \(m) n \(n): \(String(cString: uk.name))")
                // No registered kernel of that ISA pads the product 2 % less. A 16- or 32-column
                // kernel computes half a panel for a last panel of at most half its width.
                func padded(_ u: ck_gemm_ukernel) -> Int {
                    let rem = n % u.nr
                    let cols = n / u.nr * u.nr + (rem == 0 ? 0 : rem <= u.nr / 2 && u.nr >= 16 ? u.nr / 2 : u.nr)
                    let work = (m + u.mr - 1) / u.mr * u.mr * cols
                    return u.mr > 8 ? work + work / 10 : work   // tiles of more than 8 rows spill row pointers
                }
                for i in 0..<ck_gemm_ukernel_count() {
                    let other = ck_gemm_ukernel_at(i)!.pointee
                    if other.isa == uk.isa {
                        XCTAssertFalse(padded(other) * 50 < padded(uk) * 49, "m \(m) n \(n): \(String(cString: other.name)) pads less")
                    }
                }
                // A lower level caps the choice.
                if ck_active_isa().rawValue >= CK_ISA_AVX2.rawValue {
                    XCTAssertEqual(ck_gemm_ukernel_for(CK_ISA_AVX2, m, n)!.pointee.isa, CK_ISA_AVX2)
                }
            }
        }
    }

    /// Every thread of a pool runs the task once with its own ith, and a barrier orders writes.
    func testThreadPoolRunsEveryThreadAndBarriers() {
        for n in [1, 2, 3] {
            let pool = ck_pool_create(n)!
            defer { ck_pool_destroy(pool) }
            XCTAssertEqual(ck_pool_threads(pool), n)
            /// Raw slots: each thread writes only its own, reads all after the barrier.
            struct Shared { let pool: OpaquePointer; let slots: UnsafeMutablePointer<Int>; let seen: UnsafeMutablePointer<Int>; let n: Int }
            let slots = UnsafeMutablePointer<Int>.allocate(capacity: n), seen = UnsafeMutablePointer<Int>.allocate(capacity: n)
            defer { slots.deallocate(); seen.deallocate() }
            var shared = Shared(pool: pool, slots: slots, seen: seen, n: n)
            for round in 0..<50 {
                slots.initialize(repeating: 0, count: n)
                seen.initialize(repeating: 0, count: n)
                withUnsafeMutablePointer(to: &shared) { ctx in
                    ck_pool_run(pool, { ctx, ith, nth in
                        let s = ctx!.assumingMemoryBound(to: Shared.self).pointee
                        s.slots[ith] = ith + 1
                        ck_pool_barrier(s.pool)
                        var total = 0
                        for i in 0..<nth { total += s.slots[i] }
                        s.seen[ith] = total
                    }, ctx)
                }
                XCTAssertEqual(Array(UnsafeBufferPointer(start: seen, count: n)), Array(repeating: n * (n + 1) / 2, count: n), "round \(round)")
            }
        }
    }

    func testPoolingScaleAndAdd() {
        let (h, w, c) = (6, 5, 3)
        let inp = randArray(h * w * c)
        var g = ck_conv2d_geom(in_h: h, in_w: w, channels: c, kernel: 3, stride: 2, pad_top: 1, pad_left: 1, out_h: 3, out_w: 3)
        var mx = [Float](repeating: 0, count: 27), av = mx
        ck_f32_pool2d_nhwc(&g, 1, inp, &mx, 0, 3)
        ck_f32_pool2d_nhwc(&g, 0, inp, &av, 0, 3)
        for oy in 0..<3 { for ox in 0..<3 { for ch in 0..<c {
            var vals: [Float] = []
            for ky in 0..<3 { for kx in 0..<3 {
                let iy = oy * 2 + ky - 1, ix = ox * 2 + kx - 1
                if iy >= 0, iy < h, ix >= 0, ix < w { vals.append(inp[(iy * w + ix) * c + ch]) }
            } }
            XCTAssertEqual(mx[(oy * 3 + ox) * c + ch], vals.max()!)
            XCTAssertEqual(av[(oy * 3 + ox) * c + ch], vals.reduce(0, +) / Float(vals.count), accuracy: 1e-6)
        } } }
        let scale = randArray(c)
        var scaled = [Float](repeating: 0, count: h * w * c)
        ck_f32_scale_channels(h * w, c, inp, scale, &scaled)
        for i in 0..<scaled.count { XCTAssertEqual(scaled[i], inp[i] * scale[i % c]) }
        var sum = [Float](repeating: 0, count: inp.count)
        ck_f32_add_act(inp.count, inp, scaled, &sum, CK_ACT_RELU)
        for i in 0..<sum.count { XCTAssertEqual(sum[i], max(0, inp[i] + scaled[i])) }
    }

    /// Whether a and b agree within tol relative to b (at least 1), NaN matching NaN (the
    /// positions neither wrote).
    func close(_ a: [Float], _ b: [Float], _ tol: Float) -> Int? {
        guard a.count == b.count else { return -1 }
        return a.indices.first { i in !(a[i].isNaN && b[i].isNaN) && !(abs(a[i] - b[i]) <= tol * max(1, abs(b[i]))) }
    }

    /// Every channel-scaling variant against the portable one (one product per value: equal to
    /// the bit), out of place and in place, over channel tails of every vector width.
    func testScaleChannelsVariantsMatchPortable() {
        let kernels = variants("scale_channels", as: ck_scale_channels_fn.self)
        XCTAssertEqual(kernels.first?.isa, CK_ISA_PORTABLE)
        for rows in [1, 7, 49] {
            for c in [1, 7, 8, 9, 16, 17, 33, 672] {
                let inp = randArray(rows * c), scale = randArray(c)
                var ref = [Float](repeating: .nan, count: rows * c)
                kernels[0].fn(rows, c, inp, scale, &ref)
                for (i, x) in ref.enumerated() { XCTAssertEqual(x, inp[i] * scale[i % c]); if x != inp[i] * scale[i % c] { return } }
                for k in kernels.dropFirst() {
                    var out = [Float](repeating: .nan, count: rows * c)
                    k.fn(rows, c, inp, scale, &out)
                    XCTAssertEqual(out, ref, "\(k.name) rows \(rows) c \(c)")
                    var inPlace = inp
                    inPlace.withUnsafeMutableBufferPointer { p in k.fn(rows, c, p.baseAddress, scale, p.baseAddress) }
                    XCTAssertEqual(inPlace, ref, "\(k.name) in place, rows \(rows) c \(c)")
                }
            }
        }
    }

    /// Every Winograd transform variant, F(2x2, 3x3) and F(4x4, 3x3), against the portable one:
    /// maps whose sides are not multiples of the tile (partial tiles, padding read as 0), all tile
    /// rows at once and the second half alone (a band), the output with and without bias and
    /// residual under every activation, channel counts across vector tails.
    func testWinogradTransformVariantsMatchPortable() {
        typealias Tiles = (UnsafePointer<ck_conv2d_geom>?) -> Int
        let forms: [(String, Int, Tiles, Tiles)] = [("winograd23", 16, { ck_winograd23_tiles_w($0) }, { ck_winograd23_tiles_h($0) }),
                                                    ("winograd43", 36, { ck_winograd43_tiles_w($0) }, { ck_winograd43_tiles_h($0) })]
        for (op, matrices, tilesW, tilesH) in forms {
            let inputs = variants(op + "_input", as: ck_winograd23_input_fn.self)
            let outputs = variants(op + "_output", as: ck_winograd23_output_fn.self)
            XCTAssertEqual(inputs.first?.isa, CK_ISA_PORTABLE)
            XCTAssertEqual(outputs.first?.isa, CK_ISA_PORTABLE)
            XCTAssertGreaterThanOrEqual(inputs.count, ck_cpu_isa() == CK_ISA_PORTABLE ? 1 : 2)
            for (h, w) in [(5, 5), (13, 11), (8, 16)] {
                for c in [1, 7, 8, 17, 40] {
                    var g = ck_conv2d_geom(in_h: h, in_w: w, channels: c, kernel: 3, stride: 1, pad_top: 1, pad_left: 1,
                                           out_h: h, out_w: w)
                    let tw = tilesW(&g), th = tilesH(&g), ld = tw * th + 3, half = th / 2
                    let x = randArray(h * w * c)
                    func input(_ f: ck_winograd23_input_fn, _ ty0: Int) -> [Float] {
                        var v = [Float](repeating: .nan, count: matrices * ld * c)
                        f(&g, x, ty0, th, &v, ld)
                        return v
                    }
                    let refAll = input(inputs[0].fn, 0), refBand = input(inputs[0].fn, half)
                    for k in inputs.dropFirst() {
                        if let i = close(input(k.fn, 0), refAll, 1e-6) { XCTFail("\(k.name) \(h)x\(w)x\(c): [\(i)]"); return }
                        if let i = close(input(k.fn, half), refBand, 1e-6) { XCTFail("\(k.name) band \(h)x\(w)x\(c): [\(i)]"); return }
                    }
                    let m = randArray(matrices * ld * c), bias = randArray(c), residual = randArray(h * w * c)
                    for act in [CK_ACT_NONE, CK_ACT_RELU, CK_ACT_RELU6, CK_ACT_SWISH, CK_ACT_SIGMOID] {
                        for (b, r) in [(false, false), (true, false), (false, true), (true, true)] {
                            func output(_ f: ck_winograd23_output_fn, _ ty0: Int) -> [Float] {
                                var out = [Float](repeating: .nan, count: h * w * c)
                                f(&g, c, m, ld, ty0, th, b ? bias : nil, r ? residual : nil, &out, act)
                                return out
                            }
                            let refAll = output(outputs[0].fn, 0), refBand = output(outputs[0].fn, half)
                            XCTAssertFalse(refAll.contains { $0.isNaN }, "\(op) output leaves pixels unwritten")
                            for k in outputs.dropFirst() {
                                if let i = close(output(k.fn, 0), refAll, 1e-5) {
                                    XCTFail("\(k.name) \(h)x\(w)x\(c) act \(act) bias \(b) residual \(r): [\(i)]"); return
                                }
                                if let i = close(output(k.fn, half), refBand, 1e-5) {
                                    XCTFail("\(k.name) band \(h)x\(w)x\(c) act \(act) bias \(b) residual \(r): [\(i)]"); return
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Every Gaussian-filter and Mahalanobis variant (the anomaly maps' float64 kernels) against
    /// the portable one, over sizes across vector tails.
    func testMapKernelVariantsMatchPortable() {
        let filters = variants("gaussian_filter", as: ck_gaussian_filter_fn.self)
        XCTAssertEqual(filters.first?.isa, CK_ISA_PORTABLE)
        for (h, w) in [(1, 1), (5, 9), (17, 33), (40, 3)] {
            for (sy, sx) in [(0.0, 1.5), (4.0, 0.7), (2.0, 2.0)] {
                let data = (0..<(h * w)).map { _ in Double(rand()) }
                var scratch = [Double](repeating: 0, count: ck_f64_gaussian_filter_scratch(h, w, sy, sx))
                var ref = data
                filters[0].fn(h, w, &ref, sy, sx, &scratch)
                for k in filters.dropFirst() {
                    var out = data
                    k.fn(h, w, &out, sy, sx, &scratch)
                    for i in out.indices where !(abs(out[i] - ref[i]) <= 1e-12 * max(1, abs(ref[i]))) {
                        XCTFail("\(k.name) \(h)x\(w) sigma \(sy),\(sx): [\(i)] \(out[i]) vs \(ref[i])"); return
                    }
                }
            }
        }
        let distances = variants("mahalanobis_inverse_f32", as: ck_mahalanobis_inverse_f32_fn.self)
        XCTAssertEqual(distances.first?.isa, CK_ISA_PORTABLE)
        for n in [1, 7, 8, 9, 20] {
            for d in [1, 3, 8, 17, 40] {
                let ldy = d + 2
                let y = randArray(n * ldy), mean = (0..<d).map { _ in Double(rand()) }
                var linv = [Double](repeating: 0, count: d * d)
                for i in 0..<d { for j in 0...i { linv[i * d + j] = i == j ? 1 + Double(abs(rand())) : Double(rand()) } }
                var work = [Double](repeating: 0, count: 8 * d)
                var ref = [Double](repeating: .nan, count: n)
                distances[0].fn(n, d, y, ldy, mean, linv, &work, &ref)
                for k in distances.dropFirst() {
                    var out = [Double](repeating: .nan, count: n)
                    k.fn(n, d, y, ldy, mean, linv, &work, &out)
                    for i in out.indices where !(abs(out[i] - ref[i]) <= 1e-12 * max(1, abs(ref[i]))) {
                        XCTFail("\(k.name) n \(n) d \(d): [\(i)] \(out[i]) vs \(ref[i])"); return
                    }
                }
            }
        }
    }

    /// Every mean-pool variant against a float64 mean, over whole tensors and over a channel
    /// range of a wider one (positions ld floats apart), as threads sharing an image pool them.
    func testMeanPoolVariantsMatchReference() {
        for hw in [1, 4, 49, 3136] {
            for c in [1, 8, 15, 16, 17, 40, 64, 65, 1280] {
                for (c0, ld) in [(0, c), (3, c + 7)] {
                    let inp = randArray(hw * ld)
                    let ref = (0..<c).map { j in (0..<hw).reduce(0.0) { $0 + Double(inp[$1 * ld + c0 + j]) } / Double(hw) }
                    var outs: [(String, [Float])] = []
                    for v in variants("mean_pool", as: ck_mean_pool_fn.self) {
                        var out = [Float](repeating: .nan, count: c)
                        inp.withUnsafeBufferPointer { p in v.fn(hw, c, ld, p.baseAddress! + c0, &out) }
                        outs.append((v.name, out))
                    }
                    for (name, out) in outs {
                        for i in 0..<c where !(abs(Double(out[i]) - ref[i]) <= 1e-5 * max(1, abs(ref[i]))) {
                            XCTFail("\(name) hw \(hw) c \(c) c0 \(c0) ld \(ld): [\(i)] \(out[i]) vs \(ref[i])"); break
                        }
                    }
                }
            }
        }
    }

    /// im2col + GEMM equals a direct dense convolution written out here.
    func testIm2colGemmIsADenseConvolution() {
        let (h, w, cin, cout, k, s) = (9, 7, 3, 5, 3, 2)
        let (pt, pl, oh, ow) = (0, 1, 4, 4)
        var g = ck_conv2d_geom(in_h: h, in_w: w, channels: cin, kernel: k, stride: s, pad_top: pt, pad_left: pl, out_h: oh, out_w: ow)
        let inp = randArray(h * w * cin), wt = randArray(k * k * cin * cout), b = randArray(cout)
        var col = [Float](repeating: 0, count: oh * ow * k * k * cin)
        ck_f32_im2col_nhwc(&g, inp, &col)
        var rows = [Float](repeating: .nan, count: col.count)
        ck_f32_im2col_rows_nhwc(&g, inp, &rows, 0, 1)
        let perRow = ow * k * k * cin
        rows.withUnsafeMutableBufferPointer { ck_f32_im2col_rows_nhwc(&g, inp, $0.baseAddress! + perRow, 1, oh) }
        XCTAssertEqual(rows, col)
        let uk = ck_gemm_ukernel_for(CK_ISA_AVX512, oh * ow, cout)!
        var packed = [Float](repeating: 0, count: ck_f32_gemm_packed_size(uk.pointee.nr, k * k * cin, cout))
        ck_f32_gemm_pack(uk.pointee.nr, k * k * cin, cout, wt, cout, b, &packed)
        var out = [Float](repeating: 0, count: oh * ow * cout)
        ck_f32_gemm_run(uk, oh * ow, cout, k * k * cin, col, k * k * cin, packed, nil, 0, &out, cout, CK_ACT_NONE, 0, 1, 1 << 20, 1 << 20)
        for oy in 0..<oh { for ox in 0..<ow { for o in 0..<cout {
            var acc = Double(b[o])
            for ky in 0..<k { for kx in 0..<k {
                let iy = oy * s + ky - pt, ix = ox * s + kx - pl
                guard iy >= 0, iy < h, ix >= 0, ix < w else { continue }
                for c in 0..<cin { acc += Double(inp[(iy * w + ix) * cin + c]) * Double(wt[((ky * k + kx) * cin + c) * cout + o]) }
            } }
            XCTAssertEqual(Double(out[(oy * ow + ox) * cout + o]), acc, accuracy: 1e-5)
        } } }
    }

    /// Interleaved input rows + GEMM (lda = s * k * C, weights in (kx, ky, c) order) equal a
    /// direct dense convolution written out here: 3- and 1- and 4-channel inputs, k 3, 7 and 17
    /// (rows resolved per slot), stride 1 and 2, padding on every side, a map narrower than the
    /// kernel, both copy paths (the 3-channel vector moves next to padding columns and at the
    /// image's last pixel).
    func testInterleavedRowsGemmIsADenseConvolution() {
        let cases: [(h: Int, w: Int, cin: Int, k: Int, s: Int, pt: Int, pl: Int, pb: Int, pr: Int)] = [
            (9, 7, 3, 3, 2, 0, 1, 1, 1), (9, 8, 3, 3, 2, 1, 1, 1, 1), (11, 13, 3, 7, 2, 3, 3, 3, 3),
            (6, 5, 1, 3, 1, 1, 1, 1, 1), (7, 6, 4, 3, 2, 0, 0, 1, 1), (5, 2, 3, 3, 1, 1, 1, 1, 1), (4, 9, 3, 3, 2, 0, 0, 0, 0),
            (20, 19, 1, 17, 2, 8, 8, 8, 8),
        ]
        let cout = 19
        for t in cases {
            let oh = (t.h + t.pt + t.pb - t.k) / t.s + 1, ow = (t.w + t.pl + t.pr - t.k) / t.s + 1
            var g = ck_conv2d_geom(in_h: t.h, in_w: t.w, channels: t.cin, kernel: t.k, stride: t.s, pad_top: t.pt,
                                   pad_left: t.pl, out_h: oh, out_w: ow)
            let inp = randArray(t.h * t.w * t.cin), wt = randArray(t.k * t.k * t.cin * cout), b = randArray(cout)
            let kk = t.k * t.k * t.cin, slot = t.cin * cout
            var permuted = [Float](repeating: 0, count: wt.count)
            for ky in 0..<t.k { for kx in 0..<t.k {
                for j in 0..<slot { permuted[(kx * t.k + ky) * slot + j] = wt[(ky * t.k + kx) * slot + j] }
            } }
            let width = ck_conv_interleaved_width(&g)
            XCTAssertEqual(width, (ow - 1) * t.s + t.k)
            var x = [Float](repeating: .nan, count: width * t.k * t.cin + 1)
            var out = [Float](repeating: 0, count: oh * ow * cout)
            for uk in (0..<ck_gemm_ukernel_count()).compactMap({ ck_gemm_ukernel_at($0) })
                where uk.pointee.isa.rawValue <= ck_cpu_isa().rawValue {
                var packed = [Float](repeating: 0, count: ck_f32_gemm_packed_size(uk.pointee.nr, kk, cout))
                ck_f32_gemm_pack(uk.pointee.nr, kk, cout, permuted, cout, b, &packed)
                for oy in 0..<oh {
                    x[x.count - 1] = 12345
                    ck_f32_conv_interleave_row_nhwc(&g, inp, &x, oy)
                    XCTAssertEqual(x[x.count - 1], 12345, "writes past the row's floats")
                    out.withUnsafeMutableBufferPointer {
                        ck_f32_gemm_run(uk, ow, cout, kk, x, t.s * t.k * t.cin, packed, nil, 0, $0.baseAddress! + oy * ow * cout,
                                        cout, CK_ACT_NONE, 0, 1, 1 << 20, 1 << 20)
                    }
                }
                for oy in 0..<oh { for ox in 0..<ow { for o in 0..<cout {
                    var acc = Double(b[o])
                    for ky in 0..<t.k { for kx in 0..<t.k {
                        let iy = oy * t.s + ky - t.pt, ix = ox * t.s + kx - t.pl
                        guard iy >= 0, iy < t.h, ix >= 0, ix < t.w else { continue }
                        for c in 0..<t.cin {
                            acc += Double(inp[(iy * t.w + ix) * t.cin + c]) * Double(wt[((ky * t.k + kx) * t.cin + c) * cout + o])
                        }
                    } }
                    let got = Double(out[(oy * ow + ox) * cout + o])
                    if !(abs(got - acc) <= 1e-5 * max(1, abs(acc))) {
                        XCTFail("\(String(cString: uk.pointee.name)) \(t) (\(oy), \(ox), \(o)): \(got) vs \(acc)"); return
                    }
                } } }
            }
        }
    }

    /// Resize of a constant image stays constant; identity size is the identity.
    func testResizeInvariants() {
        let (h, w) = (37, 53)
        let inp = [Float](repeating: 0.25, count: h * w * 3)
        var scratch = [Float](repeating: 0, count: h * 20 * 3), out = [Float](repeating: 0, count: 20 * 20 * 3)
        let mean: [Float] = [0, 0, 0], std: [Float] = [1, 1, 1]
        ck_f32_resize_aa_normalize_hwc(h, w, 3, inp, 20, 20, mean, std, &scratch, &out)
        for v in out { XCTAssertEqual(v, 0.25, accuracy: 1e-6) }
        let img = randArray(h * w * 3)
        var scratch2 = [Float](repeating: 0, count: h * w * 3), same = [Float](repeating: 0, count: h * w * 3)
        ck_f32_resize_aa_normalize_hwc(h, w, 3, img, h, w, mean, std, &scratch2, &same)
        for i in 0..<img.count { XCTAssertEqual(same[i], img[i], accuracy: 1e-6) }
    }

    /// A grey image replicated to three channels is resized once: each channel equals the
    /// one-channel resize of the grey plane exactly, and a colour image is not taken for grey.
    func testGreyImagesResizeAsOneChannel() {
        let (h, w, oh, ow) = (31, 45, 17, 23)
        let grey = randArray(h * w)
        let rgb = grey.flatMap { [$0, $0, $0] }
        var one = [Float](repeating: 0, count: oh * ow), three = [Float](repeating: .nan, count: oh * ow * 3)
        var s1 = [Float](repeating: 0, count: h * ow), s3 = [Float](repeating: 0, count: h * ow * 3)
        ck_f32_resize_aa_normalize_hwc(h, w, 1, grey, oh, ow, [0], [1], &s1, &one)
        ck_f32_resize_aa_normalize_hwc(h, w, 3, rgb, oh, ow, [0.1, 0.2, 0.3], [1, 2, 4], &s3, &three)
        for i in 0..<(oh * ow) {
            XCTAssertEqual(three[3 * i], (one[i] - 0.1) / 1)
            XCTAssertEqual(three[3 * i + 1], (one[i] - 0.2) / 2)
            XCTAssertEqual(three[3 * i + 2], (one[i] - 0.3) / 4)
        }
        // A one-channel image resized straight into three channels: the same values exactly.
        var direct = [Float](repeating: .nan, count: oh * ow * 3)
        ck_f32_resize_aa_grey_to_rgb(h, w, grey, oh, ow, [0.1, 0.2, 0.3], [1, 2, 4], &s1, &direct)
        XCTAssertEqual(direct, three)
        // The last pixel's blue differs: the three-channel path, whose red equals the grey one.
        var colour = rgb
        colour[colour.count - 1] += 0.5
        ck_f32_resize_aa_normalize_hwc(h, w, 3, colour, oh, ow, [0, 0, 0], [1, 1, 1], &s3, &three)
        for i in 0..<(oh * ow) { XCTAssertEqual(three[3 * i], one[i]) }
        XCTAssertNotEqual(three[three.count - 1], one[one.count - 1])
    }

    /// A grey image past the stack tables (an extreme downscale) resized straight into three
    /// channels: equal to the three-channel resize of the image replicated.
    func testGreyToRGBPastTheTapTables() {
        let (h, w, oh, ow) = (3, 30_000, 2, 7)
        let grey = randArray(h * w)
        var s1 = [Float](repeating: 0, count: h * ow), s3 = [Float](repeating: 0, count: h * ow * 3)
        var direct = [Float](repeating: .nan, count: oh * ow * 3), three = direct
        ck_f32_resize_aa_grey_to_rgb(h, w, grey, oh, ow, [0.5, 0, 0.25], [2, 1, 0.5], &s1, &direct)
        ck_f32_resize_aa_normalize_hwc(h, w, 3, grey.flatMap { [$0, $0, $0] }, oh, ow, [0.5, 0, 0.25], [2, 1, 0.5], &s3, &three)
        for i in 0..<direct.count { XCTAssertEqual(direct[i], three[i], accuracy: 1e-6 * max(1, abs(three[i]))) }
    }

    /// Extreme downscale (4000 taps per output, past the stack-cached weights): a constant per
    /// channel stays that constant.
    func testResizeWithManyTaps() {
        let (h, w, ow) = (2, 40_000, 10)
        var inp = [Float](repeating: 0, count: h * w * 3)
        for x in 0..<w { for y in 0..<h { for c in 0..<3 { inp[(y * w + x) * 3 + c] = Float(c + 1) } } }
        var scratch = [Float](repeating: 0, count: h * ow * 3), out = [Float](repeating: 0, count: h * ow * 3)
        ck_f32_resize_aa_normalize_hwc(h, w, 3, inp, h, ow, [0, 0, 0], [1, 1, 1], &scratch, &out)
        for y in 0..<h { for x in 0..<ow { for c in 0..<3 { XCTAssertEqual(out[(y * ow + x) * 3 + c], Float(c + 1), accuracy: 1e-4) } } }
    }

    /// Mahalanobis through the Cholesky factor against a hand-computed 2x2 case.
    func testCholeskyMahalanobis() {
        var c: [Double] = [4, 0, 2, 3]   // lower triangle read: [[4, 2], [2, 3]]
        XCTAssertEqual(ck_f64_cholesky(2, &c, 2, 1), 0)
        XCTAssertEqual(c, [2, 0, 1, 2^^0 * 1.4142135623730951], accuracy: 1e-15)
        let y: [Double] = [1, 2], m: [Double] = [0, 0]
        var work = [Double](repeating: 0, count: 2), d = [Double](repeating: 0, count: 1)
        ck_f64_mahalanobis(1, 2, y, 2, m, c, 2, &work, &d, 1)
        // inverse of [[4,2],[2,3]] = [[3,-2],[-2,4]]/8; y^T C^-1 y = (3 - 8 + 16)/8 = 11/8
        XCTAssertEqual(d[0], (11.0 / 8).squareRoot(), accuracy: 1e-14)
        var bad: [Double] = [1, 0, 2, 1]
        XCTAssertGreaterThan(ck_f64_cholesky(2, &bad, 2, 1), 0)
    }
}

infix operator ^^: MultiplicationPrecedence
private func ^^ (a: Double, b: Double) -> Double { Foundation.pow(a, b) }

private func XCTAssertEqual(_ a: [Double], _ b: [Double], accuracy: Double, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, file: file, line: line)
    for (x, y) in zip(a, b) { XCTAssertEqual(x, y, accuracy: accuracy, file: file, line: line) }
}
