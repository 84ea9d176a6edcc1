// GFLOP/s of every registered GEMM and depthwise micro-kernel on the shapes Lite0 runs.
import CKernels
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
        print("GEMM micro-kernels (GFLOP/s, one thread)")
        for i in 0..<ck_gemm_ukernel_count() {
            guard let uk = ck_gemm_ukernel_at(i), uk.pointee.isa.rawValue <= cpu.rawValue else { continue }
            var line = String(cString: uk.pointee.name).padding(toLength: 40, withPad: " ", startingAt: 0)
            for (m, k, n) in gemmShapes {
                let a = fill(m * k), b = fill(k * n), bias = fill(n)
                var packed = [Float](repeating: 0, count: ck_f32_gemm_packed_size(uk.pointee.nr, k, n))
                ck_f32_gemm_pack(uk.pointee.nr, k, n, b, n, bias, &packed)
                var c = [Float](repeating: 0, count: m * n)
                let t = time { ck_f32_gemm_run(uk, m, n, k, a, k, packed, nil, 0, &c, n, CK_ACT_RELU6, 0, 1) }
                line += String(format: " %6.1f", 2 * Double(m * n * k) / t / 1e9)
            }
            print(line)
        }
        print("  shapes (m,k,n): " + gemmShapes.map { "\($0.0)x\($0.1)x\($0.2)" }.joined(separator: " "))
        print("depthwise kernels (GFLOP/s, one thread)")
        for i in 0..<ck_dwconv_ukernel_count() {
            guard let dk = ck_dwconv_ukernel_at(i), dk.pointee.isa.rawValue <= cpu.rawValue else { continue }
            var line = String(cString: dk.pointee.name).padding(toLength: 40, withPad: " ", startingAt: 0)
            for (h, w, c, k, s) in dwShapes {
                let p = EfficientNetPadding.same(h, k, s)
                var g = ck_conv2d_geom(in_h: h, in_w: w, channels: c, kernel: k, stride: s, pad_top: p.0, pad_left: p.0,
                                       out_h: p.1, out_w: p.1)
                let x = fill(h * w * c), wt = fill(k * k * c), bias = fill(c)
                var out = [Float](repeating: 0, count: p.1 * p.1 * c)
                let t = time { dk.pointee.fn(&g, x, 0, wt, bias, CK_ACT_RELU6, &out, 0, 0, p.1) }
                line += String(format: " %6.1f", 2 * Double(p.1 * p.1 * c * k * k) / t / 1e9)
            }
            print(line)
        }
        print("  shapes (h,w,c,k,s): " + dwShapes.map { "\($0.0)x\($0.1)x\($0.2)k\($0.3)s\($0.4)" }.joined(separator: " "))
    }
}

/// TF "same" padding: (before, output) for n inputs, kernel k, stride s.
enum EfficientNetPadding {
    static func same(_ n: Int, _ k: Int, _ s: Int) -> (Int, Int) {
        let out = (n + s - 1) / s
        return (max((out - 1) * s + k - n, 0) / 2, out)
    }
}
