// The GEMM every convolution runs: weights packed once for the micro-kernel the plan chose.
import CKernels

/// Weights packed for one GEMM micro-kernel.
struct PackedGemm: @unchecked Sendable {
    /// The registered micro-kernel (a static C table entry: never freed, never written).
    let kernel: UnsafePointer<ck_gemm_ukernel>
    let weights: FloatStorage
    /// The rows it was planned for (its key in `PlanOptions.gemmKernels`), inner size, columns.
    let m: Int, k: Int, n: Int
    /// Bytes of packed weights a thread keeps in cache (PlanOptions.gemmPanelBudget).
    let panelBudget: Int
    /// Panels of at most this many bytes prefetch the next (PlanOptions.gemmPrefetchBytes).
    let prefetchBytes: Int

    /// Packs `weights` ([k][n]) and `bias` (n) for the micro-kernel the options name for this
    /// shape (a tuned plan), else the heuristic's choice for products of about `m` rows (the
    /// layer's pixels) and n columns.
    init(m: Int, k: Int, n: Int, weights w: [Float], bias: [Float]?, options: PlanOptions) {
        kernel = options.gemmKernels[PlanOptions.gemmKey(m: m, k: k, n: n)].flatMap(PackedGemm.kernel(named:))
            ?? ck_gemm_ukernel_for(CK_ISA_AVX512, m, n)
        self.m = m
        self.k = k
        self.n = n
        self.panelBudget = options.gemmPanelBudget
        self.prefetchBytes = options.gemmPrefetchBytes
        // ck_f32_gemm_pack writes every float of it, the padding too.
        weights = FloatStorage(count: ck_f32_gemm_packed_size(kernel.pointee.nr, k, n), zeroed: false)
        w.withUnsafeBufferPointer { wp in
            if let b = bias {
                b.withUnsafeBufferPointer { ck_f32_gemm_pack(kernel.pointee.nr, k, n, wp.baseAddress, n, $0.baseAddress, weights.pointer) }
            } else {
                ck_f32_gemm_pack(kernel.pointee.nr, k, n, wp.baseAddress, n, nil, weights.pointer)
            }
        }
    }

    /// The registered micro-kernel of that name, if the dispatch table's level can run it.
    static func kernel(named name: String) -> UnsafePointer<ck_gemm_ukernel>? {
        for i in 0..<ck_gemm_ukernel_count() {
            guard let u = ck_gemm_ukernel_at(i) else { continue }
            if String(cString: u.pointee.name) == name && u.pointee.isa.rawValue <= ck_active_isa().rawValue { return u }
        }
        return nil
    }

    /// Rows [ith-share] of c (m x n) = act(a (m x k, rows `lda` floats apart: k by default) * W
    /// + bias + residual).
    @inline(__always)
    func run(m: Int, a: UnsafePointer<Float>, lda: Int? = nil, residual: UnsafePointer<Float>?, c: UnsafeMutablePointer<Float>,
             act: ck_act, ith: Int, nth: Int) {
        ck_f32_gemm_run(kernel, m, n, k, a, lda ?? k, weights.pointer, residual, n, c, n, act, ith, nth, panelBudget,
                        prefetchBytes)
    }
}
