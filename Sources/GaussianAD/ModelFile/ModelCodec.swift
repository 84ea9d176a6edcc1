// Gaussian models and moment sums as (JSON header entries, float64 arrays), validated on the way
// back in: shared by the model file, the fit in progress and the fit part.
import Foundation

enum ModelCodec {
    struct LevelHeader: Codable, Equatable {
        var level: Int, dimension: Int, count: Int, shrinkage: Double
        var projectionInput: Int?
    }

    /// Appends the model's arrays; returns its level headers.
    static func encode(_ model: GaussianModel, into arrays: inout [Double]) -> [LevelHeader] {
        model.levels.map { g in
            arrays += g.mean + g.cholesky + g.sd
            if let p = g.projection { arrays += p.mean + p.components }
            return LevelHeader(level: g.level, dimension: g.dimension, count: g.count, shrinkage: g.shrinkage,
                               projectionInput: g.projection?.inputDimension)
        }
    }

    /// Reads a model back: every value finite, Cholesky diagonals positive, dimensions those of
    /// `levelDims`, no level twice.
    static func decode(_ headers: [LevelHeader], levelDims: [Int], reduction: Reduction, from reader: inout ArrayReader,
                       fail: (String) -> GaussianADError) throws -> GaussianModel {
        var levels: [LevelGaussian] = []
        var seen = Set<Int>()
        for h in headers {
            guard h.level >= 0, h.level < levelDims.count, h.dimension > 0, h.dimension <= levelDims[h.level], h.count > 0 else {
                throw fail("bad level entry \(h.level)")
            }
            guard seen.insert(h.level).inserted else { throw fail("level \(h.level) appears twice") }
            guard h.shrinkage.isFinite, (0...1).contains(h.shrinkage) else { throw fail("level \(h.level) has shrinkage \(h.shrinkage), not in [0, 1]") }
            let d = h.dimension
            let mean = try reader.take(d, "level \(h.level) mean")
            let chol = try reader.take(Checked.mul(d, d), "level \(h.level) Cholesky factor")
            let sd = try reader.take(d, "level \(h.level) standard deviation")
            for i in 0..<d where !(chol[i * d + i] > 0) {
                throw fail("level \(h.level) Cholesky factor has diagonal \(chol[i * d + i]) at \(i); a covariance factor's diagonal is positive")
            }
            if let j = sd.firstIndex(where: { $0 < 0 }) { throw fail("level \(h.level) standard deviation \(sd[j]) at \(j) is negative") }
            var proj: Projection? = nil
            if let pin = h.projectionInput {
                guard pin == levelDims[h.level] else { throw fail("level \(h.level) projection input \(pin) does not match") }
                proj = Projection(inputDimension: pin, outputDimension: d, mean: try reader.take(pin, "level \(h.level) projection mean"),
                                  components: try reader.take(Checked.mul(pin, d), "level \(h.level) projection"))
            } else if d != levelDims[h.level] {
                throw fail("level \(h.level) has dimension \(d), expected \(levelDims[h.level])")
            }
            levels.append(LevelGaussian(level: h.level, dimension: d, count: h.count, shrinkage: h.shrinkage,
                                        mean: mean, cholesky: chol, sd: sd, projection: proj))
        }
        guard !levels.isEmpty else { throw fail("the model has no level") }
        return GaussianModel(levelDims: levelDims, levels: levels, reduction: reduction)
    }

    static func validate(_ wp: WorkingPoint, fail: (String) -> GaussianADError) throws {
        guard wp.threshold.isFinite, wp.targetFPR > 0, wp.targetFPR < 1, (0...1).contains(wp.observedFPR),
              wp.calibrationCount >= 0, wp.levelThresholds.allSatisfy(\.isFinite) else {
            throw fail("the working point is not finite (threshold \(wp.threshold), target FPR \(wp.targetFPR))")
        }
    }

    /// Header of one level's projection (input -> output dimension).
    struct ProjectionHeader: Codable, Equatable {
        var input: Int, output: Int
    }

    static func encode(_ p: Projection?, into arrays: inout [Double]) -> ProjectionHeader? {
        guard let p else { return nil }
        arrays += p.mean + p.components
        return ProjectionHeader(input: p.inputDimension, output: p.outputDimension)
    }

    static func decode(_ h: ProjectionHeader?, levelDim: Int, from reader: inout ArrayReader,
                       fail: (String) -> GaussianADError) throws -> Projection? {
        guard let h else { return nil }
        guard h.input == levelDim, h.output >= 1, h.output <= h.input else {
            throw fail("a projection of \(h.input) -> \(h.output) does not fit a level of dimension \(levelDim)")
        }
        return Projection(inputDimension: h.input, outputDimension: h.output, mean: try reader.take(h.input, "projection mean"),
                          components: try reader.take(Checked.mul(h.input, h.output), "projection"))
    }

