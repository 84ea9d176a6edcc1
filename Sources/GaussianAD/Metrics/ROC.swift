// ROC curve and AUROC with ties (as scikit-learn's roc_curve / roc_auc_score).
import Foundation

/// Receiver operating characteristic of scores against binary labels (1 = anomalous).
public struct ROC: Sendable {
    /// False-positive rates, from 0 to 1, one point per distinct score plus the origin.
    public let fpr: [Double]
    /// True-positive rates at the same thresholds.
    public let tpr: [Double]
    /// Score thresholds, decreasing (the first is +infinity, the origin).
    public let thresholds: [Double]
    /// Area under the curve; tied scores count half.
    public let auc: Double

    /// Computes the full curve (no intermediate point dropped).
    /// - Throws: when there is not at least one positive and one negative.
    public init(scores: [Double], labels: [Int]) throws {
        guard scores.count == labels.count else {
            throw GaussianADError.invalidArgument("ROC: \(scores.count) scores for \(labels.count) labels")
        }
        let P = labels.filter { $0 != 0 }.count, N = labels.count - P
        guard P > 0, N > 0 else {
            throw GaussianADError.invalidArgument("ROC needs both normal and anomalous images (got \(N) normal, \(P) anomalous)")
        }
        let order = scores.indices.sorted { scores[$0] > scores[$1] }
        var fpr = [0.0], tpr = [0.0], th = [Double.infinity]
        var tp = 0, fp = 0
        // Mann-Whitney count in integers: each positive scores 2 per lower negative, 1 per tie.
        var twiceU = 0
        var i = 0
        while i < order.count {
            var j = i, tpGroup = 0, fpGroup = 0
            while j < order.count && scores[order[j]] == scores[order[i]] {
                if labels[order[j]] != 0 { tpGroup += 1 } else { fpGroup += 1 }
                j += 1
            }
            // Positives in this group beat the negatives not yet seen (below) and tie the group's.
            twiceU += tpGroup * (2 * (N - fp - fpGroup) + fpGroup)
            tp += tpGroup
            fp += fpGroup
            fpr.append(Double(fp) / Double(N))
            tpr.append(Double(tp) / Double(P))
            th.append(scores[order[i]])
            i = j
        }
        self.fpr = fpr
        self.tpr = tpr
        thresholds = th
        auc = Double(twiceU) / (2 * Double(P) * Double(N))
    }

    /// AUROC of scores (anomalous = positive).
    public static func auroc(scores: [Double], labels: [Int]) throws -> Double {
        try ROC(scores: scores, labels: labels).auc
    }
}
