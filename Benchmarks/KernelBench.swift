// GFLOP/s of every registered GEMM and depthwise micro-kernel on the shapes Lite0 runs, and the
// memory rate of the other float kernels of the list (pooling, channel scaling, Winograd transforms).
import CKernels
import CSystemBLAS
import Foundation
import GaussianAD

enum KernelBench {
    /// (m, k, n) of representative 1x1 convolutions of Lite0 at 224 (one image).
    static let gemmShapes = [(12544, 16, 96), (3136, 24, 144), (3136, 144, 24), (784, 240, 40), (196, 480, 80),
                             (196, 672, 112), (49, 1152, 192), (49, 320, 1280)]
    /// (h, w, c, k, s) of representative depthwise layers.
    static let dwShapes = [(112, 112, 32, 3, 1), (112, 112, 96, 3, 2), (56, 56, 144, 5, 2), (28, 28, 240, 5, 1),
                           (14, 14, 672, 5, 1), (7, 7, 1152, 3, 1)]

    static func fill(_ n: Int) -> [Float] { (0..<n).map { Float(($0 * 7919) % 1000) / 1000 - 0.5 } }

    static func time(_ minSeconds: Double = 0.2, _ body: () -> Void) -> Double {
        body()
        var reps = 0
        let t0 = now()
        repeat { body(); reps += 1 } while now() - t0 < minSeconds
        return (now() - t0) / Double(reps)
    }

