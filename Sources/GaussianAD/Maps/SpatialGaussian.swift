// The spatial Gaussians of a model: per map level, a Gaussian per cell of positions, and the
// distance maps they give (docs/METHOD.md 9).
import CKernels
import Foundation

/// One map level's Gaussians: cell c's mean and Cholesky factor.
public struct SpatialGaussian: Sendable, Equatable {
    /// Level index in the backbone.
    public let level: Int
    /// The level's map at the network's input size.
    public let shape: MapShape
    /// The cells whose positions share a Gaussian.
    public let grid: MapGrid
    /// Each cell's Gaussian (mean, Cholesky factor, shrinkage, vectors it was fitted on).
    public let cells: [LevelGaussian]
    /// Each cell's inverse Cholesky factor (derived once: a distance is then a product).
    let inverses: [[Double]]
    /// The cell of every position.
    let cellOfPosition: [Int]

    init(level: Int, shape: MapShape, grid: MapGrid, cells: [LevelGaussian]) {
        self.level = level
        self.shape = shape
        self.grid = grid
        self.cells = cells
        let d = shape.c
        inverses = cells.map { g in
            var inv = [Double](repeating: 0, count: d * d)
            ck_f64_lower_inverse(d, g.cholesky, &inv)
            return inv
        }
        cellOfPosition = grid.cellOfPosition(on: shape)
    }

    public static func == (a: SpatialGaussian, b: SpatialGaussian) -> Bool {
        a.level == b.level && a.shape == b.shape && a.grid == b.grid && a.cells == b.cells
    }

    /// Fits every cell from its moment sums.
    init(level: Int, shape: MapShape, grid: MapGrid, moments: [MomentAccumulator], threads: Int?) throws {
        var cells: [LevelGaussian] = []
        for (c, m) in moments.enumerated() {
            guard m.count >= 1 else { throw GaussianADError.invalidArgument("level \(level) map cell \(c): no training vectors") }
            let g: LevelGaussian
            do {
                g = try LevelGaussian(level: level, moments: m, projection: nil, threads: threads)
            } catch GaussianADError.numerical(let why) {
                throw GaussianADError.numerical("map cell \(c) of \(why)")
            }
            cells.append(LevelGaussian(level: level, dimension: g.dimension, count: g.count, shrinkage: g.shrinkage,
                                       mean: g.mean, cholesky: g.cholesky, sd: [], projection: nil))
        }
        self.init(level: level, shape: shape, grid: grid, cells: cells)
    }

    /// The Mahalanobis distance of every position of one image's map of this level
    /// (`shape.count` floats, NHWC) under its cell's Gaussian, row-major h x w.
    public func distances(_ map: UnsafePointer<Float>) -> [Double] {
        let d = shape.c, P = shape.positions
        var out = [Double](repeating: 0, count: P), work = [Double](repeating: 0, count: 16 * d)
        out.withUnsafeMutableBufferPointer { o in
            // Runs of consecutive positions of one cell (the whole map with one cell, a row's
            // stretch of a cell otherwise), each in one call.
            var p = 0
            while p < P {
                let c = cellOfPosition[p]
                var end = p + 1
                while end < P && cellOfPosition[end] == c { end += 1 }
                ck_f64_mahalanobis_inverse_f32(end - p, d, map + p * d, d, cells[c].mean, inverses[c], &work, o.baseAddress! + p)
                p = end
            }
        }
        return out
    }
}

/// The spatial Gaussians of every map level with the normalisation of their distances: an
/// image's level maps in, its anomaly map out.
public struct SpatialModel: Sendable, Equatable {
    /// What was modelled.
    public let settings: MapSettings
    /// The network's input size S (the smoothing's sigma is 4 pixels at that size).
    public let inputSize: Int
    /// One per map level, in `settings.levels` order.
    public let levels: [SpatialGaussian]
    /// The mean and standard deviation of each position's distance over the training images
    /// (nil until the calibration pass has measured them).
    public var normalizer: MapNormalizer?
    /// The pixel working point: map values above it are defects (nil until calibrated).
    public var pixelThreshold: Double?
    /// Normal training images the pixel threshold was calibrated on.
    public var calibrationImages = 0

    init(settings: MapSettings, inputSize: Int, levels: [SpatialGaussian], normalizer: MapNormalizer? = nil,
         pixelThreshold: Double? = nil, calibrationImages: Int = 0) {
        self.settings = settings
        self.inputSize = inputSize
        self.levels = levels
        self.normalizer = normalizer
        self.pixelThreshold = pixelThreshold
        self.calibrationImages = calibrationImages
    }

    /// The shape of each map level's map.
    public var shapes: [MapShape] { levels.map(\.shape) }

    /// Every level's distance map of image `image` of `maps` (docs/METHOD.md 9.2).
    public func distanceMaps(_ maps: FeatureMaps, image: Int) -> [[Double]] {
        let offsets = maps.offsets, stride = maps.floatsPerImage
        return maps.values.withUnsafeBufferPointer { v in
            levels.enumerated().map { l, g in g.distances(v.baseAddress! + image * stride + offsets[l]) }
        }
    }

