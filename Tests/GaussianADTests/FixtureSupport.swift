// Locates the fixtures copied into the test folder and reads their JSON and float files.
import Foundation
import GaussianAD
import XCTest

enum Fixtures {
    /// Tests/GaussianADTests/Fixtures, found from this source file's path.
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    static func url(_ path: String) -> URL { root.appendingPathComponent(path) }

    static func json(_ path: String) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(contentsOf: url(path)))
    }

    static func float32s(_ path: String) throws -> [Float] {
        let d = try Data(contentsOf: url(path))
        return d.withUnsafeBytes { raw in
            (0..<(d.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
        }
    }

    /// The cache folder scripts/setup fills (weights and data), as the CLI finds it.
    static var cache: CacheFolder { CacheFolder.fromEnvironment(ProcessInfo.processInfo.environment) }
}

/// Deterministic pseudo-random bytes for mutation tests (SplitMix64).
struct TestRNG {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(max(1, n))) }
}

/// Runs `body` on truncated and byte-flipped copies of `bytes` and counts outcomes.
/// Any crash or hang fails the whole test process, which is the point.
func mutate(_ bytes: [UInt8], copies: Int, seed: UInt64, _ body: ([UInt8]) -> Bool) -> (ok: Int, rejected: Int) {
    var rng = TestRNG(state: seed)
    var ok = 0, rejected = 0
    for i in 0..<copies {
        var b = bytes
        if i % 2 == 0 {
            b = Array(b.prefix(rng.below(b.count)))
        } else {
            for _ in 0..<(1 + rng.below(4)) {
                let p = rng.below(b.count)
                b[p] ^= UInt8(truncatingIfNeeded: 1 << rng.below(8)) | UInt8(truncatingIfNeeded: rng.next() & 0xff)
            }
        }
        if body(b) { ok += 1 } else { rejected += 1 }
    }
    return (ok, rejected)
}
