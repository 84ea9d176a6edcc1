// A fit between its passes: which pass comes next and what it needs (projections or the
// out-of-fold models), and how merged parts move it on to the next pass or to the model.
import Foundation

/// The passes over a fit's images. Each runs sharded, its parts merge exactly:
/// - `moments`: the per-fold moment sums of the features;
/// - `projection` (PCA / NPCA only): the per-fold moment sums of the projected features, once
///   the merged covariance has chosen the components (the full fit and each out-of-fold fit
///   project with their own);
/// - `calibration`: each image's score under the model fitted without its fold, whose
///   (1 - q) quantile is the threshold (docs/METHOD.md 5), and whose robust z names the
///   suspects (docs/METHOD.md 8).
///
/// A robust fit (`FitPlan.contamination`) then drops the suspects and runs the passes again on
/// the images it keeps, until the kept set stops changing (at most `maxRounds` rounds).
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
///         case .done(let result): return result
///         }
///     }
public struct FitState: Sendable {
    /// What the next pass needs.
    enum Stage: Sendable {
        case moments
        /// Per level: the full fit's projection, then each out-of-fold fit's; the spatial
        /// Gaussians (fits with maps), fitted by the moments pass, carried on.
        case projection(full: [Projection?], outOfFold: [[Projection?]], maps: SpatialModel?, mapsOutOfFold: [SpatialModel])
        case calibration(model: GaussianModel, outOfFold: [GaussianModel], maps: SpatialModel?, mapsOutOfFold: [SpatialModel])
    }

    /// The fit's settings.
    public let plan: FitPlan
    let stage: Stage
    /// Metadata carried to the finished model file (dataset, category, tool...).
    public var metadata: [String: String]
    /// Images this round's model leaves out (sorted): none in the first round.
    public let excluded: [String]
    /// The fit round in progress, from 1.
    public let round: Int

    /// Rounds of a robust fit at most: the first fit and up to three concentration steps.
    public static let maxRounds = 4

    /// A fit that has not seen its images yet.
    public init(plan: FitPlan, metadata: [String: String] = [:]) {
        self.init(plan: plan, stage: .moments, metadata: metadata, excluded: [], round: 1)
    }

    init(plan: FitPlan, stage: Stage, metadata: [String: String], excluded: [String], round: Int) {
        self.plan = plan
        self.stage = stage
        self.metadata = metadata
        self.excluded = excluded
        self.round = round
    }

    /// The same round at another stage.
    private func at(_ stage: Stage) -> FitState {
        FitState(plan: plan, stage: stage, metadata: metadata, excluded: excluded, round: round)
    }

    /// Whether this is the fit before any pass: its moments parts carry no state digest (they
    /// are computed by `fit --shard` before any state exists).
    var isInitial: Bool {
        if case .moments = stage { return round == 1 }
        return false
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
        if case .calibration(let m, _, _, _) = stage { return m }
        return nil
    }

    /// What a person runs next, for messages.
    public func nextStep(modelPath: String) -> String {
        let cmd = nextPass == .projection ? "project" : nextPass == .moments ? "refit" : "calibrate"
        return "run `gaussian-ad \(cmd) \(modelPath) DATA --shard I/N -o PART.gadpart` for I = 0..N-1, then `gaussian-ad merge \(modelPath) PART... -o MODEL.gad`"
    }

