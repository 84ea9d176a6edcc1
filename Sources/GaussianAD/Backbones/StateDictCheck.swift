// Checks a weight file against the state dict an architecture reads, before any graph is
// built: the first missing or misshapen tensor is named with what was expected.
import Foundation

enum StateDictCheck {
    /// The four entries of a BatchNorm called `prefix` over `channels`, in PyTorch's order.
    static func batchNorm(_ prefix: String, channels: Int) -> [(name: String, shape: [Int])] {
        ["weight", "bias", "running_mean", "running_var"].map { ("\(prefix).\($0)", [channels]) }
    }

    /// Throws `.weightsMismatch` for the first entry of `kind.stateDict` that `checkpoint`
    /// lacks or holds in another shape (the classifier may have any number of classes), for a
    /// block beyond the architecture's last (a deeper variant's file), and for the first tensor
    /// the architecture does not have (an EfficientNet-B file read as Lite: its
    /// squeeze-excitation). BatchNorm's `num_batches_tracked` counters are ignored.
    static func verify(_ checkpoint: Checkpoint, kind: BackboneKind, path: String) throws {
        let expected = kind.stateDict
        for (name, shape) in expected {
            guard let t = checkpoint[name] else {
                throw GaussianADError.weightsMismatch(path: path, tensor: name, reason: "missing: \(kind.rawValue) expects it with shape \(shape) (is this the right backbone?)")
            }
            let classifier = name.hasSuffix("fc.weight") || name.hasSuffix("fc.bias")
            let fits = classifier ? (t.shape.count == shape.count && t.shape.dropFirst() == shape.dropFirst()) : t.shape == shape
            guard fits else {
                throw GaussianADError.weightsMismatch(path: path, tensor: name, reason: "shape \(t.shape), but \(kind.rawValue) expects \(shape) (is this the right backbone?)")
            }
        }
        let blocks = kind.family == .resnet ? 0 : EfficientNetConfig.blocks(kind).count
        if kind.family != .resnet, checkpoint["_blocks.\(blocks)._depthwise_conv.weight"] != nil {
            throw GaussianADError.weightsMismatch(path: path, tensor: "_blocks.\(blocks)._depthwise_conv.weight", reason: "\(kind.rawValue) has \(blocks) blocks: the file is of a deeper network (is this the right backbone?)")
        }
        if kind.family == .resnet {
            for (s, n) in ResNetConfig.layers(kind).enumerated() where checkpoint["layer\(s + 1).\(n).conv1.weight"] != nil {
                throw GaussianADError.weightsMismatch(path: path, tensor: "layer\(s + 1).\(n).conv1.weight", reason: "\(kind.rawValue) has \(n) blocks in layer\(s + 1): the file is of a deeper network (is this the right backbone?)")
            }
        }
            let known = Set(expected.map(\.name))
        if let extra = checkpoint.names.first(where: { !known.contains($0) && !$0.hasSuffix("num_batches_tracked") }) {
            throw GaussianADError.weightsMismatch(path: path, tensor: extra, reason: "\(kind.rawValue) has no such tensor (is this the right backbone?)")
        }
    }
}
