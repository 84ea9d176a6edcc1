// The pixel working point: the (1 - q) quantile of the normal training images' out-of-fold map
// values, exact from the largest values alone, mergeable across shards (docs/METHOD.md 9).
import Foundation

/// The largest of `total` values, enough of them for the exact (1 - q) quantile (linear
/// interpolation, NumPy's default) of all `total`: shards each keep theirs and merge.
///
///     var top = PixelQuantile(q: 0.001, total: 400 * 224 * 224)
///     top.add(mapValues)
///     let threshold = try top.quantile()
public struct PixelQuantile: Sendable, Equatable {
    /// q.
    public let q: Double
    /// Values the quantile is over (all shards).
    public let total: Int
    /// Values seen so far (this shard, or the shards merged).
    public private(set) var seen = 0
    /// The largest values seen, at most `capacity` (unsorted).
    public private(set) var values: [Float] = []

    /// Training images the pixel working point uses at most (the first by the stable split's key).
    public static let maxImages = 1000

    /// Values kept: the ceil(q (total - 1)) + 2 largest hold both order statistics the
    /// quantile interpolates between.
    public var capacity: Int { min(total, Int((q * Double(max(total - 1, 0))).rounded(.up)) + 2) }

    /// An empty accumulator for the (1 - q) quantile of `total` values.
    public init(q: Double, total: Int) {
        self.q = q
        self.total = total
    }

    init(q: Double, total: Int, seen: Int, values: [Float]) {
        self.q = q
        self.total = total
        self.seen = seen
        self.values = values
    }

    /// Adds values.
    public mutating func add<C: Collection>(_ v: C) where C.Element == Float {
        values.append(contentsOf: v)
        seen += v.count
        if values.count > 2 * max(capacity, 1024) { trim() }
    }

    /// Merges another shard's values (the same q and total).
    public mutating func merge(_ other: PixelQuantile) throws {
        guard other.q == q, other.total == total else {
            throw GaussianADError.invalidArgument("cannot merge pixel quantiles of q \(other.q) over \(other.total) values into q \(q) over \(total)")
        }
        values += other.values
        seen += other.seen
        trim()
    }

    /// Keeps the `capacity` largest.
    public mutating func trim() {
        guard values.count > capacity else { return }
        values.sort(by: >)
        values.removeSubrange(capacity...)
    }

    /// The (1 - q) quantile of all `total` values.
    /// - Throws: unless exactly `total` values were seen.
    public func quantile() throws -> Double {
        guard seen == total, total > 0 else {
            throw GaussianADError.invalidArgument("the pixel working point saw \(seen) map values of the \(total) expected")
        }
        let top = values.sorted(by: >).map(Double.init)
        let pos = (1 - q) * Double(total - 1)
        let lo = Int(pos.rounded(.down)), hi = min(lo + 1, total - 1)
        // Ascending rank r is top[total - 1 - r].
        func at(_ r: Int) -> Double { top[total - 1 - r] }
        return at(lo) + (at(hi) - at(lo)) * (pos - Double(lo))
    }

    /// The images, of `paths`, whose maps the pixel working point is calibrated on: all of them
    /// up to `maxImages`, else the first `maxImages` in the order of the stable split's key.
    public static func calibrationImages(_ paths: [String], seed: UInt64) -> Set<String> {
        guard paths.count > maxImages else { return Set(paths) }
        let keyed = paths.map { (StableSplit.key($0, seed: seed), Array($0.utf8), $0) }
        let sorted = keyed.sorted { a, b in a.0 != b.0 ? a.0 < b.0 : a.1.lexicographicallyPrecedes(b.1) }
        return Set(sorted.prefix(maxImages).map(\.2))
    }
}