    /// The anomaly map of image `image` of `maps` at `height` x `width` pixels (docs/METHOD.md 9.2).
    /// The model must be normalised (`normalizer`).
    public func anomalyMap(_ maps: FeatureMaps, image: Int, height: Int, width: Int) -> AnomalyMap {
        anomalyMap(distances: distanceMaps(maps, image: image), normalizer: normalizer!, height: height, width: width)
    }

    /// The anomaly map of an image's level distance maps `distances` at `height` x `width`
    /// pixels: each level's distances standardised per position by `normalizer`, brought to that
    /// size bilinearly, their mean, smoothed by a Gaussian of sigma 4 pixels at the network's
    /// input size.
    ///
    /// Resizing then smoothing is linear along each axis: a level's part is a_y z a_x^T with the
    /// matrices of `ck_f64_upsample_smooth_matrix`, whose cost does not grow with the image (the
    /// same values as `ck_f64_resize_bilinear_add` then `ck_f64_gaussian_filter`, up to the order of
    /// the sums; tested).
    public func anomalyMap(distances: [[Double]], normalizer: MapNormalizer, height: Int, width: Int,
                           workspace: MapWorkspace = MapWorkspace()) -> AnomalyMap {
        let sy = MapSettings.smoothingSigma * Double(height) / Double(inputSize)
        let sx = MapSettings.smoothingSigma * Double(width) / Double(inputSize)
        let n = height * width
        let (out, tmp) = workspace.buffers(map: n, scratch: (levels.map(\.shape.h).max() ?? 0) * width)
        out.update(repeating: 0, count: n)
        for (l, g) in levels.enumerated() {
            let z = normalizer.standardized(distances[l], level: l)
            let ay = workspace.matrix(n: g.shape.h, m: height, sigma: sy), ax = workspace.matrix(n: g.shape.w, m: width, sigma: sx)
            ck_f64_map_apply(g.shape.h, g.shape.w, z, height, width, ay.a, ay.lo, ay.hi, ax.a, ax.lo, ax.hi,
                             1 / Double(levels.count), tmp, out)
        }
        return AnomalyMap(width: width, height: height, values: [Float](unsafeUninitializedCapacity: n) { b, c in
            for i in 0..<n { b[i] = Float(out[i]) }
            c = n
        })
    }
}

/// Per map level and position, the mean and standard deviation (divisor n) of the distances
/// of the training images: a position's distance d becomes (d - mean) / sd.
public struct MapNormalizer: Sendable, Equatable {
    /// Per map level, h x w means.
    public let mean: [[Double]]
    /// Per map level, h x w standard deviations (at least `minimumSD`).
    public let sd: [[Double]]
    /// Images they were measured on.
    public let images: Int

    /// The smallest standard deviation divided by (a position whose distance never varies).
    public static let minimumSD = 1e-12

    init(mean: [[Double]], sd: [[Double]], images: Int) {
        self.mean = mean
        self.sd = sd
        self.images = images
    }

    /// `d` (level `l`'s distances) standardised per position.
    public func standardized(_ d: [Double], level l: Int) -> [Double] {
        var z = d
        let m = mean[l], s = sd[l]
        for p in z.indices { z[p] = (z[p] - m[p]) / s[p] }
        return z
    }
}

/// Sums of the distances of training images per level and position, mergeable: the normaliser.
public struct NormalizerAccumulator: Sendable, Equatable {
    /// Images summed.
    public private(set) var images = 0
    /// Per level: sum of d and of d^2 at each position.
    var sum: [[Double]], sumSquares: [[Double]]

    /// Empty sums for maps of `shapes`.
    public init(shapes: [MapShape]) {
        sum = shapes.map { [Double](repeating: 0, count: $0.positions) }
        sumSquares = sum
    }

    init(images: Int, sum: [[Double]], sumSquares: [[Double]]) {
        self.images = images
        self.sum = sum
        self.sumSquares = sumSquares
    }

    /// Adds one image's distance maps.
    public mutating func add(_ distances: [[Double]]) {
        for l in sum.indices {
            for (p, v) in distances[l].enumerated() {
                sum[l][p] += v
                sumSquares[l][p] += v * v
            }
        }
        images += 1
    }

    /// Adds another shard's sums.
    public mutating func merge(_ other: NormalizerAccumulator) throws {
        guard other.sum.map(\.count) == sum.map(\.count) else {
            throw GaussianADError.invalidArgument("cannot merge map normaliser sums of different shapes")
        }
        for l in sum.indices {
            for p in sum[l].indices {
                sum[l][p] += other.sum[l][p]
                sumSquares[l][p] += other.sumSquares[l][p]
            }
        }
        images += other.images
    }

    /// The means and standard deviations.
    /// - Throws: without images.
    public func finalize() throws -> MapNormalizer {
        guard images > 0 else { throw GaussianADError.invalidArgument("no training images to normalise the maps by") }
        let n = Double(images)
        let mean = sum.map { $0.map { $0 / n } }
        let sd = sum.indices.map { l in
            sum[l].indices.map { p in max(MapNormalizer.minimumSD, max(0, sumSquares[l][p] / n - mean[l][p] * mean[l][p]).squareRoot()) }
        }
        return MapNormalizer(mean: mean, sd: sd, images: images)
    }
}
