// One shard's share of a fit pass: mergeable moment sums (moments and projection passes) or
// out-of-fold scores (calibration pass), with the shards it covers.
import Dispatch
import Foundation

/// What one or more shards of a pass produced. Parts of one pass merge in any order; a
/// complete set (every shard of N exactly once) moves the fit on (`FitState.advance`).
public struct FitPart: Sendable {
    /// The fit it belongs to.
    public let plan: FitPlan
    /// The pass it is a share of.
    public let pass: FitPass
    /// `FitState.digest()` of the state the pass ran on ("" for the moments pass).
    public let stateDigest: String
    /// N of the shards.
    public let shardCount: Int
    /// The shards it covers (sorted).
    public private(set) var shards: [Int]
    /// Moments: one accumulator per fold. Projection: the full fit's, then each out-of-fold
    /// fit's. Calibration: none.
    var groups: [GaussianAccumulator]
    /// Calibration: the out-of-fold scores of the images seen (in no particular order).
    public internal(set) var scores: [Double]
    /// Calibration: the relative path of each score.
    public internal(set) var scorePaths: [String]
    /// Moments pass of a fit with maps: the spatial sums of each fold's images.
    var spatial: [SpatialAccumulator]
    /// Calibration pass of a fit with maps: the normaliser's sums and the out-of-fold distance maps.
    var mapCalibration: MapCalibration?
    /// Images the part has seen.
    public internal(set) var count: Int

    init(plan: FitPlan, pass: FitPass, stateDigest: String, shardCount: Int, shards: [Int],
         groups: [GaussianAccumulator], scores: [Double], scorePaths: [String], count: Int,
         spatial: [SpatialAccumulator] = [], mapCalibration: MapCalibration? = nil) {
        self.plan = plan
        self.pass = pass
        self.stateDigest = stateDigest
        self.shardCount = shardCount
        self.shards = shards
        self.groups = groups
        self.scores = scores
        self.scorePaths = scorePaths
        self.count = count
        self.spatial = spatial
        self.mapCalibration = mapCalibration
    }

    /// Merges `parts` (named by `names` in errors) of `state`'s next pass and checks that they
    /// cover every shard exactly once and every image of the plan.
    static func merge(_ parts: [FitPart], names: [String], into state: FitState) throws -> FitPart {
        guard !parts.isEmpty else {
            throw GaussianADError.invalidArgument("no part of the \(state.nextPass.rawValue) pass to merge")
        }
        let digest = state.isInitial ? "" : try state.digest()
        var acc = parts[0]
        for (i, part) in parts.enumerated() {
            let name = names[i]
            let p = try part.attaching(state, name: name)
            if i == 0 { acc = p }
            if let diff = state.plan.difference(from: p.plan) {
                throw GaussianADError.invalidArgument("\(name) belongs to another fit: \(diff)")
            }
            guard p.pass == state.nextPass else {
                throw GaussianADError.invalidArgument("\(name) is a part of the \(p.pass.rawValue) pass, but the fit waits for its \(state.nextPass.rawValue) pass")
            }
            guard p.stateDigest == digest else {
                throw GaussianADError.invalidArgument("\(name) was computed against another state of this fit (digest \(p.stateDigest.prefix(12))… instead of \(digest.prefix(12))…): run the pass again on the current model file")
            }
            guard p.shardCount == acc.shardCount else {
                throw GaussianADError.invalidArgument("\(name) is a shard of \(p.shardCount), the others of \(acc.shardCount)")
            }
            if i > 0 {
                if let twice = Set(acc.shards).intersection(p.shards).min() {
                    throw GaussianADError.invalidArgument("\(name) repeats shard \(twice)/\(p.shardCount)")
                }
                try acc.absorb(p)
            }
        }
        let missing = Set(0..<acc.shardCount).subtracting(acc.shards).sorted()
        guard missing.isEmpty else {
            throw GaussianADError.invalidArgument("shards \(missing.map { "\($0)/\(acc.shardCount)" }.joined(separator: ", ")) of the \(state.nextPass.rawValue) pass are missing")
        }
        guard acc.count == state.plan.imageCount else {
            throw GaussianADError.invalidArgument("the parts hold \(acc.count) images, the fit has \(state.plan.imageCount)")
        }
        return acc
    }

