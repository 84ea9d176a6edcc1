// `gaussian-ad fit`: a model file from the normal images of one category, on one machine or
// as one shard's part of the moments pass.
import Foundation
import GaussianAD

enum FitCommand {
    static let help = """
    Usage: gaussian-ad fit DATA -o MODEL.gad [--category NAME] [--backbone NAME] [--weights FILE]
                           [--levels 0-8] [--pca T | --npca T] [--fpr 0.01] [--folds 5] [--seed 0]
                           [--max-memory 1G] [--contamination auto|F] [--json FILE]
                           [--map-grid N|position] [--map-levels 3-5] [--pixel-fpr 0.001] [--no-maps]
           gaussian-ad fit DATA --shard I/N -o PART.gadpart [same options]

    Fits the Gaussians on every normal training image of one category (MVTec: train/good;
    folder layouts and ELPV: all normal images) and calibrates the threshold on the combined
    score: the (1 - fpr) quantile of out-of-fold scores of the normal images (each scored by a
    model fitted without its fold). Writes MODEL.gad atomically. Training images whose
    out-of-fold score is improbable for a normal image (robust z above 3.5) are listed as
    suspects: a folder of good parts with a few defective ones in it.

    Beside the image-level Gaussians, fit models the per-position features of a few levels for
    anomaly maps (`score --maps`, `evaluate --maps`): Gaussians shared by the positions of each
    cell of a grid, and a pixel threshold calibrated on the normal images alone.

    Features are accumulated, not kept: the passes that need the images again (the
    calibration, and the projection of --pca/--npca) replay them from memory when they fit in
    a quarter of --max-memory (about 16,000 images with Lite0 and the default 1G), and run the
    network again otherwise. Peak memory stays under --max-memory whatever the image count.

      --shard I/N   fit only shard I of N of the images (by the stable path hash) and write
                    PART.gadpart, the mergeable sums of the moments pass; then
                    `gaussian-ad merge PART... -o MODEL.gad` and the pass it names next
                    (see `gaussian-ad merge --help`)

    """ + FitSummaryOutput.help + MapOptions.help + Options.backboneHelp + Options.levelsHelp + Options.limitsHelp

    static func run(_ args: [String]) throws -> Int32 {
        let o = try Options(args, valued: Set(["-o", "--output", "--category", "--backbone", "--levels", "--pca", "--npca",
                                           "--fpr", "--folds", "--seed", "--batch", "--weights", "--max-image-pixels", "--threads",
                                           "--shard", "--max-memory", "--contamination", "--json"]).union(MapOptions.valued),
                            flags: Set(["-h", "--help"]).union(MapOptions.flags))
        if o.has("-h") || o.has("--help") { try printOutput(help); return 0 }
        guard o.positionals.count == 1 else { throw UsageError(description: "give one DATA folder\n\n" + help) }
        guard let out = o.value("-o") ?? o.value("--output") else { throw UsageError(description: "-o MODEL.gad is required") }
        let fpr = try o.fpr()
        let k = Int(o.value("--folds") ?? "5") ?? 0
        guard k >= 2 else { throw UsageError(description: "--folds must be 2 or more (out-of-fold calibration)") }
        guard let seed = UInt64(o.value("--seed") ?? "0") else { throw UsageError(description: "--seed takes a whole number") }
        let shard = try o.shard()
        let maxMemory = try o.value("--max-memory").map { try InputLimits.parseBytes($0, name: "--max-memory") } ?? (1 << 30)
        let kind = try o.backbone()
        let levels = try o.levels(count: kind.levelDims.count)
        let reduction = try EvaluateCommand.reduction(o)
        let limits = try o.limits()
        let threads = try o.threads()
        let contamination = try FitSummaryOutput.contamination(o)
        let mapSettings = try MapOptions.settings(o, kind: kind)
        let json = o.value("--json")
        if json != nil, shard != nil {
            throw UsageError(description: "--json describes a finished fit: give it to the last `gaussian-ad merge` of a sharded one")
        }
        try o.checkOutputs([out] + (json.map { [$0] } ?? []))
        let dataURL = URL(fileURLWithPath: o.positionals[0])
        let cat = try o.category(of: dataURL)
        let normals = cat.trainingNormals
        guard normals.count >= 2 * k else {
            throw GaussianADError.badDataset(path: cat.root.path, reason: "\(normals.count) normal training images; fitting with \(k)-fold calibration needs at least \(2 * k)")
        }
        let net = try o.loadBackbone(kind, batch: try o.batch(), limits: limits)
        if let m = mapSettings { try MapOptions.checkMemory(m, net: net, folds: k, maxMemory: maxMemory) }
        let gopts = GaussianOptions(levels: levels, reduction: reduction, threads: threads)
        let paths = normals.map(\.relativePath)
        let maps = mapSettings.map { MapPlan(settings: $0, backbone: net) }
        let plan = try FitPlan(backbone: kind, weightsSHA256: net.weightsSHA256, levelDims: net.levelDims, options: gopts,
                               folds: k, seed: seed, category: cat.name, paths: paths, contamination: contamination, maps: maps)
        let meta = ["created": ISO8601DateFormatter().string(from: Date()), "dataset": dataURL.path, "category": cat.name,
                    "tool": "gaussian-ad \(GaussianADVersion.string)", "folds": "\(k)", "seed": "\(seed)"]
        let fx = FeatureExtractor(backbone: net, batchSize: try o.batch(), limits: limits, mapLevels: mapSettings?.levels ?? [])
        let bar = ProgressBar()
        if let shard {
            let part = try PassCommand.runPass(FitState(plan: plan), shard: shard, items: normals,
                                               extractor: fx, threads: threads, bar: bar, label: cat.name)
            try part.save(to: URL(fileURLWithPath: out))
            try printOutput("moments pass of shard \(shard): \(part.count) of the \(normals.count) normal images of \(cat.name)")
            try printOutput("wrote \(out)")
            return 0
        }
        let images = ImageFeatures(extractor: fx, urls: normals.map(\.url), paths: paths, maxMemory: maxMemory) {
            bar.update(cat.name, $0, $1)
        }
        let fit = try FitRunner.fit(FitState(plan: plan), paths: paths, targetFPR: fpr, threads: threads, batches: images.batches)
        let (model, wp, summary) = (fit.model, fit.workingPoint, fit.summary)
        let file = ModelFile(backbone: kind, weightsSHA256: net.weightsSHA256, model: model, workingPoint: wp, maps: fit.maps,
                             metadata: meta.merging(FitSummaryOutput.metadata(summary)) { a, _ in a })
        try file.save(to: URL(fileURLWithPath: out))
        try printOutput("fitted \(kind.rawValue) on \(normals.count) normal images of \(cat.name); levels \(model.levels.map(\.level))"
              + (images.keepsFeatures ? "" : " (\(images.extractions) passes over the images: their features exceed a quarter of --max-memory)"))
        try printOutput(String(format: "threshold %.4f at target FPR %.4f (out-of-fold observed FPR %.4f over %d images)",
                     wp.threshold, wp.targetFPR, wp.observedFPR, wp.calibrationCount))
        if let m = fit.maps { try printOutput(MapOptions.describe(m)) }
        try FitSummaryOutput.report(FitSummaryOutput.relative(summary, root: cat.root, data: dataURL), json: json)
        try printOutput("wrote \(out)")
        return 0
    }
}
