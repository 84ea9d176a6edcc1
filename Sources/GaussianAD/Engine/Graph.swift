// The layer graph: a list of ops over numbered NHWC tensors, enough for EfficientNet-Lite/B
// and ResNet. Family builders make one from a weight file; the planner compiles it.
import CKernels

/// Fails graph construction with a message (shapes that do not chain).
private func check(_ ok: Bool, _ what: @autoclosure () -> String) throws {
    guard ok else { throw GaussianADError.invalidArgument("layer graph: " + what()) }
}

/// A tensor of one image in a graph: height x width x channels (NHWC, batch handled by the executor).
struct TensorShape: Equatable, Sendable {
    var h: Int, w: Int, c: Int
    /// Floats per image.
    var count: Int { h * w * c }
}

/// Element-wise activations the kernels apply in their epilogues.
enum Activation: Sendable, Equatable {
    case none, relu, relu6, swish, sigmoid

    var kernel: ck_act {
        switch self {
        case .none: return CK_ACT_NONE
        case .relu: return CK_ACT_RELU
        case .relu6: return CK_ACT_RELU6
        case .swish: return CK_ACT_SWISH
        case .sigmoid: return CK_ACT_SIGMOID
        }
    }
}

/// Explicit zero padding; may differ per side (TF "same" padding is asymmetric).
struct Padding: Equatable, Sendable {
    var top = 0, left = 0, bottom = 0, right = 0

    /// Output length of a k-tap window with stride s over n inputs padded by (before, after).
    static func output(_ n: Int, _ before: Int, _ after: Int, kernel k: Int, stride s: Int) -> Int {
        (n + before + after - k) / s + 1
    }
}

/// A dense k x k convolution (groups 1) with BatchNorm folded in: weights [(ky, kx, cin)][cout].
struct ConvWeights: Sendable {
    var kernel: Int, stride: Int, padding: Padding
    var cin: Int, cout: Int
    var weights: [Float]
    var bias: [Float]
}

/// A depthwise k x k convolution with BatchNorm folded in: weights [ky][kx][c].
struct DepthwiseWeights: Sendable {
    var kernel: Int, stride: Int, padding: Padding
    var channels: Int
    var weights: [Float]
    var bias: [Float]
}

/// Squeeze-excitation: mean pool, 1x1 reduce + bias, activation, 1x1 expand + bias, sigmoid
/// gate multiplied into the input. Weights [cin][reduced] and [reduced][cin].
struct SqueezeExcitation: Sendable {
    var channels: Int, reduced: Int
    var reduceWeights: [Float], reduceBias: [Float]
    var expandWeights: [Float], expandBias: [Float]
    var activation: Activation
}

/// Average or max pooling over k x k windows (average counts only the taps inside the image).
struct Pooling: Sendable, Equatable {
    enum Kind: Sendable { case average, max }
    var kind: Kind, kernel: Int, stride: Int, padding: Padding
}

/// One operation of a graph.
enum Op: Sendable {
    /// output = act(conv(input) + residual), residual optional and shaped like the output.
    case conv(ConvWeights, input: Int, residual: Int?, activation: Activation, output: Int)
    /// output = act(depthwise(input)).
    case depthwise(DepthwiseWeights, input: Int, activation: Activation, output: Int)
    /// output = input * gate(input), per channel.
    case squeezeExcite(SqueezeExcitation, input: Int, output: Int)
    /// output = pool(input).
    case pool(Pooling, input: Int, output: Int)
    /// output = act(a + b).
    case add(Int, Int, activation: Activation, output: Int)
    /// Exports a level: its global mean (always) and, when a run asks for it, the whole map.
    case tap(level: Int, input: Int)
    /// Classifier: global mean of input, then a fully connected layer ([cin][classes]).
    case classifier(input: Int, weights: [Float], bias: [Float], classes: Int)

    /// Tensors the op reads.
    var inputs: [Int] {
        switch self {
        case .conv(_, let i, let r, _, _): return r.map { [i, $0] } ?? [i]
        case .depthwise(_, let i, _, _), .squeezeExcite(_, let i, _), .pool(_, let i, _): return [i]
        case .add(let a, let b, _, _): return [a, b]
        case .tap(_, let i), .classifier(let i, _, _, _): return [i]
        }
    }

    /// The tensor the op writes, if any.
    var output: Int? {
        switch self {
        case .conv(_, _, _, _, let o), .depthwise(_, _, _, let o), .squeezeExcite(_, _, let o),
             .pool(_, _, let o), .add(_, _, _, let o): return o
        case .tap, .classifier: return nil
        }
    }
}

/// A network as ops over tensors. Tensor 0 is the input image (S x S x 3, normalised NHWC).
struct Graph: Sendable {
    /// Shape of every tensor, by number.
    private(set) var shapes: [TensorShape]
    /// The ops in execution order.
    private(set) var ops: [Op] = []
    /// Channels of each tapped level, by level index.
    private(set) var levelDims: [Int] = []
    /// Shape of each tapped level's map, by level index.
    private(set) var levelShapes: [TensorShape] = []
    /// Classifier outputs (0 without a classifier).
    private(set) var classes = 0

