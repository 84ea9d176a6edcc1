// EfficientNet stage table and scaling rules (lukemelas EfficientNet-PyTorch 0.7 and its Lite
// fork): width, depth and resolution per variant, the blocks they give, the state dict.
import Foundation

/// One stage of MBConv blocks in the B0 base table.
struct EfficientNetStage {
    let kernel: Int
    let stride: Int
    let expandRatio: Int
    let repeats: Int
}

/// One MBConv block after scaling.
struct EfficientNetBlock {
    let stage: Int
    let kernel: Int
    let stride: Int
    let cin: Int
    let cexp: Int
    let cout: Int
    /// Squeeze-excitation width (B only; 0: none).
    let squeezed: Int
    /// Last block of its stage: its output is a level.
    let endsStage: Bool
}

enum EfficientNetConfig {
    /// The seven stages of EfficientNet-B0, which every variant scales.
    static let baseStages: [EfficientNetStage] = [
        .init(kernel: 3, stride: 1, expandRatio: 1, repeats: 1),
        .init(kernel: 3, stride: 2, expandRatio: 6, repeats: 2),
        .init(kernel: 5, stride: 2, expandRatio: 6, repeats: 2),
        .init(kernel: 3, stride: 2, expandRatio: 6, repeats: 3),
        .init(kernel: 5, stride: 1, expandRatio: 6, repeats: 3),
        .init(kernel: 5, stride: 2, expandRatio: 6, repeats: 4),
        .init(kernel: 3, stride: 1, expandRatio: 6, repeats: 1),
    ]

    /// Input channels of the first stage and output channels of the seven stages of B0.
    static let baseStageChannels = [16, 24, 40, 80, 112, 192, 320]

    /// (width, depth, resolution) of a variant (lukemelas' `efficientnet_params`).
    static func scaling(_ kind: BackboneKind) -> (width: Double, depth: Double, resolution: Int) {
        switch kind {
        case .efficientNetLite0: return (1.0, 1.0, 224)
        case .efficientNetLite1: return (1.0, 1.1, 240)
        case .efficientNetLite2: return (1.1, 1.2, 260)
        case .efficientNetB0: return (1.0, 1.0, 224)
        case .efficientNetB1: return (1.0, 1.1, 240)
        case .efficientNetB2: return (1.1, 1.2, 260)
        case .efficientNetB3: return (1.2, 1.4, 300)
        case .efficientNetB4: return (1.4, 1.8, 380)
        case .efficientNetB5: return (1.6, 2.2, 456)
        case .efficientNetB6: return (1.8, 2.6, 528)
        case .efficientNetB7: return (2.0, 3.1, 600)
        case .resnet18, .resnet34, .resnet50: return (1.0, 1.0, 224)
        }
    }

    /// lukemelas' `round_filters`: scale by the width coefficient, round to a multiple of 8,
    /// never more than 10 % below the scaled value.
    static func roundFilters(_ filters: Int, width: Double, divisor: Int = 8) -> Int {
        let f = Double(filters) * width
        var n = max(divisor, Int(f + Double(divisor) / 2) / divisor * divisor)
        if Double(n) < 0.9 * f { n += divisor }
        return n
    }

    /// Stem and head widths: Lite keeps 32 and 1280; B scales them.
    static func stemHead(_ kind: BackboneKind) -> (stem: Int, head: Int) {
        let w = scaling(kind).width
        return kind.family == .efficientNetLite ? (32, 1280) : (roundFilters(32, width: w), roundFilters(1280, width: w))
    }

    /// Pooled level dimensions (docs/METHOD.md 2.2): stem, the seven stages, head.
    static func levelDims(_ kind: BackboneKind) -> [Int] {
        let w = scaling(kind).width, sh = stemHead(kind)
        return [sh.stem] + baseStageChannels.map { roundFilters($0, width: w) } + [sh.head]
    }

    /// Repeats per stage: `ceil(r * depth)`; Lite keeps the first and last stage unscaled.
    static func repeats(_ kind: BackboneKind) -> [Int] {
        let d = scaling(kind).depth
        return baseStages.enumerated().map { i, s in
            kind.family == .efficientNetLite && (i == 0 || i == baseStages.count - 1)
                ? s.repeats : Int((Double(s.repeats) * d).rounded(.up))
        }
    }

    /// Every MBConv block of `kind`, in order.
    static func blocks(_ kind: BackboneKind) -> [EfficientNetBlock] {
        let w = scaling(kind).width
        let reps = repeats(kind)
        var cin = stemHead(kind).stem
        var out: [EfficientNetBlock] = []
        for (si, st) in baseStages.enumerated() {
            let cout = roundFilters(baseStageChannels[si], width: w)
            for r in 0..<reps[si] {
                let squeezed = kind.family == .efficientNetB ? max(1, Int(Double(cin) * 0.25)) : 0
                out.append(EfficientNetBlock(stage: si, kernel: st.kernel, stride: r == 0 ? st.stride : 1, cin: cin,
                                             cexp: cin * st.expandRatio, cout: cout, squeezed: squeezed,
                                             endsStage: r == reps[si] - 1))
                cin = cout
            }
        }
        return out
    }

    /// The state dict lukemelas' model has (its order), classifier of 1000 classes included.
    static func stateDict(_ kind: BackboneKind) -> [(name: String, shape: [Int])] {
        var sd: [(name: String, shape: [Int])] = []
        func bn(_ p: String, _ c: Int) { sd += StateDictCheck.batchNorm(p, channels: c) }
        let sh = stemHead(kind)
        sd.append(("_conv_stem.weight", [sh.stem, 3, 3, 3]))
        bn("_bn0", sh.stem)
        for (i, b) in blocks(kind).enumerated() {
            let p = "_blocks.\(i)"
            if b.cexp != b.cin {
                sd.append(("\(p)._expand_conv.weight", [b.cexp, b.cin, 1, 1]))
                bn("\(p)._bn0", b.cexp)
            }
            sd.append(("\(p)._depthwise_conv.weight", [b.cexp, 1, b.kernel, b.kernel]))
            bn("\(p)._bn1", b.cexp)
            if b.squeezed > 0 {
                sd.append(("\(p)._se_reduce.weight", [b.squeezed, b.cexp, 1, 1]))
                sd.append(("\(p)._se_reduce.bias", [b.squeezed]))
                sd.append(("\(p)._se_expand.weight", [b.cexp, b.squeezed, 1, 1]))
                sd.append(("\(p)._se_expand.bias", [b.cexp]))
            }
            sd.append(("\(p)._project_conv.weight", [b.cout, b.cexp, 1, 1]))
            bn("\(p)._bn2", b.cout)
        }
        let last = blocks(kind).last?.cout ?? 0
        sd.append(("_conv_head.weight", [sh.head, last, 1, 1]))
        bn("_bn1", sh.head)
        sd.append(("_fc.weight", [1000, sh.head]))
        sd.append(("_fc.bias", [1000]))
        return sd
    }

    /// TF "same" padding for one axis: (before, after), the smaller half first.
    static func samePadding(input n: Int, kernel k: Int, stride s: Int) -> (before: Int, after: Int, output: Int) {
        let out = (n + s - 1) / s
        let total = max((out - 1) * s + k - n, 0)
        return (total / 2, total - total / 2, out)
    }
}
