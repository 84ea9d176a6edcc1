// EfficientNet-Lite as a layer graph built from its weight file (lukemelas' names): stem,
// MBConv blocks (1x1 expand, depthwise, 1x1 project, identity skip), head, classifier.
import Foundation

enum EfficientNetBuilder {
    static let bnEps = 1e-3

    /// The graph of `kind` with the checkpoint's weights, BatchNorm folded in; taps the 9
    /// levels of docs/METHOD.md 2.2. Errors name the first tensor that does not fit.
    static func graph(_ kind: BackboneKind, checkpoint: Checkpoint, path: String) throws -> Graph {
        let src = WeightSource(checkpoint: checkpoint, path: path)
        let S = kind.inputSize
        let act = Activation.relu6
        var g = Graph(inputSize: S)
        func same(_ n: Int, _ k: Int, _ s: Int) -> (Padding, Int) {
            let p = EfficientNetConfig.samePadding(input: n, kernel: k, stride: s)
            return (Padding(top: p.before, left: p.before, bottom: p.after, right: p.after), p.output)
        }
        func conv(_ f: FoldedConv, stride: Int, input n: Int) -> (ConvWeights, Int) {
            let (pad, out) = same(n, f.kernel, stride)
            return (ConvWeights(kernel: f.kernel, stride: stride, padding: pad, cin: f.cin, cout: f.cout,
                                weights: f.weights, bias: f.bias), out)
        }
        let stem = try src.denseConvBN("_conv_stem", "_bn0", cin: 3, eps: bnEps)
        let (stemW, stemOut) = conv(stem, stride: 2, input: S)
        var x = try g.conv(stemW, g.input, activation: act)
        g.tap(x)
        var h = stemOut
        var cin = stem.cout
        let repeats = EfficientNetConfig.repeats(kind)
        var idx = 0
        for (si, stage) in EfficientNetConfig.baseStages.enumerated() {
            for r in 0..<repeats[si] {
                let p = "_blocks.\(idx)"
                let stride = r == 0 ? stage.stride : 1
                let blockInput = x
                var y = x
                var cexp = cin
                if src.has(p + "._expand_conv.weight") {
                    let e = try src.denseConvBN(p + "._expand_conv", p + "._bn0", cin: cin, eps: bnEps)
                    guard e.kernel == 1 else {
                        throw GaussianADError.weightsMismatch(path: path, tensor: p + "._expand_conv.weight", reason: "expected a 1x1 convolution")
                    }
                    y = try g.conv(conv(e, stride: 1, input: h).0, y, activation: act)
                    cexp = e.cout
                } else if stage.expandRatio != 1 {
                    throw GaussianADError.weightsMismatch(path: path, tensor: p + "._expand_conv.weight", reason: "missing (expand ratio \(stage.expandRatio))")
                }
                let dw = try src.depthwiseConvBN(p + "._depthwise_conv", p + "._bn1", channels: cexp, eps: bnEps)
                guard dw.kernel == stage.kernel else {
                    throw GaussianADError.weightsMismatch(path: path, tensor: p + "._depthwise_conv.weight", reason: "kernel \(dw.kernel), expected \(stage.kernel)")
                }
                let (pad, out) = same(h, dw.kernel, stride)
                y = try g.depthwise(DepthwiseWeights(kernel: dw.kernel, stride: stride, padding: pad, channels: cexp,
                                                     weights: dw.weights, bias: dw.bias), y, activation: act)
                let proj = try src.denseConvBN(p + "._project_conv", p + "._bn2", cin: cexp, eps: bnEps)
                guard proj.kernel == 1 else {
                    throw GaussianADError.weightsMismatch(path: path, tensor: p + "._project_conv.weight", reason: "expected a 1x1 convolution")
                }
                let skip = stride == 1 && cin == proj.cout
                x = try g.conv(conv(proj, stride: 1, input: out).0, y, residual: skip ? blockInput : nil, activation: .none)
                if r == repeats[si] - 1 { g.tap(x) }
                h = out
                cin = proj.cout
                idx += 1
            }
        }
        if src.has("_blocks.\(idx)._depthwise_conv.weight") {
            throw GaussianADError.weightsMismatch(path: path, tensor: "_blocks.\(idx)", reason: "more blocks than \(kind.rawValue) has: wrong backbone for this weights file?")
        }
        let head = try src.denseConvBN("_conv_head", "_bn1", cin: cin, eps: bnEps)
        x = try g.conv(conv(head, stride: 1, input: h).0, x, activation: act)
        g.tap(x)
        guard g.levelDims == kind.levelDims else {
            throw GaussianADError.weightsMismatch(path: path, tensor: "_conv_head.weight", reason: "level widths \(g.levelDims) are not those of \(kind.rawValue) (\(kind.levelDims)): wrong backbone for this weights file?")
        }
        let fcW = try src.tensor("_fc.weight")
        guard fcW.shape.count == 2, fcW.shape[1] == head.cout else {
            throw GaussianADError.weightsMismatch(path: path, tensor: "_fc.weight", reason: "shape \(fcW.shape), expected [classes, \(head.cout)]")
        }
        let nc = fcW.shape[0]
        let fb = try src.tensor("_fc.bias", shape: [nc])
        let wv = fcW.floats()
        var t = [Float](repeating: 0, count: nc * head.cout)
        for o in 0..<nc { for i in 0..<head.cout { t[i * nc + o] = wv[o * head.cout + i] } }
        try g.classifier(x, weights: t, bias: fb.floats())
        return g
    }
}
