// The paper's evaluation protocol (docs/METHOD.md 6): stable folds, fit, score, AUROC per fold.
import Dispatch
import Foundation

/// Settings of an evaluation.
public struct EvaluationOptions: Sendable {
    /// Number of folds k (1: fit on all training images, MVTec only).
    public var folds: Int = 5
    /// Seed of the stable split.
    public var seed: UInt64 = 0
    /// Levels used (nil: all).
    public var levels: [Int]? = nil
    /// PCA / NPCA.
    public var reduction: Reduction = .none
    /// Also compute the L2 and SED baselines.
    public var baselines: Bool = false
    /// Threads of the float64 BLAS / LAPACK steps (nil: every core).
    public var threads: Int? = nil

    /// Defaults of the paper: 5 folds, seed 0, all levels, no reduction.
    public init() {}
}

/// Runs docs/METHOD.md 6 on a dataset.
///
///     let r = try Evaluation.run(dataset: try Dataset.open(url), extractor: fx, options: EvaluationOptions())
///     print(r.aurocMean)
public enum Evaluation {
    /// Progress callback: (category name, images done, images total).
    public typealias Progress = (String, Int, Int) -> Void

    /// Evaluates every category of `dataset`.
    public static func run(dataset: Dataset, extractor: FeatureExtractor, options: EvaluationOptions,
                           progress: Progress? = nil) throws -> EvaluationResult {
        let t0 = DispatchTime.now().uptimeNanoseconds
        var extractSeconds = 0.0, images = 0
        var results: [CategoryResult] = []
        for cat in dataset.categories {
            let te = DispatchTime.now().uptimeNanoseconds
            let feats = try extractor.extract(cat.items.map(\.url)) { d, t in progress?(cat.name, d, t) }
            extractSeconds += Double(DispatchTime.now().uptimeNanoseconds - te) / 1e9
            images += cat.items.count
            results.append(try evaluate(category: cat, features: feats, options: options))
        }
        let total = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        return EvaluationResult(backbone: extractor.backbone.kind.rawValue,
                                levels: options.levels ?? Array(extractor.backbone.levelDims.indices),
                                reduction: options.reduction, categories: results,
                                imagesPerSecond: extractSeconds > 0 ? Double(images) / extractSeconds : 0, seconds: total)
    }

    /// Fold of each item: MVTec train images and folded-layout images get a fold; MVTec test images -1.
    public static func folds(of category: DatasetCategory, k: Int, seed: UInt64) -> [Int] {
        var groups: [String: [String]] = [:]
        for it in category.items where category.layout == .folded || it.isTrain {
            groups["\(it.label)", default: []].append(it.relativePath)
        }
        var fold: [String: Int] = [:]
        for (_, paths) in groups { fold.merge(StableSplit.folds(of: paths, k: k, seed: seed)) { a, _ in a } }
        return category.items.map { fold[$0.relativePath] ?? -1 }
    }

    /// The protocol on one category whose features are already extracted (rows = items).
    public static func evaluate(category cat: DatasetCategory, features: FeatureMatrix,
                                options: EvaluationOptions) throws -> CategoryResult {
        let k = max(1, options.folds)
        let fold = folds(of: cat, k: k, seed: options.seed)
        let items = cat.items
        var aurocs: [Double] = [], levelAUROCs: [[Double]] = [], l2s: [Double] = [], seds: [Double] = []
        var scoreSum = [Double](repeating: 0, count: items.count), scoreN = [Int](repeating: 0, count: items.count)
        var heldOutNormal: [Double] = []
        var dims: [Int] = []
        for f in 0..<k {
            let train: [Int], test: [Int]
            if cat.layout == .mvtec {
                train = items.indices.filter { items[$0].isTrain && (k == 1 || fold[$0] != f) }
                test = items.indices.filter { !items[$0].isTrain }
            } else {
                guard k > 1 else { throw GaussianADError.invalidArgument("a folded dataset (\(cat.name)) needs --folds 2 or more") }
                train = items.indices.filter { items[$0].label == 0 && fold[$0] != f }
                test = items.indices.filter { fold[$0] == f }
            }
            guard !train.isEmpty else {
                throw GaussianADError.badDataset(path: cat.root.path, reason: "fold \(f) of category \(cat.name) has no normal training images")
            }
            let model = try GaussianModel.fit(features.selecting(rows: train),
                                              options: GaussianOptions(levels: options.levels, reduction: options.reduction, threads: options.threads))
            dims = model.levels.map(\.dimension)
            let s = try model.score(features.selecting(rows: test), threads: options.threads)
            let labels = test.map { items[$0].label }
            let comb = s.combined
            aurocs.append(try ROC.auroc(scores: comb, labels: labels))
            levelAUROCs.append(try s.perLevel.map { try ROC.auroc(scores: $0, labels: labels) })
            if options.baselines && options.reduction == .none {
                l2s.append(try ROC.auroc(scores: s.l2, labels: labels))
                seds.append(try ROC.auroc(scores: s.sed, labels: labels))
            }
            for (j, i) in test.enumerated() {
                scoreSum[i] += comb[j]
                scoreN[i] += 1
                if items[i].label == 0 { heldOutNormal.append(comb[j]) }
            }
        }
        let levelMean = (0..<(levelAUROCs.first?.count ?? 0)).map { l in Summary.mean(levelAUROCs.map { $0[l] }) }
        let tested = items.indices.filter { scoreN[$0] > 0 }.map {
            TestedImage(path: items[$0].relativePath, url: items[$0].url, label: items[$0].label, score: scoreSum[$0] / Double(scoreN[$0]))
        }
        let wp = heldOutNormal.isEmpty ? nil : try WorkingPoint.calibrate(normalScores: heldOutNormal, targetFPR: 0.05, levelDimensions: dims)
        return CategoryResult(name: cat.name, normalCount: cat.normalCount, anomalousCount: cat.anomalousCount,
                              aurocFolds: aurocs, levelAUROC: levelMean,
                              l2AUROC: l2s.isEmpty ? nil : Summary.mean(l2s), sedAUROC: seds.isEmpty ? nil : Summary.mean(seds),
                              tested: tested, levelDimensions: dims, workingPoint: wp)
    }
}
