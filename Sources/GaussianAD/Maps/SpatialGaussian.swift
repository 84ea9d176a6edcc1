// The spatial Gaussians of a model: per map level, a Gaussian per cell of positions, and the
// distance maps they give (docs/METHOD.md 9).
import CKernels
import Foundation

/// One map level's Gaussians: cell c's mean and Cholesky factor, and the level's scale, the
/// root mean square of the training positions' distances.
public struct SpatialGaussian: Sendable, Equatable {
    /// Level index in the backbone.
    public let level: Int
    /// The level's map at the network's input size.
    public let shape: MapShape
    /// The cells whose positions share a Gaussian.
    public let grid: MapGrid
    /// Each cell's Gaussian (mean, Cholesky factor, shrinkage, vectors it was fitted on).
    public let cells: [LevelGaussian]
    /// sqrt(sum_c n_c tr(C_c^-1 S_c) / sum_c n_c): the root mean square of the training
    /// vectors' distances, exact from the moment sums; each distance is divided by it.
    public let scale: Double

    init(level: Int, shape: MapShape, grid: MapGrid, cells: [LevelGaussian], scale: Double) {
        self.level = level
        self.shape = shape
        self.grid = grid
        self.cells = cells
        self.scale = scale
    }

    /// Fits every cell from its moment sums.
    init(level: Int, shape: MapShape, grid: MapGrid, moments: [MomentAccumulator], threads: Int?) throws {
        var cells: [LevelGaussian] = []
        var num = 0.0, den = 0.0
        for (c, m) in moments.enumerated() {
            guard m.count >= 1 else { throw GaussianADError.invalidArgument("level \(level) map cell \(c): no training vectors") }
            let g: LevelGaussian
            do {
                g = try LevelGaussian(level: level, moments: m, projection: nil, threads: threads)
            } catch GaussianADError.numerical(let why) {
                throw GaussianADError.numerical("map cell \(c) of \(why)")
            }
            let S = m.moments().covariance
            num += Double(m.count) * Self.traceSolve(g.cholesky, S, dimension: g.dimension)
            den += Double(m.count)
            cells.append(LevelGaussian(level: level, dimension: g.dimension, count: g.count, shrinkage: g.shrinkage,
                                       mean: g.mean, cholesky: g.cholesky, sd: [], projection: nil))
        }
        let ms = den > 0 ? num / den : 0
        self.init(level: level, shape: shape, grid: grid, cells: cells, scale: ms > 0 && ms.isFinite ? ms.squareRoot() : 1)
    }

    /// tr(C^-1 S) = sum_ij (L^-1)_ij (L^-1 S)_ij for C = L L^T.
    static func traceSolve(_ L: [Double], _ S: [Double], dimension d: Int) -> Double {
        var x = S
        var inv = [Double](repeating: 0, count: d * d)
        for i in 0..<d { inv[i * d + i] = 1 }
        // Forward substitution, column by column of both right-hand sides.
        for i in 0..<d {
            let lii = L[i * d + i]
            for j in 0..<d {
                var a = x[i * d + j], b = inv[i * d + j]
                for k in 0..<i {
                    a -= L[i * d + k] * x[k * d + j]
                    b -= L[i * d + k] * inv[k * d + j]
                }
                x[i * d + j] = a / lii
                inv[i * d + j] = b / lii
            }
        }
        var t = 0.0
        for i in 0..<(d * d) { t += inv[i] * x[i] }
        return t
    }

    /// The normalised distance of every position of one image's map of this level (`shape.count`
    /// floats, NHWC): D(p) / scale, row-major h x w, D the Mahalanobis distance under the
    /// position's cell.
    public func distances(_ map: UnsafePointer<Float>) -> [Double] {
        let d = shape.c, P = shape.positions
        let cellOf = grid.cellOfPosition(on: shape)
        var out = [Double](repeating: 0, count: P)
        var y = [Double](repeating: 0, count: P * d), work = y
        for i in 0..<(P * d) { y[i] = Double(map[i]) }
        // Positions grouped by cell: one triangular solve a cell.
        var members = [[Int]](repeating: [], count: cells.count)
        for (p, c) in cellOf.enumerated() { members[c].append(p) }
        var rows = [Double](), dist = [Double]()
        for (c, positions) in members.enumerated() where !positions.isEmpty {
            let g = cells[c]
            if positions.count == P {
                ck_f64_mahalanobis(P, d, y, d, g.mean, g.cholesky, d, &work, &out, 1)
                continue
            }
            rows.removeAll(keepingCapacity: true)
            for p in positions { rows += y[(p * d)..<((p + 1) * d)] }
            dist = [Double](repeating: 0, count: positions.count)
            ck_f64_mahalanobis(positions.count, d, rows, d, g.mean, g.cholesky, d, &work, &dist, 1)
            for (k, p) in positions.enumerated() { out[p] = dist[k] }
        }
        let s = 1 / scale
        for p in 0..<P { out[p] *= s }
        return out
    }
}

/// The spatial Gaussians of every map level: an image's level maps in, its anomaly map out.
public struct SpatialModel: Sendable, Equatable {
    /// What was modelled.
    public let settings: MapSettings
    /// The network's input size S (the smoothing's sigma is 4 pixels at that size).
    public let inputSize: Int
    /// One per map level, in `settings.levels` order.
    public let levels: [SpatialGaussian]
    /// The pixel working point: map values above it are defects (nil until calibrated).
    public var pixelThreshold: Double?
    /// Normal training images the pixel threshold was calibrated on.
    public var calibrationImages = 0

    init(settings: MapSettings, inputSize: Int, levels: [SpatialGaussian], pixelThreshold: Double? = nil, calibrationImages: Int = 0) {
        self.settings = settings
        self.inputSize = inputSize
        self.levels = levels
        self.pixelThreshold = pixelThreshold
        self.calibrationImages = calibrationImages
    }

    /// The shape of each map level's map.
    public var shapes: [MapShape] { levels.map(\.shape) }

    /// The anomaly map of image `image` of `maps` at `height` x `width` pixels (docs/METHOD.md
    /// 9): each level's normalised distances brought to that size bilinearly, their mean,
    /// smoothed by a Gaussian of sigma 4 pixels at the network's input size.
    public func anomalyMap(_ maps: FeatureMaps, image: Int, height: Int, width: Int) -> AnomalyMap {
        let offsets = maps.offsets, stride = maps.floatsPerImage
        var out = [Double](repeating: 0, count: height * width)
        var scratch = [Double]()
        maps.values.withUnsafeBufferPointer { v in
            for (l, g) in levels.enumerated() {
                let dist = g.distances(v.baseAddress! + image * stride + offsets[l])
                let need = g.shape.h * width
                if scratch.count < need { scratch = [Double](repeating: 0, count: need) }
                ck_f64_resize_bilinear_add(g.shape.h, g.shape.w, dist, height, width, 1 / Double(levels.count), &scratch, &out)
            }
        }
        let sy = MapSettings.smoothingSigma * Double(height) / Double(inputSize)
        let sx = MapSettings.smoothingSigma * Double(width) / Double(inputSize)
        var fs = [Double](repeating: 0, count: ck_f64_gaussian_filter_scratch(height, width, sy, sx))
        ck_f64_gaussian_filter(height, width, &out, sy, sx, &fs)
        return AnomalyMap(width: width, height: height, values: out.map { Float($0) })
    }
}
