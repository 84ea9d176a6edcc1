// A fit with its working point: the model on every normal image, the threshold from the
// out-of-fold scores of those images (each scored by a model fitted without its fold).
import Foundation

/// The model and working point `fit` writes.
///
///     let (model, wp) = try CalibratedFit.fit(features, paths: relativePaths, folds: 5, seed: 0,
///                                             targetFPR: 0.01, options: GaussianOptions())
public enum CalibratedFit {
    /// Fits on all rows of `features` and calibrates the threshold at `targetFPR` on the
    /// out-of-fold scores: the rows are split into `folds` folds by the stable split of
    /// `paths` (one per row, relative to the category), each fold scored by the model of the
    /// others.
    /// - Throws: `.invalidArgument` for fewer than 2 folds or rows that do not match `paths`.
    public static func fit(_ features: FeatureMatrix, paths: [String], folds k: Int, seed: UInt64, targetFPR: Double,
                           options: GaussianOptions) throws -> (model: GaussianModel, workingPoint: WorkingPoint) {
        guard k >= 2 else { throw GaussianADError.invalidArgument("out-of-fold calibration needs at least 2 folds, got \(k)") }
        guard paths.count == features.rows else {
            throw GaussianADError.invalidArgument("\(paths.count) paths for \(features.rows) feature rows")
        }
        let assignment = StableSplit.folds(of: paths, k: k, seed: seed)
        let fold = paths.map { assignment[$0] ?? 0 }
        // One pass of moments per fold; every model below merges folds (PCA / NPCA then makes
        // its second, projected pass over the rows in memory).
        var acc = try FoldedAccumulator(levelDims: features.levelDims, levels: options.levels, folds: k, threads: options.threads)
        try acc.add(batch: features, folds: fold)
        func fit(excluding f: Int?) throws -> GaussianModel {
            let merged = try acc.merged(excludingFold: f)
            if options.reduction == .none { return try merged.finalize() }
            var second = try merged.projected(options.reduction)
            try second.add(batch: f.map { f in features.selecting(rows: fold.indices.filter { fold[$0] != f }) } ?? features)
            return try second.finalize()
        }
        var oof: [Double] = []
        for f in 0..<k {
            let test = fold.indices.filter { fold[$0] == f }
            guard !test.isEmpty else { continue }
            oof += try fit(excluding: f).score(features.selecting(rows: test), threads: options.threads).combined
        }
        let model = try fit(excluding: nil)
        let wp = try WorkingPoint.calibrate(normalScores: oof, targetFPR: targetFPR, levelDimensions: model.levels.map(\.dimension))
        return (model, wp)
    }
}
