// `gaussian-ad fit`: a model file from the normal images of one category.
import Foundation
import GaussianAD

enum FitCommand {
    static let help = """
    Usage: gaussian-ad fit DATA -o MODEL.gad [--category NAME] [--backbone lite0|lite1|lite2]
                           [--levels 0-8] [--pca T | --npca T] [--fpr 0.01] [--folds 5] [--seed 0]

    Fits the Gaussians on every normal training image of one category (MVTec: train/good;
    folder layouts and ELPV: all normal images) and calibrates the threshold on the combined
    score: the (1 - fpr) quantile of out-of-fold scores of the normal images (each scored by a
    model fitted without its fold). Writes MODEL.gad atomically.

    """ + Options.limitsHelp

    static func run(_ args: [String]) throws -> Int32 {
        let o = try Options(args, valued: ["-o", "--output", "--category", "--backbone", "--levels", "--pca", "--npca",
                                           "--fpr", "--folds", "--seed", "--batch", "--weights", "--max-image-pixels", "--threads"],
                            flags: ["-h", "--help"])
        if o.has("-h") || o.has("--help") { print(help); return 0 }
        guard o.positionals.count == 1 else { throw UsageError(description: "give one DATA folder\n\n" + help) }
        guard let out = o.value("-o") ?? o.value("--output") else { throw UsageError(description: "-o MODEL.gad is required") }
        let fpr = Double(o.value("--fpr") ?? "0.01") ?? -1
        guard fpr > 0, fpr < 1 else { throw UsageError(description: "--fpr must be in (0, 1)") }
        let k = Int(o.value("--folds") ?? "5") ?? 0
        guard k >= 2 else { throw UsageError(description: "--folds must be 2 or more (out-of-fold calibration)") }
        let seed = UInt64(o.value("--seed") ?? "0") ?? 0
        let dataURL = URL(fileURLWithPath: o.positionals[0])
        var ds = try Dataset.open(dataURL)
        if let c = o.value("--category") { ds = try ds.selecting([c]) }
        guard ds.categories.count == 1, let cat = ds.categories.first else {
            throw UsageError(description: "\(dataURL.path) has categories \(ds.categories.map(\.name).joined(separator: ", ")): choose one with --category")
        }
        let normals = cat.items.filter { $0.label == 0 && (cat.layout == .folded || $0.isTrain) }
        guard normals.count >= 2 * k else {
            throw GaussianADError.badDataset(path: cat.root.path, reason: "\(normals.count) normal training images; fitting with \(k)-fold calibration needs at least \(2 * k)")
        }
        let kind = try o.backbone()
        let limits = try o.limits()
        let net = try Backbone.load(kind, weights: o.value("--weights").map { URL(fileURLWithPath: $0) }, threads: try o.threads(), limits: limits)
        let levels = try o.value("--levels").map(EvaluateCommand.parseLevels)
        if let l = levels, let bad = l.first(where: { $0 >= net.levelDims.count }) {
            throw UsageError(description: "level \(bad) does not exist (levels 0-\(net.levelDims.count - 1))")
        }
        let gopts = GaussianOptions(levels: levels, reduction: try EvaluateCommand.reduction(o), threads: try o.threads())
        let bar = ProgressBar()
        let fx = FeatureExtractor(backbone: net, batchSize: Int(o.value("--batch") ?? "16") ?? 16, limits: limits)
        let feats = try fx.extract(normals.map(\.url)) { bar.update(cat.name, $0, $1) }
        let (model, wp) = try CalibratedFit.fit(feats, paths: normals.map(\.relativePath), folds: k, seed: seed,
                                                targetFPR: fpr, options: gopts)
        let meta = ["created": ISO8601DateFormatter().string(from: Date()), "dataset": dataURL.path, "category": cat.name,
                    "tool": "gaussian-ad \(GaussianADVersion.string)", "folds": "\(k)", "seed": "\(seed)"]
        let file = ModelFile(backbone: kind, weightsSHA256: net.weightsSHA256, model: model, workingPoint: wp, metadata: meta)
        try file.save(to: URL(fileURLWithPath: out))
        print("fitted \(kind.rawValue) on \(normals.count) normal images of \(cat.name); levels \(model.levels.map(\.level))")
        print(String(format: "threshold %.4f at target FPR %.4f (out-of-fold observed FPR %.4f over %d images)",
                     wp.threshold, wp.targetFPR, wp.observedFPR, wp.calibrationCount))
        print("wrote \(out)")
        return 0
    }
}
