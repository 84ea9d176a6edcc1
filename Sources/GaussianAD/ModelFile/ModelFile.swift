// The .gad model file: everything needed to score, versioned and checksummed.
import Foundation

/// A fitted model as saved on disk.
///
/// Layout (little-endian): "GADMODEL", u32 version, u64 header length, the JSON header, the
/// float64 arrays the header lists, then the SHA-256 of all preceding bytes. Saving writes a
/// temporary file and renames it, so a crash never leaves a half-written model.
///
///     try ModelFile(backbone: .efficientNetLite0, weightsSHA256: net.weightsSHA256, model: m).save(to: url)
///     let loaded = try ModelFile.load(from: url)
public struct ModelFile: Sendable, Equatable {
    /// Current format version.
    public static let version: UInt32 = 1
    static let magic = Array("GADMODEL".utf8)

    /// The backbone the features come from.
    public var backbone: BackboneKind
    /// SHA-256 of that backbone's weights file.
    public var weightsSHA256: String
    /// The Gaussians.
    public var model: GaussianModel
    /// The calibrated working point, if any.
    public var workingPoint: WorkingPoint?
    /// Free-form metadata (created, dataset, category, tool version...).
    public var metadata: [String: String]

    /// A model file for `model` on `backbone`.
    public init(backbone: BackboneKind, weightsSHA256: String, model: GaussianModel,
                workingPoint: WorkingPoint? = nil, metadata: [String: String] = [:]) {
        self.backbone = backbone
        self.weightsSHA256 = weightsSHA256
        self.model = model
        self.workingPoint = workingPoint
        self.metadata = metadata
    }

    struct LevelHeader: Codable, Equatable {
        var level: Int, dimension: Int, count: Int, shrinkage: Double
        var projectionInput: Int?
    }

    struct Header: Codable {
        var format: String
        var backbone: String
        var weightsSHA256: String
        var inputSize: Int
        var normalization: Normalization
        var levelDims: [Int]
        var reduction: Reduction
        var levels: [LevelHeader]
        var workingPoint: WorkingPoint?
        var metadata: [String: String]
        var arrayCount: Int
    }

    /// The bytes of the file.
    public func encoded() throws -> [UInt8] {
        var arrays: [Double] = []
        var lh: [LevelHeader] = []
        for g in model.levels {
            lh.append(LevelHeader(level: g.level, dimension: g.dimension, count: g.count, shrinkage: g.shrinkage,
                                  projectionInput: g.projection?.inputDimension))
            arrays += g.mean + g.cholesky + g.sd
            if let p = g.projection { arrays += p.mean + p.components }
        }
        let header = Header(format: "gaussian-ad model", backbone: backbone.rawValue, weightsSHA256: weightsSHA256,
                            inputSize: backbone.inputSize, normalization: backbone.normalization,
                            levelDims: model.levelDims, reduction: model.reduction, levels: lh,
                            workingPoint: workingPoint, metadata: metadata, arrayCount: arrays.count)
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        let json = [UInt8](try enc.encode(header))
        var out = Self.magic
        out.reserveCapacity(8 + 12 + json.count + arrays.count * 8 + 32)
        appendLE(&out, UInt64(Self.version), 4)
        appendLE(&out, UInt64(json.count), 8)
        out += json
        for v in arrays { appendLE(&out, v.bitPattern, 8) }
        out += SHA256.digest(out)
        return out
    }

    /// Writes the model atomically (temporary file in the same folder, then rename).
    public func save(to url: URL) throws {
        let bytes = try encoded()
        try AtomicFile.write(Data(bytes), to: url)
    }

