// The .gad model file: everything needed to score, versioned and checksummed.
import Foundation

/// A fitted model as saved on disk.
///
/// Layout: the container of `Container` with magic "GADMODEL": a JSON header, the float64
/// arrays the header lists, then the SHA-256 of all preceding bytes. Saving writes a
/// temporary file and renames it, so a crash never leaves a half-written model.
///
///     try ModelFile(backbone: .efficientNetLite0, weightsSHA256: net.weightsSHA256, model: m).save(to: url)
///     let loaded = try ModelFile.load(from: url)
public struct ModelFile: Sendable, Equatable {
    /// Current format version (2: anomaly maps). Version 1 files still load and score.
    public static let version: UInt32 = 2

    /// The backbone the features come from.
    public var backbone: BackboneKind
    /// SHA-256 of that backbone's weights file.
    public var weightsSHA256: String
    /// The Gaussians.
    public var model: GaussianModel
    /// The calibrated working point, if any.
    public var workingPoint: WorkingPoint?
    /// The anomaly maps' Gaussians and pixel working point (nil: a model without maps, such as
    /// every version 1 file).
    public var maps: SpatialModel?
    /// Free-form metadata (created, dataset, category, tool version...).
    public var metadata: [String: String]
    /// The format version it was read from (the current one for a model made here).
    public internal(set) var formatVersion = ModelFile.version

    /// A model file for `model` on `backbone`.
    public init(backbone: BackboneKind, weightsSHA256: String, model: GaussianModel,
                workingPoint: WorkingPoint? = nil, maps: SpatialModel? = nil, metadata: [String: String] = [:]) {
        self.backbone = backbone
        self.weightsSHA256 = weightsSHA256
        self.model = model
        self.workingPoint = workingPoint
        self.maps = maps
        self.metadata = metadata
    }

    struct Header: Codable {
        var format: String
        var backbone: String
        var weightsSHA256: String
        var inputSize: Int
        var normalization: Normalization
        var levelDims: [Int]
        var reduction: Reduction
        var levels: [ModelCodec.LevelHeader]
        var workingPoint: WorkingPoint?
        var maps: ModelCodec.SpatialHeader?
        var metadata: [String: String]
        var arrayCount: Int
    }

    /// The bytes of the file.
    public func encoded() throws -> [UInt8] {
        var arrays: [Double] = []
        let lh = ModelCodec.encode(model, into: &arrays)
        let mh = maps.map { ModelCodec.encode($0, into: &arrays) }
        let header = Header(format: "gaussian-ad model", backbone: backbone.rawValue, weightsSHA256: weightsSHA256,
                            inputSize: backbone.inputSize, normalization: backbone.normalization,
                            levelDims: model.levelDims, reduction: model.reduction, levels: lh,
                            workingPoint: workingPoint, maps: mh, metadata: metadata, arrayCount: arrays.count)
        return try Container.encode(magic: Container.modelMagic, version: Self.version, header: header, arrays: arrays)
    }

    /// Writes the model atomically (temporary file in the same folder, then rename).
    public func save(to url: URL) throws {
        let bytes = try encoded()
        try AtomicFile.write(Data(bytes), to: url)
    }

    /// Reads a model file. If `backbone` is given, a model for another backbone is an error.
    /// The file is validated as data (see `decode`), and its sections are bounded by `limits`.
    /// A fit still waiting for a pass is refused with the command that comes next.
    public static func load(from url: URL, expecting backbone: BackboneKind? = nil,
                            limits: InputLimits = .default) throws -> ModelFile {
        let bytes = try Container.read(url, limits: limits) { GaussianADError.badModelFile(path: url.path, reason: $0) }
        if Container.kind(of: bytes) == "fit in progress", let state = try? FitState.decode(bytes, name: url.path, limits: limits) {
            throw GaussianADError.badModelFile(path: url.path, reason: "it is a fit waiting for its \(state.nextPass.rawValue) pass, not a finished model. Next: \(state.nextStep(modelPath: url.path))")
        }
        let m = try decode(bytes, name: url.path, limits: limits)
        if let b = backbone, b != m.backbone {
            throw GaussianADError.badModelFile(path: url.path, reason: "it was fitted on \(m.backbone.rawValue), not \(b.rawValue)")
        }
        return m
    }

