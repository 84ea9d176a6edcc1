// EfficientNet-Lite as a list of prepared layers and a short forward loop over NHWC batches.
import CKernels
import Dispatch
import Foundation

/// Spatial geometry of one layer for the backbone's native input size.
struct LayerGeometry {
    let inH: Int, inW: Int, outH: Int, outW: Int
    let padTop: Int, padLeft: Int
}

/// One MBConv block, prepared: optional 1x1 expand, depthwise, 1x1 project, identity skip.
struct MBConvBlock {
    let expand: FoldedConv?
    let depthwise: FoldedConv
    let project: FoldedConv
    let stride: Int
    let geometry: LayerGeometry
    let skip: Bool
    /// Index of the level this block's output is, if it ends a stage.
    let level: Int?
}

/// EfficientNet-Lite0/1/2 with the published weights: levels (METHOD.md 2.2) and logits.
final class EfficientNet {
    let kind: BackboneKind
    let stem: FoldedConv
    let stemGeometry: LayerGeometry
    let blocks: [MBConvBlock]
    let head: FoldedConv
    let headHW: Int
    let fcWeights: [Float]   // [1280][classes]
    let fcBias: [Float]
    let levelDims: [Int]
    let levelOffsets: [Int]
    let maxActivation: Int   // floats per image of the largest activation / im2col buffer
    let activation: ck_act = CK_ACT_RELU6
    static let bnEps = 1e-3

    var classes: Int { fcBias.count }
    var featureDim: Int { levelDims.reduce(0, +) }

    init(kind: BackboneKind, checkpoint: Checkpoint, path: String) throws {
        self.kind = kind
        let src = WeightSource(checkpoint: checkpoint, path: path)
        let S = kind.inputSize
        stem = try src.denseConvBN("_conv_stem", "_bn0", cin: 3, eps: Self.bnEps)
        let sp = EfficientNetConfig.samePadding(input: S, kernel: stem.kernel, stride: 2)
        stemGeometry = LayerGeometry(inH: S, inW: S, outH: sp.output, outW: sp.output, padTop: sp.before, padLeft: sp.before)
        var h = sp.output
        var cin = stem.cout
        var dims = [stem.cout]
        var maxAct = max(S * S * 3, h * h * stem.cout, h * h * stem.kernel * stem.kernel * 3)
        var blocks: [MBConvBlock] = []
        let repeats = EfficientNetConfig.repeats(kind)
        var idx = 0
        for (si, stage) in EfficientNetConfig.baseStages.enumerated() {
            for r in 0..<repeats[si] {
                let p = "_blocks.\(idx)"
                let stride = r == 0 ? stage.stride : 1
                var expand: FoldedConv? = nil
                var cexp = cin
                if src.has(p + "._expand_conv.weight") {
                    let e = try src.denseConvBN(p + "._expand_conv", p + "._bn0", cin: cin, eps: Self.bnEps)
                    guard e.kernel == 1 else {
                        throw GaussianADError.weightsMismatch(path: path, tensor: p + "._expand_conv.weight", reason: "expected a 1x1 convolution")
                    }
                    expand = e
                    cexp = e.cout
                } else if stage.expandRatio != 1 {
                    throw GaussianADError.weightsMismatch(path: path, tensor: p + "._expand_conv.weight", reason: "missing (expand ratio \(stage.expandRatio))")
                }
                let dw = try src.depthwiseConvBN(p + "._depthwise_conv", p + "._bn1", channels: cexp, eps: Self.bnEps)
                guard dw.kernel == stage.kernel else {
                    throw GaussianADError.weightsMismatch(path: path, tensor: p + "._depthwise_conv.weight", reason: "kernel \(dw.kernel), expected \(stage.kernel)")
                }
                let proj = try src.denseConvBN(p + "._project_conv", p + "._bn2", cin: cexp, eps: Self.bnEps)
                let pad = EfficientNetConfig.samePadding(input: h, kernel: dw.kernel, stride: stride)
                let geom = LayerGeometry(inH: h, inW: h, outH: pad.output, outW: pad.output, padTop: pad.before, padLeft: pad.before)
                let last = r == repeats[si] - 1
                maxAct = max(maxAct, h * h * cexp, pad.output * pad.output * cexp, pad.output * pad.output * proj.cout)
                blocks.append(MBConvBlock(expand: expand, depthwise: dw, project: proj, stride: stride, geometry: geom,
                                          skip: stride == 1 && cin == proj.cout, level: last ? si + 1 : nil))
                if last { dims.append(proj.cout) }
                h = pad.output
                cin = proj.cout
                idx += 1
            }
        }
        if src.has("_blocks.\(idx)._depthwise_conv.weight") {
            throw GaussianADError.weightsMismatch(path: path, tensor: "_blocks.\(idx)", reason: "more blocks than \(kind.rawValue) has: wrong backbone for this weights file?")
        }
        self.blocks = blocks
        head = try src.denseConvBN("_conv_head", "_bn1", cin: cin, eps: Self.bnEps)
        headHW = h * h
        maxAct = max(maxAct, h * h * head.cout)
        dims.append(head.cout)
        let fcW = try src.tensor("_fc.weight")
        guard fcW.shape.count == 2, fcW.shape[1] == head.cout else {
            throw GaussianADError.weightsMismatch(path: path, tensor: "_fc.weight", reason: "shape \(fcW.shape), expected [classes, \(head.cout)]")
        }
        let nc = fcW.shape[0]
        let fb = try src.tensor("_fc.bias", shape: [nc])
        let wv = fcW.floats()
        var t = [Float](repeating: 0, count: nc * head.cout)
        for o in 0..<nc { for i in 0..<head.cout { t[i * nc + o] = wv[o * head.cout + i] } }
        fcWeights = t
        fcBias = fb.floats()
        guard dims == kind.levelDims else {
            throw GaussianADError.weightsMismatch(path: path, tensor: "_conv_head.weight", reason: "level widths \(dims) are not those of \(kind.rawValue) (\(kind.levelDims)): wrong backbone for this weights file?")
        }
        levelDims = dims
        levelOffsets = startOffsets(dims)
        maxActivation = maxAct
    }

