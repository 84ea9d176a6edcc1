// Feature vectors of many images, levels concatenated, in float64 for the statistics.
import Foundation

/// `rows` feature vectors, each the concatenation of the pooled levels of `levelDims`
/// (docs/METHOD.md 2.2), row-major float64: what the network gives and the statistics read.
public struct FeatureMatrix: Sendable {
    /// Number of images.
    public private(set) var rows: Int
    /// Dimension of each level.
    public let levelDims: [Int]
    /// Row-major `rows x dimension` values.
    public var values: [Double]
    /// The same images' level maps, when the extractor keeps them (`FeatureExtractor.mapLevels`).
    public var maps: FeatureMaps?

    /// Total dimension of a row.
    public var dimension: Int { levelDims.reduce(0, +) }

    /// Start of each level within a row.
    public var levelOffsets: [Int] { startOffsets(levelDims) }

    /// Wraps float64 values; `values.count` must be `rows * sum(levelDims)`.
    public init(rows: Int, levelDims: [Int], values: [Double]) throws {
        guard rows >= 0, values.count == rows * levelDims.reduce(0, +) else {
            throw GaussianADError.invalidArgument("feature matrix: \(values.count) values do not make \(rows) rows of \(levelDims.reduce(0, +))")
        }
        self.rows = rows
        self.levelDims = levelDims
        self.values = values
    }

    /// Widens float32 pooled levels (as the network computes them): `values.count` must be
    /// `rows * sum(levelDims)`.
    init(rows: Int, levelDims: [Int], float32 values: [Float]) {
        self.rows = rows
        self.levelDims = levelDims
        self.values = values.map(Double.init)
    }

    /// Level `level` of image `row`, in place.
    public func level(_ level: Int, of row: Int) -> ArraySlice<Double> {
        let start = row * dimension + levelOffsets[level]
        return values[start..<(start + levelDims[level])]
    }

    /// The rows at `indices`, in that order.
    public func selecting(rows indices: [Int]) -> FeatureMatrix {
        let D = dimension
        var out = [Double]()
        out.reserveCapacity(indices.count * D)
        for i in indices { out.append(contentsOf: values[(i * D)..<((i + 1) * D)]) }
        var f = FeatureMatrix(unchecked: indices.count, levelDims, out)
        f.maps = maps?.selecting(images: indices)
        return f
    }

    /// Appends `other`'s rows (the same levels; maps kept only when both have them).
    public mutating func append(_ other: FeatureMatrix) {
        values += other.values
        rows += other.rows
        if maps != nil, let m = other.maps { maps!.append(m) } else { maps = nil }
    }

    /// Level `l` of every row as a contiguous `rows x levelDims[l]` array.
    public func level(_ l: Int) -> [Double] {
        let D = dimension, off = levelOffsets[l], d = levelDims[l]
        var out = [Double](repeating: 0, count: rows * d)
        for r in 0..<rows {
            for j in 0..<d { out[r * d + j] = values[r * D + off + j] }
        }
        return out
    }

    /// No rows, laid out as `levelDims`.
    public static func empty(_ levelDims: [Int]) -> FeatureMatrix { FeatureMatrix(unchecked: 0, levelDims, []) }

    init(unchecked rows: Int, _ levelDims: [Int], _ values: [Double]) {
        self.rows = rows
        self.levelDims = levelDims
        self.values = values
    }
}

/// Start of each block when blocks of the given sizes are concatenated: [0, d0, d0 + d1, ...].
func startOffsets(_ sizes: [Int]) -> [Int] {
    var acc = 0
    return sizes.map { d in defer { acc += d }; return acc }
}
