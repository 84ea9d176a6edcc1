// The per-level Gaussian model: fit (in memory or streamed), score, combined score.
import Foundation

/// Options of a fit.
public struct GaussianOptions: Sendable, Equatable {
    /// Levels to use (nil: all).
    public var levels: [Int]?
    /// PCA / NPCA per level.
    public var reduction: Reduction
    /// Threads of the float64 BLAS / LAPACK steps (nil: every core).
    public var threads: Int?

    /// All levels, no reduction by default.
    public init(levels: [Int]? = nil, reduction: Reduction = .none, threads: Int? = nil) {
        self.levels = levels
        self.reduction = reduction
        self.threads = threads
    }
}

/// Distances of a batch of images.
public struct Scores: Sendable {
    /// Levels scored, in order.
    public let levels: [Int]
    /// Mahalanobis distance per level: `perLevel[i][image]` for `levels[i]`.
    public let perLevel: [[Double]]
    /// L2 baseline per level.
    public let l2PerLevel: [[Double]]
    /// SED baseline per level.
    public let sedPerLevel: [[Double]]

    /// The image score: mean over the levels of the Mahalanobis distance.
    public var combined: [Double] { Self.mean(perLevel) }
    /// The L2 baseline combined the same way.
    public var l2: [Double] { Self.mean(l2PerLevel) }
    /// The SED baseline combined the same way.
    public var sed: [Double] { Self.mean(sedPerLevel) }

    static func mean(_ rows: [[Double]]) -> [Double] {
        guard let n = rows.first?.count else { return [] }
        return (0..<n).map { i in rows.reduce(0) { $0 + $1[i] } / Double(rows.count) }
    }
}

/// Multivariate Gaussians of normal images' pooled levels (Rippel et al., ICPR 2020).
///
///     let model = try GaussianModel.fit(trainFeatures)
///     let s = try model.score(testFeatures)
///     print(s.combined)      // one anomaly score per image
public struct GaussianModel: Sendable, Equatable {
    /// Dimensions of every backbone level (the full feature layout).
    public let levelDims: [Int]
    /// The fitted levels (the selected ones), in order.
    public let levels: [LevelGaussian]
    /// The reduction used.
    public let reduction: Reduction

    /// Training images.
    public var trainingCount: Int { levels.first?.count ?? 0 }

    init(levelDims: [Int], levels: [LevelGaussian], reduction: Reduction) {
        self.levelDims = levelDims
        self.levels = levels
        self.reduction = reduction
    }

    /// Fits on features held in memory. With PCA/NPCA this makes the two passes it needs.
    public static func fit(_ features: FeatureMatrix, options: GaussianOptions = GaussianOptions()) throws -> GaussianModel {
        var acc = try GaussianAccumulator(levelDims: features.levelDims, levels: options.levels, threads: options.threads)
        try acc.add(batch: features)
        if options.reduction == .none { return try acc.finalize() }
        var second = try acc.projected(options.reduction)
        try second.add(batch: features)
        return try second.finalize()
    }

    /// Scores a batch of images; BLAS runs on `threads` threads (nil: every core).
    public func score(_ features: FeatureMatrix, threads: Int? = nil) throws -> Scores {
        guard features.levelDims == levelDims else {
            throw GaussianADError.invalidArgument("features have levels \(features.levelDims), the model expects \(levelDims)")
        }
        var m: [[Double]] = [], l: [[Double]] = [], s: [[Double]] = []
        guard features.rows > 0 else {
            let none = levels.map { _ in [Double]() }
            return Scores(levels: levels.map(\.level), perLevel: none, l2PerLevel: none, sedPerLevel: none)
        }
        let offsets = features.levelOffsets, D = features.dimension
        features.values.withUnsafeBufferPointer { v in
            for g in levels {
                // Each level is read in place: rows of the whole feature vector, D apart.
                let d = g.distances(v.baseAddress! + offsets[g.level], ld: D, rows: features.rows, threads: threads)
                m.append(d.maha)
                l.append(d.l2)
                s.append(d.sed)
            }
        }
        return Scores(levels: levels.map(\.level), perLevel: m, l2PerLevel: l, sedPerLevel: s)
    }
}

