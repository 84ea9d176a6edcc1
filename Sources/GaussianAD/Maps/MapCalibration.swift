// What the calibration pass of a fit learns for its maps, mergeable across shards: the
// normaliser of the full model's distances, and each calibration image's out-of-fold distance
// maps, from which the pixel working point follows (docs/METHOD.md 9.3).
import Dispatch
import Foundation

/// The calibration pass's share of the maps: in-sample distance sums under the full model (its
/// normaliser) and out-of-fold distance maps (its pixel threshold), for the calibration images.
public struct MapCalibration: Sendable, Equatable {
    /// The sums of the full model's distances of the images seen.
    var normalizer: NormalizerAccumulator
    /// The images seen (relative paths) and, one after another, each one's out-of-fold distance
    /// maps (every level's positions).
    var paths: [String] = []
    var distances: [Float] = []
    /// Positions of every level together.
    let positions: Int

    /// Empty, for maps of `shapes`.
    init(shapes: [MapShape]) {
        normalizer = NormalizerAccumulator(shapes: shapes)
        positions = shapes.reduce(0) { $0 + $1.positions }
    }

    init(normalizer: NormalizerAccumulator, paths: [String], distances: [Float], positions: Int) {
        self.normalizer = normalizer
        self.paths = paths
        self.distances = distances
        self.positions = positions
    }

    /// Adds image `path`: its distance maps under the full model and under its out-of-fold one.
    mutating func add(path: String, full: [[Double]], outOfFold: [[Double]]) {
        normalizer.add(full)
        paths.append(path)
        for d in outOfFold { distances += d.map(Float.init) }
    }

    /// Adds another shard's share.
    mutating func merge(_ other: MapCalibration) throws {
        guard other.positions == positions else { throw GaussianADError.invalidArgument("cannot merge map calibrations of different shapes") }
        try normalizer.merge(other.normalizer)
        paths += other.paths
        distances += other.distances
    }

    /// `model` normalised by the full model's distances and with its pixel threshold: the
    /// (1 - q) quantile of the values of the calibration images' out-of-fold maps at S x S, each
    /// standardised by the same normaliser (images in the bytewise order of their paths).
    func calibrate(_ model: SpatialModel, threads: Int?) throws -> SpatialModel {
        let norm = try normalizer.finalize()
        let S = model.inputSize
        let order = paths.indices.sorted { Array(paths[$0].utf8).lexicographicallyPrecedes(Array(paths[$1].utf8)) }
        let shapes = model.shapes
        let offsets = startOffsets(shapes.map(\.positions))
        let maps = Slots<[Float]>(count: order.count, [])
        let workers = max(1, min(order.count, threads ?? ProcessInfo.processInfo.activeProcessorCount))
        let distances = self.distances, positions = self.positions
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            let ws = MapWorkspace()
            var j = w
            while j < order.count {
                let base = order[j] * positions
                let d = shapes.indices.map { l in
                    (0..<shapes[l].positions).map { Double(distances[base + offsets[l] + $0]) }
                }
                maps[j] = model.anomalyMap(distances: d, normalizer: norm, height: S, width: S, workspace: ws).values
                j += workers
            }
        }
        var q = PixelQuantile(q: model.settings.pixelFPR, total: order.count * S * S)
        for m in maps.all { q.add(m) }
        var out = model
        out.normalizer = norm
        out.pixelThreshold = try q.quantile()
        out.calibrationImages = order.count
        return out
    }
}