    /// Header of one level's moment sums.
    struct MomentHeader: Codable, Equatable {
        var dimension: Int, count: Int
    }

    /// Moment sums: shift, sum z, the scatter's lower triangle, sum q z, sum q, sum q^2.
    static func encode(_ m: MomentAccumulator, into arrays: inout [Double]) -> MomentHeader {
        let d = m.dimension
        arrays += m.count > 0 ? m.shift : [Double](repeating: 0, count: d)
        arrays += m.sumZ
        for i in 0..<d { arrays += m.scatter[(i * d)...(i * d + i)] }
        arrays += m.sumQZ
        arrays += [m.sumQ, m.sumQ2]
        return MomentHeader(dimension: d, count: m.count)
    }

    static func decode(_ h: MomentHeader, dimension d: Int, from reader: inout ArrayReader,
                       fail: (String) -> GaussianADError) throws -> MomentAccumulator {
        guard h.dimension == d, h.count >= 0 else { throw fail("moment sums of dimension \(h.dimension) (count \(h.count)) where \(d) was expected") }
        let shift = try reader.take(d, "moment shift")
        let sumZ = try reader.take(d, "moment sum")
        let tri = try reader.take(Checked.mul(d, d + 1).map { $0 / 2 }, "scatter")
        let sumQZ = try reader.take(d, "fourth-moment sum")
        let q = try reader.take(2, "squared-norm sums")
        var m = MomentAccumulator(dimension: d)
        var k = 0
        for i in 0..<d { for j in 0...i { m.scatter[i * d + j] = tri[k]; k += 1 } }
        m.restore(count: h.count, shift: h.count > 0 ? shift : [], sumZ: sumZ, sumQZ: sumQZ, sumQ: q[0], sumQ2: q[1])
        return m
    }

    /// Header of a model's spatial Gaussians (anomaly maps).
    struct SpatialHeader: Codable, Equatable {
        var settings: MapSettings
        var inputSize: Int
        var levels: [SpatialLevelHeader]
        /// Images the normaliser was measured on (nil: none yet); its arrays follow the cells.
        var normalizerImages: Int?
        var pixelThreshold: Double?
        var calibrationImages: Int
    }

    /// One map level: its map's shape and cells (each a mean and Cholesky factor).
    struct SpatialLevelHeader: Codable, Equatable {
        var level: Int
        var shape: MapShape
        var cells: [CellHeader]
    }

    struct CellHeader: Codable, Equatable {
        var count: Int, shrinkage: Double
    }

    static func encode(_ m: SpatialModel, into arrays: inout [Double]) -> SpatialHeader {
        let levels = m.levels.map { g -> SpatialLevelHeader in
            SpatialLevelHeader(level: g.level, shape: g.shape, cells: g.cells.map { c in
                arrays += c.mean + c.cholesky
                return CellHeader(count: c.count, shrinkage: c.shrinkage)
            })
        }
        if let n = m.normalizer { for l in m.levels.indices { arrays += n.mean[l] + n.sd[l] } }
        return SpatialHeader(settings: m.settings, inputSize: m.inputSize, levels: levels, normalizerImages: m.normalizer?.images,
                             pixelThreshold: m.pixelThreshold, calibrationImages: m.calibrationImages)
    }

    /// Checks map settings and shapes read from a file against the backbone's level dimensions:
    /// distinct levels, a valid grid and pixel FPR, shapes of the levels' dimensions within the
    /// input size.
    static func validate(_ settings: MapSettings, shapes: [MapShape], inputSize: Int, levelDims: [Int],
                         fail: (String) -> GaussianADError) throws {
        guard !settings.levels.isEmpty, settings.levels.allSatisfy({ $0 >= 0 && $0 < levelDims.count }),
              Set(settings.levels).count == settings.levels.count else {
            throw fail("map levels \(settings.levels) are not distinct levels of 0...\(levelDims.count - 1)")
        }
        guard settings.pixelFPR > 0, settings.pixelFPR < 1 else { throw fail("map pixel FPR \(settings.pixelFPR) is not in (0, 1)") }
        if case .cells(let n) = settings.grid, !(1...4096).contains(n) { throw fail("map grid of \(n) cells a side is not in 1...4096") }
        guard shapes.count == settings.levels.count, inputSize >= 1, inputSize <= 4096 else {
            throw fail("map shapes \(shapes) do not match levels \(settings.levels) at input size \(inputSize)")
        }
        for (s, l) in zip(shapes, settings.levels) where !(s.c == levelDims[l] && (1...inputSize).contains(s.h) && (1...inputSize).contains(s.w)) {
            throw fail("map level \(l) has shape \(s.h) x \(s.w) x \(s.c), not a map of its \(levelDims[l]) features within \(inputSize) x \(inputSize)")
        }
    }

