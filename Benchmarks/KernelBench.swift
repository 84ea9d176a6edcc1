// GFLOP/s of every registered GEMM and depthwise micro-kernel on the shapes Lite0 runs.
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
        for i in 0..<ck_dwconv_ukernel_count() {
            guard let dk = ck_dwconv_ukernel_at(i), dk.pointee.isa.rawValue <= cpu.rawValue else { continue }
            var line = String(cString: dk.pointee.name).padding(toLength: 40, withPad: " ", startingAt: 0)
            for (h, w, c, k, s) in dwShapes {
                // Padding k / 2 on each side: h / s output rows, as the networks' layers have.
                let o = (h + 2 * (k / 2) - k) / s + 1
                var g = ck_conv2d_geom(in_h: h, in_w: w, channels: c, kernel: k, stride: s, pad_top: k / 2, pad_left: k / 2,
                                       out_h: o, out_w: o)
                let x = fill(h * w * c), wt = fill(k * k * c), bias = fill(c)
                var out = [Float](repeating: 0, count: o * o * c)
                let t = time { dk.pointee.fn(&g, x, 0, wt, bias, CK_ACT_RELU6, &out, 0, 0, o) }
                line += String(format: " %6.1f", 2 * Double(o * o * c * k * k) / t / 1e9)
            }
            print(line)
        }
        print("  shapes (h,w,c,k,s): " + dwShapes.map { "\($0.0)x\($0.1)x\($0.2)k\($0.3)s\($0.4)" }.joined(separator: " "))
    }
}
