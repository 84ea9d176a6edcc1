// Streaming, mergeable moments of the per-position feature vectors of the map levels, one
// `MomentAccumulator` per cell: the spatial Gaussians follow exactly, from shards merged in any
// order (docs/METHOD.md 9).
import Foundation

/// The moment sums of every cell of every map level.
///
///     var acc = try SpatialAccumulator(settings: settings, shapes: net.levelShapes)
///     try acc.add(features.maps!)                 // a batch's maps
///     let model = try acc.finalize()
public struct SpatialAccumulator: Sendable {
    /// What is modelled.
    public let settings: MapSettings
    /// The shape of each map level's map (in `settings.levels` order).
    public let shapes: [MapShape]
    /// The network's input size S.
    public let inputSize: Int
    /// Per map level, per cell.
    var cells: [[MomentAccumulator]]
    /// Threads of the float64 BLAS steps (nil: every core).
    public var threads: Int?

    /// Empty sums for `settings` over maps of the backbone's level shapes `levelShapes` (all
    /// levels, by index) at input size `inputSize`.
    public init(settings: MapSettings, levelShapes: [MapShape], inputSize: Int, threads: Int? = nil) throws {
        guard settings.levels.allSatisfy({ $0 >= 0 && $0 < levelShapes.count }) else {
            throw GaussianADError.invalidArgument("map levels \(settings.levels) are not levels of this network")
        }
        self.settings = settings
        self.inputSize = inputSize
        shapes = settings.levels.map { levelShapes[$0] }
        cells = shapes.map { s in
            let (r, c) = settings.grid.cells(on: s)
            return [MomentAccumulator](repeating: MomentAccumulator(dimension: s.c), count: r * c)
        }
        self.threads = threads
    }

    /// Vectors accumulated per position (the images seen).
    public var images: Int { cells.first.map { lvl in lvl.reduce(0) { $0 + $1.count } / max(1, shapes[0].positions) } ?? 0 }

    /// Images whose moments are summed at a time: bounds the float64 copy of one cell's vectors.
    static let imagesPerStep = 16

    /// Adds the maps of the images `images` of `maps` (nil: all of them).
    /// - Throws: when the maps are not of the settings' levels and shapes.
    public mutating func add(_ maps: FeatureMaps, images: [Int]? = nil) throws {
        guard maps.levels == settings.levels, maps.shapes == shapes else {
            throw GaussianADError.invalidArgument("maps of levels \(maps.levels) \(maps.shapes) where \(settings.levels) \(shapes) were expected")
        }
        let all = images ?? Array(0..<maps.count)
        let offsets = maps.offsets, stride = maps.floatsPerImage
        for (l, shape) in shapes.enumerated() {
            let cellOf = settings.grid.cellOfPosition(on: shape)
            var members = [[Int]](repeating: [], count: cells[l].count)
            for (p, c) in cellOf.enumerated() { members[c].append(p) }
            let d = shape.c
            var start = 0
            while start < all.count {
                let chunk = all[start..<min(all.count, start + Self.imagesPerStep)]
                maps.values.withUnsafeBufferPointer { v in
                    for (c, positions) in members.enumerated() where !positions.isEmpty {
                        var x = [Double](repeating: 0, count: chunk.count * positions.count * d)
                        var r = 0
                        for i in chunk {
                            let base = i * stride + offsets[l]
                            for p in positions {
                                let src = v.baseAddress! + base + p * d
                                for j in 0..<d { x[r * d + j] = Double(src[j]) }
                                r += 1
                            }
                        }
                        cells[l][c].add(x, threads: 1)
                    }
                }
                start += chunk.count
            }
        }
    }

    /// Merges another shard's sums (same settings and shapes).
    public mutating func merge(_ other: SpatialAccumulator) throws {
        guard other.settings == settings, other.shapes == shapes, other.inputSize == inputSize else {
            throw GaussianADError.invalidArgument("cannot merge map moments of different settings")
        }
        for l in cells.indices { for c in cells[l].indices { try cells[l][c].merge(other.cells[l][c]) } }
    }

    /// The spatial Gaussians.
    /// - Throws: `.numerical` naming the level and cell whose covariance is not positive definite.
    public func finalize() throws -> SpatialModel {
        let levels = try settings.levels.indices.map { l in
            try SpatialGaussian(level: settings.levels[l], shape: shapes[l], grid: settings.grid, moments: cells[l], threads: threads)
        }
        return SpatialModel(settings: settings, inputSize: inputSize, levels: levels)
    }

    /// Bytes the sums take (and, about as many, each model fitted from them).
    public static func bytes(settings: MapSettings, levelShapes: [MapShape]) -> Int {
        settings.levels.reduce(0) { acc, l in
            let s = levelShapes[l], (r, c) = settings.grid.cells(on: s)
            return acc + r * c * (s.c * s.c + 4 * s.c) * MemoryLayout<Double>.size
        }
    }
}
