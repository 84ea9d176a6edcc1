// A 3x3 stride-1 convolution by Winograd F(2x2, 3x3) or F(4x4, 3x3): which tile, how many tile
// rows a band holds, its scratch, and its run over tile rows of one image or of a sub-batch.
import CKernels

/// A 3x3 stride-1 convolution as Winograd F(2x2, 3x3) or F(4x4, 3x3) (`tile`, the output tile's
/// side), a band of `bandRows` tile rows at a time: the input transform (`matrices` matrices of
/// tiles x cin) and the GEMM results (tiles x cout) live in scratch; the output transform adds
/// bias, residual and activation.
struct WinogradConv: Sendable {
    /// The transformed weight matrices (cin x cout, no bias), packed, one per product of a tile.
    let gemms: [PackedGemm]
    let bias: FloatStorage
    let geometry: ck_conv2d_geom
    let cout: Int
    let act: ck_act
    let input: Int, residual: Int?, output: Int
    let bandRows: Int
    /// The side of an output tile: 2 (F(2x2, 3x3), 16 products) or 4 (F(4x4, 3x3), 36).
    let tile: Int

    /// Whether a convolution is done this way: 3x3, stride 1, wide enough that the GEMMs
    /// dominate the transforms.
    static func applies(_ w: ConvWeights) -> Bool {
        w.kernel == 3 && w.stride == 1 && w.cin >= 16 && w.cout >= 16
    }

    init(_ w: ConvWeights, geometry g: ck_conv2d_geom, input: Int, residual: Int?, act: ck_act, output: Int,
         options: PlanOptions) {
        // F(4x4, 3x3) needs three whole tiles across a map: on a 7 x 7 map its 36 products of
        // 4 tiles an image read more weights than they save multiplies.
        let tile = options.winogradTile == 4 && min(g.out_h, g.out_w) >= Self.minSideF43 ? 4 : 2
        self.tile = tile
        geometry = g
        let matrices = (tile + 2) * (tile + 2)
        // Every band reads all of the transformed weights: a band's scratch may grow to their
        // size (at most 8 budgets), so that large weights on small maps are read once or twice
        // an image rather than once per tile row.
        let perTileRow = matrices * Self.tiles(tile, g.out_w) * (w.cin + w.cout)
        let budget = max(options.winogradBandBytes, min(matrices * w.cin * w.cout * 4, 8 * options.winogradBandBytes))
        bandRows = max(1, min(Self.tiles(tile, g.out_h), budget / 4 / max(perTileRow, 1)))
        var u = [Float](repeating: 0, count: matrices * w.cin * w.cout)
        w.weights.withUnsafeBufferPointer { wp in
            u.withUnsafeMutableBufferPointer {
                if tile == 4 { ck_f32_winograd43_weights(w.cin, w.cout, wp.baseAddress, $0.baseAddress) }
                else { ck_f32_winograd23_weights(w.cin, w.cout, wp.baseAddress, $0.baseAddress) }
            }
        }
        let m = bandRows * Self.tiles(tile, g.out_w), each = w.cin * w.cout
        gemms = (0..<matrices).map {
            PackedGemm(m: m, k: w.cin, n: w.cout, weights: Array(u[($0 * each)..<(($0 + 1) * each)]), bias: nil,
                       options: options)
        }
        bias = FloatStorage(w.bias)
        cout = w.cout
        self.act = act
        self.input = input
        self.residual = residual
        self.output = output
    }

    /// The smallest output side F(4x4, 3x3) is used for.
    static let minSideF43 = 12

    /// Tiles of side `tile` along an output side of `pixels`.
    private static func tiles(_ tile: Int, _ pixels: Int) -> Int { (pixels + tile - 1) / tile }

    /// The products of a tile: 16 or 36.
    var matrices: Int { gemms.count }
    /// Tile rows and tile columns of the output.
    var tilesH: Int { Self.tiles(tile, geometry.out_h) }
    var tilesW: Int { Self.tiles(tile, geometry.out_w) }

    /// The input transform of tile rows [ty0, ty1) of the image at `x` (see ck_f32_winograd23_input).
    func transformInput(_ x: UnsafePointer<Float>, _ ty0: Int, _ ty1: Int, into v: UnsafeMutablePointer<Float>, ld: Int) {
        var g = geometry
        if tile == 4 { ck_f32_winograd43_input(&g, x, ty0, ty1, v, ld) } else { ck_f32_winograd23_input(&g, x, ty0, ty1, v, ld) }
    }

    /// The output transform of tile rows [ty0, ty1) into the image at `out` (see ck_f32_winograd23_output).
    func transformOutput(_ m: UnsafePointer<Float>, ld: Int, _ ty0: Int, _ ty1: Int, residual r: UnsafePointer<Float>?,
                         into out: UnsafeMutablePointer<Float>) {
        var g = geometry
        if tile == 4 {
            ck_f32_winograd43_output(&g, cout, m, ld, ty0, ty1, bias.pointer, r, out, act)
        } else {
            ck_f32_winograd23_output(&g, cout, m, ld, ty0, ty1, bias.pointer, r, out, act)
        }
    }

    /// Scratch floats: one band's transformed input and GEMM results.
    var scratchFloats: Int { matrices * bandRows * tilesW * (geometry.channels + cout) }

    /// Tile rows `tileRows` of one image (its input at `x`, output at `out`), in `scratch`
    /// (`scratchFloats`).
    func run(_ x: UnsafePointer<Float>, residual r: UnsafePointer<Float>?, into out: UnsafeMutablePointer<Float>,
             tileRows: Range<Int>, scratch: UnsafeMutablePointer<Float>) {
        runGroup(images: 1, tileRows: tileRows, input: { _ in x }, residual: r.map { r in { _ in r } }, output: { _ in out },
                 scratch: scratch)
    }

    /// Tile rows `tileRows` (all of them by default) of `images` images at once (a sub-batch):
    /// band after band, the input transform of every image, one GEMM per product over all of
    /// their tiles side by side (the weights read once a band for all of them), the output
    /// transforms; `scratch` holds `images * scratchFloats`.
    func runGroup(images: Int, tileRows: Range<Int>? = nil, input: (Int) -> UnsafePointer<Float>,
                  residual: ((Int) -> UnsafePointer<Float>)?, output: (Int) -> UnsafeMutablePointer<Float>,
                  scratch: UnsafeMutablePointer<Float>) {
        let cin = geometry.channels, rows = tileRows ?? 0..<tilesH
        var ty = rows.lowerBound
        while ty < rows.upperBound {
            let ty2 = min(rows.upperBound, ty + bandRows)
            let T = (ty2 - ty) * tilesW, ld = images * T
            let products = scratch + matrices * ld * cin
            for j in 0..<images { transformInput(input(j), ty, ty2, into: scratch + j * T * cin, ld: ld) }
            for i in 0..<matrices {
                gemms[i].run(m: ld, a: scratch + i * ld * cin, residual: nil, c: products + i * ld * cout, act: CK_ACT_NONE, ith: 0, nth: 1)
            }
            for j in 0..<images {
                transformOutput(products + j * T * cout, ld: ld, ty, ty2, residual: residual.map { $0(j) }, into: output(j))
            }
            ty = ty2
        }
    }
}
