// Loads the tensors of a PyTorch checkpoint (legacy or zip format) or a safetensors file.
import Foundation

/// The named tensors of a weights file.
///
///     let ckpt = try Checkpoint.load(contentsOf: URL(fileURLWithPath: "efficientnet-lite0.pth"))
///     let w = ckpt["_conv_stem.weight"]
///
/// Reads PyTorch's legacy (pre-zip) and zip formats, state dicts nested under `state_dict`,
/// and `.safetensors`. Only tensor data is accepted: a pickle that names any other global is
/// rejected with an error naming it.
public struct Checkpoint: Sendable {
    /// Tensor names in file order.
    public let names: [String]
    /// Tensors by name.
    public let tensors: [String: Tensor]

    /// The tensor called `name`, if present.
    public subscript(name: String) -> Tensor? { tensors[name] }

    /// Reads a weights file.
    /// - Throws: `GaussianADError.unreadableFile` / `.badCheckpoint` naming the file.
    public static func load(contentsOf url: URL) throws -> Checkpoint {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw GaussianADError.unreadableFile(path: url.path, reason: (error as NSError).localizedDescription)
        }
        return try parse(bytes: [UInt8](data), name: url.path)
    }

    /// Parses the bytes of a weights file; `name` is used in error messages.
    public static func parse(bytes: [UInt8], name: String) throws -> Checkpoint {
        let pairs: [(String, Tensor)]
        if ZipArchive.looksLikeZip(bytes) {
            pairs = try TorchFormats.zipFormat(bytes, file: name)
        } else if bytes.count >= 2 && bytes[0] == 0x80 && bytes[1] >= 2 {
            pairs = try TorchFormats.legacy(bytes, file: name)
        } else if Safetensors.looksLike(bytes) {
            pairs = try Safetensors.parse(bytes, file: name)
        } else {
            throw GaussianADError.badCheckpoint(path: name, reason: "unknown format (neither a PyTorch .pth nor .safetensors)")
        }
        var dict: [String: Tensor] = [:]
        for (k, v) in pairs { dict[k] = v }
        return Checkpoint(names: pairs.map(\.0), tensors: dict)
    }
}