    /// The part with the state's projections on its moment sums (a part read from a file holds
    /// only the sums), their dimensions checked.
    private func attaching(_ state: FitState, name: String) throws -> FitPart {
        guard case .projection(let full, let oof, _, _) = state.stage, groups.count == oof.count + 1 else { return self }
        var out = self
        for (g, projections) in ([full] + oof).enumerated() {
            var acc = GaussianAccumulator(levelDims: plan.levelDims, levels: plan.levels, projections: projections,
                                          reduction: plan.reduction, threads: groups[g].threads)
            for i in acc.moments.indices {
                guard groups[g].moments[i].dimension == acc.moments[i].dimension else {
                    throw GaussianADError.invalidArgument("\(name): level \(plan.levels[i]) has projected sums of dimension \(groups[g].moments[i].dimension), the fit projects to \(acc.moments[i].dimension)")
                }
                acc.moments[i] = groups[g].moments[i]
            }
            out.groups[g] = acc
        }
        return out
    }

    /// Adds another part of the same pass (disjoint shards).
    private mutating func absorb(_ other: FitPart) throws {
        guard other.groups.count == groups.count, other.spatial.count == spatial.count,
              (other.mapCalibration == nil) == (mapCalibration == nil) else {
            throw GaussianADError.invalidArgument("parts of different layouts")
        }
        for g in groups.indices { try groups[g].merge(other.groups[g]) }
        for g in spatial.indices { try spatial[g].merge(other.spatial[g]) }
        if let o = other.mapCalibration { try mapCalibration!.merge(o) }
        scores += other.scores
        scorePaths += other.scorePaths
        count += other.count
        shards = (shards + other.shards).sorted()
    }
}

/// A pass over one shard in progress: add the shard's images in batches, then take `part`.
public struct FitPassAccumulator: Sendable {
    /// The part so far.
    public private(set) var part: FitPart
    let stage: FitState.Stage
    let shard: Shard
    let folds: [String: Int]
    /// Images the round's model leaves out: not summed, but scored.
    let excluded: Set<String>
    /// A fit with maps: the images whose out-of-fold maps calibrate the pixel working point.
    let pixelImages: Set<String>
    let threads: Int?

    init(state: FitState, shard: Shard, folds: [String: Int], excluded: Set<String>, threads: Int?) throws {
        let plan = state.plan
        let groups: [GaussianAccumulator]
        switch state.stage {
        case .moments:
            groups = try (0..<plan.folds).map { _ in try GaussianAccumulator(levelDims: plan.levelDims, levels: plan.levels, threads: threads) }
        case .projection(let full, let oof, _, _):
            groups = ([full] + oof).map {
                GaussianAccumulator(levelDims: plan.levelDims, levels: plan.levels, projections: $0, reduction: plan.reduction, threads: threads)
            }
        case .calibration:
            groups = []
        }
        var spatial: [SpatialAccumulator] = []
        var mapCalibration: MapCalibration? = nil
        var pixelImages = Set<String>()
        if let maps = plan.maps {
            switch state.stage {
            case .moments: spatial = try (0..<plan.folds).map { _ in try maps.accumulator(threads: threads) }
            case .projection: break
            case .calibration:
                pixelImages = PixelQuantile.calibrationImages(folds.keys.filter { !excluded.contains($0) }, seed: plan.seed)
                mapCalibration = MapCalibration(shapes: maps.shapes)
            }
        }
        part = FitPart(plan: plan, pass: state.nextPass, stateDigest: state.isInitial ? "" : try state.digest(),
                       shardCount: shard.count, shards: [shard.index], groups: groups, scores: [], scorePaths: [], count: 0,
                       spatial: spatial, mapCalibration: mapCalibration)
        self.pixelImages = pixelImages
        stage = state.stage
        self.shard = shard
        self.folds = folds
        self.excluded = excluded
        self.threads = threads
    }

