// EfficientNet stage table and the Lite scaling rules (lukemelas EfficientNet-PyTorch 0.7).
import Foundation

/// One stage of MBConv blocks in the B0 base table.
struct EfficientNetStage {
    let kernel: Int
    let stride: Int
    let expandRatio: Int
    let repeats: Int
}

enum EfficientNetConfig {
    /// The seven stages of EfficientNet-B0, which Lite shares.
    static let baseStages: [EfficientNetStage] = [
        .init(kernel: 3, stride: 1, expandRatio: 1, repeats: 1),
        .init(kernel: 3, stride: 2, expandRatio: 6, repeats: 2),
        .init(kernel: 5, stride: 2, expandRatio: 6, repeats: 2),
        .init(kernel: 3, stride: 2, expandRatio: 6, repeats: 3),
        .init(kernel: 5, stride: 1, expandRatio: 6, repeats: 3),
        .init(kernel: 5, stride: 2, expandRatio: 6, repeats: 4),
        .init(kernel: 3, stride: 1, expandRatio: 6, repeats: 1),
    ]

    /// Output channels of the seven stages of B0, before width scaling.
    static let baseStageChannels = [16, 24, 40, 80, 112, 192, 320]

    /// Width coefficient of a Lite variant.
    static func widthCoefficient(_ kind: BackboneKind) -> Double {
        switch kind {
        case .efficientNetLite0, .efficientNetLite1: return 1.0
        case .efficientNetLite2: return 1.1
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

    /// Pooled level dimensions (docs/METHOD.md 2.2): stem (32, unscaled for Lite), the seven
    /// stages, head (1280, unscaled for Lite).
    static func levelDims(_ kind: BackboneKind) -> [Int] {
        let w = widthCoefficient(kind)
        return [32] + baseStageChannels.map { roundFilters($0, width: w) } + [1280]
    }

    /// Depth coefficient of a Lite variant.
    static func depthCoefficient(_ kind: BackboneKind) -> Double {
        switch kind {
        case .efficientNetLite0: return 1.0
        case .efficientNetLite1: return 1.1
        case .efficientNetLite2: return 1.2
        }
    }

    /// Repeats per stage: `ceil(r * depth)`, but Lite keeps the first and last stage unscaled.
    static func repeats(_ kind: BackboneKind) -> [Int] {
        let d = depthCoefficient(kind)
        return baseStages.enumerated().map { i, s in
            (i == 0 || i == baseStages.count - 1) ? s.repeats : Int((Double(s.repeats) * d).rounded(.up))
        }
    }

    /// TF "same" padding for one axis: (before, after), the smaller half first.
    static func samePadding(input n: Int, kernel k: Int, stride s: Int) -> (before: Int, after: Int, output: Int) {
        let out = (n + s - 1) / s
        let total = max((out - 1) * s + k - n, 0)
        return (total / 2, total - total / 2, out)
    }
}
