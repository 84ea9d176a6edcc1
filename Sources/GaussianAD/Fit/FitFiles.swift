// The files of a fit in progress: the state (`.gad`, magic GADFITST) and the parts
// (`.gadpart`, magic GADFPART), versioned, checksummed and written atomically like models.
import Foundation

extension FitState {
    /// Current format version of a saved state (3: anomaly maps; 2 still reads).
    public static let version: UInt32 = 3

    struct Header: Codable {
        var format: String
        var plan: FitPlan
        var next: FitPass
        var metadata: [String: String]
        var excluded: [String]
        var round: Int
        var projectionFull: [ModelCodec.ProjectionHeader?]?
        var projectionOutOfFold: [[ModelCodec.ProjectionHeader?]]?
        var model: [ModelCodec.LevelHeader]?
        var outOfFold: [[ModelCodec.LevelHeader]]?
        var maps: ModelCodec.SpatialHeader?
        var mapsOutOfFold: [ModelCodec.SpatialHeader]?
        var arrayCount: Int
    }

    /// The bytes of the file.
    public func encoded() throws -> [UInt8] {
        var arrays: [Double] = []
        var h = Header(format: "gaussian-ad fit in progress", plan: plan, next: nextPass, metadata: metadata,
                       excluded: excluded, round: round, arrayCount: 0)
        switch stage {
        case .moments: break
        case .projection(let full, let oof, let maps, let mapsOOF):
            h.projectionFull = full.map { ModelCodec.encode($0, into: &arrays) }
            h.projectionOutOfFold = oof.map { $0.map { ModelCodec.encode($0, into: &arrays) } }
            h.maps = maps.map { ModelCodec.encode($0, into: &arrays) }
            h.mapsOutOfFold = maps == nil ? nil : mapsOOF.map { ModelCodec.encode($0, into: &arrays) }
        case .calibration(let model, let oof, let maps, let mapsOOF):
            h.model = ModelCodec.encode(model, into: &arrays)
            h.outOfFold = oof.map { ModelCodec.encode($0, into: &arrays) }
            h.maps = maps.map { ModelCodec.encode($0, into: &arrays) }
            h.mapsOutOfFold = maps == nil ? nil : mapsOOF.map { ModelCodec.encode($0, into: &arrays) }
        }
        h.arrayCount = arrays.count
        return try Container.encode(magic: Container.stateMagic, version: Self.version, header: h, arrays: arrays)
    }

    /// Whether the file at `url` starts like a saved fit in progress (its magic; nothing else
    /// is checked).
    public static func isFitInProgress(at url: URL) -> Bool {
        guard let h = FileHandle(forReadingAtPath: url.path) else { return false }
        defer { try? h.close() }
        return (try? h.read(upToCount: 8)).map { [UInt8]($0) == Container.stateMagic } ?? false
    }

    /// Writes the state atomically.
    public func save(to url: URL) throws { try AtomicFile.write(Data(try encoded()), to: url) }

    /// Reads a saved state.
    public static func load(from url: URL, limits: InputLimits = .default) throws -> FitState {
        let bytes = try Container.read(url, limits: limits) { GaussianADError.badModelFile(path: url.path, reason: $0) }
        return try decode(bytes, name: url.path, limits: limits)
    }

    /// Parses a saved state, validated as data like a model file.
    public static func decode(_ b: [UInt8], name: String, limits: InputLimits = .default) throws -> FitState {
        func fail(_ why: String) -> GaussianADError { .badModelFile(path: name, reason: why) }
        var (h, reader) = try Container.decode(b, magic: Container.stateMagic, version: version, oldest: 2, what: "fit in progress",
                                               limits: limits, header: Header.self, fail: fail)
        let plan = try validated(h.plan, fail: fail)
        guard h.arrayCount == reader.remaining else { throw fail("array section size does not match the header") }
        guard h.round >= 1, h.round <= maxRounds, h.excluded.count <= plan.imageCount - 2 * plan.folds,
              Set(h.excluded).count == h.excluded.count, h.excluded.isEmpty || plan.contamination != nil else {
            throw fail("round \(h.round) excluding \(h.excluded.count) of \(plan.imageCount) images is not a valid fit in progress")
        }
        let stage: Stage
        switch h.next {
        case .moments:
            stage = .moments
        case .projection:
            guard let full = h.projectionFull, let oof = h.projectionOutOfFold, full.count == plan.levels.count,
                  oof.count == plan.folds, oof.allSatisfy({ $0.count == plan.levels.count }) else {
                throw fail("the projection pass needs \(plan.folds + 1) projections of \(plan.levels.count) levels")
            }
            func read(_ hs: [ModelCodec.ProjectionHeader?]) throws -> [Projection?] {
                try zip(hs, plan.levels).map { try ModelCodec.decode($0, levelDim: plan.levelDims[$1], from: &reader, fail: fail) }
            }
            let f = try read(full)
            let o = try oof.map(read)
            let (maps, mapsOOF) = try readMaps(h, plan: plan, reader: &reader, fail: fail)
            stage = .projection(full: f, outOfFold: o, maps: maps, mapsOutOfFold: mapsOOF)
        case .calibration:
            guard let mh = h.model, let oh = h.outOfFold, oh.count == plan.folds else {
                throw fail("the calibration pass needs the model and \(plan.folds) out-of-fold models")
            }
            func read(_ hs: [ModelCodec.LevelHeader]) throws -> GaussianModel {
                let m = try ModelCodec.decode(hs, levelDims: plan.levelDims, reduction: plan.reduction, from: &reader, fail: fail)
                guard m.levels.map(\.level) == plan.levels else { throw fail("a model's levels are not the fit's \(plan.levels)") }
                return m
            }
            let model = try read(mh)
            let o = try oh.map(read)
            let (maps, mapsOOF) = try readMaps(h, plan: plan, reader: &reader, fail: fail)
            stage = .calibration(model: model, outOfFold: o, maps: maps, mapsOutOfFold: mapsOOF)
        }
        try reader.finish()
        return FitState(plan: plan, stage: stage, metadata: h.metadata, excluded: FitPlan.sortedBytewise(h.excluded),
                        round: h.round)
    }

