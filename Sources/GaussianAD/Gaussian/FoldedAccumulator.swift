// Per-fold mergeable moments of a category's normal images: the model on all of them and every
// out-of-fold model follow from one pass, from shards merged in any order.
import Foundation

/// One `GaussianAccumulator` per calibration fold. The model of all images merges every fold;
/// the out-of-fold model of fold f merges the others. Shards of the data, accumulated apart
/// and merged in any order, give the same models as one pass (to rounding).
///
///     var acc = try FoldedAccumulator(levelDims: net.levelDims, folds: 5)
///     try acc.add(batch: features, folds: foldOfEachRow)
///     let full = try acc.model(), without2 = try acc.model(excludingFold: 2)
public struct FoldedAccumulator: Sendable {
    /// Number of folds.
    public let folds: Int
    /// The accumulator of each fold's images.
    public private(set) var perFold: [GaussianAccumulator]

    /// Empty accumulators for `folds` folds over `levels` (nil: all) of `levelDims`.
    public init(levelDims: [Int], levels: [Int]? = nil, folds: Int, threads: Int? = nil) throws {
        guard folds >= 1 else { throw GaussianADError.invalidArgument("at least one fold is needed, got \(folds)") }
        self.folds = folds
        perFold = try (0..<folds).map { _ in try GaussianAccumulator(levelDims: levelDims, levels: levels, threads: threads) }
    }

    /// Wraps one accumulator per fold (all of one layout).
    init(perFold: [GaussianAccumulator]) throws {
        guard let first = perFold.first else { throw GaussianADError.invalidArgument("at least one fold is needed, got 0") }
        guard perFold.allSatisfy({ $0.levelDims == first.levelDims && $0.levels == first.levels && $0.projections == first.projections }) else {
            throw GaussianADError.invalidArgument("the folds' accumulators have different layouts")
        }
        folds = perFold.count
        self.perFold = perFold
    }

    /// Images accumulated, all folds together.
    public var count: Int { perFold.reduce(0) { $0 + $1.count } }

    /// Adds a batch whose row i belongs to fold `fold[i]` (0 ..< folds).
    public mutating func add(batch: FeatureMatrix, folds fold: [Int]) throws {
        guard fold.count == batch.rows else {
            throw GaussianADError.invalidArgument("\(fold.count) fold numbers for \(batch.rows) rows")
        }
        if let bad = fold.first(where: { $0 < 0 || $0 >= folds }) {
            throw GaussianADError.invalidArgument("fold \(bad) is not one of 0..<\(folds)")
        }
        for f in 0..<folds {
            let rows = fold.indices.filter { fold[$0] == f }
            if !rows.isEmpty { try perFold[f].add(batch: batch.selecting(rows: rows)) }
        }
    }

    /// Merges another shard's accumulators (same folds and layout).
    public mutating func merge(_ other: FoldedAccumulator) throws {
        guard other.folds == folds else { throw GaussianADError.invalidArgument("cannot merge \(other.folds) folds into \(folds)") }
        for f in 0..<folds { try perFold[f].merge(other.perFold[f]) }
    }

    /// The merged accumulator of every fold but `excluded` (nil: of every fold).
    public func merged(excludingFold excluded: Int? = nil) throws -> GaussianAccumulator {
        var acc: GaussianAccumulator? = nil
        for f in 0..<folds where f != excluded {
            if acc == nil { acc = perFold[f] } else { try acc!.merge(perFold[f]) }
        }
        guard let out = acc else { throw GaussianADError.invalidArgument("no fold left to fit on") }
        return out
    }

    /// The model of every fold but `excluded` (nil: all images), without PCA / NPCA (which
    /// needs a second pass over the images: `merged(excludingFold:).projected(...)`).
    public func model(excludingFold excluded: Int? = nil) throws -> GaussianModel {
        try merged(excludingFold: excluded).finalize()
    }
}
