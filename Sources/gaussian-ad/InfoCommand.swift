// `gaussian-ad info`: what a model file holds, as text or JSON.
import Foundation
import GaussianAD

enum InfoCommand {
    static let help = """
    Usage: gaussian-ad info MODEL.gad [--json]

    Describes a model file: backbone and weights, preprocessing, levels, training count,
    threshold, anomaly maps and metadata. --json prints the same as one JSON object. For a sharded fit still
    in progress (written by `merge`), it says which pass comes next ("nextPass" in JSON).
    """

    /// What `info --json` prints of a fit in progress.
    struct InProgress: Encodable {
        var kind = "fit in progress"
        var nextPass: FitPass
        var nextStep: String
        var plan: FitPlan
        var metadata: [String: String]
        /// The robust fit's round and the images it leaves out.
        var round: Int
        var excluded: [String]
    }

    static func run(_ args: [String]) throws -> Int32 {
        let o = try Options(args, valued: [], flags: ["-h", "--help", "--json"])
        if o.has("-h") || o.has("--help") { try printOutput(help); return 0 }
        guard o.positionals.count == 1 else { throw UsageError(description: "give one model file\n\n" + help) }
        let url = URL(fileURLWithPath: o.positionals[0])
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        if FitState.isFitInProgress(at: url) {
            let st = try FitState.load(from: url, limits: try o.limits())
            let p = st.plan
            if o.has("--json") {
                let j = InProgress(nextPass: st.nextPass, nextStep: st.nextStep(modelPath: url.path), plan: p, metadata: st.metadata,
                                   round: st.round, excluded: st.excluded)
                try printOutput(String(decoding: try enc.encode(j), as: UTF8.self))
                return 0
            }
            try printOutput("fit          \(url.path)  (in progress: waiting for its \(st.nextPass.rawValue) pass)")
            try printOutput("backbone     \(p.backbone.rawValue), weights sha256 \(p.weightsSHA256)")
            try printOutput("images       \(p.imageCount) normal images of \(p.category), \(p.folds) folds, seed \(p.seed)")
            try printOutput("levels       \(p.levels), reduction \(p.reduction)")
            if let rule = p.contamination {
                try printOutput("robust fit   --contamination \(rule), round \(st.round): \(st.excluded.count) images left out")
            }
            try printOutput("next         \(st.nextStep(modelPath: url.path))")
            return 0
        }
        let s = try ModelFile.load(from: url, limits: try o.limits()).summary
        if o.has("--json") {
            try printOutput(String(decoding: try enc.encode(s), as: UTF8.self))
            return 0
        }
        try printOutput("model        \(url.path)  (format version \(s.formatVersion))")
        try printOutput("backbone     \(s.backbone), input \(s.inputSize)x\(s.inputSize), normalisation mean \(s.normalizationMean.map { String(format: "%.4f", $0) }) std \(s.normalizationStd.map { String(format: "%.4f", $0) })")
        try printOutput("weights      sha256 \(s.weightsSHA256)")
        try printOutput("reduction    \(s.reduction == "none" ? "none" : s.reduction.uppercased())")
        try printOutput("training     \(s.trainingCount) images")
        try printOutput("levels")
        for g in s.levels {
            let p = g.projectedFrom.map { " (projected from \($0))" } ?? ""
            try printOutput(String(format: "  %d: dimension %4d%@, shrinkage %.6f", g.level, g.dimension, p, g.shrinkage))
        }
        if let t = s.threshold, let q = s.targetFPR, let obs = s.observedFPR, let n = s.calibrationCount {
            try printOutput(String(format: "threshold    %.6f at target FPR %.4f (observed %.4f on %d out-of-fold normal images)", t, q, obs, n))
        } else {
            try printOutput("threshold    none")
        }
        if let m = s.maps {
            let t = m.pixelThreshold.map { String(format: "pixel threshold %.6f at pixel FPR %g (%d normal images)", $0, m.pixelFPR, m.calibrationImages) } ?? "no pixel threshold"
            try printOutput("maps         levels \(m.levels), grid \(m.grid) (\(m.cells.map(String.init).joined(separator: "/")) cells); \(t)")
        } else {
            try printOutput("maps         none (score --maps needs a model fitted with maps)")
        }
        for (k, v) in s.metadata.sorted(by: { $0.key < $1.key }) { try printOutput("\(k.padding(toLength: 12, withPad: " ", startingAt: 0)) \(v)") }
        return 0
    }
}
