// A minimal reader of uncompressed ("stored") zip archives, as torch.save writes them.
import Foundation

/// The entries of a zip archive held in memory. Only the stored method (no compression) is
/// read, which is what PyTorch writes; ZIP64 sizes are accepted.
struct ZipArchive {
    struct Entry { let name: String; let offset: Int; let size: Int }
    let entries: [String: Entry]
    let order: [String]

    /// True if the bytes start with a local file header.
    static func looksLikeZip(_ b: [UInt8]) -> Bool { b.count >= 4 && b[0] == 0x50 && b[1] == 0x4b && b[2] == 3 && b[3] == 4 }

    init(_ bytes: [UInt8], file: String) throws {
        func fail(_ why: String) -> GaussianADError { .badCheckpoint(path: file, reason: "zip: " + why) }
        func u(_ off: Int, _ n: Int) throws -> UInt64 {
            guard let v = ByteReader.uintAt(bytes, off, n) else { throw fail("truncated archive") }
            return v
        }
        // End of central directory: scan back over at most 64 KiB of comment.
        var eocd = -1
        var i = bytes.count - 22
        let stop = max(0, bytes.count - 22 - 65_535)
        while i >= stop {
            if bytes[i] == 0x50 && bytes[i + 1] == 0x4b && bytes[i + 2] == 5 && bytes[i + 3] == 6 { eocd = i; break }
            i -= 1
        }
        guard eocd >= 0 else { throw fail("no end-of-central-directory record (truncated?)") }
        func int(_ v: UInt64, _ what: String) throws -> Int {
            guard let i = Checked.int(v), i <= bytes.count else { throw fail("\(what) \(v) lies outside the file") }
            return i
        }
        var count = Int(try u(eocd + 10, 2))
        var cdOffset = Int(try u(eocd + 16, 4))
        if cdOffset == 0xFFFF_FFFF || count == 0xFFFF {
            // ZIP64 locator just before the EOCD.
            let loc = eocd - 20
            guard loc >= 0, try u(loc, 4) == 0x0706_4b50 else { throw fail("missing ZIP64 locator") }
            let rec = try int(try u(loc + 8, 8), "ZIP64 record offset")
            guard try u(rec, 4) == 0x0606_4b50 else { throw fail("bad ZIP64 record") }
            count = try int(try u(rec + 32, 8), "ZIP64 entry count")
            cdOffset = try int(try u(rec + 48, 8), "ZIP64 central directory offset")
        }
        guard cdOffset < bytes.count, count <= bytes.count / 46 else {
            throw fail("central directory out of range")
        }
        var entries: [String: Entry] = [:]
        var order: [String] = []
        var p = cdOffset
        for _ in 0..<count {
            guard try u(p, 4) == 0x0201_4b50 else { throw fail("bad central directory entry") }
            let method = try u(p + 10, 2)
            var size = try u(p + 20, 4)
            var csize = try u(p + 24, 4)
            let nameLen = Int(try u(p + 28, 2)), extraLen = Int(try u(p + 30, 2)), commentLen = Int(try u(p + 32, 2))
            var local = try u(p + 42, 4)
            guard nameLen <= bytes.count - (p + 46),
                  let name = String(bytes: bytes[(p + 46)..<(p + 46 + nameLen)], encoding: .utf8) else {
                throw fail("bad entry name")
            }
            // ZIP64 extended information in the extra field.
            var e = p + 46 + nameLen
            let eEnd = e + extraLen
            while e + 4 <= eEnd {
                let id = try u(e, 2), len = Int(try u(e + 2, 2))
                if id == 1 {
                    var q = e + 4
                    if size == 0xFFFF_FFFF { size = try u(q, 8); q += 8 }
                    if csize == 0xFFFF_FFFF { csize = try u(q, 8); q += 8 }
                    if local == 0xFFFF_FFFF { local = try u(q, 8); q += 8 }
                }
                e += 4 + len
            }
            guard method == 0 else { throw fail("entry '\(name)' is compressed (method \(method)); only stored entries are read") }
            guard size == csize else { throw fail("entry '\(name)' sizes disagree") }
            let lh = try int(local, "local header of '\(name)' at")
            guard try u(lh, 4) == 0x0403_4b50 else { throw fail("bad local header for '\(name)'") }
            // lh <= bytes.count and the two lengths are 16-bit: no overflow.
            let dataStart = lh + 30 + Int(try u(lh + 26, 2)) + Int(try u(lh + 28, 2))
            let n = try int(size, "size of entry '\(name)':")
            guard dataStart <= bytes.count, n <= bytes.count - dataStart else {
                throw fail("entry '\(name)' runs past the end of the file (truncated?)")
            }
            entries[name] = Entry(name: name, offset: dataStart, size: n)
            order.append(name)
            p += 46 + nameLen + extraLen + commentLen
        }
        self.entries = entries
        self.order = order
    }
}
