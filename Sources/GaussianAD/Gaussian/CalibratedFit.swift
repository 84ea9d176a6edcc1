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
        var oof: [Double] = []
        for f in 0..<k {
            let train = fold.indices.filter { fold[$0] != f }, test = fold.indices.filter { fold[$0] == f }
            guard !test.isEmpty else { continue }
            oof += try GaussianModel.fit(features.selecting(rows: train), options: options)
                .score(features.selecting(rows: test), threads: options.threads).combined
        }
        let model = try GaussianModel.fit(features, options: options)
        let wp = try WorkingPoint.calibrate(normalScores: oof, targetFPR: targetFPR, levelDimensions: model.levels.map(\.dimension))
        return (model, wp)
    }
}
