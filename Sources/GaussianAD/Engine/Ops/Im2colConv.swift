// Any dense convolution that is neither 1x1 nor Winograd's: a few output rows at a time copied
// into scratch as im2col rows, then one GEMM, with the chunk that keeps the weights in cache.
import CKernels

/// A dense convolution by im2col + GEMM, `chunkRows` output rows at a time.
struct Im2colConv: Sendable {
    let gemm: PackedGemm
    let geometry: ck_conv2d_geom
    let chunkRows: Int
    let input: Int, residual: Int?, act: ck_act, output: Int

    /// The convolution of `w` over `geometry`, with as many output rows per chunk as
    /// `PlanOptions.im2colChunkBytes` holds, but at least enough for 16 row tiles of GEMM, so
    /// that large weights (a strided 3x3 or 1x1 convolution deep in a ResNet: 1-9 MB) are not
    /// streamed from memory for every 7 or 14 rows.
    init(_ w: ConvWeights, geometry g: ck_conv2d_geom, input: Int, residual: Int?, act: ck_act, output: Int,
         options: PlanOptions) {
        gemm = PackedGemm(m: g.out_h * g.out_w, k: w.kernel * w.kernel * w.cin, n: w.cout, weights: w.weights, bias: w.bias,
                          options: options)
        geometry = g
        let rowFloats = g.out_w * gemm.k
        let reuseRows = (16 * Int(gemm.kernel.pointee.mr) + g.out_w - 1) / max(g.out_w, 1)
        chunkRows = max(1, min(g.out_h, max(options.im2colChunkBytes / 4 / max(rowFloats, 1), reuseRows)))
        self.input = input
        self.residual = residual
        self.act = act
        self.output = output
    }

    /// Scratch floats: one chunk's im2col rows.
    var scratchFloats: Int { chunkRows * geometry.out_w * gemm.k }

    /// Output rows `rows` of one image (input at `x`, output at `out`, residual rows at `r`).
    func run(_ x: UnsafePointer<Float>, residual r: UnsafePointer<Float>?, into out: UnsafeMutablePointer<Float>,
             rows: Range<Int>, scratch: UnsafeMutablePointer<Float>) {
        var geom = geometry
        let rowFloats = geom.out_w * gemm.n
        var y = rows.lowerBound
        while y < rows.upperBound {
            let y2 = min(rows.upperBound, y + chunkRows)
            ck_f32_im2col_rows_nhwc(&geom, x, scratch, y, y2)
            gemm.run(m: (y2 - y) * geom.out_w, a: scratch, residual: r.map { $0 + y * rowFloats }, c: out + y * rowFloats,
                     act: act, ith: 0, nth: 1)
            y = y2
        }
    }
}
