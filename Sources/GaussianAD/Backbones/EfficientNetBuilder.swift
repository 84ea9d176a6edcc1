// EfficientNet-Lite and EfficientNet-B as a layer graph built from a weight file (lukemelas'
// names): stem, MBConv blocks (1x1 expand, depthwise, squeeze-excitation for B, 1x1 project,
// identity skip), head, classifier.
import Foundation

enum EfficientNetBuilder {
    static let bnEps = 1e-3

    /// The graph of `kind` with the checkpoint's weights, BatchNorm folded in; taps the 9
    /// levels of docs/METHOD.md 2.2. The checkpoint's names and shapes were checked against
    /// `kind.stateDict` before (`StateDictCheck`).
    static func graph(_ kind: BackboneKind, checkpoint: Checkpoint, path: String) throws -> Graph {
        let src = WeightSource(checkpoint: checkpoint, path: path)
        let S = kind.inputSize
        let act: Activation = kind.family == .efficientNetLite ? .relu6 : .swish
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
        for (idx, b) in EfficientNetConfig.blocks(kind).enumerated() {
            let p = "_blocks.\(idx)"
            let blockInput = x
            var y = x
            if b.cexp != b.cin {
                let e = try src.denseConvBN(p + "._expand_conv", p + "._bn0", cin: b.cin, eps: bnEps)
                y = try g.conv(conv(e, stride: 1, input: h).0, y, activation: act)
            }
            let dw = try src.depthwiseConvBN(p + "._depthwise_conv", p + "._bn1", channels: b.cexp, eps: bnEps)
            let (pad, out) = same(h, dw.kernel, b.stride)
            y = try g.depthwise(DepthwiseWeights(kernel: dw.kernel, stride: b.stride, padding: pad, channels: b.cexp,
                                                 weights: dw.weights, bias: dw.bias), y, activation: act)
            if b.squeezed > 0 {
                y = try g.squeezeExcite(try src.squeezeExcitation(p + "._se_reduce", p + "._se_expand", channels: b.cexp,
                                                                  reduced: b.squeezed, activation: act), y)
            }
            let proj = try src.denseConvBN(p + "._project_conv", p + "._bn2", cin: b.cexp, eps: bnEps)
            let skip = b.stride == 1 && b.cin == b.cout
            x = try g.conv(conv(proj, stride: 1, input: out).0, y, residual: skip ? blockInput : nil, activation: .none)
            if b.endsStage { g.tap(x) }
            h = out
        }
        let cin = EfficientNetConfig.blocks(kind).last?.cout ?? 0
        let head = try src.denseConvBN("_conv_head", "_bn1", cin: cin, eps: bnEps)
        x = try g.conv(conv(head, stride: 1, input: h).0, x, activation: act)
        g.tap(x)
        try g.classifier(x, weights: try src.classifier("_fc", features: head.cout), bias: try src.tensor("_fc.bias").floats())
        return g
    }
}
