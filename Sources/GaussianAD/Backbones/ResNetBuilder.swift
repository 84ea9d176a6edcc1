// torchvision ResNet-18/34/50 as a layer graph built from a weight file: 7x7 stem, max-pool,
// BasicBlock or Bottleneck stages (stride on the 3x3, 1x1 + BN downsample), classifier.
import Foundation

enum ResNetBuilder {
    static let bnEps = 1e-5

    /// The graph of `kind` with the checkpoint's weights, BatchNorm folded in; taps the 5
    /// levels of docs/METHOD.md 2.2 (after the stem's max-pool, then layer1..layer4).
    static func graph(_ kind: BackboneKind, checkpoint: Checkpoint, path: String) throws -> Graph {
        let src = WeightSource(checkpoint: checkpoint, path: path)
        var g = Graph(inputSize: kind.inputSize)
        func conv(_ name: String, _ bn: String, cin: Int, stride: Int) throws -> ConvWeights {
            let f = try src.denseConvBN(name, bn, cin: cin, eps: bnEps)
            let p = f.kernel / 2
            return ConvWeights(kernel: f.kernel, stride: stride, padding: Padding(top: p, left: p, bottom: p, right: p),
                               cin: f.cin, cout: f.cout, weights: f.weights, bias: f.bias)
        }
        var x = try g.conv(try conv("conv1", "bn1", cin: 3, stride: 2), g.input, activation: .relu)
        x = try g.pool(Pooling(kind: .max, kernel: 3, stride: 2, padding: Padding(top: 1, left: 1, bottom: 1, right: 1)), x)
        g.tap(x)
        for b in ResNetConfig.blocks(kind) {
            let p = "layer\(b.stage + 1).\(b.index)"
            let skip = b.downsample ? try g.conv(try conv(p + ".downsample.0", p + ".downsample.1", cin: b.cin, stride: b.stride),
                                                 x, activation: .none) : x
            var y: Int
            if b.bottleneck {
                y = try g.conv(try conv(p + ".conv1", p + ".bn1", cin: b.cin, stride: 1), x, activation: .relu)
                y = try g.conv(try conv(p + ".conv2", p + ".bn2", cin: b.width, stride: b.stride), y, activation: .relu)
                y = try g.conv(try conv(p + ".conv3", p + ".bn3", cin: b.width, stride: 1), y, residual: skip, activation: .relu)
            } else {
                y = try g.conv(try conv(p + ".conv1", p + ".bn1", cin: b.cin, stride: b.stride), x, activation: .relu)
                y = try g.conv(try conv(p + ".conv2", p + ".bn2", cin: b.width, stride: 1), y, residual: skip, activation: .relu)
            }
            x = y
            if b.index == ResNetConfig.layers(kind)[b.stage] - 1 { g.tap(x) }
        }
        let features = kind.levelDims[4]
        try g.classifier(x, weights: try src.classifier("fc", features: features), bias: try src.tensor("fc.bias").floats())
        return g
    }
}
