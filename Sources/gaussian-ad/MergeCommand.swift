// `gaussian-ad merge`: combines the parts of a fit's pass (any number, any order) into the
// next state of the fit, or into the finished model.
import Foundation
import GaussianAD

enum MergeCommand {
    static let help = """
    Usage: gaussian-ad merge [MODEL.gad] PART.gadpart... -o OUT.gad [--fpr 0.01] [--json FILE]

    Merges the parts of one pass of a sharded fit, in any order; every shard I/N must be there
    exactly once. The passes, each run as N independent processes:

      1. gaussian-ad fit DATA --shard I/N -o M_I.gadpart          (moments)
         gaussian-ad merge M_*.gadpart -o MODEL.gad
      2. gaussian-ad project MODEL.gad DATA --shard I/N -o P_I.gadpart
         gaussian-ad merge MODEL.gad P_*.gadpart -o MODEL.gad     (only with --pca / --npca)
      3. gaussian-ad calibrate MODEL.gad DATA --shard I/N -o C_I.gadpart
         gaussian-ad merge MODEL.gad C_*.gadpart -o MODEL.gad --fpr Q
      4. only for `fit --shard I/N --contamination ...`, while the dropped images change:
         gaussian-ad refit MODEL.gad DATA --shard I/N -o M_I.gadpart
         gaussian-ad merge MODEL.gad M_*.gadpart -o MODEL.gad, then 2. and 3. again

    Until the last merge, OUT.gad is a fit in progress: `score` refuses it and `merge` says
    which pass comes next. The finished model equals the one-machine `fit` of the same data.
    Every file is written atomically.

      --fpr Q      target false-positive rate of the threshold, set at the last merge (default 0.01)
      --json FILE  at the last merge: the fit's summary (suspects, excluded images), as `fit --json`
                   but with paths relative to the category folder
    """

    static func run(_ args: [String]) throws -> Int32 {
        let o = try Options(args, valued: ["-o", "--output", "--fpr", "--threads", "--max-image-pixels", "--json"], flags: ["-h", "--help"])
        if o.has("-h") || o.has("--help") { try printOutput(help); return 0 }
        guard let out = o.value("-o") ?? o.value("--output") else { throw UsageError(description: "-o OUT.gad is required") }
        guard !o.positionals.isEmpty else { throw UsageError(description: "give the parts to merge\n\n" + help) }
        let fpr = try o.fpr()
        let limits = try o.limits()
        let json = o.value("--json")
        try o.checkOutputs([out] + (json.map { [$0] } ?? []))
        var state: FitState? = nil
        var parts: [FitPart] = [], names: [String] = []
        for path in o.positionals {
            let url = URL(fileURLWithPath: path)
            if path.hasSuffix(".gadpart") {
                parts.append(try FitPart.load(from: url, limits: limits))
                names.append(path)
                continue
            }
            guard state == nil else { throw UsageError(description: "give one fit in progress (.gad) and its parts (.gadpart)") }
            state = try FitState.load(from: url, limits: limits)
        }
        guard let first = parts.first else {
            throw UsageError(description: "no .gadpart among the inputs: " + (state.map { $0.nextStep(modelPath: o.positionals[0]) } ?? "nothing to merge"))
        }
        let s = state ?? FitState(plan: first.plan, metadata: [
            "category": first.plan.category, "tool": "gaussian-ad \(GaussianADVersion.string)",
            "folds": "\(first.plan.folds)", "seed": "\(first.plan.seed)", "shards": "\(first.shardCount)"])
        if state == nil, first.pass != .moments || !first.stateDigest.isEmpty {
            throw UsageError(description: "\(names[0]) is a part of the \(first.pass.rawValue) pass: give the fit in progress (.gad) it was computed on first")
        }
        switch try s.advance(merging: parts, names: names, targetFPR: fpr) {
        case .next(let n):
            try n.save(to: URL(fileURLWithPath: out))
            try printOutput("merged \(parts.count) parts of the \(s.nextPass.rawValue) pass (\(s.plan.imageCount) images)")
            if n.round > s.round {
                try printOutput("round \(s.round) of the robust fit: \(n.excluded.count) suspects to leave out; the fit starts again without them")
            }
            try printOutput("wrote \(out), a fit in progress; next: \(n.nextStep(modelPath: out))")
        case .done(let fit):
            let (model, wp, summary) = (fit.model, fit.workingPoint, fit.summary)
            var meta = s.metadata.merging(FitSummaryOutput.metadata(summary)) { _, b in b }
            meta["created"] = ISO8601DateFormatter().string(from: Date())
            let file = ModelFile(backbone: s.plan.backbone, weightsSHA256: s.plan.weightsSHA256, model: model, workingPoint: wp,
                                 maps: fit.maps, metadata: meta)
            try file.save(to: URL(fileURLWithPath: out))
            try printOutput(String(format: "threshold %.4f at target FPR %.4f (out-of-fold observed FPR %.4f over %d images)",
                         wp.threshold, wp.targetFPR, wp.observedFPR, wp.calibrationCount))
            if let m = fit.maps { try printOutput(MapOptions.describe(m)) }
            try FitSummaryOutput.report(summary, json: json)
            try printOutput("wrote \(out), the finished model")
        }
        return 0
    }
}