    /// Runs a batch: `input` holds n images of S x S x 3 (NHWC, normalised). Writes n rows of
    /// `featureDim` pooled level values into `levels` and, if given, n rows of logits.
    func forward(n: Int, input: UnsafePointer<Float>, workspace: Workspace,
                 levels: UnsafeMutablePointer<Float>, logits: UnsafeMutablePointer<Float>?) {
        workspace.reserve(floats: n * maxActivation)
        var x = workspace.buffers[0], y = workspace.buffers[1]
        let e = workspace.buffers[2], d = workspace.buffers[3]
        let F = featureDim
        let act = activation
        // Stem: im2col per image into e, one GEMM for the batch.
        let sg = stemGeometry
        var g = ck_conv2d_geom(in_h: sg.inH, in_w: sg.inW, channels: 3, kernel: stem.kernel, stride: 2,
                               pad_top: sg.padTop, pad_left: sg.padLeft, out_h: sg.outH, out_w: sg.outW)
        let S = kind.inputSize
        let colRow = stem.kernel * stem.kernel * 3
        let stemHW = sg.outH * sg.outW
        let geomCopy = g
        DispatchQueue.concurrentPerform(iterations: n) { i in
            var gi = geomCopy
            ck_f32_im2col_nhwc(&gi, input + i * S * S * 3, e + i * stemHW * colRow)
        }
        stem.weights.withUnsafeBufferPointer { w in
            stem.bias.withUnsafeBufferPointer { b in
                ck_f32_gemm_bias_act(n * stemHW, stem.cout, colRow, e, colRow, w.baseAddress, stem.cout,
                                     b.baseAddress, nil, 0, x, stem.cout, act)
            }
        }
        pool(n: n, hw: stemHW, channels: stem.cout, from: x, level: 0, into: levels, stride: F)
        var hw = stemHW
        var c = stem.cout
        for blk in blocks {
            // 1x1 expand over the whole batch.
            var dwIn = x
            let cexp = blk.depthwise.cout
            if let ex = blk.expand {
                gemm(ex, rows: n * hw, a: x, out: e, residual: nil, act: act)
                dwIn = e
            }
            // Depthwise per image, in parallel.
            let geo = blk.geometry
            g = ck_conv2d_geom(in_h: geo.inH, in_w: geo.inW, channels: cexp, kernel: blk.depthwise.kernel,
                               stride: blk.stride, pad_top: geo.padTop, pad_left: geo.padLeft,
                               out_h: geo.outH, out_w: geo.outW)
            let ohw = geo.outH * geo.outW
            let gg = g
            let src = dwIn
            blk.depthwise.weights.withUnsafeBufferPointer { w in
                blk.depthwise.bias.withUnsafeBufferPointer { b in
                    let wp = w.baseAddress!, bp = b.baseAddress!
                    DispatchQueue.concurrentPerform(iterations: n) { i in
                        var gi = gg
                        ck_f32_dwconv_nhwc(&gi, src + i * hw * cexp, wp, bp, act, d + i * ohw * cexp)
                    }
                }
            }
            // 1x1 project (linear) with the identity skip fused.
            gemm(blk.project, rows: n * ohw, a: d, out: y, residual: blk.skip ? x : nil, act: CK_ACT_NONE)
            swap(&x, &y)
            hw = ohw
            c = blk.project.cout
            if let lv = blk.level { pool(n: n, hw: hw, channels: c, from: x, level: lv, into: levels, stride: F) }
        }
        gemm(head, rows: n * hw, a: x, out: y, residual: nil, act: act)
        pool(n: n, hw: hw, channels: head.cout, from: y, level: levelDims.count - 1, into: levels, stride: F)
        if let logits = logits {
            let headOff = levelOffsets[levelDims.count - 1]
            fcWeights.withUnsafeBufferPointer { w in
                fcBias.withUnsafeBufferPointer { b in
                    ck_f32_gemm_bias_act(n, classes, head.cout, levels + headOff, F, w.baseAddress, classes,
                                         b.baseAddress, nil, 0, logits, classes, CK_ACT_NONE)
                }
            }
        }
    }

