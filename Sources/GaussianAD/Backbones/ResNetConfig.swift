// torchvision ResNet-18/34/50: blocks per stage, widths, the state dict.
import Foundation

/// One residual block of a ResNet.
struct ResNetBlock {
    let stage: Int
    let index: Int
    let cin: Int
    /// The block's inner width (Bottleneck: the 1x1 reduce and the 3x3; BasicBlock: both 3x3).
    let width: Int
    let cout: Int
    let stride: Int
    let bottleneck: Bool
    /// A 1x1 convolution + BN on the skip path (stride or width changes).
    var downsample: Bool { stride != 1 || cin != cout }
}

enum ResNetConfig {
    static func layers(_ kind: BackboneKind) -> [Int] {
        kind == .resnet18 ? [2, 2, 2, 2] : [3, 4, 6, 3]
    }

    static func bottleneck(_ kind: BackboneKind) -> Bool { kind == .resnet50 }

    /// Every block, in order.
    static func blocks(_ kind: BackboneKind) -> [ResNetBlock] {
        let bott = bottleneck(kind), expansion = bott ? 4 : 1
        var cin = 64
        var out: [ResNetBlock] = []
        for (s, n) in layers(kind).enumerated() {
            let width = 64 << s
            for i in 0..<n {
                let b = ResNetBlock(stage: s, index: i, cin: cin, width: width, cout: width * expansion,
                                    stride: i == 0 && s > 0 ? 2 : 1, bottleneck: bott)
                out.append(b)
                cin = b.cout
            }
        }
        return out
    }

    /// Pooled level dimensions: the stem (after max-pool), then layer1..layer4.
    static func levelDims(_ kind: BackboneKind) -> [Int] {
        let e = bottleneck(kind) ? 4 : 1
        return [64] + (0..<4).map { (64 << $0) * e }
    }

    /// torchvision's state dict (its order), classifier of 1000 classes included.
    static func stateDict(_ kind: BackboneKind) -> [(name: String, shape: [Int])] {
        var sd: [(name: String, shape: [Int])] = []
        func bn(_ p: String, _ c: Int) { sd += StateDictCheck.batchNorm(p, channels: c) }
        sd.append(("conv1.weight", [64, 3, 7, 7]))
        bn("bn1", 64)
        for b in blocks(kind) {
            let p = "layer\(b.stage + 1).\(b.index)"
            if b.bottleneck {
                sd.append(("\(p).conv1.weight", [b.width, b.cin, 1, 1])); bn("\(p).bn1", b.width)
                sd.append(("\(p).conv2.weight", [b.width, b.width, 3, 3])); bn("\(p).bn2", b.width)
                sd.append(("\(p).conv3.weight", [b.cout, b.width, 1, 1])); bn("\(p).bn3", b.cout)
            } else {
                sd.append(("\(p).conv1.weight", [b.width, b.cin, 3, 3])); bn("\(p).bn1", b.width)
                sd.append(("\(p).conv2.weight", [b.cout, b.width, 3, 3])); bn("\(p).bn2", b.cout)
            }
            if b.downsample {
                sd.append(("\(p).downsample.0.weight", [b.cout, b.cin, 1, 1]))
                bn("\(p).downsample.1", b.cout)
            }
        }
        sd.append(("fc.weight", [1000, levelDims(kind)[4]]))
        sd.append(("fc.bias", [1000]))
        return sd
    }
}
