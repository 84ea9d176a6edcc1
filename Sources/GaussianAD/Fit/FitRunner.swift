// Runs a fit's passes on one machine, or one pass on one shard: the same code for the
// one-machine `fit` and for each process of a sharded one.
import Foundation

/// A source of a shard's features: calls its argument with consecutive batches of features
/// and the relative paths of their rows.
public typealias FeatureBatches = (_ body: (FeatureMatrix, [String]) throws -> Void) throws -> Void

/// Drives the passes of a fit (`FitState`).
///
///     let result = try FitRunner.fit(FitState(plan: plan), paths: paths, targetFPR: 0.01) { body in
///         try body(features, paths)
///     }
public enum FitRunner {
    /// One pass of `state` over shard `shard` of the fit's images `paths` (all shards' paths:
    /// the folds follow from them); `batches` yields that shard's images.
    public static func pass(_ state: FitState, shard: Shard, paths: [String], threads: Int? = nil,
                            batches: FeatureBatches) throws -> FitPart {
        var acc = try state.pass(shard: shard, paths: paths, threads: threads)
        try batches { try acc.add($0, paths: $1) }
        return acc.part
    }

    /// Every remaining pass of `state` over all of `paths` in one process: `batches` is called
    /// once a pass (one to three times a round; a robust fit makes up to `FitState.maxRounds`
    /// rounds). Returns the model, its working point at `targetFPR`, the fit's summary and
    /// (fits with maps) the spatial Gaussians.
    public static func fit(_ state: FitState, paths: [String], targetFPR: Double, threads: Int? = nil,
                           batches: FeatureBatches) throws -> FitResult {
        var s = state
        while true {
            let part = try pass(s, shard: .all, paths: paths, threads: threads, batches: batches)
            switch try s.advance(merging: [part], targetFPR: targetFPR) {
            case .next(let n): s = n
            case .done(let result): return result
            }
        }
    }
}
