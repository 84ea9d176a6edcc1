// The binary container shared by model files, fits in progress and fit parts: magic, version,
// a JSON header, float64 arrays, and a SHA-256 of everything before it.
import Foundation

/// Layout (little-endian): 8-byte magic, u32 version, u64 header length, the JSON header, the
/// float64 array section, then the SHA-256 of all preceding bytes.
enum Container {
    /// The magic of a complete model (`.gad`).
    static let modelMagic = Array("GADMODEL".utf8)
    /// The magic of a fit waiting for another pass (also saved as `.gad`).
    static let stateMagic = Array("GADFITST".utf8)
    /// The magic of one shard's share of a pass (`.gadpart`).
    static let partMagic = Array("GADFPART".utf8)

    /// What a file is, from its magic.
    static func kind(of b: [UInt8]) -> String? {
        guard b.count >= 8 else { return nil }
        switch Array(b[0..<8]) {
        case modelMagic: return "model"
        case stateMagic: return "fit in progress"
        case partMagic: return "fit part"
        default: return nil
        }
    }

    static func encode(magic: [UInt8], version: UInt32, header: some Encodable, arrays: [Double]) throws -> [UInt8] {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        let json = [UInt8](try enc.encode(header))
        var out = magic
        out.reserveCapacity(8 + 12 + json.count + arrays.count * 8 + 32)
        appendLE(&out, UInt64(version), 4)
        appendLE(&out, UInt64(json.count), 8)
        out += json
        for v in arrays { appendLE(&out, v.bitPattern, 8) }
        out += SHA256.digest(out)
        return out
    }

    /// Checks magic, version (`oldest` ... `version`), checksum and section bounds; returns the
    /// header bytes and a reader over the arrays. `fail` builds the file's error from a reason.
    static func decode(_ b: [UInt8], magic: [UInt8], version: UInt32, oldest: UInt32? = nil, what: String, limits: InputLimits,
                       fail: @escaping (String) -> GaussianADError) throws -> (header: Data, arrays: ArrayReader) {
        let smallest = 8 + 12 + 32
        if let k = kind(of: b), b.count < smallest {
            throw fail("truncated: \(b.count) bytes, shorter than any gaussian-ad \(k == what ? what : k) file (\(smallest) bytes)")
        }
        guard b.count >= smallest, Array(b[0..<8]) == magic,
              let v32 = ByteReader.uintAt(b, 8, 4), let hlen = ByteReader.uintAt(b, 12, 8) else {
            if let other = kind(of: b) { throw fail("it is a gaussian-ad \(other), not a \(what)") }
            throw fail("not a gaussian-ad \(what) (bad magic or too short)")
        }
        guard (UInt64(oldest ?? version)...UInt64(version)).contains(v32) else {
            let reads = oldest.map { $0 == version ? "version \(version)" : "versions \($0) to \(version)" } ?? "version \(version)"
            throw fail("format version \(v32); this build reads \(reads)")
        }
        let body = b.count - 32
        let digest = b.withUnsafeBytes { SHA256.digest(UnsafeRawBufferPointer(rebasing: $0[..<body])) }
        guard b[body...].elementsEqual(digest) else {
            throw fail("checksum mismatch: the file is truncated or corrupt")
        }
        guard hlen <= UInt64(body - 20) else { throw fail("header length exceeds the file") }
        guard hlen <= UInt64(limits.maxModelSectionBytes), body - 20 - Int(hlen) <= limits.maxModelSectionBytes else {
            throw fail("a section is larger than \(limits.maxModelSectionBytes) bytes (GAUSSIAN_AD_MAX_MODEL_SECTION_BYTES)")
        }
        let hEnd = 20 + Int(hlen)
        guard (body - hEnd) % 8 == 0 else { throw fail("array section size is not a whole number of float64 values") }
        return (Data(b[20..<hEnd]), ArrayReader(bytes: b, start: hEnd, count: (body - hEnd) / 8, fail: fail))
    }

    /// `decode`, then the JSON header as `H`.
    static func decode<H: Decodable>(_ b: [UInt8], magic: [UInt8], version: UInt32, oldest: UInt32? = nil, what: String,
                                     limits: InputLimits, header: H.Type,
                                     fail: @escaping (String) -> GaussianADError) throws -> (H, ArrayReader) {
        let (json, arrays) = try decode(b, magic: magic, version: version, oldest: oldest, what: what, limits: limits, fail: fail)
        do { return (try JSONDecoder().decode(H.self, from: json), arrays) } catch {
            throw fail("unreadable header: \(error)")
        }
    }

    /// Reads a whole file after bounding its size by what a valid file can hold.
    static func read(_ url: URL, limits: InputLimits, fail: (String) -> GaussianADError) throws -> [UInt8] {
        let maxFile = 20 + 2 * min(limits.maxModelSectionBytes, Int.max / 4) + 32
        if let size = (try? FileManager.default.attributesOfItem(atPath: url.path))?[.size] as? Int, size > maxFile {
            throw fail("\(size) bytes is larger than a file with sections of at most \(limits.maxModelSectionBytes) bytes (GAUSSIAN_AD_MAX_MODEL_SECTION_BYTES)")
        }
        return try FileBytes.read(url, maxBytes: maxFile)
    }
}

/// Takes float64 arrays off a container's array section in order, refusing non-finite values
/// and reads past the end.
struct ArrayReader {
    let bytes: [UInt8]
    private(set) var pos: Int
    private(set) var remaining: Int
    let fail: (String) -> GaussianADError

    init(bytes: [UInt8], start: Int, count: Int, fail: @escaping (String) -> GaussianADError) {
        self.bytes = bytes
        pos = start
        remaining = count
        self.fail = fail
    }

    /// The next `n` values; `what` names them in errors.
    mutating func take(_ n: Int?, _ what: @autoclosure () -> String) throws -> [Double] {
        guard let n, n >= 0, n <= remaining else { throw fail("arrays shorter than the header says (\(what()))") }
        remaining -= n
        defer { pos += n * 8 }
        // One copy of the little-endian bytes (n <= remaining keeps it inside the section).
        let start = pos
        let out = [Double](unsafeUninitializedCapacity: n) { dst, count in
            bytes.withUnsafeBytes { src in
                UnsafeMutableRawBufferPointer(dst).copyMemory(from: UnsafeRawBufferPointer(rebasing: src[start..<(start + n * 8)]))
            }
            #if _endian(big)
            for i in 0..<n { dst[i] = Double(bitPattern: UInt64(littleEndian: dst[i].bitPattern)) }
            #endif
            count = n
        }
        if let i = out.firstIndex(where: { !$0.isFinite }) { throw fail("\(what()) holds a non-finite value \(out[i]) at index \(i)") }
        return out
    }

    /// Throws unless every value was taken.
    func finish() throws {
        guard remaining == 0 else { throw fail("array section is \(remaining) values longer than the header says") }
    }
}

func appendLE(_ out: inout [UInt8], _ v: UInt64, _ n: Int) {
    for i in 0..<n { out.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) }
}
