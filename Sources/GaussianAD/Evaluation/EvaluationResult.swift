// Results of the evaluation protocol, per category and overall (what `evaluate --json` writes).
import Foundation

/// One image's test outcome (for the report).
public struct TestedImage: Sendable, Codable {
    /// Relative path in its category.
    public let path: String
    /// The image file.
    public let url: URL
    /// 0 normal, 1 anomalous.
    public let label: Int
    /// Combined score (mean over the folds that tested it).
    public let score: Double
    /// With maps: a small anomaly map (longest side `Evaluation.thumbnailMapSide`), the mean
    /// of the maps of the folds that tested it, for the report's overlays.
    public var map: AnomalyMap? = nil
}

/// The protocol's numbers for one category.
public struct CategoryResult: Sendable {
    /// Category name.
    public let name: String
    /// Normal and anomalous image counts.
    public let normalCount: Int, anomalousCount: Int
    /// AUROC of the combined score per fold.
    public let aurocFolds: [Double]
    /// Mean over the folds.
    public var aurocMean: Double { Summary.mean(aurocFolds) }
    /// SEM over the folds.
    public var aurocSEM: Double { Summary.sem(aurocFolds) }
    /// Per-level AUROC, mean over folds, for the levels used.
    public let levelAUROC: [Double]
    /// L2 and SED baselines' AUROC, mean over folds (when asked).
    public let l2AUROC: Double?, sedAUROC: Double?
    /// Every tested image with its score.
    public let tested: [TestedImage]
    /// Dimensions of the Gaussians (per level used), for the chi-square expectation.
    public let levelDimensions: [Int]
    /// Threshold at 5 % FPR calibrated on the held-out normal scores, and its observed FPR.
    public let workingPoint: WorkingPoint?
    /// With maps on a dataset with masks: pixel AUROC and AUPRO (to FPR 0.3) of the test images'
    /// maps, each averaged over the folds that tested it.
    public var pixelAUROC: Double? = nil, pixelAUPRO: Double? = nil
    /// With maps on a dataset with masks: the share of anomalous test images whose map's peak
    /// lies on their defect.
    public var peakHit: Double? = nil
    /// With maps: the (1 - q) quantile of the normal test images' small maps, the outline of the
    /// report's overlays.
    public var pixelThreshold: Double? = nil
    /// With a robust fit (`EvaluationOptions.contamination`): the suspects among the
    /// category's training images, most suspect first, and the images its robust fit on all
    /// of them excluded. Empty otherwise.
    public var suspects: [Suspect] = [], excluded: [String] = []
}

/// The protocol's result on a dataset.
public struct EvaluationResult: Sendable {
    /// Backbone name.
    public let backbone: String
    /// Levels used.
    public let levels: [Int]
    /// Reduction used.
    public let reduction: Reduction
    /// Per category.
    public let categories: [CategoryResult]
    /// Images through the network per second (decode + resize + network).
    public let imagesPerSecond: Double
    /// Wall time of the whole evaluation.
    public let seconds: Double
    /// The robust fit's rule, if the folds were fitted robustly.
    public var contamination: Contamination? = nil
    /// The anomaly maps' settings, if the evaluation made maps.
    public var maps: MapSettings? = nil

    /// Mean over categories of the category means.
    public var aurocMean: Double { Summary.mean(categories.map(\.aurocMean)) }
    /// SEM over categories (reported when there are 3 or more).
    public var aurocSEM: Double? { categories.count >= 3 ? Summary.sem(categories.map(\.aurocMean)) : nil }

    /// The JSON document `evaluate --json` writes.
    public func jsonObject() -> [String: Any] {
        var cats: [[String: Any]] = []
        for c in categories {
            var o: [String: Any] = ["name": c.name, "n_normal": c.normalCount, "n_anomalous": c.anomalousCount,
                                    "auroc_mean": c.aurocMean, "auroc_sem": c.aurocSEM, "auroc_folds": c.aurocFolds,
                                    "level_auroc": c.levelAUROC]
            if let l = c.l2AUROC { o["l2_auroc_mean"] = l }
            if let s = c.sedAUROC { o["sed_auroc_mean"] = s }
            if let p = c.pixelAUROC { o["pixel_auroc"] = p }
            if let p = c.pixelAUPRO { o["pixel_aupro"] = p }
            if let p = c.peakHit { o["peak_hit"] = p }
            if contamination != nil {
                o["suspects"] = c.suspects.map { ["path": $0.path, "score": $0.score, "p": $0.p] as [String: Any] }
                o["excluded"] = c.excluded
            }
            cats.append(o)
        }
        var out: [String: Any] = ["backbone": backbone, "levels": levels, "categories": cats, "auroc_mean": aurocMean,
                                  "images_per_second": imagesPerSecond, "seconds": seconds]
        switch reduction {
        case .none: break
        case .pca(let t): out["pca"] = t
        case .npca(let t): out["npca"] = t
        }
        if let s = aurocSEM { out["auroc_sem"] = s }
        if let c = contamination { out["contamination"] = c.description }
        if let m = maps {
            out["maps"] = ["levels": m.levels, "grid": m.grid.description, "pixel_fpr": m.pixelFPR] as [String: Any]
            let px = categories.compactMap(\.pixelAUROC), pro = categories.compactMap(\.pixelAUPRO)
            if !px.isEmpty { out["pixel_auroc_mean"] = Summary.mean(px) }
            if !pro.isEmpty { out["pixel_aupro_mean"] = Summary.mean(pro) }
        }
        return out
    }
}
