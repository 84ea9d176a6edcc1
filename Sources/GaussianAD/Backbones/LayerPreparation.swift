// Load-time preparation: reads conv + BatchNorm tensors, folds BN, repacks for the kernels.
import Foundation

/// A convolution ready for the kernels: weights repacked, BatchNorm folded into them and a bias.
struct FoldedConv {
    /// Dense / 1x1: [(ky, kx, cin)][cout]. Depthwise: [ky][kx][c].
    let weights: [Float]
    let bias: [Float]
    let cin: Int
    let cout: Int
    let kernel: Int
}

/// Reads named tensors from a checkpoint with shape checks that name the tensor.
struct WeightSource {
    let checkpoint: Checkpoint
    let path: String

    func tensor(_ name: String, shape: [Int]? = nil) throws -> Tensor {
        guard let t = checkpoint[name] else {
            throw GaussianADError.weightsMismatch(path: path, tensor: name, reason: "missing from the weights file (is this the right backbone?)")
        }
        if let s = shape, t.shape != s {
            throw GaussianADError.weightsMismatch(path: path, tensor: name, reason: "shape \(t.shape), expected \(s)")
        }
        guard [.float32, .float16, .float64].contains(t.dtype) else {
            throw GaussianADError.weightsMismatch(path: path, tensor: name, reason: "dtype \(t.dtype.rawValue) is not floating point")
        }
        return t
    }

    func has(_ name: String) -> Bool { checkpoint[name] != nil }

    /// BatchNorm as per-channel (scale, shift) in float64: y = x * scale + shift.
    func batchNorm(_ prefix: String, channels: Int, eps: Double) throws -> (scale: [Double], shift: [Double]) {
        let g = try tensor(prefix + ".weight", shape: [channels]).doubles()
        let b = try tensor(prefix + ".bias", shape: [channels]).doubles()
        let m = try tensor(prefix + ".running_mean", shape: [channels]).doubles()
        let v = try tensor(prefix + ".running_var", shape: [channels]).doubles()
        var scale = [Double](repeating: 0, count: channels), shift = scale
        for c in 0..<channels {
            guard v[c] >= 0 else {
                throw GaussianADError.weightsMismatch(path: path, tensor: prefix + ".running_var", reason: "negative variance")
            }
            scale[c] = g[c] / (v[c] + eps).squareRoot()
            shift[c] = b[c] - m[c] * scale[c]
        }
        return (scale, shift)
    }

    /// A dense k x k convolution (OIHW in the file) with its BatchNorm, for im2col / 1x1 GEMM.
    func denseConvBN(_ conv: String, _ bn: String, cout: Int? = nil, cin: Int? = nil, eps: Double) throws -> FoldedConv {
        let t = try tensor(conv + ".weight")
        guard t.shape.count == 4, t.shape[2] == t.shape[3] else {
            throw GaussianADError.weightsMismatch(path: path, tensor: conv + ".weight", reason: "expected a square 4-D convolution weight, got \(t.shape)")
        }
        let (co, ci, k) = (t.shape[0], t.shape[1], t.shape[2])
        if let e = cout, e != co { throw GaussianADError.weightsMismatch(path: path, tensor: conv + ".weight", reason: "\(co) output channels, expected \(e)") }
        if let e = cin, e != ci { throw GaussianADError.weightsMismatch(path: path, tensor: conv + ".weight", reason: "\(ci) input channels, expected \(e)") }
        let (scale, shift) = try batchNorm(bn, channels: co, eps: eps)
        // out[(ky, kx, i)][o] = w[o][i][ky][kx] * scale[o]: the weight read in [ky][kx][i][o]
        // order (the order Lite checkpoints store it in, so no transpose at all there).
        // Scaled in place: one array of the weights' size, not two.
        var w = t.floats(order: [2, 3, 1, 0])
        let rows = k * k * ci
        w.withUnsafeMutableBufferPointer { wp in
            for r in 0..<rows {
                for o in 0..<co { wp[r * co + o] = Float(Double(wp[r * co + o]) * scale[o]) }
            }
        }
        return FoldedConv(weights: w, bias: shift.map { Float($0) }, cin: ci, cout: co, kernel: k)
    }

    /// A depthwise convolution ([C, 1, k, k] in the file) with its BatchNorm.
    func depthwiseConvBN(_ conv: String, _ bn: String, channels: Int, eps: Double) throws -> FoldedConv {
        let t = try tensor(conv + ".weight")
        guard t.shape.count == 4, t.shape[0] == channels, t.shape[1] == 1, t.shape[2] == t.shape[3] else {
            throw GaussianADError.weightsMismatch(path: path, tensor: conv + ".weight", reason: "expected [\(channels), 1, k, k], got \(t.shape)")
        }
        let k = t.shape[2]
        let (scale, shift) = try batchNorm(bn, channels: channels, eps: eps)
        var w = t.floats(order: [2, 3, 1, 0])  // [ky][kx][c], scaled in place
        for p in 0..<(k * k) {
            for c in 0..<channels { w[p * channels + c] = Float(Double(w[p * channels + c]) * scale[c]) }
        }
        return FoldedConv(weights: w, bias: shift.map { Float($0) }, cin: channels, cout: channels, kernel: k)
    }

    /// Squeeze-excitation from its two 1x1 convolutions with bias ([reduced, C, 1, 1] and
    /// [C, reduced, 1, 1] in the file), repacked [C][reduced] and [reduced][C].
    func squeezeExcitation(_ reduce: String, _ expand: String, channels c: Int, reduced r: Int,
                           activation: Activation) throws -> SqueezeExcitation {
        let rw = try tensor(reduce + ".weight", shape: [r, c, 1, 1]).floats()
        let ew = try tensor(expand + ".weight", shape: [c, r, 1, 1]).floats()
        var reduceW = [Float](repeating: 0, count: c * r), expandW = reduceW
        for o in 0..<r { for i in 0..<c { reduceW[i * r + o] = rw[o * c + i] } }
        for o in 0..<c { for i in 0..<r { expandW[i * c + o] = ew[o * r + i] } }
        return SqueezeExcitation(channels: c, reduced: r, reduceWeights: reduceW, reduceBias: try tensor(reduce + ".bias", shape: [r]).floats(),
                                 expandWeights: expandW, expandBias: try tensor(expand + ".bias", shape: [c]).floats(),
                                 activation: activation)
    }

    /// A linear classifier `prefix`.weight [classes, features], repacked [features][classes].
    func classifier(_ prefix: String, features: Int) throws -> [Float] {
        let w = try tensor(prefix + ".weight")
        guard w.shape.count == 2, w.shape[1] == features, w.shape[0] > 0 else {
            throw GaussianADError.weightsMismatch(path: path, tensor: prefix + ".weight", reason: "shape \(w.shape), expected [classes, \(features)]")
        }
        return w.floats(order: [1, 0])  // [features][classes]
    }
}
