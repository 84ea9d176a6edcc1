// Formula weights (docs/METHOD.md 2.4): every architecture's state dict filled from a closed
// formula, in memory, to verify a graph builder and benchmark a backbone without its
// published weights.
import Foundation

/// Deterministic weights and input for any backbone, defined by a formula rather than a file.
///
///     let net = try Backbone.load(.efficientNetB4, checkpoint: FormulaWeights.checkpoint(.efficientNetB4),
///                                 weightsSHA256: "formula")
///     let (levels, _) = try net.run(inputs: FormulaWeights.input(.efficientNetB4, count: 2), count: 2)
public enum FormulaWeights {
    /// The formula of entry k (state-dict order): element i -> value, computed in float64 (and
    /// rounded to float32 by the caller), chosen by the entry's name and rank.
    static func formula(name: String, shape: [Int], k: Int) -> (Int) -> Double {
        let kk = Double(k)
        if name.hasSuffix("running_var") { return { let s = sin(0.7 * Double($0) + kk); return 1 + 0.5 * s * s } }
        if name.hasSuffix("running_mean") { return { 0.1 * sin(0.5 * Double($0) + kk) } }
        if name.hasSuffix("bias") { return { 0.1 * cos(1.3 * Double($0) + kk) } }
        if shape.count == 1 { return { 1 + 0.1 * sin(Double($0) + kk) } }
        let n = shape.reduce(1, *), scale = (3 / Double(n / max(shape[0], 1))).squareRoot()
        return { sin(1.7 * Double($0) + 0.3 * kk) * scale }
    }

    /// The state dict of `kind` (`BackboneKind.stateDict`) with formula values.
    public static func checkpoint(_ kind: BackboneKind) -> Checkpoint {
        let entries = kind.stateDict.enumerated().map { k, e -> (String, Tensor) in
            let f = formula(name: e.name, shape: e.shape, k: k)
            let values = (0..<e.shape.reduce(1, *)).map { Float(f($0)) }
            return (e.name, Tensor(float32: values, shape: e.shape))
        }
        return Checkpoint(entries: entries)
    }

    /// The formula input of `count` images at `kind`'s input size, as `Backbone.run` takes it
    /// (NHWC, already normalised). The formula numbers the elements of the NCHW tensor:
    /// element j is sin(0.001 j) + 0.5 cos(0.37 j).
    public static func input(_ kind: BackboneKind, count: Int) -> [Float] {
        let S = kind.inputSize
        var out = [Float](repeating: 0, count: count * S * S * 3)
        for n in 0..<count {
            for c in 0..<3 {
                for y in 0..<S {
                    for x in 0..<S {
                        let j = Double(((n * 3 + c) * S + y) * S + x)
                        out[((n * S + y) * S + x) * 3 + c] = Float(sin(0.001 * j) + 0.5 * cos(0.37 * j))
                    }
                }
            }
        }
        return out
    }
}