    /// An empty pass over shard `shard` of the fit's images; `paths` are all of the fit's
    /// normal training images (relative to the category), from which the folds follow.
    /// Its BLAS steps run on `threads` threads (nil: every core).
    /// - Throws: when `paths` are not the images the fit was started on.
    public func pass(shard: Shard, paths: [String], threads: Int? = nil) throws -> FitPassAccumulator {
        try FitPassAccumulator(state: self, shard: shard, folds: plan.foldMap(of: paths), excluded: Set(excluded), threads: threads)
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
        case done(FitResult)
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
            var maps: SpatialModel? = nil, mapsOOF: [SpatialModel] = []
            if plan.maps != nil {
                func spatial(excluding f: Int?) throws -> SpatialModel {
                    var a: SpatialAccumulator? = nil
                    for g in 0..<k where g != f { if a == nil { a = merged.spatial[g] } else { try a!.merge(merged.spatial[g]) } }
                    return try a!.finalize()
                }
                maps = try spatial(excluding: nil)
                mapsOOF = try (0..<k).map { try spatial(excluding: $0) }
            }
            if plan.reduction == .none {
                let full = try acc.model()
                let oof = try (0..<k).map { try acc.model(excludingFold: $0) }
                return .next(at(.calibration(model: full, outOfFold: oof, maps: maps, mapsOutOfFold: mapsOOF)))
            }
            let full = try acc.merged().projected(plan.reduction).projections
            let oof = try (0..<k).map { try acc.merged(excludingFold: $0).projected(plan.reduction).projections }
            return .next(at(.projection(full: full, outOfFold: oof, maps: maps, mapsOutOfFold: mapsOOF)))
        case .projection(_, _, let maps, let mapsOOF):
            let full = try merged.groups[0].finalize()
            let oof = try merged.groups.dropFirst().map { try $0.finalize() }
            return .next(at(.calibration(model: full, outOfFold: oof, maps: maps, mapsOutOfFold: mapsOOF)))
        case .calibration(let model, _, let maps, _):
            var calibrated = maps
            if let m = maps, let c = merged.mapCalibration {
                guard c.paths.count == min(plan.imageCount - excluded.count, PixelQuantile.maxImages) else {
                    throw GaussianADError.invalidArgument("the calibration parts hold the maps of \(c.paths.count) images, the fit calibrates its pixel threshold on \(min(plan.imageCount - excluded.count, PixelQuantile.maxImages))")
                }
                calibrated = try c.calibrate(m, threads: nil)
            }
            return try finish(model, maps: calibrated, paths: merged.scorePaths, scores: merged.scores, targetFPR: targetFPR)
        }
    }

    /// The end of a round: the suspects of the out-of-fold `scores` of every image `paths`
    /// (their robust z about the median and MAD of all of them, kept or not: docs/METHOD.md 8),
    /// then either the finished model or (a robust fit whose suspects moved) the next round
    /// without them. The working point is calibrated on the images the model was fitted on.
    private func finish(_ model: GaussianModel, maps: SpatialModel?, paths: [String], scores: [Double], targetFPR: Double) throws -> Outcome {
        let out = Set(excluded)
        let keptScores = zip(paths, scores).filter { !out.contains($0.0) }.map(\.1)
        let suspects = Suspects.find(paths: paths, scores: scores, rule: plan.contamination)
        if plan.contamination != nil, round < Self.maxRounds {
            let next = FitPlan.sortedBytewise(suspects.map(\.path))
            if next != excluded, plan.imageCount - next.count >= 2 * plan.folds {
                return .next(FitState(plan: plan, stage: .moments, metadata: metadata, excluded: next, round: round + 1))
            }
        }
        let wp = try WorkingPoint.calibrate(normalScores: keptScores, targetFPR: targetFPR,
                                            levelDimensions: model.levels.map(\.dimension))
        let summary = FitSummary(images: plan.imageCount, kept: plan.imageCount - excluded.count, threshold: wp.threshold,
                                 targetFPR: targetFPR, contamination: plan.contamination?.description, rounds: round,
                                 suspects: suspects, excluded: excluded)
        return .done(FitResult(model: model, workingPoint: wp, summary: summary, maps: maps))
    }
}

/// A finished fit: the image-level Gaussians and their working point, what the fit found among
/// its images, and the spatial Gaussians with their pixel working point (fits with maps).
public struct FitResult: Sendable {
    /// The image-level model.
    public let model: GaussianModel
    /// Its threshold on the combined score.
    public let workingPoint: WorkingPoint
    /// The fit's images, suspects and exclusions.
    public let summary: FitSummary
    /// The anomaly maps' Gaussians and pixel threshold (nil: a fit without maps).
    public let maps: SpatialModel?
}
