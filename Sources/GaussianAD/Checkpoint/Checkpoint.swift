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

    /// A checkpoint of the given tensors, in that order (a later repeat of a name wins).
    public init(entries: [(String, Tensor)]) {
        var seen = Set<String>()
        names = entries.map(\.0).filter { seen.insert($0).inserted }
        tensors = Dictionary(entries, uniquingKeysWith: { _, b in b })
    }

    init(names: [String], tensors: [String: Tensor]) {
        self.names = names
        self.tensors = tensors
    }

    /// Reads a weights file; sizes in it are bounded by `limits`.
    /// - Throws: `GaussianADError.unreadableFile` / `.badCheckpoint` naming the file.
    public static func load(contentsOf url: URL, limits: InputLimits = .default) throws -> Checkpoint {
        return try parse(bytes: try FileBytes.read(url), name: url.path, limits: limits)
    }

    /// The container formats a weights file can have.
    public enum Format: String, Sendable, CaseIterable {
        /// PyTorch >= 1.6 `torch.save`: an uncompressed zip holding `data.pkl` and storages.
        case torchZip
        /// PyTorch's legacy format: consecutive pickles, then the raw storages.
        case torchLegacy
        /// Hugging Face safetensors: a JSON header, then raw tensor bytes.
        case safetensors

        /// The format the bytes start like, if any.
        public static func sniff(_ bytes: [UInt8]) -> Format? {
            if ZipArchive.looksLikeZip(bytes) { return .torchZip }
            if bytes.count >= 2 && bytes[0] == 0x80 && bytes[1] >= 2 { return .torchLegacy }
            if Safetensors.looksLike(bytes) { return .safetensors }
            return nil
        }
    }

    /// Parses the bytes of a weights file; `name` is used in error messages. The format is
    /// recognised from the bytes unless `format` names it.
    public static func parse(bytes: [UInt8], name: String, format: Format? = nil,
                             limits: InputLimits = .default) throws -> Checkpoint {
        guard let f = format ?? Format.sniff(bytes) else {
            throw GaussianADError.badCheckpoint(path: name, reason: "unknown format (neither a PyTorch .pth nor .safetensors)")
        }
        let pairs: [(String, Tensor)]
        switch f {
        case .torchZip: pairs = try TorchFormats.zipFormat(bytes, file: name, limits: limits)
        case .torchLegacy: pairs = try TorchFormats.legacy(bytes, file: name, limits: limits)
        case .safetensors: pairs = try Safetensors.parse(bytes, file: name, limits: limits)
        }
        var dict: [String: Tensor] = [:]
        for (k, v) in pairs { dict[k] = v }
        return Checkpoint(names: pairs.map(\.0), tensors: dict)
    }
}

