// `gaussian-ad calibrate`, `project` and `refit`: one shard's part of a later pass of a fit in
// progress (a `.gad` written by `merge`).
import Foundation
import GaussianAD

enum PassCommand {
    static func help(_ pass: FitPass) -> String {
        let (cmd, what): (String, String)
        switch pass {
        case .calibration:
            (cmd, what) = ("calibrate", "scores each image of the shard with the model fitted without its fold; merge\n    sets the threshold at the (1 - fpr) quantile of these out-of-fold scores")
        case .projection:
            (cmd, what) = ("project", "sums the moments of the images projected by the components the merged\n    covariance chose (--pca / --npca fits only)")
        case .moments:
            (cmd, what) = ("refit", "sums the moments of the images the robust fit keeps, after a merge\n    dropped its suspects (fit --contamination only)")
        }
        return """
        Usage: gaussian-ad \(cmd) MODEL.gad DATA --shard I/N -o PART.gadpart [--category NAME]
                                  [--weights FILE] [--batch 16]

        The \(pass.rawValue) pass of a fit in progress, on shard I of N of its images: \(what).
        MODEL.gad is the file `gaussian-ad merge` wrote; DATA the folder the fit started on.
        When every shard is done: `gaussian-ad merge MODEL.gad PART... -o MODEL.gad`.

        """ + Options.limitsHelp
    }

    static func run(_ args: [String], pass: FitPass) throws -> Int32 {
        let o = try Options(args, valued: ["-o", "--output", "--category", "--batch", "--weights", "--max-image-pixels",
                                           "--threads", "--shard"],
                            flags: ["-h", "--help"])
        if o.has("-h") || o.has("--help") { try printOutput(help(pass)); return 0 }
        guard o.positionals.count == 2 else { throw UsageError(description: "give MODEL.gad and DATA\n\n" + help(pass)) }
        guard let out = o.value("-o") ?? o.value("--output") else { throw UsageError(description: "-o PART.gadpart is required") }
        let shard = try o.shard() ?? .all
        let limits = try o.limits()
        let threads = try o.threads()
        try o.checkOutputs([out])
        let stateURL = URL(fileURLWithPath: o.positionals[0])
        let state = try FitState.load(from: stateURL, limits: limits)
        guard state.nextPass == pass else {
            throw GaussianADError.badModelFile(path: stateURL.path, reason: "the fit waits for its \(state.nextPass.rawValue) pass, not \(pass.rawValue): \(state.nextStep(modelPath: stateURL.path))")
        }
        let plan = state.plan
        let cat = try o.category(of: URL(fileURLWithPath: o.positionals[1]), named: plan.category)
        let net = try o.loadBackbone(plan.backbone, batch: try o.batch(), limits: limits)
        try Detector.checkWeights(net, fittedWith: plan.weightsSHA256, kind: plan.backbone, path: stateURL.path)
        // The moments and calibration passes of a fit with maps need the map levels too.
        let mapLevels = pass == .projection ? [] : plan.maps?.settings.levels ?? []
        let fx = FeatureExtractor(backbone: net, batchSize: try o.batch(), limits: limits, mapLevels: mapLevels)
        let part = try runPass(state, shard: shard, items: cat.trainingNormals, extractor: fx, threads: threads,
                               bar: ProgressBar(), label: cat.name)
        try part.save(to: URL(fileURLWithPath: out))
        try printOutput("\(pass.rawValue) pass of shard \(shard): \(part.count) of the \(plan.imageCount) normal images of \(cat.name)")
        try printOutput("wrote \(out)")
        return 0
    }

    /// One pass of `state` over the images of `items` in `shard`.
    static func runPass(_ state: FitState, shard: Shard, items: [DatasetItem], extractor: FeatureExtractor, threads: Int?,
                        bar: ProgressBar, label: String) throws -> FitPart {
        let mine = items.filter { shard.contains($0.relativePath) }
        let images = ImageFeatures(extractor: extractor, urls: mine.map(\.url), paths: mine.map(\.relativePath), maxMemory: 0) {
            bar.update(label, $0, $1)
        }
        return try FitRunner.pass(state, shard: shard, paths: items.map(\.relativePath), threads: threads, batches: images.batches)
    }
}
