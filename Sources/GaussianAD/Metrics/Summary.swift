// Mean and standard error of the mean over folds or categories.
import Foundation

/// Mean and SEM as the paper reports them.
public enum Summary {
    /// Arithmetic mean (0 for none).
    public static func mean(_ xs: [Double]) -> Double { xs.isEmpty ? 0 : xs.reduce(0, +) / Double(xs.count) }

    /// Sample standard deviation (divisor n - 1; 0 below two values).
    public static func sd(_ xs: [Double]) -> Double {
        guard xs.count > 1 else { return 0 }
        let m = mean(xs)
        return (xs.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(xs.count - 1)).squareRoot()
    }

    /// Standard error of the mean: sd(ddof=1) / sqrt(n).
    public static func sem(_ xs: [Double]) -> Double {
        xs.isEmpty ? 0 : sd(xs) / Double(xs.count).squareRoot()
    }
}
