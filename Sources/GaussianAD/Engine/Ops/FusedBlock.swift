// An inverted-residual block fused over bands of output rows: which blocks can be, the band that
// fits the scratch budget, and its run over a range of output rows.
import CKernels

/// 1x1 expand (optional) -> depthwise -> 1x1 project (+ residual), computed a band of output
/// rows at a time: the expanded rows live in a ring of `ringRows` rows and the depthwise band in
/// `bandRows` rows of scratch, so the expanded tensor never leaves the core's cache. Without a
/// projection (a squeeze-excitation follows the depthwise, which needs all of its output), the
/// depthwise writes its rows straight into `output`: only the expansion stays in cache.
struct FusedBlock: Sendable {
    let expand: PackedGemm?
    let expandAct: ck_act
    let geometry: ck_conv2d_geom
    let dwWeights: FloatStorage, dwBias: FloatStorage
    let dwAct: ck_act
    let project: PackedGemm?
    let projectAct: ck_act
    let input: Int, residual: Int?, output: Int
    let bandRows: Int, ringRows: Int

    /// Scratch floats: the ring and the depthwise band.
    var scratchFloats: Int {
        let c = geometry.channels
        return (expand == nil ? 0 : ringRows * geometry.in_w * c) + (project == nil ? 0 : bandRows * geometry.out_w * c)
    }

    /// Fusable inverted-residual blocks: op index of the first op -> (expand?, depthwise,
    /// project?). Without a projection (the depthwise feeds a squeeze-excitation) only an
    /// expansion is worth fusing.
    static func fusable(_ graph: Graph, minBytes: Int) -> [Int: (expand: Int?, dw: Int, project: Int?)] {
        var consumers = [Int](repeating: 0, count: graph.shapes.count)
        for op in graph.ops { for t in op.inputs { consumers[t] += 1 } }
        func pointwise(_ i: Int) -> (ConvWeights, input: Int, residual: Int?, output: Int)? {
            guard i >= 0, i < graph.ops.count, case .conv(let w, let x, let r, _, let o) = graph.ops[i],
                  w.kernel == 1, w.stride == 1, w.padding == Padding() else { return nil }
            return (w, x, r, o)
        }
        var out: [Int: (Int?, Int, Int?)] = [:]
        for (i, op) in graph.ops.enumerated() {
            guard case .depthwise(_, let x, _, let d) = op, consumers[d] == 1 else { continue }
            let project: Int?
            if let proj = pointwise(i + 1), proj.input == d {
                project = i + 1
            } else if i + 1 < graph.ops.count, case .squeezeExcite(_, let seIn, _) = graph.ops[i + 1], seIn == d {
                project = nil
            } else {
                continue
            }
            let expanded = graph.shapes[x].count * 4
            guard expanded >= minBytes else { continue }
            if let e = pointwise(i - 1), e.output == x, e.residual == nil, consumers[x] == 1, out[i - 2] == nil {
                out[i - 1] = (i - 1, i, project)
            } else if project != nil {
                out[i] = (nil, i, project)
            }
        }
        return out
    }

    static func fuse(_ graph: Graph, _ f: (expand: Int?, dw: Int, project: Int?), options: PlanOptions) -> FusedBlock {
        guard case .depthwise(let dw, let dIn, let dwAct, let dOut) = graph.ops[f.dw] else {
            preconditionFailure("fusable() matched only a depthwise")
        }
        var project: ConvWeights? = nil, residual: Int? = nil, projectAct = CK_ACT_NONE, out = dOut
        if let p = f.project, case .conv(let pw, _, let r, let pa, let o) = graph.ops[p] {
            project = pw
            residual = r
            projectAct = pa.kernel
            out = o
        }
        var expand: PackedGemm? = nil
        var expandAct = CK_ACT_NONE
        var input = dIn
        if let e = f.expand, case .conv(let ew, let x, _, let ea, _) = graph.ops[e] {
            expand = PackedGemm(m: graph.shapes[x].h * graph.shapes[x].w, k: ew.cin, n: ew.cout, weights: ew.weights,
                                bias: ew.bias, options: options)
            expandAct = ea.kernel
            input = x
        }
        let si = graph.shapes[dIn], so = graph.shapes[dOut]
        let geom = ck_conv2d_geom(in_h: si.h, in_w: si.w, channels: si.c, kernel: dw.kernel, stride: dw.stride,
                                  pad_top: dw.padding.top, pad_left: dw.padding.left, out_h: so.h, out_w: so.w)
        var band = 1
        func floats(_ b: Int) -> Int {
            (expand == nil ? 0 : ((b - 1) * dw.stride + dw.kernel) * si.w * si.c) + (project == nil ? 0 : b * so.w * si.c)
        }
        while band < so.h && floats(band + 1) * 4 <= options.fuseScratchBytes { band += 1 }
        return FusedBlock(expand: expand, expandAct: expandAct, geometry: geom, dwWeights: FloatStorage(dw.weights),
                          dwBias: FloatStorage(dw.bias), dwAct: dwAct.kernel,
                          project: project.map {
                              PackedGemm(m: band * so.w, k: $0.cin, n: $0.cout, weights: $0.weights, bias: $0.bias,
                                         options: options)
                          },
                          projectAct: projectAct, input: input, residual: residual, output: out,
                          bandRows: band, ringRows: min(si.h, (band - 1) * dw.stride + dw.kernel))
    }

    /// Output rows `rows` of one image (tensor n at `tensor(n)`): band after band, the input
    /// rows the band needs expanded into the ring (rows already there from the band before are
    /// kept), the depthwise band, its projection with the residual.
    func run(rows: Range<Int>, tensor t: (Int) -> UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>) {
        var geom = geometry
        let W = geom.in_w, C = geom.channels, OW = geom.out_w
        let ring = scratch
        // Without a projection the depthwise rows go straight to the output tensor.
        let band = project == nil ? t(output) : scratch + (expand == nil ? 0 : ringRows * W * C)
        let s = geom.stride, k = geom.kernel, pt = geom.pad_top
        var have = 0
        var b = rows.lowerBound
        while b < rows.upperBound {
            let b1 = min(rows.upperBound, b + bandRows)
            let lo = max(0, b * s - pt), hi = min(geom.in_h, (b1 - 1) * s - pt + k)
            if let e = expand {
                var r = max(lo, have)
                while r < hi {
                    let slot = r % ringRows, n = min(hi - r, ringRows - slot)
                    e.run(m: n * W, a: t(input) + r * W * e.k, residual: nil, c: ring + slot * W * C, act: expandAct, ith: 0, nth: 1)
                    r += n
                }
                have = hi
            }
            let source = expand == nil ? t(input) : ring, sourceRing = expand == nil ? 0 : ringRows
            let row0 = project == nil ? 0 : b
            ck_f32_dwconv_nhwc(&geom, source, sourceRing, dwWeights.pointer, dwBias.pointer, dwAct, band, row0, b, b1)
            if let p = project {
                p.run(m: (b1 - b) * OW, a: band, residual: residual.map { UnsafePointer(t($0) + b * OW * p.n) },
                      c: t(output) + b * OW * p.n, act: projectAct, ith: 0, nth: 1)
            }
            b = b1
        }
    }
}
