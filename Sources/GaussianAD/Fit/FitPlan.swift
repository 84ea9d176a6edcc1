// What a fit learns from and how: the images (by fingerprint), the folds of its calibration,
// the backbone and levels. Every pass and part of a fit carries it, so parts of different fits
// never merge.
import Foundation

/// The fixed settings of one fit, shared by its passes and parts.
///
///     let plan = try FitPlan(backbone: .efficientNetLite0, weightsSHA256: net.weightsSHA256,
///                            levelDims: net.levelDims, options: GaussianOptions(), folds: 5, seed: 0,
///                            category: "cells", paths: normals.map(\.relativePath))
public struct FitPlan: Sendable, Codable, Equatable {
    /// The backbone the features come from.
    public var backbone: BackboneKind
    /// SHA-256 of its weights file.
    public var weightsSHA256: String
    /// Dimensions of every backbone level.
    public var levelDims: [Int]
    /// Levels fitted.
    public var levels: [Int]
    /// PCA / NPCA.
    public var reduction: Reduction
    /// Calibration folds k.
    public var folds: Int
    /// Seed of the stable fold split.
    public var seed: UInt64
    /// Category name.
    public var category: String
    /// Normal training images of the fit (all shards).
    public var imageCount: Int
    /// SHA-256 of the sorted relative paths, one a line: the same images, whoever lists them.
    public var fingerprint: String
    /// The robust fit's rule (nil: a plain fit on every image).
    public var contamination: Contamination?
    /// The anomaly maps the fit models beside the image-level Gaussians (nil: none).
    public var maps: MapPlan?

    /// A plan over the normal training images `paths` (relative to the category).
    /// - Throws: `.invalidArgument` for fewer than 2 folds, repeated paths, or fewer than
    ///   2 images a fold.
    public init(backbone: BackboneKind, weightsSHA256: String, levelDims: [Int], options: GaussianOptions,
                folds: Int, seed: UInt64, category: String, paths: [String], contamination: Contamination? = nil,
                maps: MapPlan? = nil) throws {
        guard folds >= 2 else { throw GaussianADError.invalidArgument("out-of-fold calibration needs at least 2 folds, got \(folds)") }
        guard Set(paths).count == paths.count else { throw GaussianADError.invalidArgument("the fit's image paths repeat") }
        guard paths.count >= 2 * folds else {
            throw GaussianADError.invalidArgument("\(paths.count) normal training images; fitting with \(folds)-fold calibration needs at least \(2 * folds)")
        }
        let levels = options.levels ?? Array(levelDims.indices)
        guard !levels.isEmpty, levels.allSatisfy({ $0 >= 0 && $0 < levelDims.count }), Set(levels).count == levels.count else {
            throw GaussianADError.invalidArgument("levels \(levels) are not distinct levels of 0...\(levelDims.count - 1)")
        }
        self.backbone = backbone
        self.weightsSHA256 = weightsSHA256
        self.levelDims = levelDims
        self.levels = levels
        reduction = options.reduction
        self.folds = folds
        self.seed = seed
        self.category = category
        imageCount = paths.count
        fingerprint = Self.fingerprint(of: paths)
        self.contamination = contamination
        self.maps = maps
    }

    /// The fingerprint of a list of relative paths (order does not matter).
    public static func fingerprint(of paths: [String]) -> String {
        let joined = sortedBytewise(paths).joined(separator: "\n")
        return SHA256.hex(Array(joined.utf8))
    }

    /// Paths sorted by their UTF-8 bytes (the order of fingerprints and excluded lists).
    static func sortedBytewise(_ paths: [String]) -> [String] {
        paths.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
    }

    /// The fold of every path of the fit (docs/METHOD.md 6's stable split).
    /// - Throws: when `paths` are not the fit's images (another count or fingerprint).
    public func foldMap(of paths: [String]) throws -> [String: Int] {
        guard paths.count == imageCount, Self.fingerprint(of: paths) == fingerprint else {
            throw GaussianADError.invalidArgument("the data has \(paths.count) normal training images that are not the \(imageCount) this fit was started on (fingerprint \(fingerprint.prefix(12))…): run every pass on the same folder")
        }
        return StableSplit.folds(of: paths, k: folds, seed: seed)
    }

    /// The first setting in which `other` differs, for error messages (nil: none).
    func difference(from other: FitPlan) -> String? {
        if backbone != other.backbone { return "backbone \(other.backbone.rawValue) instead of \(backbone.rawValue)" }
        if weightsSHA256 != other.weightsSHA256 { return "weights \(other.weightsSHA256.prefix(12))… instead of \(weightsSHA256.prefix(12))…" }
        if levels != other.levels || levelDims != other.levelDims { return "levels \(other.levels) instead of \(levels)" }
        if reduction != other.reduction { return "reduction \(other.reduction) instead of \(reduction)" }
        if folds != other.folds || seed != other.seed { return "\(other.folds) folds, seed \(other.seed) instead of \(folds), \(seed)" }
        if contamination != other.contamination {
            return "--contamination \(other.contamination?.description ?? "(none)") instead of \(contamination?.description ?? "(none)")"
        }
        if maps != other.maps {
            return "maps \(other.maps?.description ?? "(none)") instead of \(maps?.description ?? "(none)")"
        }
        if category != other.category || imageCount != other.imageCount || fingerprint != other.fingerprint {
            return "images of \(other.category) (\(other.imageCount), fingerprint \(other.fingerprint.prefix(12))…) instead of \(category) (\(imageCount), \(fingerprint.prefix(12))…)"
        }
        return nil
    }
}

/// The anomaly maps of a fit: their settings and the network's map shapes and input size.
public struct MapPlan: Sendable, Codable, Equatable, CustomStringConvertible {
    /// Levels, grid and pixel false-positive rate.
    public var settings: MapSettings
    /// The shape of each map level's map (in `settings.levels` order).
    public var shapes: [MapShape]
    /// The network's input size S.
    public var inputSize: Int

    /// The maps of `settings` on `backbone` (its level shapes and input size).
    public init(settings: MapSettings, backbone: Backbone) {
        self.settings = settings
        shapes = settings.levels.map { backbone.levelShapes[$0] }
        inputSize = backbone.kind.inputSize
    }

    /// The maps of `settings` on maps shaped `shapes` at input size `inputSize`.
    init(settings: MapSettings, shapes: [MapShape], inputSize: Int) {
        self.settings = settings
        self.shapes = shapes
        self.inputSize = inputSize
    }

    /// The level shapes of every level index (zero where not a map level), as the spatial
    /// accumulators take them.
    var levelShapes: [MapShape] {
        let n = (settings.levels.max() ?? -1) + 1
        var out = [MapShape](repeating: MapShape(h: 0, w: 0, c: 0), count: n)
        for (i, l) in settings.levels.enumerated() { out[l] = shapes[i] }
        return out
    }

    /// Empty spatial sums of this plan.
    func accumulator(threads: Int?) throws -> SpatialAccumulator {
        try SpatialAccumulator(settings: settings, levelShapes: levelShapes, inputSize: inputSize, threads: threads)
    }

    public var description: String {
        "levels \(settings.levels), grid \(settings.grid), pixel FPR \(settings.pixelFPR)"
    }
}
