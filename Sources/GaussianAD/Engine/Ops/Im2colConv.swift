// Any dense convolution that is neither 1x1 nor Winograd's: a few output rows at a time copied
// into scratch as im2col rows, then one GEMM, with the chunk that keeps the weights in cache;
// over few channels (the stems), each output row's input rows interleaved by column instead.
import CKernels

/// A dense convolution by im2col + GEMM, `chunkRows` output rows at a time, or, when
/// `interleaved`, one output row at a time from its input rows interleaved by column.
struct Im2colConv: Sendable {
    let gemm: PackedGemm
    let geometry: ck_conv2d_geom
    let chunkRows: Int
    /// Whether the GEMM reads interleaved input rows in place (ck_f32_conv_interleave_row_nhwc)
    /// instead of im2col rows: a copy s / k the size (a third for the 3x3 stride-2 stems, 2/7
    /// for ResNet's 7x7), which is most of a few-channel convolution's time.
    let interleaved: Bool
    let input: Int, residual: Int?, act: ck_act, output: Int

    /// Whether `w` may read interleaved rows (with `PlanOptions.interleaveRows`): inputs of at
    /// most 4 channels, images, where a pixel's taps are a few floats and im2col copies each of
    /// them k * k times; deeper, the weights are large and the chunks of many rows that keep
    /// them in cache matter more than the copy.
    static func interleaves(_ w: ConvWeights) -> Bool { w.cin <= 4 && w.kernel > 1 }

    /// The convolution of `w` over `geometry`, with as many output rows per chunk as
    /// `PlanOptions.im2colChunkBytes` holds, but at least enough for 16 row tiles of GEMM, so
    /// that large weights (a strided 3x3 or 1x1 convolution deep in a ResNet: 1-9 MB) are not
    /// streamed from memory for every 7 or 14 rows.
    init(_ w: ConvWeights, geometry g: ck_conv2d_geom, input: Int, residual: Int?, act: ck_act, output: Int,
         options: PlanOptions) {
        let k = w.kernel * w.kernel * w.cin
        interleaved = options.interleaveRows && Self.interleaves(w)
        if interleaved {
            // Taps reordered from (ky, kx, c) to the interleaved rows' (kx, ky, c).
            var permuted = [Float](repeating: 0, count: w.weights.count)
            for ky in 0..<w.kernel {
                for kx in 0..<w.kernel {
                    let from = (ky * w.kernel + kx) * w.cin * w.cout, to = (kx * w.kernel + ky) * w.cin * w.cout
                    permuted[to..<(to + w.cin * w.cout)] = w.weights[from..<(from + w.cin * w.cout)]
                }
            }
            gemm = PackedGemm(m: g.out_w, k: k, n: w.cout, weights: permuted, bias: w.bias, options: options)
        } else {
            gemm = PackedGemm(m: g.out_h * g.out_w, k: k, n: w.cout, weights: w.weights, bias: w.bias, options: options)
        }
        geometry = g
        let rowFloats = g.out_w * gemm.k
        let reuseRows = (16 * Int(gemm.kernel.pointee.mr) + g.out_w - 1) / max(g.out_w, 1)
        chunkRows = interleaved ? 1 : max(1, min(g.out_h, max(options.im2colChunkBytes / 4 / max(rowFloats, 1), reuseRows)))
        self.input = input
        self.residual = residual
        self.act = act
        self.output = output
    }

    /// Scratch floats: one chunk's im2col rows, or one row's interleaved input rows.
    var scratchFloats: Int {
        var g = geometry
        return interleaved ? ck_conv_interleaved_width(&g) * g.kernel * g.channels : chunkRows * g.out_w * gemm.k
    }

    /// Output rows `rows` of one image (input at `x`, output at `out`, residual rows at `r`).
    func run(_ x: UnsafePointer<Float>, residual r: UnsafePointer<Float>?, into out: UnsafeMutablePointer<Float>,
             rows: Range<Int>, scratch: UnsafeMutablePointer<Float>) {
        var geom = geometry
        let rowFloats = geom.out_w * gemm.n
        if interleaved {
            let lda = geom.stride * geom.kernel * geom.channels
            for y in rows {
                ck_f32_conv_interleave_row_nhwc(&geom, x, scratch, y)
                gemm.run(m: geom.out_w, a: scratch, lda: lda, residual: r.map { $0 + y * rowFloats }, c: out + y * rowFloats,
                         act: act, ith: 0, nth: 1)
            }
            return
        }
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
