// Shard I of N: the share of a list of paths one process of N takes, by the stable path hash.
import Foundation

/// Shard `index` of `count` by the stable path hash (docs/METHOD.md 6's split function, seed
/// 0): N processes with I = 0..N-1 together take every path exactly once, whatever order or
/// machine they see the paths on.
///
///     let mine = paths.filter(Shard("2/3")!.contains)
public struct Shard: Sendable, Equatable, Codable, CustomStringConvertible {
    /// I, in 0 ..< count.
    public let index: Int
    /// N, at least 1.
    public let count: Int

    /// Shard `index` of `count`; nil unless 0 <= index < count.
    public init?(index: Int, count: Int) {
        guard count >= 1, index >= 0, index < count else { return nil }
        self.index = index
        self.count = count
    }

    /// Parses "I/N".
    public init?(_ s: String) {
        let parts = s.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]) else { return nil }
        self.init(index: i, count: n)
    }

    /// The whole input as one shard.
    public static let all = Shard(index: 0, count: 1)!

    /// Whether `path` falls in this shard.
    public func contains(_ path: String) -> Bool { StableSplit.key(path, seed: 0) % UInt64(count) == UInt64(index) }

    /// "I/N".
    public var description: String { "\(index)/\(count)" }
}
