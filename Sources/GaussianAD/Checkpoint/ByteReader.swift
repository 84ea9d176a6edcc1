// Bounds-checked little-endian reads over a byte buffer, for the checkpoint parsers.
import Foundation

/// A cursor over bytes that throws instead of reading past the end.
struct ByteReader {
    let bytes: [UInt8]
    var pos: Int
    let end: Int
    let file: String

    init(_ bytes: [UInt8], file: String, start: Int = 0, end: Int? = nil) {
        self.bytes = bytes
        self.pos = start
        self.end = end ?? bytes.count
        self.file = file
    }

    var remaining: Int { end - pos }

    func fail(_ why: String) -> GaussianADError { .badCheckpoint(path: file, reason: why) }

    mutating func u8() throws -> UInt8 {
        guard pos < end else { throw fail("truncated (unexpected end at byte \(pos))") }
        defer { pos += 1 }
        return bytes[pos]
    }

    mutating func take(_ n: Int) throws -> ArraySlice<UInt8> {
        guard n >= 0, n <= end - pos else { throw fail("truncated (needs \(n) bytes at byte \(pos), \(end - pos) left)") }
        defer { pos += n }
        return bytes[pos..<(pos + n)]
    }

    mutating func uint(_ n: Int) throws -> UInt64 {
        let s = try take(n)
        var v: UInt64 = 0
        for (i, b) in s.enumerated() { v |= UInt64(b) << (8 * UInt64(i)) }
        return v
    }

    static func uintAt(_ bytes: [UInt8], _ off: Int, _ n: Int) -> UInt64? {
        guard off >= 0, n >= 0, off <= bytes.count, n <= bytes.count - off else { return nil }
        var v: UInt64 = 0
        for i in 0..<n { v |= UInt64(bytes[off + i]) << (8 * UInt64(i)) }
        return v
    }
}