    private func gemm(_ conv: FoldedConv, rows: Int, a: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>,
                      residual: UnsafePointer<Float>?, act: ck_act) {
        conv.weights.withUnsafeBufferPointer { w in
            conv.bias.withUnsafeBufferPointer { b in
                ck_f32_gemm_bias_act(rows, conv.cout, conv.cin, a, conv.cin, w.baseAddress, conv.cout,
                                     b.baseAddress, residual, conv.cout, out, conv.cout, act)
            }
        }
    }

    private func pool(n: Int, hw: Int, channels: Int, from: UnsafePointer<Float>, level: Int,
                      into levels: UnsafeMutablePointer<Float>, stride: Int) {
        let off = levelOffsets[level]
        for i in 0..<n {
            ck_f32_mean_pool_nhwc(hw, channels, from + i * hw * channels, levels + i * stride + off)
        }
    }
}

/// Reusable activation buffers for a forward pass (grown on demand, never shrunk).
final class Workspace {
    private(set) var capacity = 0
    private(set) var buffers: [UnsafeMutablePointer<Float>] = []

    func reserve(floats: Int) {
        guard floats > capacity else { return }
        for b in buffers { b.deallocate() }
        buffers = (0..<4).map { _ in
            UnsafeMutablePointer<Float>.allocate(capacity: floats)
        }
        capacity = floats
    }

    deinit { for b in buffers { b.deallocate() } }
}