    /// Whether `path` (relative to the category) is an image of this pass: one of the fit's,
    /// in this shard.
    public func takes(_ path: String) -> Bool { folds[path] != nil && shard.contains(path) }

    /// Adds a batch of features of images of this shard, row i being `paths[i]`.
    /// - Throws: for a path that is not one of the fit's images or not in this shard.
    public mutating func add(_ batch: FeatureMatrix, paths: [String]) throws {
        guard paths.count == batch.rows else { throw GaussianADError.invalidArgument("\(paths.count) paths for \(batch.rows) rows") }
        let fold = try paths.map { p -> Int in
            guard let f = folds[p], shard.contains(p) else {
                throw GaussianADError.invalidArgument("\(p) is not an image of shard \(shard) of this fit")
            }
            return f
        }
        let k = part.plan.folds
        let kept = fold.indices.filter { !excluded.contains(paths[$0]) }
        // The projection pass needs no maps (its extractor keeps none).
        var needsMaps = part.plan.maps != nil
        if case .projection = stage { needsMaps = false }
        let maps = needsMaps ? try batchMaps(batch) : nil
        switch stage {
        case .moments:
            for f in 0..<k {
                let rows = kept.filter { fold[$0] == f }
                if !rows.isEmpty { try part.groups[f].add(batch: batch.selecting(rows: rows)) }
                if let maps, !rows.isEmpty { try part.spatial[f].add(maps, images: rows) }
            }
        case .projection:
            if !kept.isEmpty { try part.groups[0].add(batch: kept.count == batch.rows ? batch : batch.selecting(rows: kept)) }
            for f in 0..<k {
                let others = kept.filter { fold[$0] != f }
                if !others.isEmpty { try part.groups[1 + f].add(batch: batch.selecting(rows: others)) }
            }
        case .calibration(_, let oof, let full, let mapsOOF):
            for f in 0..<k {
                let rows = fold.indices.filter { fold[$0] == f }
                guard !rows.isEmpty else { continue }
                part.scores += try oof[f].score(batch.selecting(rows: rows), threads: threads).combined
                part.scorePaths += rows.map { paths[$0] }
            }
            if let maps, let full {
                // The calibration images' distance maps under the full model (its normaliser)
                // and under their out-of-fold model (the pixel threshold), on the pass's threads.
                let rows = kept.filter { pixelImages.contains(paths[$0]) }
                let out = Slots<([[Double]], [[Double]])?>(count: rows.count, nil)
                let workers = max(1, min(rows.count, threads ?? ProcessInfo.processInfo.activeProcessorCount))
                DispatchQueue.concurrentPerform(iterations: workers) { w in
                    var j = w
                    while j < rows.count {
                        let r = rows[j]
                        out[j] = (full.distanceMaps(maps, image: r), mapsOOF[fold[r]].distanceMaps(maps, image: r))
                        j += workers
                    }
                }
                for (j, r) in rows.enumerated() {
                    let (a, b) = out[j]!
                    part.mapCalibration!.add(path: paths[r], full: a, outOfFold: b)
                }
            }
        }
        part.count += batch.rows
    }

    /// The batch's maps, checked against the fit's map levels.
    private func batchMaps(_ batch: FeatureMatrix) throws -> FeatureMaps {
        guard let maps = batch.maps, let plan = part.plan.maps, maps.levels == plan.settings.levels, maps.shapes == plan.shapes else {
            throw GaussianADError.invalidArgument("the fit models maps of levels \(part.plan.maps?.settings.levels ?? []), but the features carry \(batch.maps.map { "maps of levels \($0.levels)" } ?? "no maps")")
        }
        return maps
    }
}