/// A streaming fit: add batches (or merge shards), then finalise. Never holds the vectors.
///
///     var acc = try GaussianAccumulator(levelDims: net.levelDims)
///     for batch in batches { try acc.add(batch: batch) }
///     let model = try acc.finalize()
///
/// PCA/NPCA needs a second pass: `let second = try acc.projected(.npca(0.99))`, add the same
/// batches to `second`, then `second.finalize()`.
public struct GaussianAccumulator: Sendable {
    /// Dimensions of every backbone level.
    public let levelDims: [Int]
    /// Levels accumulated.
    public let levels: [Int]
    var moments: [MomentAccumulator]
    /// Each level's projection (nil: none).
    let projections: [Projection?]
    let reduction: Reduction
    /// Threads of the float64 BLAS / LAPACK steps (nil: every core).
    public var threads: Int?

    /// An empty accumulator over `levels` (nil: all) of features laid out as `levelDims`,
    /// whose BLAS steps run on `threads` threads (nil: every core).
    public init(levelDims: [Int], levels: [Int]? = nil, threads: Int? = nil) throws {
        let sel = levels ?? Array(levelDims.indices)
        guard !sel.isEmpty, sel.allSatisfy({ $0 >= 0 && $0 < levelDims.count }), Set(sel).count == sel.count else {
            throw GaussianADError.invalidArgument("levels \(sel) are not distinct levels of 0...\(levelDims.count - 1)")
        }
        self.levelDims = levelDims
        self.levels = sel
        moments = sel.map { MomentAccumulator(dimension: levelDims[$0]) }
        projections = sel.map { _ in nil }
        reduction = .none
        self.threads = threads
    }

    /// An empty accumulator whose levels are projected by `projections` (one per level, nil:
    /// not projected) before their moments are summed.
    init(levelDims: [Int], levels: [Int], projections: [Projection?], reduction: Reduction, threads: Int?) {
        self.threads = threads
        self.levelDims = levelDims
        self.levels = levels
        self.projections = projections
        self.reduction = reduction
        moments = zip(levels, projections).map { MomentAccumulator(dimension: $1?.outputDimension ?? levelDims[$0]) }
    }

    /// Images accumulated so far.
    public var count: Int { moments.first?.count ?? 0 }

    /// Adds a batch of feature vectors.
    public mutating func add(batch: FeatureMatrix) throws {
        guard batch.levelDims == levelDims else {
            throw GaussianADError.invalidArgument("batch has levels \(batch.levelDims), expected \(levelDims)")
        }
        for (i, l) in levels.enumerated() {
            let x = batch.level(l)
            moments[i].add(projections[i]?.apply(x, rows: batch.rows, threads: threads) ?? x, threads: threads)
        }
    }

    /// Merges another shard's accumulator (same levels and projections).
    public mutating func merge(_ other: GaussianAccumulator) throws {
        guard other.levelDims == levelDims, other.levels == levels, other.projections == projections else {
            throw GaussianADError.invalidArgument("cannot merge accumulators of different layouts")
        }
        for i in moments.indices { try moments[i].merge(other.moments[i]) }
    }

    /// An empty second-pass accumulator that projects each level by PCA/NPCA chosen from this one.
    public func projected(_ reduction: Reduction) throws -> GaussianAccumulator {
        let proj = try moments.enumerated().map { i, m -> Projection? in
            let (mean, S, _) = m.moments()
            return try Projection.make(mean: mean, covariance: S, dimension: m.dimension, count: m.count,
                                       reduction: reduction, level: levels[i], threads: threads)
        }
        return GaussianAccumulator(levelDims: levelDims, levels: levels, projections: proj, reduction: reduction, threads: threads)
    }

    /// The fitted model.
    public func finalize() throws -> GaussianModel {
        guard count > 0 else { throw GaussianADError.invalidArgument("no training images") }
        let fitted = try levels.indices.map { try LevelGaussian(level: levels[$0], moments: moments[$0], projection: projections[$0], threads: threads) }
        return GaussianModel(levelDims: levelDims, levels: fitted, reduction: reduction)
    }
}