    /// `load(from:limits:)` on a background thread while `work` runs on this one with the
    /// backbone the file's header names, so that loading the network overlaps checking and
    /// decoding the file (where the header cannot be read ahead, or names another backbone than
    /// the checked file, `work` runs again, after the load, with the file's own). Errors of the
    /// file come first: `work`'s error is thrown only for a valid file.
    public static func load<T>(from url: URL, limits: InputLimits = .default,
                               alongside work: (BackboneKind) throws -> T) throws -> (ModelFile, T) {
        let loading = BackgroundValue { Result { try load(from: url, limits: limits) } }
        let early = backboneNamed(at: url).map { kind in (kind, Result { try work(kind) }) }
        let file = try loading.value.get()
        if let (kind, result) = early, kind == file.backbone { return (file, try result.get()) }
        return (file, try work(file.backbone))
    }

    /// The backbone named in the header of the model file at `url`, read ahead without any
    /// check (`load` checks it); nil where the start of the file is not a readable header.
    static func backboneNamed(at url: URL) -> BackboneKind? {
        struct Named: Decodable { var backbone: String }
        guard let h = FileHandle(forReadingAtPath: url.path) else { return nil }
        defer { try? h.close() }
        guard let head = try? h.read(upToCount: 20), head.count == 20, Array(head.prefix(8)) == Container.modelMagic,
              let length = ByteReader.uintAt([UInt8](head), 12, 8), length <= 1 << 20,
              let json = try? h.read(upToCount: Int(length)), json.count == Int(length),
              let named = try? JSONDecoder().decode(Named.self, from: json) else { return nil }
        return BackboneKind(rawValue: named.backbone)
    }

    /// Parses model file bytes; `name` is used in error messages. A valid checksum is not
    /// trusted: the header must match its backbone, every value must be finite, every Cholesky
    /// diagonal positive, and the working point finite; the maps' settings, shapes, cells, scales
    /// and pixel threshold likewise (`ModelCodec.decode(_: SpatialHeader, ...)`).
    public static func decode(_ b: [UInt8], name: String, limits: InputLimits = .default) throws -> ModelFile {
        func fail(_ why: String) -> GaussianADError { .badModelFile(path: name, reason: why) }
        var (header, reader) = try Container.decode(b, magic: Container.modelMagic, version: Self.version, oldest: 1, what: "model",
                                                    limits: limits, header: Header.self, fail: fail)
        guard let kind = BackboneKind(rawValue: header.backbone) else { throw fail("unknown backbone '\(header.backbone)'") }
        guard header.levelDims == kind.levelDims else {
            throw fail("level dimensions \(header.levelDims) are not those of \(kind.rawValue) (\(kind.levelDims))")
        }
        guard header.inputSize == kind.inputSize, header.normalization == kind.normalization else {
            throw fail("input size or normalisation does not match \(kind.rawValue)")
        }
        guard header.arrayCount == reader.remaining else { throw fail("array section size does not match the header") }
        let model = try ModelCodec.decode(header.levels, levelDims: header.levelDims, reduction: header.reduction,
                                          from: &reader, fail: fail)
        let maps = try header.maps.map { try ModelCodec.decode($0, levelDims: header.levelDims, from: &reader, fail: fail) }
        try reader.finish()
        if let wp = header.workingPoint { try ModelCodec.validate(wp, fail: fail) }
        if let m = maps, m.inputSize != kind.inputSize { throw fail("map input size \(m.inputSize) is not \(kind.rawValue)'s \(kind.inputSize)") }
        var file = ModelFile(backbone: kind, weightsSHA256: header.weightsSHA256, model: model,
                             workingPoint: header.workingPoint, maps: maps, metadata: header.metadata)
        file.formatVersion = UInt32(ByteReader.uintAt(b, 8, 4) ?? UInt64(version))
        return file
    }
}