/// PyTorch's two container formats around the pickled state dict.
enum TorchFormats {
    static let legacyMagic: [UInt8] = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19]

    static func legacy(_ bytes: [UInt8], file: String, limits: InputLimits) throws -> [(String, Tensor)] {
        func fail(_ why: String) -> GaussianADError { .badCheckpoint(path: file, reason: why) }
        var pos = 0
        func next() throws -> PickleValue {
            var p = PickleReader(bytes: bytes, file: file, start: pos, legacy: true, limits: limits)
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
        let refs = try storageRefs(root, file: file)
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
        return try tensors(from: root, storages: storages, file: file, limits: limits)
    }

    static func zipFormat(_ bytes: [UInt8], file: String, limits: InputLimits) throws -> [(String, Tensor)] {
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
        var p = PickleReader(bytes: bytes, file: file, start: e.offset, end: e.offset + e.size, legacy: false, limits: limits)
        let root = try p.read()
        let refs = try storageRefs(root, file: file)
        var storages: [String: ArraySlice<UInt8>] = [:]
        for (key, _) in refs {
            guard let d = z.entries[prefix + "data/" + key] else { throw fail("storage 'data/\(key)' missing from the archive") }
            storages[key] = bytes[d.offset..<(d.offset + d.size)]
        }
        return try tensors(from: root, storages: storages, file: file, limits: limits)
    }

    /// Values a storage walk visits at most: shared tuples make a pickle a DAG whose tree can be
    /// exponentially larger than the file, so the walk is bounded rather than trusted.
    static let maxWalk = 1 << 20

    /// Every storage referenced below `root` (the first reference of a key wins).
    private static func storageRefs(_ root: PickleValue, file: String) throws -> [String: StorageRef] {
        var refs: [String: StorageRef] = [:]
        var budget = maxWalk
        // Depth is bounded by the pickle reader's nesting limit, so recursion is safe.
        func walk(_ v: PickleValue) throws {
            budget -= 1
            guard budget >= 0 else {
                throw GaussianADError.badCheckpoint(path: file, reason: "the pickle refers to more than \(maxWalk) values (shared structure?)")
            }
            switch v {
            case .tensor(let t): if refs[t.storage.key] == nil { refs[t.storage.key] = t.storage }
            case .storage(let s): if refs[s.key] == nil { refs[s.key] = s }
            case .dict(let d): for (_, x) in d.entries { try walk(x) }
            case .list(let l): for x in l.items { try walk(x) }
            case .tuple(let t): for x in t { try walk(x) }
            default: break
            }
        }
        try walk(root)
        return refs
    }

    /// The state dict: the root dict, or the dict under "state_dict" when nested.
    private static func tensors(from root: PickleValue, storages: [String: ArraySlice<UInt8>], file: String,
                                limits: InputLimits) throws -> [(String, Tensor)] {
        func fail(_ why: String) -> GaussianADError { .badCheckpoint(path: file, reason: why) }
        guard case .dict(var dict) = root else { throw fail("the pickled object is not a state dict") }
        for (k, v) in dict.entries where k.asString == "state_dict" || k.asString == "model_state_dict" {
            if case .dict(let inner) = v { dict = inner; break }
        }
        var out: [(String, Tensor)] = []
        for (k, v) in dict.entries {
            guard case .tensor(let t) = v, let name = k.asString else { continue }
            guard let data = storages[t.storage.key] else { throw fail("storage '\(t.storage.key)' of '\(name)' missing") }
            out.append((name, try materialise(t, data, name: name, file: file, limits: limits)))
        }
        guard !out.isEmpty else { throw fail("no tensors found in the state dict") }
        return out
    }

    /// Largest materialised size of a view with more elements than its storage (a zero or
    /// overlapping stride): real checkpoints never need one this large.
    static let maxRepeatingViewBytes = 1 << 24

    /// Copies a strided view out of its storage into contiguous bytes. Every index is checked
    /// arithmetic; the materialised size is bounded by `limits.maxTensorBytes` (a zero-stride
    /// view can claim far more elements than its storage holds).
    private static func materialise(_ t: TensorRef, _ storage: ArraySlice<UInt8>, name: String, file: String,
                                    limits: InputLimits) throws -> Tensor {
        func fail(_ why: String) -> GaussianADError { .badCheckpoint(path: file, reason: "tensor '\(name)': " + why) }
        let es = t.storage.dtype.size
        let numelAvail = storage.count / es
        guard let base = Checked.add(t.offset, t.storage.view?.offset ?? 0) else {
            throw fail("storage offset \(t.offset) overflows")
        }
        guard let count = Checked.product(t.size), let byteCount = Checked.mul(count, es) else {
            throw fail("size \(t.size) has more elements than can be addressed")
        }
        guard byteCount <= limits.maxTensorBytes else {
            throw fail("size \(t.size) is \(byteCount) bytes, over the limit of \(limits.maxTensorBytes) (GAUSSIAN_AD_MAX_TENSOR_BYTES)")
        }
        var maxIndex = base
        for (s, st) in zip(t.size, t.stride) where s > 0 {
            guard let span = Checked.mul(s - 1, st), let m = Checked.add(maxIndex, span) else {
                throw fail("strides \(t.stride) reach past any storage")
            }
            maxIndex = m
        }
        guard count <= numelAvail || byteCount <= maxRepeatingViewBytes else {
            throw fail("view of \(count) elements repeats its storage of \(numelAvail) (stride \(t.stride)); at most \(maxRepeatingViewBytes) bytes are materialised from such a view")
        }
        guard count == 0 || maxIndex < numelAvail else {
            throw fail("view (offset \(base), size \(t.size), stride \(t.stride)) reaches past its storage of \(numelAvail) elements")
        }
        // A dense view in any dimension order (PyTorch's contiguous tensors, and permuted ones
        // such as convolution weights saved in HWIO order) is kept in storage order with its
        // strides: one copy of the block, and the reader asks for the order it needs.
        let live = t.size.indices.filter { t.size[$0] != 1 }.sorted { t.stride[$0] < t.stride[$1] }
        var expect = 1, dense = true
        for d in live { if t.stride[d] != expect { dense = false; break }; expect *= t.size[d] }
        let start = storage.startIndex
        if count == 0 || dense {
            let b0 = start + base * es
            let block = count == 0 ? [] : storage[b0..<(b0 + count * es)]
            let strides = t.size.indices.map { t.size[$0] == 1 ? 0 : t.stride[$0] }
            return Tensor(dtype: t.storage.dtype, shape: t.size, storage: block, strides: count == 0 ? Tensor.rowMajorStrides(t.size) : strides)
        }
        // Any other view (overlapping or gapped strides): every index walked into row-major
        // order (all offsets were bounds-checked above); every byte is written.
        var out = [UInt8](unsafeUninitializedCapacity: count * es) { _, n in n = count * es }
        storage.withUnsafeBytes { src in
            out.withUnsafeMutableBytes { dst in
                StridedCopy.run(elementSize: es, src, dst, base: base, size: t.size, stride: t.stride)
            }
        }
        return Tensor(dtype: t.storage.dtype, shape: t.size, bytes: out)
    }
}
