// A fit between its passes: which pass comes next and what it needs (projections or the
// out-of-fold models), and how merged parts move it on to the next pass or to the model.
import Foundation

/// The passes over a fit's images. Each runs sharded, its parts merge exactly:
/// - `moments`: the per-fold moment sums of the features;
/// - `projection` (PCA / NPCA only): the per-fold moment sums of the projected features, once
///   the merged covariance has chosen the components (the full fit and each out-of-fold fit
///   project with their own);
/// - `calibration`: each image's score under the model fitted without its fold, whose
///   (1 - q) quantile is the threshold (docs/METHOD.md 5).
public enum FitPass: String, Sendable, Codable {
    case moments, projection, calibration
}

/// A fit waiting for its next pass: saved like a model (`.gad`) and refused by `score` until
/// the last pass is merged.
///
///     var state = FitState(plan: plan)
///     while true {
///         var pass = try state.pass(shard: .all, paths: paths)
///         for (batch, batchPaths) in batches { try pass.add(batch, paths: batchPaths) }
///         switch try state.advance(merging: [pass.part], targetFPR: 0.01) {
///         case .next(let s): state = s
///         case .done(let model, let wp): return (model, wp)
///         }
///     }
public struct FitState: Sendable {
    /// What the next pass needs.
    enum Stage: Sendable {
        case moments
        /// Per level: the full fit's projection, then each out-of-fold fit's.
        case projection(full: [Projection?], outOfFold: [[Projection?]])
        case calibration(model: GaussianModel, outOfFold: [GaussianModel])
    }

    /// The fit's settings.
    public let plan: FitPlan
    let stage: Stage
    /// Metadata carried to the finished model file (dataset, category, tool...).
    public var metadata: [String: String]

    /// A fit that has not seen its images yet.
    public init(plan: FitPlan, metadata: [String: String] = [:]) {
        self.plan = plan
        stage = .moments
        self.metadata = metadata
    }

    init(plan: FitPlan, stage: Stage, metadata: [String: String]) {
        self.plan = plan
        self.stage = stage
        self.metadata = metadata
    }

    /// The pass this fit waits for.
    public var nextPass: FitPass {
        switch stage {
        case .moments: return .moments
        case .projection: return .projection
        case .calibration: return .calibration
        }
    }

    /// The full model, once the moments (and projections) are merged.
    public var model: GaussianModel? {
        if case .calibration(let m, _) = stage { return m }
        return nil
    }

    /// What a person runs next, for messages.
    public func nextStep(modelPath: String) -> String {
        let cmd = nextPass == .projection ? "project" : "calibrate"
        return "run `gaussian-ad \(cmd) \(modelPath) DATA --shard I/N -o PART.gadpart` for I = 0..N-1, then `gaussian-ad merge \(modelPath) PART... -o MODEL.gad`"
    }

    /// An empty pass over shard `shard` of the fit's images; `paths` are all of the fit's
    /// normal training images (relative to the category), from which the folds follow.
    /// Its BLAS steps run on `threads` threads (nil: every core).
    /// - Throws: when `paths` are not the images the fit was started on.
    public func pass(shard: Shard, paths: [String], threads: Int? = nil) throws -> FitPassAccumulator {
        try FitPassAccumulator(state: self, shard: shard, folds: plan.foldMap(of: paths), threads: threads)
    }

    /// Identifies this state for its parts: the SHA-256 of its encoding without metadata.
    public func digest() throws -> String {
        var bare = self
        bare.metadata = [:]
        return SHA256.hex(try bare.encoded())
    }

    /// Where merging a pass leads.
    public enum Outcome: Sendable {
        /// Another pass is needed.
        case next(FitState)
        /// The fit is finished.
        case done(GaussianModel, WorkingPoint)
    }

    /// Merges the parts of the next pass (any order) and moves on. At the end the threshold is
    /// set at `targetFPR` on the out-of-fold scores.
    /// - Throws: `.invalidArgument` naming the first part that belongs to another fit, state or
    ///   pass, a shard missing or given twice, or a count that does not add up.
    public func advance(merging parts: [FitPart], names: [String]? = nil, targetFPR: Double) throws -> Outcome {
        let merged = try FitPart.merge(parts, names: names ?? parts.indices.map { "part \($0 + 1)" }, into: self)
        let k = plan.folds
        switch stage {
        case .moments:
            let acc = try FoldedAccumulator(perFold: merged.groups)
            if plan.reduction == .none {
                let full = try acc.model()
                let oof = try (0..<k).map { try acc.model(excludingFold: $0) }
                return .next(FitState(plan: plan, stage: .calibration(model: full, outOfFold: oof), metadata: metadata))
            }
            let full = try acc.merged().projected(plan.reduction).projections
            let oof = try (0..<k).map { try acc.merged(excludingFold: $0).projected(plan.reduction).projections }
            return .next(FitState(plan: plan, stage: .projection(full: full, outOfFold: oof), metadata: metadata))
        case .projection:
            let full = try merged.groups[0].finalize()
            let oof = try merged.groups.dropFirst().map { try $0.finalize() }
            return .next(FitState(plan: plan, stage: .calibration(model: full, outOfFold: oof), metadata: metadata))
        case .calibration(let model, _):
            let wp = try WorkingPoint.calibrate(normalScores: merged.scores, targetFPR: targetFPR,
                                                levelDimensions: model.levels.map(\.dimension))
            return .done(model, wp)
        }
    }
}