    /// Reads a model file. If `backbone` is given, a model for another backbone is an error.
    /// The file is validated as data (see `decode`), and its sections are bounded by `limits`.
    public static func load(from url: URL, expecting backbone: BackboneKind? = nil,
                            limits: InputLimits = .default) throws -> ModelFile {
        // Bound the read by what a valid file can hold before reading it.
        let maxFile = 20 + 2 * min(limits.maxModelSectionBytes, Int.max / 4) + 32
        if let size = (try? FileManager.default.attributesOfItem(atPath: url.path))?[.size] as? Int, size > maxFile {
            throw GaussianADError.badModelFile(path: url.path, reason: "\(size) bytes is larger than a model file with sections of at most \(limits.maxModelSectionBytes) bytes (GAUSSIAN_AD_MAX_MODEL_SECTION_BYTES)")
        }
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw GaussianADError.unreadableFile(path: url.path, reason: (error as NSError).localizedDescription)
        }
        let m = try decode([UInt8](data), name: url.path, limits: limits)
        if let b = backbone, b != m.backbone {
            throw GaussianADError.badModelFile(path: url.path, reason: "it was fitted on \(m.backbone.rawValue), not \(b.rawValue)")
        }
        return m
    }

    /// Parses model file bytes; `name` is used in error messages. A valid checksum is not
    /// trusted: the header must match its backbone, every value must be finite, every Cholesky
    /// diagonal positive, and the working point finite.
    public static func decode(_ b: [UInt8], name: String, limits: InputLimits = .default) throws -> ModelFile {
        func fail(_ why: String) -> GaussianADError { .badModelFile(path: name, reason: why) }
        guard b.count >= 8 + 12 + 32, Array(b[0..<8]) == magic,
              let v32 = ByteReader.uintAt(b, 8, 4), let hlen = ByteReader.uintAt(b, 12, 8) else {
            throw fail("not a gaussian-ad model (bad magic or too short)")
        }
        let version = UInt32(v32)
        guard version == Self.version else { throw fail("format version \(version); this build reads version \(Self.version)") }
        let body = b.count - 32
        guard Array(b[body...]) == SHA256.digest(Array(b[..<body])) else {
            throw fail("checksum mismatch: the file is truncated or corrupt")
        }
        guard hlen <= UInt64(body - 20) else { throw fail("header length exceeds the file") }
        guard hlen <= UInt64(limits.maxModelSectionBytes), body - 20 - Int(hlen) <= limits.maxModelSectionBytes else {
            throw fail("a section is larger than \(limits.maxModelSectionBytes) bytes (GAUSSIAN_AD_MAX_MODEL_SECTION_BYTES)")
        }
        let hEnd = 20 + Int(hlen)
        let header: Header
        do { header = try JSONDecoder().decode(Header.self, from: Data(b[20..<hEnd])) } catch {
            throw fail("unreadable header: \(error)")
        }
        guard let kind = BackboneKind(rawValue: header.backbone) else { throw fail("unknown backbone '\(header.backbone)'") }
        guard header.levelDims == kind.levelDims else {
            throw fail("level dimensions \(header.levelDims) are not those of \(kind.rawValue) (\(kind.levelDims))")
        }
        guard header.inputSize == kind.inputSize, header.normalization == kind.normalization else {
            throw fail("input size or normalisation does not match \(kind.rawValue)")
        }
        guard header.arrayCount >= 0, header.arrayCount == (body - hEnd) / 8, (body - hEnd) % 8 == 0 else {
            throw fail("array section size does not match the header")
        }
        var pos = hEnd
        var remaining = header.arrayCount
        func take(_ n: Int?, _ what: @autoclosure () -> String) throws -> [Double] {
            guard let n, n >= 0, n <= remaining else { throw fail("arrays shorter than the header says") }
            remaining -= n
            defer { pos += n * 8 }
            let out = (0..<n).map { Double(bitPattern: ByteReader.uintAt(b, pos + $0 * 8, 8) ?? 0) }
            if let i = out.firstIndex(where: { !$0.isFinite }) { throw fail("\(what()) holds a non-finite value \(out[i]) at index \(i)") }
            return out
        }
        var levels: [LevelGaussian] = []
        var seen = Set<Int>()
        for h in header.levels {
            guard h.level >= 0, h.level < header.levelDims.count, h.dimension > 0, h.dimension <= header.levelDims[h.level], h.count > 0 else {
                throw fail("bad level entry \(h.level)")
            }
            guard seen.insert(h.level).inserted else { throw fail("level \(h.level) appears twice") }
            guard h.shrinkage.isFinite, (0...1).contains(h.shrinkage) else { throw fail("level \(h.level) has shrinkage \(h.shrinkage), not in [0, 1]") }
            let d = h.dimension
            let mean = try take(d, "level \(h.level) mean")
            let chol = try take(Checked.mul(d, d), "level \(h.level) Cholesky factor")
            let sd = try take(d, "level \(h.level) standard deviation")
            for i in 0..<d where !(chol[i * d + i] > 0) {
                throw fail("level \(h.level) Cholesky factor has diagonal \(chol[i * d + i]) at \(i); a covariance factor's diagonal is positive")
            }
            if let j = sd.firstIndex(where: { $0 < 0 }) { throw fail("level \(h.level) standard deviation \(sd[j]) at \(j) is negative") }
            var proj: Projection? = nil
            if let pin = h.projectionInput {
                guard pin == header.levelDims[h.level] else { throw fail("level \(h.level) projection input \(pin) does not match") }
                proj = Projection(inputDimension: pin, outputDimension: d, mean: try take(pin, "level \(h.level) projection mean"),
                                  components: try take(Checked.mul(pin, d), "level \(h.level) projection"))
            } else if d != header.levelDims[h.level] {
                throw fail("level \(h.level) has dimension \(d), expected \(header.levelDims[h.level])")
            }
            levels.append(LevelGaussian(level: h.level, dimension: d, count: h.count, shrinkage: h.shrinkage,
                                        mean: mean, cholesky: chol, sd: sd, projection: proj))
        }
        guard remaining == 0, !levels.isEmpty else { throw fail("array section does not match the levels") }
        if let wp = header.workingPoint {
            guard wp.threshold.isFinite, wp.targetFPR > 0, wp.targetFPR < 1, (0...1).contains(wp.observedFPR),
                  wp.calibrationCount >= 0, wp.levelThresholds.allSatisfy(\.isFinite) else {
                throw fail("the working point is not finite (threshold \(wp.threshold), target FPR \(wp.targetFPR))")
            }
        }
        return ModelFile(backbone: kind, weightsSHA256: header.weightsSHA256,
                         model: GaussianModel(levelDims: header.levelDims, levels: levels, reduction: header.reduction),
                         workingPoint: header.workingPoint, metadata: header.metadata)
    }
}

private func appendLE(_ out: inout [UInt8], _ v: UInt64, _ n: Int) {
    for i in 0..<n { out.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) }
}
