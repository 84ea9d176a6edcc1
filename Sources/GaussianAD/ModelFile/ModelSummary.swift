// What a model file holds, as plain values: the `info` command prints it as text or JSON.
import Foundation

/// A description of a model file, without its arrays.
///
///     let s = try ModelFile.load(from: url).summary
///     print(s.threshold ?? .nan)
public struct ModelSummary: Codable, Sendable, Equatable {
    /// One fitted level.
    public struct Level: Codable, Sendable, Equatable {
        /// Level index in the backbone.
        public var level: Int
        /// Dimension of the Gaussian (after any projection).
        public var dimension: Int
        /// Dimension before PCA / NPCA, if projected.
        public var projectedFrom: Int?
        /// Ledoit-Wolf shrinkage.
        public var shrinkage: Double
    }

    public var formatVersion: Int
    public var backbone: String
    public var inputSize: Int
    public var normalizationMean: [Double]
    public var normalizationStd: [Double]
    public var weightsSHA256: String
    /// "none", "pca T" or "npca T".
    public var reduction: String
    public var trainingCount: Int
    public var levels: [Level]
    /// Calibrated threshold on the combined score, if any.
    public var threshold: Double?
    public var targetFPR: Double?
    public var observedFPR: Double?
    public var calibrationCount: Int?
    /// Per-level chi-square distance thresholds at the target FPR.
    public var levelThresholds: [Double]?
    /// The anomaly maps, if the model has them.
    public var maps: Maps?
    public var metadata: [String: String]

    /// A model's anomaly maps.
    public struct Maps: Codable, Sendable, Equatable {
        /// Map levels, grid ("1x1", "7x7", "position") and cells per level.
        public var levels: [Int], grid: String, cells: [Int]
        /// The pixel working point: its false-positive rate and threshold, and the normal images
        /// it was calibrated on.
        public var pixelFPR: Double, pixelThreshold: Double?, calibrationImages: Int
    }
}

extension ModelFile {
    /// The model's description.
    public var summary: ModelSummary {
        let red: String
        switch model.reduction {
        case .none: red = "none"
        case .pca(let t): red = "pca \(t)"
        case .npca(let t): red = "npca \(t)"
        }
        return ModelSummary(formatVersion: Int(formatVersion), backbone: backbone.rawValue, inputSize: backbone.inputSize,
                            normalizationMean: backbone.normalization.mean.map(Double.init),
                            normalizationStd: backbone.normalization.std.map(Double.init),
                            weightsSHA256: weightsSHA256, reduction: red, trainingCount: model.trainingCount,
                            levels: model.levels.map { .init(level: $0.level, dimension: $0.dimension,
                                                             projectedFrom: $0.projection?.inputDimension, shrinkage: $0.shrinkage) },
                            threshold: workingPoint?.threshold, targetFPR: workingPoint?.targetFPR,
                            observedFPR: workingPoint?.observedFPR, calibrationCount: workingPoint?.calibrationCount,
                            levelThresholds: workingPoint?.levelThresholds,
                            maps: maps.map { m in
                                .init(levels: m.settings.levels, grid: m.settings.grid.description, cells: m.levels.map(\.cells.count),
                                      pixelFPR: m.settings.pixelFPR, pixelThreshold: m.pixelThreshold, calibrationImages: m.calibrationImages)
                            }, metadata: metadata)
    }
}
