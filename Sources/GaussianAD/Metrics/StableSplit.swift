// The stable path-hash fold split of docs/METHOD.md 6 (FNV-1a 64 + SplitMix64).
import Foundation

/// Fold assignment that never moves an image when others are added.
public enum StableSplit {
    /// FNV-1a 64 of bytes.
    public static func fnv1a64<S: Sequence>(_ bytes: S) -> UInt64 where S.Element == UInt8 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
        return h
    }

    /// SplitMix64 finaliser of x.
    public static func splitmix64(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9e37_79b9_7f4a_7c15
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    /// The sort key of a relative path.
    public static func key(_ path: String, seed: UInt64) -> UInt64 { splitmix64(fnv1a64(path.utf8) ^ seed) }

    /// Folds of one (category, label) group: sorted by (key, path bytes), rank i goes to fold i mod k.
    public static func folds(of paths: [String], k: Int, seed: UInt64) -> [String: Int] {
        let keyed = paths.map { (key($0, seed: seed), Array($0.utf8), $0) }
        let sorted = keyed.sorted { a, b in a.0 != b.0 ? a.0 < b.0 : a.1.lexicographicallyPrecedes(b.1) }
        var out: [String: Int] = [:]
        for (i, e) in sorted.enumerated() { out[e.2] = i % max(k, 1) }
        return out
    }
}