    /// The spatial Gaussians a later stage carries: present exactly when the plan has maps, one
    /// model and one per fold, each of the plan's settings and shapes.
    private static func readMaps(_ h: Header, plan: FitPlan, reader: inout ArrayReader,
                                 fail: (String) -> GaussianADError) throws -> (SpatialModel?, [SpatialModel]) {
        guard let mp = plan.maps else {
            guard h.maps == nil, h.mapsOutOfFold == nil else { throw fail("map Gaussians in a fit without maps") }
            return (nil, [])
        }
        guard let mh = h.maps, let oh = h.mapsOutOfFold, oh.count == plan.folds else {
            throw fail("a fit with maps needs its map Gaussians and \(plan.folds) out-of-fold ones")
        }
        func read(_ x: ModelCodec.SpatialHeader) throws -> SpatialModel {
            let m = try ModelCodec.decode(x, levelDims: plan.levelDims, from: &reader, fail: fail)
            guard m.settings == mp.settings, m.shapes == mp.shapes, m.inputSize == mp.inputSize else {
                throw fail("map Gaussians of \(m.settings.levels) \(m.shapes) are not the fit's \(mp)")
            }
            return m
        }
        let maps = try read(mh)
        return (maps, try oh.map(read))
    }

    /// A plan read from a file, checked against its backbone.
    static func validated(_ plan: FitPlan, fail: (String) -> GaussianADError) throws -> FitPlan {
        guard plan.levelDims == plan.backbone.levelDims else {
            throw fail("level dimensions \(plan.levelDims) are not those of \(plan.backbone.rawValue)")
        }
        guard !plan.levels.isEmpty, plan.levels.allSatisfy({ $0 >= 0 && $0 < plan.levelDims.count }), Set(plan.levels).count == plan.levels.count,
              plan.folds >= 2, plan.folds <= 1000, plan.imageCount >= 2 * plan.folds else {
            throw fail("the fit's levels \(plan.levels), \(plan.folds) folds or \(plan.imageCount) images are not valid")
        }
        if let m = plan.maps {
            try ModelCodec.validate(m.settings, shapes: m.shapes, inputSize: m.inputSize, levelDims: plan.levelDims, fail: fail)
            guard m.inputSize == plan.backbone.inputSize else { throw fail("map input size \(m.inputSize) is not \(plan.backbone.rawValue)'s") }
        }
        return plan
    }
}

extension FitPart {
    /// Current format version of a part (3: anomaly maps; 2 still reads).
    public static let version: UInt32 = 3

    struct Header: Codable {
        var format: String
        var plan: FitPlan
        var pass: FitPass
        var stateDigest: String
        var shardCount: Int
        var shards: [Int]
        var count: Int
        var groups: [[ModelCodec.MomentHeader]]
        var projected: Bool
        var scoreCount: Int
        var scorePaths: [String]
        var spatial: [[[ModelCodec.MomentHeader]]]?
        /// Calibration pass with maps: the images whose distance maps follow.
        var mapPaths: [String]?
        var arrayCount: Int
    }

    /// The bytes of the file.
    public func encoded() throws -> [UInt8] {
        var arrays: [Double] = []
        let gh = groups.map { g in g.moments.map { ModelCodec.encode($0, into: &arrays) } }
        arrays += scores
        let sh = plan.maps == nil || pass != .moments ? nil : spatial.map { ModelCodec.encode($0, into: &arrays) }
        if let c = mapCalibration {
            for l in c.normalizer.sum.indices { arrays += c.normalizer.sum[l] + c.normalizer.sumSquares[l] }
            arrays += c.distances.map(Double.init)
        }
        let h = Header(format: "gaussian-ad fit part", plan: plan, pass: pass, stateDigest: stateDigest, shardCount: shardCount,
                       shards: shards, count: count, groups: gh, projected: pass == .projection, scoreCount: scores.count,
                       scorePaths: scorePaths, spatial: sh, mapPaths: mapCalibration?.paths, arrayCount: arrays.count)
        return try Container.encode(magic: Container.partMagic, version: Self.version, header: h, arrays: arrays)
    }