    /// Floating-point operations of one image (multiply-adds count two): convolutions,
    /// depthwise, squeeze-excitation and the classifier.
    var flops: Int {
        var f = 0
        for op in ops {
            switch op {
            case .conv(let w, _, _, _, let o): f += 2 * shapes[o].h * shapes[o].w * w.kernel * w.kernel * w.cin * w.cout
            case .depthwise(let w, _, _, let o): f += 2 * shapes[o].count * w.kernel * w.kernel
            case .squeezeExcite(let se, _, let o): f += 4 * se.channels * se.reduced + 2 * shapes[o].count
            case .classifier(let x, _, _, let classes): f += 2 * shapes[x].c * classes
            default: break
            }
        }
        return f
    }

    /// A graph whose input is an image of `size` x `size` x 3.
    init(inputSize size: Int) { shapes = [TensorShape(h: size, w: size, c: 3)] }

    /// The input tensor.
    var input: Int { 0 }

    private mutating func add(_ op: Op, shape: TensorShape?) -> Int {
        ops.append(op)
        guard let s = shape else { return -1 }
        shapes.append(s)
        return shapes.count - 1
    }

    /// The number the next tensor will get.
    private var next: Int { shapes.count }

    /// A dense convolution; returns its output tensor.
    mutating func conv(_ w: ConvWeights, _ x: Int, residual: Int? = nil, activation: Activation) throws -> Int {
        let s = shapes[x]
        try check(w.kernel > 0 && w.stride > 0 && w.cin > 0 && w.cout > 0, "convolution with a zero kernel, stride or channel count")
        try check(s.c == w.cin && w.weights.count == w.kernel * w.kernel * w.cin * w.cout && w.bias.count == w.cout,
                  "convolution of \(w.cin) -> \(w.cout) channels on a tensor of \(s.c)")
        let out = TensorShape(h: Padding.output(s.h, w.padding.top, w.padding.bottom, kernel: w.kernel, stride: w.stride),
                              w: Padding.output(s.w, w.padding.left, w.padding.right, kernel: w.kernel, stride: w.stride),
                              c: w.cout)
        try check(out.h > 0 && out.w > 0, "convolution output is empty")
        if let r = residual { try check(shapes[r] == out, "residual of shape \(shapes[r]) for an output of \(out)") }
        return add(.conv(w, input: x, residual: residual, activation: activation, output: next), shape: out)
    }

    /// A depthwise convolution.
    mutating func depthwise(_ w: DepthwiseWeights, _ x: Int, activation: Activation) throws -> Int {
        let s = shapes[x]
        try check(w.kernel > 0 && w.stride > 0 && w.channels > 0, "depthwise convolution with a zero kernel, stride or channel count")
        try check(s.c == w.channels && w.weights.count == w.kernel * w.kernel * w.channels && w.bias.count == w.channels,
                  "depthwise convolution of \(w.channels) channels on a tensor of \(s.c)")
        let out = TensorShape(h: Padding.output(s.h, w.padding.top, w.padding.bottom, kernel: w.kernel, stride: w.stride),
                              w: Padding.output(s.w, w.padding.left, w.padding.right, kernel: w.kernel, stride: w.stride),
                              c: s.c)
        try check(out.h > 0 && out.w > 0, "depthwise output is empty")
        return add(.depthwise(w, input: x, activation: activation, output: next), shape: out)
    }

    /// Squeeze-excitation.
    mutating func squeezeExcite(_ se: SqueezeExcitation, _ x: Int) throws -> Int {
        try check(se.channels > 0 && se.reduced > 0, "squeeze-excitation with no channels")
        try check(shapes[x].c == se.channels && se.reduceWeights.count == se.channels * se.reduced
                  && se.expandWeights.count == se.channels * se.reduced && se.reduceBias.count == se.reduced
                  && se.expandBias.count == se.channels, "squeeze-excitation of \(se.channels) channels on a tensor of \(shapes[x].c)")
        return add(.squeezeExcite(se, input: x, output: next), shape: shapes[x])
    }

    /// Average or max pooling.
    mutating func pool(_ p: Pooling, _ x: Int) throws -> Int {
        try check(p.kernel > 0 && p.stride > 0, "pooling with a zero kernel or stride")
        let s = shapes[x]
        let out = TensorShape(h: Padding.output(s.h, p.padding.top, p.padding.bottom, kernel: p.kernel, stride: p.stride),
                              w: Padding.output(s.w, p.padding.left, p.padding.right, kernel: p.kernel, stride: p.stride),
                              c: s.c)
        try check(out.h > 0 && out.w > 0, "pooling output is empty")
        return add(.pool(p, input: x, output: next), shape: out)
    }

    /// Element-wise sum with an activation.
    mutating func add(_ a: Int, _ b: Int, activation: Activation) throws -> Int {
        try check(shapes[a] == shapes[b], "sum of tensors shaped \(shapes[a]) and \(shapes[b])")
        return add(.add(a, b, activation: activation, output: next), shape: shapes[a])
    }

    /// Exports tensor `x` as the next level.
    mutating func tap(_ x: Int) {
        levelDims.append(shapes[x].c)
        levelShapes.append(shapes[x])
        _ = add(.tap(level: levelDims.count - 1, input: x), shape: nil)
    }

    /// The classifier head on tensor `x`: global mean, then `weights` ([cin][classes]) + bias.
    mutating func classifier(_ x: Int, weights: [Float], bias: [Float]) throws {
        try check(!bias.isEmpty && weights.count == shapes[x].c * bias.count, "classifier weights for \(shapes[x].c) inputs")
        classes = bias.count
        _ = add(.classifier(input: x, weights: weights, bias: bias, classes: bias.count), shape: nil)
    }
}