    static func run() {
        Kernels.ensureInitialised()
        let cpu = ck_cpu_isa()
        let machine = MachineFacts.current
        let budget = PlanOptions.heuristic(for: machine).gemmPanelBudget, prefetch = PlanOptions.heuristic(for: machine).gemmPrefetchBytes
        print("machine: \(machine.summary)")
        print("GEMM micro-kernels (GFLOP/s, one thread), OpenBLAS SGEMM on the same shapes last")
        for i in 0..<ck_gemm_ukernel_count() {
            guard let uk = ck_gemm_ukernel_at(i), uk.pointee.isa.rawValue <= cpu.rawValue else { continue }
            var line = String(cString: uk.pointee.name).padding(toLength: 40, withPad: " ", startingAt: 0)
            for (m, k, n) in gemmShapes {
                let a = fill(m * k), b = fill(k * n), bias = fill(n)
                var packed = [Float](repeating: 0, count: ck_f32_gemm_packed_size(uk.pointee.nr, k, n))
                ck_f32_gemm_pack(uk.pointee.nr, k, n, b, n, bias, &packed)
                var c = [Float](repeating: 0, count: m * n)
                let t = time { ck_f32_gemm_run(uk, m, n, k, a, k, packed, nil, 0, &c, n, CK_ACT_RELU6, 0, 1, budget, prefetch) }
                line += String(format: " %6.1f", 2 * Double(m * n * k) / t / 1e9)
            }
            print(line)
        }
        openblas_set_num_threads(1)
        var blas = "OpenBLAS cblas_sgemm (no epilogue)".padding(toLength: 40, withPad: " ", startingAt: 0)
        for (m, k, n) in gemmShapes {
            let a = fill(m * k), b = fill(k * n)
            var c = [Float](repeating: 0, count: m * n)
            let t = time {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k), 1, a, Int32(k), b, Int32(n), 0, &c, Int32(n))
            }
            blas += String(format: " %6.1f", 2 * Double(m * n * k) / t / 1e9)
        }
        print(blas)
        print("  shapes (m,k,n): " + gemmShapes.map { "\($0.0)x\($0.1)x\($0.2)" }.joined(separator: " "))
        print("depthwise kernels (GFLOP/s, one thread)")
        for dk in variants("dwconv", as: ck_dwconv_fn.self) {
            var line = dk.name.padding(toLength: 40, withPad: " ", startingAt: 0)
            for (h, w, c, k, s) in dwShapes {
                // Padding k / 2 on each side: h / s output rows, as the networks' layers have.
                let o = (h + 2 * (k / 2) - k) / s + 1
                var g = ck_conv2d_geom(in_h: h, in_w: w, channels: c, kernel: k, stride: s, pad_top: k / 2, pad_left: k / 2,
                                       out_h: o, out_w: o)
                let x = fill(h * w * c), wt = fill(k * k * c), bias = fill(c)
                var out = [Float](repeating: 0, count: o * o * c)
                let t = time { dk.fn(&g, x, 0, wt, bias, CK_ACT_RELU6, &out, 0, 0, o) }
                line += String(format: " %6.1f", 2 * Double(o * o * c * k * k) / t / 1e9)
            }
            print(line)
        }
        print("  shapes (h,w,c,k,s): " + dwShapes.map { "\($0.0)x\($0.1)x\($0.2)k\($0.3)s\($0.4)" }.joined(separator: " "))
        memoryBound()
    }

    /// The variants of `op` in the kernel list that this CPU runs, cast to the op's function type.
    static func variants<F>(_ op: String, as type: F.Type) -> [(name: String, fn: F)] {
        (0..<ck_ukernel_count()).compactMap { i -> (name: String, fn: F)? in
            guard let u = ck_ukernel_at(i)?.pointee, String(cString: u.op) == op, u.isa.rawValue <= ck_cpu_isa().rawValue,
                  let fn = u.fn else { return nil }
            return (String(cString: u.name), unsafeBitCast(fn, to: F.self))
        }
    }

    /// GB/s (bytes read and written) of the list's other float kernels, one thread: mean pooling
    /// and channel scaling of a 14 x 14 x 672 map, and the Winograd transforms of a 56 x 56 x 64
    /// layer (ResNet's first stage) and a 14 x 14 x 256 one.
    static func memoryBound() {
        print("other float kernels (GB/s read and written, one thread)")
        let (hw, c) = (196, 672)
        let map = fill(hw * c), gate = fill(c)
        var pooled = [Float](repeating: 0, count: c), scaled = [Float](repeating: 0, count: hw * c)
        for v in variants("mean_pool", as: ck_mean_pool_fn.self) {
            let t = time { v.fn(hw, c, c, map, &pooled) }
            print(v.name.padding(toLength: 44, withPad: " ", startingAt: 0) + String(format: " %6.1f", Double(4 * hw * c) / t / 1e9))
        }
        for v in variants("scale_channels", as: ck_scale_channels_fn.self) {
            let t = time { v.fn(hw, c, map, gate, &scaled) }
            print(v.name.padding(toLength: 44, withPad: " ", startingAt: 0) + String(format: " %6.1f", Double(8 * hw * c) / t / 1e9))
        }
        let layers = [(56, 64), (14, 256)]
        for (op, tile, matrices) in [("winograd23", 2, 16), ("winograd43", 4, 36)] {
            var line: [(String, [Double])] = []
            for (inputs, outputs) in zip(variants(op + "_input", as: ck_winograd23_input_fn.self),
                                         variants(op + "_output", as: ck_winograd23_output_fn.self)) {
                var rates: [Double] = []
                for (side, ch) in layers {
                    var g = ck_conv2d_geom(in_h: side, in_w: side, channels: ch, kernel: 3, stride: 1, pad_top: 1, pad_left: 1,
                                           out_h: side, out_w: side)
                    let tiles = (side + tile - 1) / tile, T = tiles * tiles
                    let x = fill(side * side * ch), bias = fill(ch)
                    var v = [Float](repeating: 0, count: matrices * T * ch), out = [Float](repeating: 0, count: side * side * ch)
                    let ti = time { inputs.fn(&g, x, 0, tiles, &v, T) }
                    let to = time { outputs.fn(&g, ch, v, T, 0, tiles, bias, nil, &out, CK_ACT_RELU) }
                    let bytes = Double(4 * (side * side * ch + matrices * T * ch))
                    rates += [bytes / ti / 1e9, bytes / to / 1e9]
                }
                line.append((inputs.name.replacingOccurrences(of: "_input", with: "_input/output"), rates))
            }
            for (name, rates) in line {
                print(name.padding(toLength: 44, withPad: " ", startingAt: 0) + rates.map { String(format: " %6.1f", $0) }.joined())
            }
        }
        print("  mean pool and scaling: 14x14x672; Winograd input, output: 56x56x64, then 14x14x256")
    }
}