    /// Reads spatial Gaussians back: settings and shapes valid for `levelDims`, as many cells as
    /// the grid makes, every value finite, Cholesky diagonals positive, the normaliser's standard
    /// deviations positive.
    static func decode(_ h: SpatialHeader, levelDims: [Int], from reader: inout ArrayReader,
                       fail: (String) -> GaussianADError) throws -> SpatialModel {
        try validate(h.settings, shapes: h.levels.map(\.shape), inputSize: h.inputSize, levelDims: levelDims, fail: fail)
        guard h.levels.map(\.level) == h.settings.levels else { throw fail("map levels \(h.levels.map(\.level)) are not \(h.settings.levels)") }
        if let t = h.pixelThreshold, !t.isFinite { throw fail("map pixel threshold \(t) is not finite") }
        guard h.calibrationImages >= 0 else { throw fail("map calibration images \(h.calibrationImages) is negative") }
        let levels = try h.levels.map { lh -> SpatialGaussian in
            let (r, c) = h.settings.grid.cells(on: lh.shape)
            guard lh.cells.count == r * c else {
                throw fail("map level \(lh.level) has \(lh.cells.count) cells where a \(h.settings.grid) grid on \(lh.shape.h) x \(lh.shape.w) makes \(r * c)")
            }
            let d = lh.shape.c
            let cells = try lh.cells.enumerated().map { i, ch -> LevelGaussian in
                guard ch.count > 0, ch.shrinkage.isFinite, (0...1).contains(ch.shrinkage) else {
                    throw fail("map level \(lh.level) cell \(i) has count \(ch.count) and shrinkage \(ch.shrinkage)")
                }
                let mean = try reader.take(d, "map level \(lh.level) cell \(i) mean")
                let chol = try reader.take(Checked.mul(d, d), "map level \(lh.level) cell \(i) Cholesky factor")
                for j in 0..<d where !(chol[j * d + j] > 0) {
                    throw fail("map level \(lh.level) cell \(i) Cholesky factor has diagonal \(chol[j * d + j]) at \(j); a covariance factor's diagonal is positive")
                }
                return LevelGaussian(level: lh.level, dimension: d, count: ch.count, shrinkage: ch.shrinkage, mean: mean,
                                     cholesky: chol, sd: [], projection: nil)
            }
            return SpatialGaussian(level: lh.level, shape: lh.shape, grid: h.settings.grid, cells: cells)
        }
        var normalizer: MapNormalizer? = nil
        if let images = h.normalizerImages {
            guard images > 0 else { throw fail("map normaliser of \(images) images") }
            var mean: [[Double]] = [], sd: [[Double]] = []
            for g in levels {
                mean.append(try reader.take(g.shape.positions, "map level \(g.level) normaliser mean"))
                let s = try reader.take(g.shape.positions, "map level \(g.level) normaliser standard deviation")
                if let j = s.firstIndex(where: { !($0 >= MapNormalizer.minimumSD) }) {
                    throw fail("map level \(g.level) normaliser standard deviation \(s[j]) at position \(j) is not positive")
                }
                sd.append(s)
            }
            normalizer = MapNormalizer(mean: mean, sd: sd, images: images)
        }
        return SpatialModel(settings: h.settings, inputSize: h.inputSize, levels: levels, normalizer: normalizer,
                            pixelThreshold: h.pixelThreshold, calibrationImages: h.calibrationImages)
    }

    /// Spatial moment sums: per map level, per cell, as `encode(_: MomentAccumulator)`.
    static func encode(_ a: SpatialAccumulator, into arrays: inout [Double]) -> [[MomentHeader]] {
        a.cells.map { $0.map { encode($0, into: &arrays) } }
    }

    static func decode(_ h: [[MomentHeader]], plan: MapPlan, from reader: inout ArrayReader, imageCount: Int,
                       fail: (String) -> GaussianADError) throws -> SpatialAccumulator {
        var acc = try plan.accumulator(threads: nil)
        guard h.count == acc.cells.count, zip(h, acc.cells).allSatisfy({ $0.count == $1.count }) else {
            throw fail("map moment sums of \(h.map(\.count)) cells where the fit's grid makes \(acc.cells.map(\.count))")
        }
        for l in h.indices {
            for c in h[l].indices {
                guard h[l][c].count <= Checked.mul(imageCount, plan.shapes[l].positions) ?? Int.max else {
                    throw fail("map level \(plan.settings.levels[l]) cell \(c) counts \(h[l][c].count) vectors, more than its images hold")
                }
                acc.cells[l][c] = try decode(h[l][c], dimension: plan.shapes[l].c, from: &reader, fail: fail)
            }
        }
        return acc
    }
}