    /// Writes the part atomically.
    public func save(to url: URL) throws { try AtomicFile.write(Data(try encoded()), to: url) }

    /// Reads a part. Its projections (projection pass) come from `state` when it is merged, so
    /// the part holds only moment sums and scores.
    public static func load(from url: URL, limits: InputLimits = .default) throws -> FitPart {
        let bytes = try Container.read(url, limits: limits) { GaussianADError.badModelFile(path: url.path, reason: $0) }
        return try decode(bytes, name: url.path, limits: limits)
    }

    /// Parses a part, validated as data.
    public static func decode(_ b: [UInt8], name: String, limits: InputLimits = .default) throws -> FitPart {
        func fail(_ why: String) -> GaussianADError { .badModelFile(path: name, reason: why) }
        var (h, reader) = try Container.decode(b, magic: Container.partMagic, version: version, oldest: 2, what: "fit part",
                                               limits: limits, header: Header.self, fail: fail)
        let plan = try FitState.validated(h.plan, fail: fail)
        guard h.shardCount >= 1, !h.shards.isEmpty, h.shards.allSatisfy({ $0 >= 0 && $0 < h.shardCount }),
              Set(h.shards).count == h.shards.count else {
            throw fail("shards \(h.shards) of \(h.shardCount) are not valid")
        }
        guard h.count >= 0, h.count <= plan.imageCount, h.arrayCount == reader.remaining else {
            throw fail("counts do not match the header")
        }
        let expectedGroups: Int
        switch h.pass {
        case .moments: expectedGroups = plan.folds
        case .projection: expectedGroups = plan.folds + 1
        case .calibration: expectedGroups = 0
        }
        guard h.groups.count == expectedGroups, h.groups.allSatisfy({ $0.count == plan.levels.count }),
              h.scoreCount == (h.pass == .calibration ? h.count : 0), h.scorePaths.count == h.scoreCount else {
            throw fail("a \(h.pass.rawValue) part needs \(expectedGroups) groups of \(plan.levels.count) levels")
        }
        let groups = try h.groups.map { g -> GaussianAccumulator in
            var acc = try GaussianAccumulator(levelDims: plan.levelDims, levels: plan.levels)
            for (i, mh) in g.enumerated() {
                // A projected level's dimension is checked against the state's projection on merge.
                let d = h.pass == .projection ? mh.dimension : plan.levelDims[plan.levels[i]]
                guard d >= 1, d <= plan.levelDims[plan.levels[i]], mh.count <= plan.imageCount else {
                    throw fail("level \(plan.levels[i]) moment sums of dimension \(mh.dimension) do not fit")
                }
                acc.moments[i] = try ModelCodec.decode(mh, dimension: d, from: &reader, fail: fail)
            }
            return acc
        }
        let scores = try reader.take(h.scoreCount, "scores")
        var spatial: [SpatialAccumulator] = []
        var mapCalibration: MapCalibration? = nil
        if let mp = plan.maps {
            switch h.pass {
            case .moments:
                guard let sh = h.spatial, sh.count == plan.folds else { throw fail("a moments part of a fit with maps needs \(plan.folds) folds' map sums") }
                spatial = try sh.map { try ModelCodec.decode($0, plan: mp, from: &reader, imageCount: plan.imageCount, fail: fail) }
            case .projection:
                guard h.spatial == nil else { throw fail("map sums in a projection part") }
            case .calibration:
                guard let paths = h.mapPaths, paths.count <= min(plan.imageCount, PixelQuantile.maxImages), paths.count <= h.count else {
                    throw fail("a calibration part of a fit with maps needs the distance maps of at most \(min(plan.imageCount, PixelQuantile.maxImages)) of its images (it lists \(h.mapPaths.map { "\($0.count)" } ?? "none"))")
                }
                var norm = NormalizerAccumulator(shapes: mp.shapes)
                for (l, s) in mp.shapes.enumerated() {
                    norm.sum[l] = try reader.take(s.positions, "map level \(mp.settings.levels[l]) distance sums")
                    norm.sumSquares[l] = try reader.take(s.positions, "map level \(mp.settings.levels[l]) squared distance sums")
                }
                norm = NormalizerAccumulator(images: paths.count, sum: norm.sum, sumSquares: norm.sumSquares)
                let positions = mp.shapes.reduce(0) { $0 + $1.positions }
                let d = try reader.take(Checked.mul(paths.count, positions), "distance maps").map { Float($0) }
                mapCalibration = MapCalibration(normalizer: norm, paths: paths, distances: d, positions: positions)
            }
        } else {
            guard h.spatial == nil, h.mapPaths == nil else { throw fail("map sums in a part of a fit without maps") }
        }
        try reader.finish()
        return FitPart(plan: plan, pass: h.pass, stateDigest: h.stateDigest, shardCount: h.shardCount, shards: h.shards.sorted(),
                       groups: groups, scores: scores, scorePaths: h.scorePaths, count: h.count, spatial: spatial,
                       mapCalibration: mapCalibration)
    }
}
