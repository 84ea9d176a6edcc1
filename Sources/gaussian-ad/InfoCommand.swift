// `gaussian-ad info`: what a model file holds.
import Foundation
import GaussianAD

enum InfoCommand {
    static let help = """
    Usage: gaussian-ad info MODEL.gad

    Describes a model file: backbone and weights, preprocessing, levels, training count,
    threshold and metadata.
    """

    static func run(_ args: [String]) throws -> Int32 {
        let o = try Options(args, valued: [], flags: ["-h", "--help"])
        if o.has("-h") || o.has("--help") { print(help); return 0 }
        guard o.positionals.count == 1 else { throw UsageError(description: "give one model file\n\n" + help) }
        let url = URL(fileURLWithPath: o.positionals[0])
        let f = try ModelFile.load(from: url, limits: try o.limits())
        let m = f.model
        print("model        \(url.path)  (format version \(ModelFile.version))")
        print("backbone     \(f.backbone.rawValue), input \(f.backbone.inputSize)x\(f.backbone.inputSize), normalisation mean \(f.backbone.normalization.mean.map { String(format: "%.4f", $0) }) std \(f.backbone.normalization.std.map { String(format: "%.4f", $0) })")
        print("weights      sha256 \(f.weightsSHA256)")
        var red = "none"
        switch m.reduction { case .none: break; case .pca(let t): red = "PCA \(t)"; case .npca(let t): red = "NPCA \(t)" }
        print("reduction    \(red)")
        print("training     \(m.trainingCount) images")
        print("levels")
        for g in m.levels {
            let p = g.projection.map { " (projected from \($0.inputDimension))" } ?? ""
            print(String(format: "  %d: dimension %4d%@, shrinkage %.6f", g.level, g.dimension, p, g.shrinkage))
        }
        if let wp = f.workingPoint {
            print(String(format: "threshold    %.6f at target FPR %.4f (observed %.4f on %d out-of-fold normal images)",
                         wp.threshold, wp.targetFPR, wp.observedFPR, wp.calibrationCount))
        } else {
            print("threshold    none")
        }
        for (k, v) in f.metadata.sorted(by: { $0.key < $1.key }) { print("\(k.padding(toLength: 12, withPad: " ", startingAt: 0)) \(v)") }
        return 0
    }
}