/// PyTorch's two container formats around the pickled state dict.
enum TorchFormats {
    static let legacyMagic: [UInt8] = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19]

    static func legacy(_ bytes: [UInt8], file: String) throws -> [(String, Tensor)] {
        func fail(_ why: String) -> GaussianADError { .badCheckpoint(path: file, reason: why) }
        var pos = 0
        func next() throws -> PickleValue {
            var p = PickleReader(bytes: bytes, file: file, start: pos, legacy: true)
            let v = try p.read()
            pos = p.position
            return v
        }
        guard case .bigInt(let magic) = try next(), magic == legacyMagic else {
            throw fail("not a PyTorch legacy file (magic number missing)")
        }
        guard case .int(let proto) = try next(), proto == 1001 else { throw fail("unsupported legacy protocol version") }
        if case .dict(let info) = try next() {
            for (k, v) in info.entries where k.asString == "little_endian" {
                if case .bool(false) = v { throw fail("big-endian checkpoints are not supported") }
            }
        }
        let root = try next()
        guard let keyList = try next().asTuple else { throw fail("storage key list missing") }
        let keys = try keyList.map { v -> String in
            guard let s = v.asString else { throw fail("bad storage key") }
            return s
        }
        var refs: [String: StorageRef] = [:]
        collectStorages(root, into: &refs)
        var storages: [String: ArraySlice<UInt8>] = [:]
        var r = ByteReader(bytes, file: file, start: pos)
        for key in keys {
            guard let ref = refs[key] else { throw fail("storage '\(key)' is listed but no tensor uses it") }
            let numel = try r.uint(8)
            guard numel <= UInt64(r.remaining / max(1, ref.dtype.size)) else {
                throw fail("storage '\(key)' runs past the end of the file (truncated?)")
            }
            storages[key] = try r.take(Int(numel) * ref.dtype.size)
        }
        return try tensors(from: root, storages: storages, file: file)
    }

    static func zipFormat(_ bytes: [UInt8], file: String) throws -> [(String, Tensor)] {
        func fail(_ why: String) -> GaussianADError { .badCheckpoint(path: file, reason: why) }
        let z = try ZipArchive(bytes, file: file)
        guard let pkl = z.order.first(where: { $0 == "data.pkl" || $0.hasSuffix("/data.pkl") }), let e = z.entries[pkl] else {
            throw fail("zip archive without data.pkl")
        }
        let prefix = String(pkl.dropLast("data.pkl".count))
        if let bo = z.entries[prefix + "byteorder"],
           String(bytes: bytes[bo.offset..<(bo.offset + bo.size)], encoding: .utf8) == "big" {
            throw fail("big-endian checkpoints are not supported")
        }
        var p = PickleReader(bytes: bytes, file: file, start: e.offset, end: e.offset + e.size, legacy: false)
        let root = try p.read()
        var refs: [String: StorageRef] = [:]
        collectStorages(root, into: &refs)
        var storages: [String: ArraySlice<UInt8>] = [:]
        for (key, _) in refs {
            guard let d = z.entries[prefix + "data/" + key] else { throw fail("storage 'data/\(key)' missing from the archive") }
            storages[key] = bytes[d.offset..<(d.offset + d.size)]
        }
        return try tensors(from: root, storages: storages, file: file)
    }

    /// Every storage referenced below `v` (the first reference of a key wins).
    private static func collectStorages(_ v: PickleValue, into refs: inout [String: StorageRef], depth: Int = 0) {
        guard depth < 8 else { return }
        switch v {
        case .tensor(let t): if refs[t.storage.key] == nil { refs[t.storage.key] = t.storage }
        case .storage(let s): if refs[s.key] == nil { refs[s.key] = s }
        case .dict(let d): for (_, x) in d.entries { collectStorages(x, into: &refs, depth: depth + 1) }
        case .list(let l): for x in l.items { collectStorages(x, into: &refs, depth: depth + 1) }
        case .tuple(let t): for x in t { collectStorages(x, into: &refs, depth: depth + 1) }
        default: break
        }
    }

    /// The state dict: the root dict, or the dict under "state_dict" when nested.
    private static func tensors(from root: PickleValue, storages: [String: ArraySlice<UInt8>], file: String) throws -> [(String, Tensor)] {
        func fail(_ why: String) -> GaussianADError { .badCheckpoint(path: file, reason: why) }
        guard case .dict(var dict) = root else { throw fail("the pickled object is not a state dict") }
        for (k, v) in dict.entries where k.asString == "state_dict" || k.asString == "model_state_dict" {
            if case .dict(let inner) = v { dict = inner; break }
        }
        var out: [(String, Tensor)] = []
        for (k, v) in dict.entries {
            guard case .tensor(let t) = v, let name = k.asString else { continue }
            guard let data = storages[t.storage.key] else { throw fail("storage '\(t.storage.key)' of '\(name)' missing") }
            out.append((name, try materialise(t, data, name: name, file: file)))
        }
        guard !out.isEmpty else { throw fail("no tensors found in the state dict") }
        return out
    }

    /// Copies a strided view out of its storage into contiguous bytes, bounds-checked.
    private static func materialise(_ t: TensorRef, _ storage: ArraySlice<UInt8>, name: String, file: String) throws -> Tensor {
        func fail(_ why: String) -> GaussianADError { .badCheckpoint(path: file, reason: "tensor '\(name)': " + why) }
        let es = t.storage.dtype.size
        let numelAvail = storage.count / es
        let base = t.offset + (t.storage.view?.offset ?? 0)
        var count = 1
        var maxIndex = base
        for (s, st) in zip(t.size, t.stride) {
            let (m, o) = count.multipliedReportingOverflow(by: s)
            guard !o else { throw fail("too large") }
            count = m
            if s > 0 {
                let (span, o2) = (s - 1).multipliedReportingOverflow(by: st)
                guard !o2 else { throw fail("bad strides") }
                maxIndex += span
            }
        }
        guard count == 0 || maxIndex < numelAvail else { throw fail("view reaches past its storage (corrupt file)") }
        var out = [UInt8](repeating: 0, count: count * es)
        if count > 0 {
            let start = storage.startIndex
            var contiguous = true
            var expect = 1
            for (s, st) in zip(t.size, t.stride).reversed() where s != 1 {
                if st != expect { contiguous = false; break }
                expect *= s
            }
            if contiguous {
                let b0 = start + base * es
                out.withUnsafeMutableBytes { o in
                    storage[b0..<(b0 + count * es)].withUnsafeBytes { src in o.copyMemory(from: src) }
                }
            } else {
                var idx = [Int](repeating: 0, count: t.size.count)
                for i in 0..<count {
                    var off = base
                    for d in 0..<idx.count { off += idx[d] * t.stride[d] }
                    let src = start + off * es
                    for b in 0..<es { out[i * es + b] = storage[src + b] }
                    var d = idx.count - 1
                    while d >= 0 {
                        idx[d] += 1
                        if idx[d] < t.size[d] { break }
                        idx[d] = 0
                        d -= 1
                    }
                }
            }
        }
        return Tensor(dtype: t.storage.dtype, shape: t.size, bytes: out)
    }
}
